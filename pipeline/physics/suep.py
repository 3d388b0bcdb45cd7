"""Soft unclustered energy patterns: a heavy scalar S decays into a dark shower.

In the S rest frame, dark mesons of mass m_phi are drawn with isotropic directions and momenta
from the relativistic Boltzmann density f(p) ~ p^2 exp(-sqrt(p^2 + m^2) / T_D) until their
energies exceed M; the last one is dropped, the rest are shifted so their momenta sum to zero
and scaled by one common factor so their energies sum to M. Each meson decays to two dark
photons, each dark photon to e+e-, mu+mu- or pi+pi- (isotropic two-body decays); everything is
boosted to the lab frame with S's four-momentum. Several (M, m_phi, T_D) points by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Standard Model daughters of a dark photon: (pid of the negative one, mass GeV, charge of it)
DAUGHTERS = {"e": (11, 0.000511, -1.0), "mu": (13, 0.10566, -1.0), "pi": (-211, 0.13957, -1.0)}


@dataclass(frozen=True)
class SuepPoint:
    mediator_mass: float  # M of the scalar S (GeV)
    meson_mass: float  # m_phi (GeV)
    temperature: float  # T_D (GeV)
    dark_photon_mass: float = 0.5  # m_A' < m_phi / 2 (GeV)
    branching: dict[str, float] = field(default_factory=lambda: {"e": 0.4, "mu": 0.4, "pi": 0.2})

    def __post_init__(self) -> None:
        if 2 * self.dark_photon_mass >= self.meson_mass:
            raise ValueError("the dark photon must be lighter than half the dark meson")
        if self.meson_mass >= self.mediator_mass / 2:
            raise ValueError("the mediator must be heavier than two dark mesons")
        mode_masses = [DAUGHTERS[m][1] for m in self.branching]
        if 2 * max(mode_masses) >= self.dark_photon_mass:
            raise ValueError("every decay mode of the dark photon must be open")


# Named signal points: m_phi = T_D = 2 GeV at several mediator masses, plus a colder, softer
# variant (the first runs' points: m_A' = 0.5 GeV, BR(ee/mumu/pipi) = 40/40/20) ...
LEGACY_POINTS: dict[str, SuepPoint] = {
    "suep_m125": SuepPoint(125.0, 2.0, 2.0),
    "suep_m400": SuepPoint(400.0, 2.0, 2.0),
    "suep_m750": SuepPoint(750.0, 2.0, 2.0),
    "suep_m1000": SuepPoint(1000.0, 2.0, 2.0),
    "suep_m400_t1": SuepPoint(400.0, 2.0, 1.0),
}
# ... and the reference study's dark sector: m_phi = T_D = 2 GeV, m_A' = 0.7 GeV decaying to
# ee/mumu/pipi with BR 15/15/70; suep_ref_m125 is its benchmark point (m_S = 125 GeV, gluon
# fusion), the heavier ones are extras.
REFERENCE_DARK_PHOTON = {"dark_photon_mass": 0.7, "branching": {"e": 0.15, "mu": 0.15, "pi": 0.70}}
REFERENCE_POINTS: dict[str, SuepPoint] = {
    "suep_ref_m125": SuepPoint(125.0, 2.0, 2.0, **REFERENCE_DARK_PHOTON),
    "suep_ref_m400": SuepPoint(400.0, 2.0, 2.0, **REFERENCE_DARK_PHOTON),
    "suep_ref_m750": SuepPoint(750.0, 2.0, 2.0, **REFERENCE_DARK_PHOTON),
}
POINTS: dict[str, SuepPoint] = {**LEGACY_POINTS, **REFERENCE_POINTS}
# process ids of image files index this list: new points are appended, never sorted in
POINT_ORDER: tuple[str, ...] = (*sorted(LEGACY_POINTS), *REFERENCE_POINTS)


def boltzmann_density(p: np.ndarray, mass: float, temperature: float) -> np.ndarray:
    """Unnormalised relativistic Boltzmann momentum density p^2 exp(-E/T)."""
    return p**2 * np.exp(-(np.sqrt(p**2 + mass**2) - mass) / temperature)


class BoltzmannSampler:
    """Inverse-CDF sampling of |p| on a fine grid (the density is smooth; the grid reaches far
    enough that the neglected tail is below 1e-12 of the total)."""

    def __init__(self, mass: float, temperature: float, points: int = 20001) -> None:
        p_max = 40.0 * temperature + 10.0 * mass
        self.grid = np.linspace(0.0, p_max, points)
        density = boltzmann_density(self.grid, mass, temperature)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(self.grid))])
        self.norm = cdf[-1]
        self.cdf = cdf / cdf[-1]

    def __call__(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.interp(rng.random(n), self.cdf, self.grid)


def _isotropic(n: int, rng: np.random.Generator) -> np.ndarray:
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)


def _energies(p: np.ndarray, mass: float) -> np.ndarray:
    return np.sqrt((p**2).sum(axis=1) + mass**2)


def meson_momenta(point: SuepPoint, rng: np.random.Generator, sampler: BoltzmannSampler | None = None) -> np.ndarray:
    """Dark-meson three-momenta [n, 3] in the S rest frame: sum zero, energies summing to M."""
    sampler = sampler or BoltzmannSampler(point.meson_mass, point.temperature)
    m, big_m = point.meson_mass, point.mediator_mass
    momenta: list[np.ndarray] = []
    total = 0.0
    while True:
        p = sampler(1, rng)[0] * _isotropic(1, rng)[0]
        energy = float(np.sqrt(p @ p + m * m))
        if total + energy > big_m:
            break
        momenta.append(p)
        total += energy
    if len(momenta) < 2:
        raise RuntimeError("fewer than two dark mesons fit in the mediator mass")
    p = np.array(momenta)
    p -= p.mean(axis=0)  # momentum balance
    # one common scale x with sum sqrt(x^2 p_i^2 + m^2) = M: monotonic in x, bisection
    p2 = (p**2).sum(axis=1)
    low, high = 0.0, 1.0
    while np.sqrt(high**2 * p2 + m * m).sum() < big_m:
        high *= 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        if np.sqrt(mid**2 * p2 + m * m).sum() < big_m:
            low = mid
        else:
            high = mid
    return p * (0.5 * (low + high))


def boost(p4: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Four-vectors [n, 4] (E, px, py, pz) from the rest frame of `parent` [4] (or [n, 4]) to the frame
    in which the parent has that four-momentum."""
    parent = np.broadcast_to(parent, p4.shape)
    mass = np.sqrt(np.maximum(parent[:, 0] ** 2 - (parent[:, 1:] ** 2).sum(axis=1), 1e-18))
    beta = parent[:, 1:] / parent[:, :1]
    gamma = parent[:, 0] / mass
    b2 = (beta**2).sum(axis=1)
    bp = (beta * p4[:, 1:]).sum(axis=1)
    factor = np.where(b2 > 0, (gamma - 1.0) / np.maximum(b2, 1e-300), 0.0)
    energy = gamma * (p4[:, 0] + bp)
    momentum = p4[:, 1:] + (factor * bp + gamma * p4[:, 0])[:, None] * beta
    return np.concatenate([energy[:, None], momentum], axis=1)


