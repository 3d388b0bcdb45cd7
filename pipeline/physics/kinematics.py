"""Vectorised kinematics of particle arrays, and the particle classes particle flow predicts."""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class ParticleClass(IntEnum):
    """Target classes of particle flow; the value is the class id stored in the data."""

    NONE = 0
    CHARGED_HADRON = 1
    NEUTRAL_HADRON = 2
    PHOTON = 3
    ELECTRON = 4
    MUON = 5

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


CLASSES = tuple(c.name.lower() for c in ParticleClass)
NEUTRINOS = (12, 14, 16)


def pt_eta_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pt = np.hypot(px, py)
    p = np.sqrt(pt**2 + pz**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arctanh(np.where(p > 0, pz / np.maximum(p, 1e-12), 0.0).clip(-1 + 1e-12, 1 - 1e-12))
    return pt, eta, np.arctan2(py, px)


def cos_theta(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    p = np.sqrt(px**2 + py**2 + pz**2)
    return np.where(p > 0, pz / np.maximum(p, 1e-12), 1.0)


def particle_class(pid: np.ndarray, charge: np.ndarray) -> np.ndarray:
    """Class id per particle (0 for what no detector sees: neutrinos)."""
    apid = np.abs(pid)
    cls = np.where(charge != 0, ParticleClass.CHARGED_HADRON, ParticleClass.NEUTRAL_HADRON)
    cls = np.where(apid == 22, ParticleClass.PHOTON, cls)
    cls = np.where(apid == 11, ParticleClass.ELECTRON, cls)
    cls = np.where(apid == 13, ParticleClass.MUON, cls)
    return np.where(np.isin(apid, NEUTRINOS), ParticleClass.NONE, cls).astype(np.int32)
