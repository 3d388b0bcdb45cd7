"""A rule-based particle flow on the same elements the models see — the baseline every model is
compared with. Pandora-like in spirit, in four steps:

1. Links. Each track is extrapolated along its helix to the ECAL face; from there its shower
   would run straight along the direction it enters with (the field bends nothing that
   showers). A track links to every calorimeter object whose centre lies within
   `link_distance_m` of that path through the ECAL and HCAL depth, so the small ECAL piece and
   the HCAL piece of one hadron shower both join its track however far apart their centres
   look from the origin. Tracks and objects that share links form blocks.
2. Identification per track: an electron when its nearest object is compact, ECAL-dominated,
   with E/p near 1, lies within an EM shower's width of its path and is nearest to no other
   track; a muon when p is high and the objects no other track lies closer to hold about the
   minimum-ionising deposit expected along its path, with some of it in the HCAL, and far less
   than p (the MIP deposit is then subtracted, not p).
3. Energy balance per block: the calorimeter energy is compared with what its tracks explain
   (p for hadrons, the MIP deposit for muons, the electron's own object). Too little (E/p well
   below 1): objects left without a track are re-associated from a wider cone around the path,
   nearest first, while the sum stays compatible with p — the only way a loose link is made.
   Too much, beyond `excess_sigma` times the hadronic resolution: the excess is a neutral
   candidate, placed on the objects left after the tracks took their energy nearest first.
4. Every object without a track is a neutral candidate: a photon when ECAL energy dominates,
   otherwise a neutral hadron. Neutral energies are calibrated per class as a function of
   energy (`NeutralCalibration`, fitted on the training split by the evaluate stage).

At the hits input level the calorimeter objects are built first: hits are grouped into
connected components (neighbours within `hit_link_m`), and a group's candidate is placed on its
most energetic hit. Candidates are returned per element (class 0: no particle there), so the
baseline compares with the targets and the models element by element.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_json
from ..data.elements import raw_columns, require
from ..physics.kinematics import ParticleClass as PC
from ..physics.track_paths import block_labels, path_distance, track_paths
from .candidates import CANDIDATE_COLUMNS

NEUTRAL_CLASSES = (PC.NEUTRAL_HADRON, PC.PHOTON)


@dataclass(frozen=True)
class BaselineConfig:
    link_distance_m: float = 0.3  # object centre to the track's path through the calorimeters
    reassociation_distance_m: float = 0.5  # the wider cone searched when E/p is too low
    reassociation_sigma: float = 1.0  # E below p by more than this many sigma: re-associate
    electron_distance_m: float = 0.03  # an EM shower's centre lies this close to its track's path
    electron_max_spread_m: float = 0.065  # EM showers are compact; early hadron showers are not
    electron_ecal_fraction: float = 0.9
    electron_e_over_p: tuple[float, float] = (0.7, 1.4)
    muon_min_p: float = 4.0
    muon_mip_ratio: tuple[float, float] = (0.5, 2.0)  # linked energy / the expected MIP deposit
    muon_max_e_over_p: float = 0.4  # a hadron leaves most of p even when neighbours take part of it
    muon_min_hcal_mip_ratio: float = 0.5  # HCAL energy at least this fraction of its MIP deposit
    excess_sigma: float = 2.0
    hadron_stochastic: float = 0.55  # sigma/E = a/sqrt(E) of a hadron shower
    photon_ecal_fraction: float = 0.8
    min_neutral_energy: float = 0.1
    hit_link_m: float = 0.03
    calibration_events: int = 2000  # training-split events the neutral calibration is fitted on (0: none)
    calibration_min_entries: int = 30  # fewer matched neutrals in an energy bin: that bin is not corrected
    calibration_edges: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 200.0)


@dataclass(frozen=True)
class NeutralCalibration:
    """E_calibrated = E * factor(class, E): per neutral class, the median true/reco energy ratio of
    matched candidates in bins of reco energy, interpolated in log E (flat beyond the ends)."""

    edges: tuple[float, ...] = ()
    factors: dict[int, tuple[float, ...]] = field(default_factory=dict)
    entries: dict[int, tuple[int, ...]] = field(default_factory=dict)
    events: int = 0

    def apply(self, cls: np.ndarray, energy: np.ndarray) -> np.ndarray:
        out = np.asarray(energy, dtype=np.float64).copy()
        if not self.edges:
            return out
        edges = np.asarray(self.edges)
        centres = np.log(np.sqrt(edges[:-1] * edges[1:]))
        for c, factors in self.factors.items():
            sel = cls == c
            if sel.any():
                out[sel] *= np.interp(np.log(np.maximum(out[sel], 1e-6)), centres, factors)
        return out

    @classmethod
    def fit(cls, reco: list[np.ndarray], target: list[np.ndarray], cfg: BaselineConfig) -> NeutralCalibration:
        """From uncalibrated baseline candidates and the per-element targets of the same events."""
        r, t = np.concatenate(reco), np.concatenate(target)
        edges = np.asarray(cfg.calibration_edges)
        factors, entries = {}, {}
        for c in NEUTRAL_CLASSES:
            matched = (r[:, 0] == c) & np.isin(t[:, 0], NEUTRAL_CLASSES) & (r[:, 5] > 0) & (t[:, 5] > 0)
            e_reco, ratio = r[matched, 5], t[matched, 5] / r[matched, 5]
            which = np.digitize(e_reco, edges) - 1
            bins, counts = [], []
            for b in range(len(edges) - 1):
                inside = ratio[which == b]
                counts.append(int(inside.size))
                bins.append(float(np.median(inside)) if inside.size >= cfg.calibration_min_entries else np.nan)
            bins = np.asarray(bins)
            if np.isnan(bins).all():
                bins[:] = 1.0
            else:  # a sparse bin takes its nearest filled neighbour's factor
                filled = np.flatnonzero(~np.isnan(bins))
                bins = bins[filled[np.abs(np.arange(len(bins))[:, None] - filled[None, :]).argmin(axis=1)]]
            factors[int(c)], entries[int(c)] = tuple(float(v) for v in bins), tuple(counts)
        return cls(edges=tuple(float(e) for e in edges), factors=factors, entries=entries, events=len(reco))

    def to_json(self) -> dict:
        return {
            "edges_gev": list(self.edges),
            "events": self.events,
            "classes": {
                PC(c).label: {"factors": list(f), "entries": list(self.entries.get(c, ()))}
                for c, f in self.factors.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> NeutralCalibration:
        by_label = {c.label: int(c) for c in PC}
        classes = data["classes"]
        return cls(
            edges=tuple(data["edges_gev"]),
            factors={by_label[k]: tuple(v["factors"]) for k, v in classes.items()},
            entries={by_label[k]: tuple(v["entries"]) for k, v in classes.items()},
            events=int(data["events"]),
        )

    def save(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> NeutralCalibration:
        return cls.from_json(json.loads(Path(path).read_text()))


def calorimeter_objects(X, K, features, level: str, cfg: BaselineConfig) -> dict[str, np.ndarray]:
    """Clusters as they are, or hits grouped into clusters: energy, ECAL energy, centre, spatial
    spread (energy-weighted RMS distance from the centre), element row."""
    if level == "clusters":
        c = raw_columns(X, features, "cluster")
        require(c, "cluster", ("energy_ecal", "energy_hcal", "x", "y", "z", "sigma_x", "sigma_y", "sigma_z"))
        rows = c["index"]
        return {
            "spread": np.sqrt(c["sigma_x"] ** 2 + c["sigma_y"] ** 2 + c["sigma_z"] ** 2),
            "energy": K[rows, 4].astype(np.float64),
            "ecal": c["energy_ecal"],
            "pos": np.stack([c["x"], c["y"], c["z"]], axis=1),
            "eta": K[rows, 1].astype(np.float64),
            "phi": np.arctan2(K[rows, 2], K[rows, 3]).astype(np.float64),
            "row": rows,
        }
    from ..physics.clustering import connected_groups

    h = raw_columns(X, features, "hit")
    require(h, "hit", ("x", "y", "z", "subdetector"))
    rows = h["index"]
    energy = K[rows, 4].astype(np.float64)
    n, labels = connected_groups(np.stack([h["x"], h["y"], h["z"]], axis=1), cfg.hit_link_m)
    total = np.bincount(labels, weights=energy, minlength=n)
    ecal = np.bincount(labels, weights=energy * (np.round(h["subdetector"]) == 0), minlength=n)
    w = np.maximum(total, 1e-12)
    pos = np.stack([np.bincount(labels, weights=energy * h[k], minlength=n) / w for k in "xyz"], axis=1)
    spread2 = sum(
        np.bincount(labels, weights=energy * (h[k] - pos[labels, i]) ** 2, minlength=n) for i, k in enumerate("xyz")
    )
    leading = np.full(n, -1)
    order = np.argsort(energy)  # the last write per label is its most energetic hit
    leading[labels[order]] = rows[order]
    r = np.linalg.norm(pos, axis=1)
    return {
        "energy": total,
        "ecal": ecal,
        "spread": np.sqrt(np.maximum(spread2 / w, 0)),
        "pos": pos,
        "eta": np.arctanh(np.clip(pos[:, 2] / np.maximum(r, 1e-9), -0.999999, 0.999999)),
        "phi": np.arctan2(pos[:, 1], pos[:, 0]),
        "row": leading,
    }


def reconstruct(
    X: np.ndarray,
    K: np.ndarray,
    features: dict,
    level: str,
    detector,
    cfg: BaselineConfig,
    calibration: NeutralCalibration | None = None,
) -> np.ndarray:
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
    n_t, n_o = len(trows), len(calo["energy"])
    energy, ecal = calo["energy"], calo["ecal"]

    # 1. links along each track's path, and blocks
    start, axis, reaches, path_factor = track_paths(pt, eta, phi, charge, z0, detector)
    dist = path_distance(start, axis, calo["pos"]) if n_t and n_o else np.full((n_t, n_o), np.inf)
    dist[~reaches] = np.inf
    links = dist < cfg.link_distance_m

    # 2. identification
    cls = np.full(n_t, int(PC.CHARGED_HADRON))
    mip = path_factor * (
        detector.ecal.layers * detector.ecal.mip_energy_per_layer
        + detector.hcal.layers * detector.hcal.mip_energy_per_layer
    )
    hcal_mip = path_factor * detector.hcal.layers * detector.hcal.mip_energy_per_layer
    nearest_track = dist.argmin(axis=0) if n_t else np.zeros(n_o, dtype=int)
    absorbed = np.zeros(n_o, dtype=bool)  # taken whole by an electron
    for i in np.flatnonzero(links.any(axis=1)):
        own = np.flatnonzero(links[i])
        nearest = own[dist[i, own].argmin()]
        e_over_p = energy[nearest] / max(p[i], 1e-9)
        if (
            nearest_track[nearest] == i
            and dist[i, nearest] < cfg.electron_distance_m
            and calo["spread"][nearest] < cfg.electron_max_spread_m
            and ecal[nearest] >= cfg.electron_ecal_fraction * energy[nearest]
            and cfg.electron_e_over_p[0] <= e_over_p <= cfg.electron_e_over_p[1]
        ):
            cls[i], absorbed[nearest] = PC.ELECTRON, True
            links[i] = False  # its object is used up; its other objects are left to the others
            links[i, nearest] = True
            continue
        mine = own[nearest_track[own] == i]  # objects on its path that no other track lies closer to
        e_linked, e_hcal = energy[mine].sum(), (energy - ecal)[mine].sum()
        if (
            p[i] >= cfg.muon_min_p
            and cfg.muon_mip_ratio[0] * mip[i]
            <= e_linked
            <= min(cfg.muon_mip_ratio[1] * mip[i], cfg.muon_max_e_over_p * p[i])
            and e_hcal >= cfg.muon_min_hcal_mip_ratio * hcal_mip[i]
        ):
            cls[i] = PC.MUON
    out[trows] = np.stack([cls, charge, pt, eta, phi, p], axis=1)

    # 3. energy balance per block, with re-association where E/p is too low
    hadron = cls == PC.CHARGED_HADRON
    expected_t = np.where(hadron, p, np.where(cls == PC.MUON, mip, 0.0))
    sigma2_t = np.where(hadron, cfg.hadron_stochastic**2 * p, 0.0)
    if n_t and n_o:
        block_t, block_o = block_labels(links)
        owned = links.any(axis=0)
        for b in np.unique(block_t[hadron]):
            members = np.flatnonzero(block_t == b)
            expected, sigma = expected_t[members].sum(), np.sqrt(sigma2_t[members].sum())
            objects = np.flatnonzero((block_o == b) & owned & ~absorbed)
            total = energy[objects].sum()
            if total >= expected - cfg.reassociation_sigma * sigma:
                continue
            cone = dist[members].min(axis=0)
            free = np.flatnonzero(~owned & (cone < cfg.reassociation_distance_m))
            for o in free[np.argsort(cone[free])]:
                if total + energy[o] > expected + cfg.excess_sigma * sigma:
                    continue
                total += energy[o]
                owned[o], block_o[o] = True, b
        remaining = np.where(owned & ~absorbed, energy, 0.0)
        for b in np.unique(block_t):
            members = np.flatnonzero(block_t == b)
            objects = np.flatnonzero((block_o == b) & owned & ~absorbed)
            if not objects.size:
                continue
            expected, sigma = expected_t[members].sum(), np.sqrt(sigma2_t[members].sum())
            excess = energy[objects].sum() - expected
            if excess <= max(cfg.excess_sigma * sigma, cfg.min_neutral_energy):
                remaining[objects] = 0.0  # the tracks explain the block's energy
                continue
            need = expected  # the tracks take their energy from the objects nearest their paths
            for o in objects[np.argsort(dist[members][:, objects].min(axis=0))]:
                taken = min(need, remaining[o])
                remaining[o] -= taken
                need -= taken
        neutral_energy = np.where(owned, remaining, energy)
    else:
        neutral_energy = energy.copy()
    neutral_energy[absorbed] = 0.0

    # 4. neutral candidates on what is left, calibrated per class
    neutral = (neutral_energy >= cfg.min_neutral_energy) & (calo["row"] >= 0)
    photon = ecal >= cfg.photon_ecal_fraction * np.minimum(neutral_energy, energy)
    n_cls = np.where(photon, int(PC.PHOTON), int(PC.NEUTRAL_HADRON))
    if calibration is not None:
        neutral_energy = calibration.apply(n_cls, neutral_energy)
    for o in np.flatnonzero(neutral):
        e = neutral_energy[o]
        out[calo["row"][o]] = [n_cls[o], 0.0, e / np.cosh(calo["eta"][o]), calo["eta"][o], calo["phi"][o], e]
    return out
