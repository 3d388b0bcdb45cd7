"""A rule-based particle flow on the same elements the models see — the baseline every model is
compared with.

1. Tracks are extrapolated to the ECAL face along their helix (the simulation's own geometry)
   and linked to the nearest calorimeter object within `link_dr` (`link_dr_loose` for a wide
   hadron shower whose centroid lies further away).
2. Every track is a charged candidate (momentum from the track). It is an electron when its
   object is ECAL-dominated with E/p near 1, a muon when p is high and its object holds only a
   minimum-ionising fraction of p with energy in the HCAL too (it went through).
3. Every calorimeter object gets the energy expected from its linked tracks subtracted
   (electrons take the whole object); an excess beyond `excess_sigma` times the hadronic
   resolution is a neutral candidate, as is every object without tracks: a photon when the
   object's ECAL energy is at least `photon_ecal_fraction` of that neutral energy, otherwise
   a neutral hadron, each with its own calibration factor.

At the hits input level the calorimeter objects are built first: hits are grouped into
connected components (neighbours within `hit_link_m`), and a group's candidate is placed on
its most energetic hit. Candidates are returned per element (class 0: no particle there), so
the baseline compares with the targets and the models element by element.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .candidates import CANDIDATE_COLUMNS
from .elements import raw_columns, require

CHARGED_HADRON, NEUTRAL_HADRON, PHOTON, ELECTRON, MUON = 1, 2, 3, 4, 5


@dataclass(frozen=True)
class BaselineConfig:
    link_dr: float = 0.15
    link_dr_loose: float = 0.35  # second pass for tracks left without an object
    electron_ecal_fraction: float = 0.9
    electron_e_over_p: tuple[float, float] = (0.7, 1.4)
    muon_min_p: float = 5.0
    muon_max_e_over_p: float = 0.1
    excess_sigma: float = 2.0
    hadron_stochastic: float = 0.55  # sigma/E = a/sqrt(E) for the expected track energy
    photon_ecal_fraction: float = 0.8
    photon_calibration: float = 1.0
    neutral_hadron_calibration: float = 1.0
    min_neutral_energy: float = 0.1
    hit_link_m: float = 0.03


def _delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    dphi = np.mod(phi1[:, None] - phi2[None, :] + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1[:, None] - eta2[None, :], dphi)


def track_impacts(pt, eta, phi, charge, z0, detector) -> tuple[np.ndarray, np.ndarray]:
    """(eta, phi) of each track's entry point into the ECAL (its vertex direction if it never gets there)."""
    from ..physics.calorimeter import impacts

    particles = {
        "px": pt * np.cos(phi),
        "py": pt * np.sin(phi),
        "pz": pt * np.sinh(eta),
        "charge": charge,
        "vx": np.zeros_like(pt),
        "vy": np.zeros_like(pt),
        "vz": z0,
    }
    hit = impacts(particles, detector)
    x, y, z = hit["pos"].T
    r = np.sqrt(x**2 + y**2 + z**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        eta_i = np.arctanh(np.clip(z / np.maximum(r, 1e-9), -0.999999, 0.999999))
    ok = hit["ok"] & np.isfinite(eta_i)
    return np.where(ok, eta_i, eta), np.where(ok, np.arctan2(y, x), phi)


def calorimeter_objects(X, K, features, level: str, cfg: BaselineConfig) -> dict[str, np.ndarray]:
    """Clusters as they are, or hits grouped into clusters: energy, ECAL energy, direction, element row."""
    if level == "clusters":
        c = raw_columns(X, features, "cluster")
        require(c, "cluster", ("energy_ecal", "energy_hcal"))
        rows = c["index"]
        return {
            "energy": K[rows, 4].astype(np.float64),
            "ecal": c["energy_ecal"],
            "eta": K[rows, 1].astype(np.float64),
            "phi": np.arctan2(K[rows, 2], K[rows, 3]).astype(np.float64),
            "row": rows,
        }
    from ..physics.clustering import _components

    h = raw_columns(X, features, "hit")
    require(h, "hit", ("x", "y", "z", "subdetector"))
    rows = h["index"]
    energy = K[rows, 4].astype(np.float64)
    n, labels = _components(np.stack([h["x"], h["y"], h["z"]], axis=1), cfg.hit_link_m)
    total = np.bincount(labels, weights=energy, minlength=n)
    ecal = np.bincount(labels, weights=energy * (np.round(h["subdetector"]) == 0), minlength=n)
    w = np.maximum(total, 1e-12)
    x = np.bincount(labels, weights=energy * h["x"], minlength=n) / w
    y = np.bincount(labels, weights=energy * h["y"], minlength=n) / w
    z = np.bincount(labels, weights=energy * h["z"], minlength=n) / w
    leading = np.full(n, -1)
    order = np.argsort(energy)  # the last write per label is its most energetic hit
    leading[labels[order]] = rows[order]
    r = np.sqrt(x**2 + y**2 + z**2)
    return {
        "energy": total,
        "ecal": ecal,
        "eta": np.arctanh(np.clip(z / np.maximum(r, 1e-9), -0.999999, 0.999999)),
        "phi": np.arctan2(y, x),
        "row": leading,
    }


def reconstruct(X: np.ndarray, K: np.ndarray, features: dict, level: str, detector, cfg: BaselineConfig):
    """One event's candidates, one row per element (CANDIDATE_COLUMNS)."""
    out = np.zeros((len(X), len(CANDIDATE_COLUMNS)))
    t = raw_columns(X, features, "track")
    require(t, "track", ("charge",))
    trows = t["index"]
    pt, eta = K[trows, 0].astype(np.float64), K[trows, 1].astype(np.float64)
    phi, p = np.arctan2(K[trows, 2], K[trows, 3]).astype(np.float64), K[trows, 4].astype(np.float64)
    charge = np.sign(np.round(t["charge"]))
    z0 = t.get("z0", np.zeros_like(pt))
    calo = calorimeter_objects(X, K, features, level, cfg)
    n_obj = len(calo["energy"])

    link = np.full(len(trows), -1)
    if len(trows) and n_obj:
        eta_i, phi_i = track_impacts(pt, eta, phi, charge, z0, detector)
        dr = _delta_r(eta_i, phi_i, calo["eta"], calo["phi"])
        nearest = dr.argmin(axis=1)
        best = dr[np.arange(len(trows)), nearest]
        link = np.where(best < cfg.link_dr, nearest, -1)
        link = np.where((link < 0) & (best < cfg.link_dr_loose), nearest, link)

    cls = np.full(len(trows), CHARGED_HADRON)
    absorbed = np.zeros(n_obj, dtype=bool)
    ecal_fraction = calo["ecal"] / np.maximum(calo["energy"], 1e-12)
    hcal = calo["energy"] - calo["ecal"]
    for i, obj in enumerate(link):
        if obj < 0:
            continue  # its shower went into a neighbour's object, or it never reached the calorimeter
        e_over_p = calo["energy"][obj] / max(p[i], 1e-9)
        lone = np.count_nonzero(link == obj) == 1
        if (
            lone
            and ecal_fraction[obj] >= cfg.electron_ecal_fraction
            and (cfg.electron_e_over_p[0] <= e_over_p <= cfg.electron_e_over_p[1])
        ):
            cls[i], absorbed[obj] = ELECTRON, True
        elif p[i] >= cfg.muon_min_p and e_over_p <= cfg.muon_max_e_over_p and hcal[obj] > 0:
            cls[i] = MUON
    out[trows] = np.stack([cls, charge, pt, eta, phi, p], axis=1)

    expected = np.zeros(n_obj)
    sigma2 = np.zeros(n_obj)
    for i, obj in enumerate(link):
        if obj >= 0 and cls[i] != MUON:
            expected[obj] += p[i]
            sigma2[obj] += (cfg.hadron_stochastic**2) * p[i]
    excess = calo["energy"] - expected
    linked = expected > 0
    neutral = ~absorbed & (
        (~linked & (calo["energy"] >= cfg.min_neutral_energy))
        | (linked & (excess > np.maximum(cfg.excess_sigma * np.sqrt(sigma2), cfg.min_neutral_energy)))
    )
    energy = np.where(linked, excess, calo["energy"])
    photon = calo["ecal"] >= cfg.photon_ecal_fraction * energy  # the neutral energy can be all electromagnetic
    energy = energy * np.where(photon, cfg.photon_calibration, cfg.neutral_hadron_calibration)
    for obj in np.flatnonzero(neutral & (calo["row"] >= 0)):
        e = energy[obj]
        out[calo["row"][obj]] = [
            PHOTON if photon[obj] else NEUTRAL_HADRON,
            0.0,
            e / np.cosh(calo["eta"][obj]),
            calo["eta"][obj],
            calo["phi"][obj],
            e,
        ]
    return out
