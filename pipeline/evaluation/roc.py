"""Rank statistics of a binary score, shared by the anomaly and the jet evaluations."""

from __future__ import annotations

import numpy as np


def auc(background: np.ndarray, signal: np.ndarray) -> float:
    """Probability that a signal event scores above a background event (ties count half)."""
    both = np.concatenate([background, signal])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(both.size)
    sorted_values = both[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    signal_ranks = ranks[background.size :].sum()
    return float((signal_ranks - signal.size * (signal.size + 1) / 2) / (background.size * signal.size))
