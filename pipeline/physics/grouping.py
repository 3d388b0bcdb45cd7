"""Group-wise selection on flat arrays (no Python loop per element; a compiled pass over grouped input)."""

from __future__ import annotations

import numpy as np

from .compiled import best_in_runs


def best_per_group(groups: np.ndarray, values: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """For each group id in [0, n_groups), the value with the largest weight (-1 if the group is empty)."""
    if groups.size and np.all(groups[1:] >= groups[:-1]):
        # already grouped (contributions come sorted by element): no sort, first of the maxima
        return best_in_runs(groups, values, weights, n_groups)
    out = np.full(n_groups, -1, dtype=np.int64)
    if groups.size:
        order = np.lexsort((-weights, groups))
        sorted_groups = groups[order]
        first = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
        out[sorted_groups[first]] = values[order][first]
    return out
