"""Pileup over a luminous region: every pp interaction of a bunch crossing (the hard one and a
Poisson number of minimum-bias ones) gets its own vertex z, drawn from a Gaussian of width
`z_spread` (the LHC's luminous region, sigma_z ~ 4-5 cm), so charged pileup can be told from
the hard interaction by the tracks' z0.

Minimum-bias events (Pythia SoftQCD:nonDiffractive, their own seed stream) are drawn from a pool,
as the fast simulations do (Delphes's PileUpMerger reads a pre-generated minimum-bias file): the
first `pool` events are generated, later draws reuse them, each reuse rotated by a random
azimuth and reflected in z with probability 1/2 before being placed at its vertex. At mean 50
a 200-event file draws 10k interactions; a pool of 1000 makes each one appear about ten times,
in different orientations and vertices, at 1/10 of the generation cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .generator import PARTICLE_FIELDS, particles_of, pythia_from

SQRT_S = 13000.0


@dataclass(frozen=True)
class PileupConfig:
    mean: float = 50.0  # Poisson mean of minimum-bias interactions per crossing
    z_spread: float = 0.05  # Gaussian sigma of the vertices' z (m)
    pool: int = 1000  # minimum-bias events generated before draws reuse them
    dz_max: float = 1e-3  # a track belongs to the hard vertex when |z0 - z_hard| < this (m)


def shifted(particles: dict[str, np.ndarray], z: float) -> dict[str, np.ndarray]:
    """The particles of an interaction whose vertex sits at z (m) instead of 0."""
    return {**particles, "vz": particles["vz"] + z}


def transformed(particles: dict[str, np.ndarray], angle: float, flip: bool) -> dict[str, np.ndarray]:
    """Rotated by `angle` about the beam, and reflected in z when `flip`."""
    c, s = np.cos(angle), np.sin(angle)
    out = dict(particles)
    out["px"], out["py"] = c * particles["px"] - s * particles["py"], s * particles["px"] + c * particles["py"]
    out["vx"], out["vy"] = c * particles["vx"] - s * particles["vy"], s * particles["vx"] + c * particles["vy"]
    if flip:
        out["pz"], out["vz"] = -particles["pz"], -particles["vz"]
    return out


class PileupOverlay:
    def __init__(self, config: PileupConfig, seed: int) -> None:
        self.config = config
        self.rng = np.random.default_rng([seed, 2])  # its own stream: the hard event's draws are unchanged
        self.seed = (seed + 450_000_000) % 900_000_000
        self.pythia = None
        self.pool: list[dict[str, np.ndarray]] = []
        self.generated = self.drawn = 0

    def vertex_z(self) -> float:
        return float(self.rng.normal(0.0, self.config.z_spread)) if self.config.z_spread > 0 else 0.0

    def _minimum_bias(self) -> dict[str, np.ndarray]:
        if len(self.pool) < self.config.pool:
            if self.pythia is None:
                self.pythia = pythia_from([f"Beams:eCM = {SQRT_S}", "SoftQCD:nonDiffractive = on"], self.seed, "pileup")
            while not self.pythia.next():
                pass
            self.pool.append(particles_of(self.pythia.event))
            self.generated += 1
            return self.pool[-1]
        chosen = self.pool[int(self.rng.integers(len(self.pool)))]
        return transformed(chosen, float(self.rng.uniform(0, 2 * np.pi)), bool(self.rng.random() < 0.5))

    def add(self, hard: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The crossing: the hard interaction (already at its vertex) and the pileup, each
        minimum-bias interaction at its own vertex; and a mask of the pileup particles."""
        n = int(self.rng.poisson(self.config.mean)) if self.config.mean > 0 else 0
        extra = [shifted(self._minimum_bias(), self.vertex_z()) for _ in range(n)]
        self.drawn += n
        merged = {name: np.concatenate([hard[name], *(e[name] for e in extra)]) for name in PARTICLE_FIELDS}
        mask = np.zeros(merged["pid"].size, dtype=bool)
        mask[hard["pid"].size :] = True
        return merged, mask

    def record(self) -> dict:
        c = self.config
        return {
            "mean": c.mean, "z_spread_m": c.z_spread, "pool": c.pool, "dz_max_m": c.dz_max,
            "minimum_bias_generated": self.generated, "interactions_drawn": self.drawn,
        }  # fmt: skip
