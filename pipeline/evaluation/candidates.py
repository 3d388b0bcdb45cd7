"""Per-event candidate lists in one layout for every source: the ML model, the rule-based
baseline, the ideal association, the per-element truth and the generator truth.

A candidate table has the columns CANDIDATE_COLUMNS; element-based sources (model, baseline,
targets) have one row per input element with class 0 where the element yields no particle,
so they compare element by element.
"""

from __future__ import annotations

import numpy as np

from ..physics.kinematics import NEUTRINOS, ParticleClass, particle_class

CANDIDATE_COLUMNS = ("cls", "charge", "pt", "eta", "phi", "energy")
CLASS_NAMES = {int(c): c.label for c in ParticleClass if c != ParticleClass.NONE}


def _table(cls, charge, pt, eta, phi, energy) -> np.ndarray:
    return np.stack([np.asarray(c, dtype=np.float64) for c in (cls, charge, pt, eta, phi, energy)], axis=1)


def from_targets(Y: np.ndarray) -> np.ndarray:
    """Targets (cls, charge, pt, eta, sin, cos, E) per element."""
    return _table(Y[:, 0].round(), Y[:, 1], Y[:, 2], Y[:, 3], np.arctan2(Y[:, 4], Y[:, 5]), Y[:, 6])


def from_model(out: dict, mask: np.ndarray) -> list[np.ndarray]:
    """Model outputs of a padded batch (numpy arrays) to one table per event."""
    cls = out["cls"].argmax(-1)
    charge = out["charge"].argmax(-1) - 1
    phi = np.arctan2(out["sin_phi"], out["cos_phi"])
    tables = []
    for i in range(mask.shape[0]):
        n = int(mask[i].sum())
        tables.append(
            _table(cls[i, :n], charge[i, :n], out["pt"][i, :n], out["eta"][i, :n], phi[i, :n], out["energy"][i, :n])
        )
    return tables


def from_gen(gen: np.ndarray) -> np.ndarray:
    """Generator final-state particles (pid, charge, px, py, pz, E), visible ones only."""
    visible = ~np.isin(np.abs(gen[:, 0]).astype(int), NEUTRINOS)
    g = gen[visible]
    px, py, pz, energy = g[:, 2], g[:, 3], g[:, 4], g[:, 5]
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    return _table(np.ones(len(g)), g[:, 1], pt, eta, np.arctan2(py, px), energy)


def from_ideal(gen: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The ideal-association floor: every particle the detector saw, reconstructed from what it
    measured with perfect association. A tracked particle takes its track's measured momentum
    (K rows of tracks come first, in track order); an untracked one the calibrated energy its
    showers left in cells above threshold, at the centre of those deposits. Class from the PDG id."""
    pid, charge = gen[:, 0].astype(int), gen[:, 1]
    track = gen[:, 6].astype(int)
    calo_energy, calo_eta, calo_phi = gen[:, 7].astype(np.float64), gen[:, 8], gen[:, 9]
    cls = particle_class(pid, charge)
    tracked = track >= 0
    seen = (cls > 0) & (tracked | (calo_energy > 0))
    k = K[np.where(tracked, track, 0)].astype(np.float64) if len(K) else np.zeros((len(gen), 5))
    pt = np.where(tracked, k[:, 0], calo_energy / np.cosh(calo_eta))
    eta = np.where(tracked, k[:, 1], calo_eta)
    phi = np.where(tracked, np.arctan2(k[:, 2], k[:, 3]), calo_phi)
    energy = np.where(tracked, k[:, 4], calo_energy)
    t = _table(cls, np.where(tracked, charge, 0.0), pt, eta, phi, energy)
    return t[seen]


def particles(table: np.ndarray) -> np.ndarray:
    """Rows that are particles (class > 0)."""
    return table[table[:, 0] > 0]


def four_momenta(table: np.ndarray) -> np.ndarray:
    """(px, py, pz, E) of the particle rows (massless where E < |p|)."""
    t = particles(table)
    pt, eta, phi = t[:, 2], t[:, 3], t[:, 4]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.maximum(t[:, 5], np.sqrt(px**2 + py**2 + pz**2))
    return np.stack([px, py, pz, energy], axis=1)