def two_body(parents: np.ndarray, m1: np.ndarray, m2: np.ndarray, rng: np.random.Generator):
    """Isotropic two-body decays of parents [n, 4] into daughters of masses m1, m2 (lab frame)."""
    n = parents.shape[0]
    mass = np.sqrt(np.maximum(parents[:, 0] ** 2 - (parents[:, 1:] ** 2).sum(axis=1), 0.0))
    q = np.sqrt(np.maximum((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2), 0.0)) / (2 * mass)
    direction = _isotropic(n, rng)
    first = np.concatenate([np.sqrt(q**2 + m1**2)[:, None], q[:, None] * direction], axis=1)
    second = np.concatenate([np.sqrt(q**2 + m2**2)[:, None], -q[:, None] * direction], axis=1)
    return boost(first, parents), boost(second, parents)


def shower(point: SuepPoint, mediator: np.ndarray, rng: np.random.Generator, sampler=None) -> dict[str, np.ndarray]:
    """Standard Model particles of one dark shower, given S's lab four-momentum (E, px, py, pz).
    Columns as the generator's particle arrays: pid, charge, px, py, pz, energy, vx, vy, vz."""
    p = meson_momenta(point, rng, sampler)
    mesons = boost(np.concatenate([_energies(p, point.meson_mass)[:, None], p], axis=1), mediator)
    n = len(mesons)
    photon_mass = np.full(n, point.dark_photon_mass)
    a1, a2 = two_body(mesons, photon_mass, photon_mass, rng)
    photons = np.concatenate([a1, a2])
    modes = list(point.branching)
    weights = np.array([point.branching[m] for m in modes], dtype=float)
    chosen = rng.choice(len(modes), size=len(photons), p=weights / weights.sum())
    pid = np.array([DAUGHTERS[m][0] for m in modes])[chosen]
    mass = np.array([DAUGHTERS[m][1] for m in modes])[chosen]
    neg, pos = two_body(photons, mass, mass, rng)
    four = np.concatenate([neg, pos])
    pids = np.concatenate([pid, -pid])
    charge = np.concatenate([np.full(len(pid), -1.0), np.full(len(pid), 1.0)])
    zeros = np.zeros(len(pids))
    return {
        "pid": pids.astype(np.int32),
        "charge": charge,
        "px": four[:, 1],
        "py": four[:, 2],
        "pz": four[:, 3],
        "energy": four[:, 0],
        "vx": zeros,
        "vy": zeros.copy(),
        "vz": zeros.copy(),
    }
