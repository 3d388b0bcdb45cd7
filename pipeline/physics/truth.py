"""Particle-flow targets: which generator particle each input element should reconstruct.

Charged particles with a track are the track's target. Every other particle that left
energy goes to the calorimeter element (cluster or hit) it gave the most energy to. When
several particles land on one element, the element's target is their sum, with the class
and charge of the most energetic one. Elements that are nobody's target have class 0.
"""

from __future__ import annotations

import numpy as np

from .grouping import best_per_group
from .kinematics import particle_class, pt_eta_phi

TARGET_FIELDS = ("cls", "charge", "pt", "eta", "sin_phi", "cos_phi", "energy")


def _targets(owner: np.ndarray, n_elements: int, particles: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sum the particles owned by each element (owner[i] = element of particle i, or -1)."""
    chosen = np.flatnonzero(owner >= 0)
    elem = owner[chosen]
    sums = {
        k: np.bincount(elem, weights=particles[k][chosen], minlength=n_elements) for k in ("px", "py", "pz", "energy")
    }
    lead = best_per_group(elem, chosen, particles["energy"][chosen], n_elements)
    has = lead >= 0
    cls = np.zeros(n_elements, dtype=np.int32)
    charge = np.zeros(n_elements)
    cls[has] = particle_class(particles["pid"][lead[has]], particles["charge"][lead[has]])
    charge[has] = particles["charge"][lead[has]]
    pt, eta, phi = pt_eta_phi(sums["px"], sums["py"], sums["pz"])
    return {
        "cls": cls,
        "charge": charge,
        "pt": np.where(has, pt, 0.0),
        "eta": np.where(has, eta, 0.0),
        "sin_phi": np.where(has, np.sin(phi), 0.0),
        "cos_phi": np.where(has, np.cos(phi), 0.0),
        "energy": np.where(has, sums["energy"], 0.0),
    }


def assign_targets(
    particles: dict[str, np.ndarray], track_gen: np.ndarray, calo_contrib: dict[str, np.ndarray], n_calo: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Targets for the tracks and for the calorimeter elements; also returns, per particle,
    -1 (no element), 0 (a track) or 1 (a calorimeter element)."""
    n = particles["pid"].size
    track_owner = np.full(n, -1, dtype=np.int64)
    track_owner[track_gen] = np.arange(track_gen.size)
    calo_owner = best_per_group(calo_contrib["particle"], calo_contrib["element"], calo_contrib["energy"], n)
    calo_owner[track_owner >= 0] = -1  # a tracked particle belongs to its track
    where = np.where(track_owner >= 0, 0, np.where(calo_owner >= 0, 1, -1))
    return _targets(track_owner, track_gen.size, particles), _targets(calo_owner, n_calo, particles), where


def particle_deposits(n_particles: int, hits: dict[str, np.ndarray], contrib: dict[str, np.ndarray]) -> dict:
    """What the calorimeters measured of each particle: its energy in cells above threshold
    and the energy-weighted centre of those deposits, as (eta, phi) (zeros where it left none).
    This is the measured energy an ideal association would give an untracked particle."""
    particle, energy, cell = contrib["particle"], contrib["energy"], contrib["element"]
    total = np.bincount(particle, weights=energy, minlength=n_particles)
    w = np.maximum(total, 1e-12)
    x, y, z = (np.bincount(particle, weights=energy * hits[k][cell], minlength=n_particles) / w for k in "xyz")
    _, eta, phi = pt_eta_phi(x, y, z)
    has = total > 0
    return {"calo_energy": total, "calo_eta": np.where(has, eta, 0.0), "calo_phi": np.where(has, phi, 0.0)}
