"""Track-calorimeter link features: what rule-based particle flow knows about each element's
neighbours, given to the network as extra input columns.

Each track is followed along its helix to the ECAL face and then straight through the
calorimeters (physics/track_paths.py, the geometry the baseline particle flow links by); a cluster whose centre lies
within `link_distance_m` of that path is linked to it, and tracks and clusters that share links
form blocks. Per element (columns after the feature columns, in `LINK_COLUMNS` order):

- `linked`: log(1 + the energy of the clusters a track links to), or for a cluster the
  momentum of the tracks linked to it;
- `n_linked`: how many (x 0.2);
- `nearest_m`: distance between the element and the nearest path (a track: its nearest cluster;
  a cluster: the nearest track path), clipped to 1 m (1 when there is none);
- `block_energy`, `block_p`: log(1 + the calorimeter energy / track momentum of its block);
- `block_excess`: signed log(1 + |E - p|) of the block, and `excess_sigma`: (E - p) in units of
  the hadronic resolution 0.55 sqrt(p), clipped to +-5 and divided by 5 (0 without tracks);
- `share`: the element's fraction of its block's energy (clusters) or momentum (tracks);
- `entry_x`, `entry_y`, `entry_z` (x 0.5, m) and `reaches`: a track's entry point into the
  ECAL (zeros for clusters and for tracks that curl up before it).

The block's E/p is what decides, in rule-based particle flow, whether a cluster holds a neutral
particle; a network that learns from a few thousand events can hardly learn that association
from positions alone. Computed at staging from the staged element rows (so the evaluation's
baseline sees the same inputs); clusters input level only.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveFloat

from ..spec import Strict

LINK_COLUMNS = (
    "linked",
    "n_linked",
    "nearest_m",
    "block_energy",
    "block_p",
    "block_excess",
    "excess_sigma",
    "share",
    "entry_x",
    "entry_y",
    "entry_z",
    "reaches",
)
HADRON_STOCHASTIC = 0.55


class LinkParams(Strict):
    enabled: bool = Field(False, description="Append the link features (LINK_COLUMNS) to every element row.")
    link_distance_m: PositiveFloat = Field(
        0.3, description="A cluster centre this close to a track's path through the calorimeters is linked."
    )
    detector: dict = Field(
        default_factory=dict,
        description="The detector for the track extrapolation; left out, the one the input files "
        "were generated with (their records); given, it must be that one.",
    )

    def columns(self) -> int:
        return len(LINK_COLUMNS) if self.enabled else 0


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def link_features(X: np.ndarray, K: np.ndarray, features: dict, detector, link_distance_m: float) -> np.ndarray:
    """[elements, len(LINK_COLUMNS)] for one event's rows X (normalised features, as staged) and
    K (pt, eta, sin phi, cos phi, E). `features` is the manifest's feature dict."""
    from ..physics.track_paths import block_labels, path_distance, track_paths
    from .elements import raw_columns, require

    out = np.zeros((len(X), len(LINK_COLUMNS)), dtype=np.float32)
    t = raw_columns(X, features, "track")
    c = raw_columns(X, features, "cluster")
    require(t, "track", ("charge",))
    require(c, "cluster", ("x", "y", "z"))
    trows, crows = t["index"], c["index"]
    n_t, n_c = len(trows), len(crows)
    out[:, 2] = 1.0
    if not n_t and not n_c:
        return out
    p = K[trows, 4].astype(np.float64)
    energy = K[crows, 4].astype(np.float64)
    if n_t:
        pt, eta = K[trows, 0].astype(np.float64), K[trows, 1].astype(np.float64)
        phi = np.arctan2(K[trows, 2], K[trows, 3]).astype(np.float64)
        charge = np.sign(np.round(t["charge"]))
        start, axis, reaches, _ = track_paths(pt, eta, phi, charge, t.get("z0", np.zeros_like(pt)), detector)
    else:
        start, axis, reaches = np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=bool)
    pos = np.stack([c["x"], c["y"], c["z"]], axis=1) if n_c else np.zeros((0, 3))
    dist = path_distance(start, axis, pos) if n_t and n_c else np.full((n_t, n_c), np.inf)
    dist[~reaches] = np.inf
    links = dist < link_distance_m
    block_t, block_c = block_labels(links)
    n_blocks = int(max(block_t.max(initial=-1), block_c.max(initial=-1))) + 1
    block_e = np.bincount(block_c, weights=energy, minlength=n_blocks)
    block_p = np.bincount(block_t, weights=p, minlength=n_blocks)

    def fill(rows, linked, n_linked, nearest, blocks):
        e_b, p_b = block_e[blocks], block_p[blocks]
        excess = e_b - p_b
        sigma = HADRON_STOCHASTIC * np.sqrt(np.maximum(p_b, 0.5))
        out[rows, 0] = np.log1p(linked)
        out[rows, 1] = 0.2 * n_linked
        out[rows, 2] = np.minimum(nearest, 1.0)
        out[rows, 3] = np.log1p(e_b)
        out[rows, 4] = np.log1p(p_b)
        out[rows, 5] = _signed_log1p(excess)
        out[rows, 6] = np.where(p_b > 0, np.clip(excess / sigma, -5, 5) / 5, 0.0)

    if n_t:
        fill(trows, links @ energy, links.sum(1), dist.min(1, initial=np.inf), block_t)
        out[trows, 7] = p / np.maximum(block_p[block_t], 1e-9)
        entry = np.where(reaches[:, None], np.nan_to_num(start), 0.0)
        out[trows, 8:11] = 0.5 * entry
        out[trows, 11] = reaches
    if n_c:
        fill(crows, links.T @ p, links.sum(0), dist.min(0, initial=np.inf), block_c)
        out[crows, 7] = energy / np.maximum(block_e[block_c], 1e-9)
    return out
