"""Where charged tracks go in the calorimeters, and which tracks and calorimeter objects belong
together: the geometry the rule-based particle flow links by (evaluation/baseline_pf.py) and the
staging's track-cluster link features (data/links.py) share."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .calorimeter import impacts, incidence


def track_paths(pt, eta, phi, charge, z0, detector) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each track's entry point into the ECAL, the unit direction it enters with, whether it gets
    there, and the path-length factor through the layers (1/cos of the incidence)."""
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
    ok = hit["ok"] & np.isfinite(hit["pos"]).all(axis=1)
    return hit["pos"], hit["axis"], ok, 1.0 / incidence(hit["pos"], hit["axis"], hit["region"])


def path_distance(start: np.ndarray, axis: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(tracks, objects): distance of each object centre from each track's straight path into the
    calorimeters; infinite for objects behind the entry point."""
    v = points[None, :, :] - start[:, None, :]  # (T, O, 3)
    along = np.einsum("toc,tc->to", v, axis)
    perp = np.linalg.norm(v - along[..., None] * axis[:, None, :], axis=-1)
    return np.where(along > -0.05, perp, np.inf)


def block_labels(links: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the track-object link matrix: block id per track and per object."""
    n_t, n_o = links.shape
    t, o = np.nonzero(links)
    graph = coo_matrix((np.ones(t.size), (t, n_t + o)), shape=(n_t + n_o, n_t + n_o))
    _, labels = connected_components(graph, directed=False)
    return labels[:n_t], labels[n_t:]
