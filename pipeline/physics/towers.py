"""Calorimeter towers as the SUEP reference study's fast simulation defines them (a Delphes-style
CMS detector): every particle is propagated to the calorimeter face (a helix in the solenoid
field for charged ones, a line for neutral ones) and deposits fixed fractions of its energy in
the ECAL and HCAL tower it lands in; each tower's energy is smeared log-normally with the
calorimeter's resolution and kept only above an energy floor and a significance E/sigma(E).

Facts from the Delphes CMS card (cards/delphes_card_CMS.tcl), not its code:
- propagation cylinder: radius 1.29 m, half-length 3.0 m, 3.8 T. A charged particle whose
  helix never reaches the radius is followed to the end plane |z| = 3.0 m, however many turns
  that takes (so a soft central track lands forward, as in Delphes's ParticlePropagator);
- energy fractions (ECAL, HCAL): e, gamma, pi0 (1, 0); muons, neutrinos (0, 0); K0S and Lambda
  (0.3, 0.7); every other hadron (0, 1);
- ECAL resolution sqrt((0.008 E)^2 + 0.11^2 E + 0.40^2), times (1 + 0.64 eta^2) in the barrel
  (|eta| <= 1.5) and (2.16 + 5.6 (|eta| - 2)^2) in the endcaps; HCAL sqrt((0.050 E)^2 + 1.50^2 E);
- thresholds: ECAL E > 0.5 GeV and E > 2 sigma; HCAL E > 1.0 GeV and E > 2 sigma.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kinematics import pt_eta_phi
from .tracker import helix_radius


@dataclass(frozen=True)
class FaceGeometry:
    """The cylinder particles are propagated to (m, T)."""

    radius: float = 1.29
    half_length: float = 3.0
    field: float = 3.8


def face_positions(particles: dict[str, np.ndarray], face: FaceGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eta, phi, reached) of each particle's position on the calorimeter face, seen from the
    detector's origin. `reached` is False for particles with no transverse momentum or produced
    outside the cylinder."""
    px, py, pz, q = particles["px"], particles["py"], particles["pz"], particles["charge"]
    vx, vy, vz = particles["vx"], particles["vy"], particles["vz"]
    pt, _, phi0 = pt_eta_phi(px, py, pz)
    moving = pt > 1e-9
    safe_pt = np.where(moving, pt, 1.0)
    cot = pz / safe_pt
    side = np.where(pz >= 0, 1.0, -1.0)
    charged = q != 0
    two_r = 2 * helix_radius(safe_pt, face.field)
    with np.errstate(invalid="ignore", divide="ignore"):
        # transverse path length to the barrel radius (the helix: chord 2R sin(s / 2R))
        ratio = np.clip(face.radius / two_r, 0.0, 1.0)
        s_barrel = np.where(charged, two_r * np.arcsin(ratio), face.radius)
        reaches_radius = ~charged | (two_r > face.radius)
        z_barrel = vz + s_barrel * cot
        barrel = reaches_radius & (np.abs(z_barrel) <= face.half_length)
        # otherwise the end plane, after s_end of transverse path (any number of turns)
        s_end = np.abs((side * face.half_length - vz) / np.where(cot == 0, 1e-12, cot))
    s = np.where(barrel, s_barrel, s_end)
    phase = np.where(charged, s / two_r, 0.0)  # half the angle the helix has turned
    chord = np.where(charged, two_r * np.abs(np.sin(phase)), s)
    direction = phi0 - np.sign(q) * phase
    x = vx + chord * np.cos(direction)
    y = vy + chord * np.sin(direction)
    z = np.where(barrel, z_barrel, side * face.half_length)
    r = np.hypot(x, y)
    inside = (np.hypot(vx, vy) < face.radius) & (np.abs(vz) < face.half_length)
    reached = moving & inside & (r > 1e-6)
    eta = np.arcsinh(z / np.maximum(r, 1e-6))
    return eta, np.arctan2(y, x), reached


def energy_fractions(pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ECAL, HCAL) fractions of each particle's energy (the Delphes CMS card's table)."""
    apid = np.abs(pid)
    ecal = np.zeros(apid.size)
    hcal = np.ones(apid.size)
    em = np.isin(apid, (11, 22, 111))
    none = np.isin(apid, (12, 13, 14, 16))
    long_lived = np.isin(apid, (310, 3122))
    ecal[em], hcal[em] = 1.0, 0.0
    ecal[none], hcal[none] = 0.0, 0.0
    ecal[long_lived], hcal[long_lived] = 0.3, 0.7
    return ecal, hcal


def ecal_sigma(energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    base = np.sqrt((0.008 * energy) ** 2 + 0.11**2 * energy + 0.40**2)
    a = np.abs(eta)
    return base * np.where(a <= 1.5, 1 + 0.64 * eta**2, 2.16 + 5.6 * (a - 2) ** 2)


def hcal_sigma(energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    return np.sqrt((0.050 * energy) ** 2 + 1.50**2 * energy)


@dataclass(frozen=True)
class TowerResponse:
    """A calorimeter's tower thresholds and resolution (GeV)."""

    energy_min: float
    significance_min: float
    sigma: object  # (energy, eta) -> sigma(E)


ECAL_TOWERS = TowerResponse(0.5, 2.0, ecal_sigma)
HCAL_TOWERS = TowerResponse(1.0, 2.0, hcal_sigma)


def log_normal(mean: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A log-normal draw with the given mean and standard deviation (0 where the mean is 0)."""
    mean = np.asarray(mean, dtype=float)
    safe = np.maximum(mean, 1e-12)
    s2 = np.log1p((sigma / safe) ** 2)
    draw = np.exp(np.log(safe) - 0.5 * s2 + np.sqrt(s2) * rng.standard_normal(mean.size))
    return np.where(mean > 0, draw, 0.0)


def measured_towers(
    tower: np.ndarray, energy: np.ndarray, eta_of_tower, response: TowerResponse, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(tower ids, measured energies) of the towers that pass: deposits [tower, energy] summed
    per tower, smeared log-normally with sigma(E) at the true sum, kept above the floor and
    above significance_min x sigma(E) at the measured energy (as Delphes does)."""
    if tower.size == 0:
        return tower.astype(np.int64), energy.astype(float)
    ids, inverse = np.unique(tower, return_inverse=True)
    true = np.bincount(inverse, weights=energy, minlength=ids.size)
    eta = eta_of_tower(ids)
    measured = log_normal(true, response.sigma(true, eta), rng)
    keep = (measured > response.energy_min) & (measured > response.significance_min * response.sigma(measured, eta))
    return ids[keep], measured[keep]
