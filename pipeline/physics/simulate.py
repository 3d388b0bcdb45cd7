"""One event through the detector: tracks, calorimeter hits, clusters, truth links, targets."""

from __future__ import annotations

import ctypes
import time

import numpy as np

from .calorimeter import digitise, hit_collection, shower_spots
from .clustering import cluster
from .detector_spec import DetectorSpec
from .tracker import reconstruct_tracks
from .truth import assign_targets, particle_deposits

INPUT_LEVELS = ("clusters", "hits")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def keep_freed_memory(limit_bytes: int = 256 << 20) -> bool:
    """Let this process reuse the memory of freed arrays instead of returning it to the OS.

    An event's temporaries are a few hundred kB each; glibc serves blocks that large with a fresh
    mmap and unmaps them on free, so every temporary of every event pays its page faults again
    (about 5% of the simulation's time). Raising the mmap and trim thresholds keeps them in the
    heap. For a process that only simulates (a generate task, the data benchmark); True if set,
    False where the C library has no mallopt (not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, limit_bytes)) and bool(mallopt(_M_TRIM_THRESHOLD, 4 * limit_bytes))


class _StepClock:
    """Calls a step, adding its duration to `timings[name]` when timings are kept."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    def __call__(self, name: str, step, *args):
        if self.timings is None:
            return step(*args)
        began = time.perf_counter()
        result = step(*args)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - began
        return result


def simulate_event(
    particles: dict[str, np.ndarray],
    spec: DetectorSpec,
    rng: np.random.Generator,
    levels: tuple[str, ...] = ("clusters",),
    timings: dict[str, float] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Collections of one event: gen, track, cluster and (if asked) hit, each a dict of arrays.
    `timings`, if given, accumulates the seconds of each step (for benchmarks/data.py)."""
    clock = _StepClock(timings)
    tracks = clock("tracks", reconstruct_tracks, particles, spec, rng)
    spots = clock("showers", shower_spots, particles, spec, rng)
    hits, hit_contrib = clock("digitise", digitise, spots, particles["pid"].size, spec)
    clusters, cluster_contrib, _ = clock("cluster", cluster, hits, hit_contrib, spec)
    track_t, cluster_t, where = clock(
        "targets", assign_targets, particles, tracks["gen_index"], cluster_contrib, clusters["energy"].size
    )
    n = particles["pid"].size
    track_index = np.full(n, -1, dtype=np.int64)
    track_index[tracks["gen_index"]] = np.arange(tracks["gen_index"].size)
    gen = {**particles, "element_kind": where, "track_index": track_index}
    out = {
        "gen": {**gen, **particle_deposits(n, hits, hit_contrib)},
        "track": {**tracks, **{f"target_{k}": v for k, v in track_t.items()}},
        "cluster": {**clusters, **{f"target_{k}": v for k, v in cluster_t.items()}},
    }
    if "hits" in levels:
        _, hit_t, where_hits = assign_targets(particles, tracks["gen_index"], hit_contrib, hits["energy"].size)
        out["hit"] = {**hit_collection(hits, hit_contrib), **{f"target_{k}": v for k, v in hit_t.items()}}
        out["gen"]["element_kind_hits"] = where_hits
    return out
