"""Group-wise selection on flat arrays (no Python loop per element)."""

from __future__ import annotations

import numpy as np


def best_per_group(groups: np.ndarray, values: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """For each group id in [0, n_groups), the value with the largest weight (-1 if the group is empty)."""
    out = np.full(n_groups, -1, dtype=np.int64)
    if groups.size and np.all(groups[1:] >= groups[:-1]):
        # already grouped (contributions come sorted by element): no sort, first of the maxima
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        best = np.maximum.reduceat(weights, starts)
        at = np.flatnonzero(weights == np.repeat(best, np.diff(np.r_[starts, groups.size])))
        first = np.r_[True, groups[at][1:] != groups[at][:-1]]
        out[groups[at][first]] = values[at][first]
    elif groups.size:
        order = np.lexsort((-weights, groups))
        sorted_groups = groups[order]
        first = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
        out[sorted_groups[first]] = values[order][first]
    return out
