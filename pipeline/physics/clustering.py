"""Clusters from calorimeter hits: topological linking of neighbouring hits (connected
components within a link distance, per calorimeter), then HCAL clusters joined to the ECAL
cluster they line up with. Overlapping showers end up in one cluster, as in a real detector."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .calorimeter import ECAL, HCAL, leading_particle
from .detector_spec import DetectorSpec

CLUSTER_FIELDS = (
    "energy",
    "energy_ecal",
    "energy_hcal",
    "x",
    "y",
    "z",
    "eta",
    "phi",
    "nhits",
    "sigma_x",
    "sigma_y",
    "sigma_z",
    "gen_index",
)


def connected_groups(pos: np.ndarray, link: float) -> tuple[int, np.ndarray]:
    """(number of groups, group label per point) of points chained by distances below `link`."""
    if len(pos) == 0:
        return 0, np.zeros(0, dtype=np.int64)
    pairs = cKDTree(pos).query_pairs(link, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(pos), len(pos)))
    return connected_components(graph, directed=False)


def _eta_phi(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.sqrt(x**2 + y**2 + z**2)
    eta = np.arctanh(np.clip(z / np.maximum(r, 1e-9), -0.999999, 0.999999))
    return eta, np.arctan2(y, x)


def _weighted(labels: np.ndarray, n: int, w: np.ndarray, values: np.ndarray) -> np.ndarray:
    total = np.bincount(labels, weights=w, minlength=n)
    return np.bincount(labels, weights=w * values, minlength=n) / np.maximum(total, 1e-12)


def _absorb_fragments(labels: np.ndarray, hits: dict[str, np.ndarray], spec: DetectorSpec) -> np.ndarray:
    """Join low-energy fragments (halo and MIP stubs) to the nearest real cluster in (eta, phi)."""
    n = int(labels.max()) + 1
    e = hits["energy"]
    energy = np.bincount(labels, weights=e, minlength=n)
    cx, cy, cz = (_weighted(labels, n, e, hits[k]) for k in ("x", "y", "z"))
    eta, phi = _eta_phi(cx, cy, cz)
    seeds = np.flatnonzero(energy >= spec.fragment_energy)
    fragments = np.flatnonzero(energy < spec.fragment_energy)
    target = np.arange(n)
    if seeds.size and fragments.size:
        tree = cKDTree(np.stack([eta[seeds], np.cos(phi[seeds]), np.sin(phi[seeds])], axis=1))
        # chord in (cos, sin) ~ dphi for small angles: a KD-tree search without a dense matrix
        dist, nearest = tree.query(np.stack([eta[fragments], np.cos(phi[fragments]), np.sin(phi[fragments])], axis=1))
        close = dist < spec.fragment_merge_dr
        target[fragments[close]] = seeds[nearest[close]]
    _, labels = np.unique(target[labels], return_inverse=True)
    return labels


def cluster(hits: dict[str, np.ndarray], contributions: dict[str, np.ndarray], spec: DetectorSpec):
    n_hits = hits["energy"].size
    pos = np.stack([hits["x"], hits["y"], hits["z"]], axis=1) if n_hits else np.zeros((0, 3))
    labels = np.zeros(n_hits, dtype=np.int64)
    offset = 0
    sub_of_label = []
    for sub, cal in ((ECAL, spec.ecal), (HCAL, spec.hcal)):
        sel = hits["subdetector"] == sub
        count, lab = connected_groups(pos[sel], cal.link_distance)
        labels[sel] = lab + offset
        sub_of_label += [sub] * count
        offset += count
    sub_of_label = np.asarray(sub_of_label, dtype=np.int64)
    e = hits["energy"]

    # Join each HCAL cluster to the closest ECAL cluster in (eta, phi), if close enough.
    if offset:
        cx, cy, cz = (_weighted(labels, offset, e, hits[k]) for k in ("x", "y", "z"))
        eta, phi = _eta_phi(cx, cy, cz)
        ecal_ids = np.flatnonzero(sub_of_label == ECAL)
        hcal_ids = np.flatnonzero(sub_of_label == HCAL)
        target = np.arange(offset)
        if ecal_ids.size and hcal_ids.size:
            deta = eta[hcal_ids, None] - eta[None, ecal_ids]
            dphi = (phi[hcal_ids, None] - phi[None, ecal_ids] + np.pi) % (2 * np.pi) - np.pi
            dr = np.hypot(deta, dphi)
            best = np.argmin(dr, axis=1)
            close = dr[np.arange(hcal_ids.size), best] < spec.cluster_merge_dr
            target[hcal_ids[close]] = ecal_ids[best[close]]
        _, labels = np.unique(target[labels], return_inverse=True)
        labels = _absorb_fragments(labels, hits, spec)
    n = int(labels.max()) + 1 if n_hits else 0

    x, y, z = (_weighted(labels, n, e, hits[k]) for k in ("x", "y", "z"))
    eta, phi = _eta_phi(x, y, z)
    clusters = {
        "energy": np.bincount(labels, weights=e, minlength=n),
        "energy_ecal": np.bincount(labels, weights=e * (hits["subdetector"] == ECAL), minlength=n),
        "energy_hcal": np.bincount(labels, weights=e * (hits["subdetector"] == HCAL), minlength=n),
        "x": x,
        "y": y,
        "z": z,
        "eta": eta,
        "phi": phi,
        "nhits": np.bincount(labels, minlength=n),
    }
    for axis, centre in (("x", x), ("y", y), ("z", z)):
        var = _weighted(labels, n, e, (hits[axis] - centre[labels]) ** 2)
        clusters[f"sigma_{axis}"] = np.sqrt(np.maximum(var, 0))

    # Contributions per (cluster, particle), summed over the cluster's hits.
    n_particles = int(contributions["particle"].max()) + 1 if contributions["particle"].size else 1
    key = labels[contributions["element"]] * n_particles + contributions["particle"]
    keys, inverse = np.unique(key, return_inverse=True)
    cluster_contrib = {
        "element": keys // n_particles,
        "particle": keys % n_particles,
        "energy": np.bincount(inverse, weights=contributions["energy"], minlength=keys.size),
    }
    clusters["gen_index"] = leading_particle(cluster_contrib, n)
    return clusters, cluster_contrib, labels
