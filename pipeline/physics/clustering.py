"""Clusters from calorimeter hits: topological linking of neighbouring cells (connected
components of occupied cell groups, per calorimeter and region), then HCAL clusters joined to
the ECAL cluster they line up with. Overlapping showers end up in one cluster, as in a real
detector.

The linking works on the cells' own indices (layer, i, j): cells are grouped into voxels of
about half the calorimeter's `link_distance` in each direction, and occupied voxels that touch
(face, edge or corner, with the barrel's phi wrap-around) are one cluster. Hits closer than
about the link distance are linked, as a KD-tree search at that distance would link them, but
in time linear in the number of hits (no pair list, no distance computation)."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .calorimeter import BARREL, ECAL, HCAL, eta_phi, leading_particle
from .compiled import unique_inverse, voxel_groups, voxel_keys
from .detector_spec import CalorimeterSpec, DetectorSpec

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


def cell_groups(hits: dict[str, np.ndarray], cal: CalorimeterSpec) -> tuple[int, np.ndarray]:
    """(number of groups, group per hit) of one calorimeter's hits, linked through touching voxels
    of about half the link distance (26-connectivity; the barrel wraps around in phi)."""
    n_hits = hits["layer"].size
    if n_hits == 0:
        return 0, np.zeros(0, dtype=np.int64)
    cells = max(1, round(0.5 * cal.link_distance / cal.cell_size))
    layers = max(1, round(0.5 * cal.link_distance / (cal.depth / cal.layers)))
    barrel = hits["region"] == BARREL
    n_phi = int(2 * np.pi * cal.barrel_radius / cal.cell_size)  # cells around the barrel
    vi = np.where(barrel, np.mod(hits["cell_i"], n_phi), hits["cell_i"]) // cells
    keys = voxel_keys(hits["region"], hits["layer"] // layers, vi, hits["cell_j"] // cells)
    voxels, voxel_of_hit = unique_inverse(keys)
    count, labels = voxel_groups(voxels, BARREL, -(-n_phi // cells))
    return int(count), labels[voxel_of_hit]


def _nearest_in_eta_phi(eta, phi, query_eta, query_phi) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and index of, the nearest (eta, phi) point for each query point. The chord
    in (cos phi, sin phi) ~ delta phi for small angles: a KD-tree search, no dense matrix."""
    tree = cKDTree(np.stack([eta, np.cos(phi), np.sin(phi)], axis=1))
    return tree.query(np.stack([query_eta, np.cos(query_phi), np.sin(query_phi)], axis=1))


def _weighted(labels: np.ndarray, n: int, w: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
    """The w-weighted mean of each of `values` per label (one sum of the weights for all)."""
    total = np.maximum(np.bincount(labels, weights=w, minlength=n), 1e-12)
    return [np.bincount(labels, weights=w * v, minlength=n) / total for v in values]


def _renumber(target: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels moved to target[label], renumbered 0.. in target order. Every label in 0..n-1 occurs,
    so this is np.unique(target[labels], return_inverse=True) over the n labels, not the hits."""
    _, new = np.unique(target, return_inverse=True)
    return new[labels]


def _sum_by_key(key: np.ndarray, weights: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct keys in order, the sum of weights per key), summed in input order. Keys lie
    in [0, n_keys): a dense count when that range is small (clusters x particles), else a sort."""
    if n_keys <= max(1 << 20, 8 * key.size):
        keys = np.flatnonzero(np.bincount(key, minlength=n_keys))
        return keys, np.bincount(key, weights=weights, minlength=n_keys)[keys]
    keys, inverse = np.unique(key, return_inverse=True)
    return keys, np.bincount(inverse, weights=weights, minlength=keys.size)


def _absorb_fragments(labels: np.ndarray, hits: dict[str, np.ndarray], spec: DetectorSpec) -> np.ndarray:
    """Join low-energy fragments (halo and MIP stubs) to the nearest real cluster in (eta, phi)."""
    n = int(labels.max()) + 1
    e = hits["energy"]
    energy = np.bincount(labels, weights=e, minlength=n)
    cx, cy, cz = _weighted(labels, n, e, hits["x"], hits["y"], hits["z"])
    eta, phi = eta_phi(cx, cy, cz)
    seeds = np.flatnonzero(energy >= spec.fragment_energy)
    fragments = np.flatnonzero(energy < spec.fragment_energy)
    target = np.arange(n)
    if seeds.size and fragments.size:
        dist, nearest = _nearest_in_eta_phi(eta[seeds], phi[seeds], eta[fragments], phi[fragments])
        close = dist < spec.fragment_merge_dr
        target[fragments[close]] = seeds[nearest[close]]
    return _renumber(target, labels)


def cluster(hits: dict[str, np.ndarray], contributions: dict[str, np.ndarray], spec: DetectorSpec):
    n_hits = hits["energy"].size
    labels = np.zeros(n_hits, dtype=np.int64)
    offset = 0
    sub_of_label = []
    # digitise orders hits by cell key, subdetector first: each calorimeter is one slice
    subdetector = hits["subdetector"]
    if np.any(subdetector[1:] < subdetector[:-1]):
        raise ValueError("cluster() takes hits ordered by subdetector, as digitise() returns them")
    for sub, cal in ((ECAL, spec.ecal), (HCAL, spec.hcal)):
        sel = slice(*np.searchsorted(subdetector, [sub, sub + 1]))
        count, lab = cell_groups({k: hits[k][sel] for k in ("layer", "region", "cell_i", "cell_j")}, cal)
        labels[sel] = lab + offset
        sub_of_label += [sub] * count
        offset += count
    sub_of_label = np.asarray(sub_of_label, dtype=np.int64)
    e = hits["energy"]

    # Join each HCAL cluster to the closest ECAL cluster in (eta, phi), if close enough.
    if offset:
        cx, cy, cz = _weighted(labels, offset, e, hits["x"], hits["y"], hits["z"])
        eta, phi = eta_phi(cx, cy, cz)
        ecal_ids = np.flatnonzero(sub_of_label == ECAL)
        hcal_ids = np.flatnonzero(sub_of_label == HCAL)
        target = np.arange(offset)
        if ecal_ids.size and hcal_ids.size:
            dist, nearest = _nearest_in_eta_phi(eta[ecal_ids], phi[ecal_ids], eta[hcal_ids], phi[hcal_ids])
            close = dist < spec.cluster_merge_dr
            target[hcal_ids[close]] = ecal_ids[nearest[close]]
        labels = _renumber(target, labels)
        labels = _absorb_fragments(labels, hits, spec)
    n = int(labels.max()) + 1 if n_hits else 0

    x, y, z = _weighted(labels, n, e, hits["x"], hits["y"], hits["z"])
    eta, phi = eta_phi(x, y, z)
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
    variances = _weighted(labels, n, e, *((hits[a] - c[labels]) ** 2 for a, c in (("x", x), ("y", y), ("z", z))))
    for axis, var in zip("xyz", variances, strict=True):
        clusters[f"sigma_{axis}"] = np.sqrt(np.maximum(var, 0))

    # Contributions per (cluster, particle), summed over the cluster's hits.
    n_particles = int(contributions["particle"].max()) + 1 if contributions["particle"].size else 1
    key = labels[contributions["element"]] * n_particles + contributions["particle"]
    keys, energy = _sum_by_key(key, contributions["energy"], n * n_particles)
    cluster_contrib = {"element": keys // n_particles, "particle": keys % n_particles, "energy": energy}
    clusters["gen_index"] = leading_particle(cluster_contrib, n)
    return clusters, cluster_contrib, labels
