"""Paired per-event bootstrap: one set of resampled events, used for every source.

Each replicate draws the evaluated events with replacement (multinomial counts per event); a
statistic of any source (a median over its jets, a spread over its events) is recomputed with
every jet, particle or event weighted by its event's count. Because all sources see the same
replicates, the difference of a statistic between two sources has its own uncertainty, and a
source compared with itself differs by exactly zero in every replicate.

Quantiles are inverted-CDF quantiles of the weighted sample (the smallest value whose
cumulative weight reaches q of the total), for the full sample and the replicates alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUARTILES = (0.25, 0.5, 0.75)
GAUSSIAN_IQR = 1.3489795  # the IQR of a unit Gaussian: IQR / this = sigma


@dataclass(frozen=True)
class Estimate:
    """A statistic on the full sample and on every bootstrap replicate."""

    value: float
    replicates: np.ndarray  # (samples,)

    @property
    def error(self) -> float:
        finite = self.replicates[np.isfinite(self.replicates)]
        return float(np.std(finite)) if finite.size > 1 else float("nan")

    def minus(self, other: Estimate) -> Estimate:
        return Estimate(self.value - other.value, self.replicates - other.replicates)

    def difference_summary(self, level: float = 0.95) -> dict:
        """For a difference: value, error, central interval and whether it excludes zero."""
        finite = self.replicates[np.isfinite(self.replicates)]
        if not np.isfinite(self.value) or finite.size < 2:
            return {"value": self.value, "err": float("nan"), "interval": [float("nan")] * 2, "significant": False}
        low, high = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
        return {
            "value": float(self.value),
            "err": self.error,
            "interval": [float(low), float(high)],
            "significant": bool(low > 0 or high < 0),
        }


class EventResampler:
    """The replicates' event weights (samples, events), drawn once per evaluation."""

    def __init__(self, n_events: int, samples: int, rng: np.random.Generator) -> None:
        self.n_events = n_events
        self.weights = (
            rng.multinomial(n_events, np.full(n_events, 1.0 / n_events), size=samples)
            if samples > 0 and n_events > 0
            else np.zeros((0, n_events), dtype=np.int64)
        )
        # row 0: the sample itself (every event once), then the replicates
        self.rows = np.vstack([np.ones((1, n_events), dtype=np.int64), self.weights])

    @property
    def samples(self) -> int:
        return self.weights.shape[0]

    def quantiles(self, values: np.ndarray, events: np.ndarray, qs=QUARTILES) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles of `values` (each belonging to event `events[i]`): (len(qs),) on the full
        sample and (samples, len(qs)) on the replicates; nan where a sample is empty."""
        qs = np.asarray(qs, dtype=np.float64)
        if len(values) == 0:
            return np.full(qs.size, np.nan), np.full((self.samples, qs.size), np.nan)
        order = np.argsort(values, kind="stable")
        v = np.asarray(values, dtype=np.float64)[order]
        w = self.rows[:, np.asarray(events)[order]]
        cum = np.cumsum(w, axis=1)
        total = cum[:, -1:]
        # first position whose cumulative weight reaches q * total, per row and quantile
        index = np.array(
            [[np.searchsorted(row, q * t - 1e-9) for q in qs] for row, t in zip(cum, total[:, 0], strict=True)]
        )
        out = v[np.minimum(index, v.size - 1)]
        out[total[:, 0] == 0] = np.nan
        return out[0], out[1:]

    def ratio_of_sums(self, numerator: np.ndarray, denominator: np.ndarray) -> Estimate:
        """sum(numerator) / sum(denominator) of per-event counts, e.g. an efficiency."""
        num = self.rows @ np.asarray(numerator, dtype=np.float64)
        den = self.rows @ np.asarray(denominator, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
        return Estimate(float(ratio[0]), ratio[1:])

    def response(self, values: np.ndarray, events: np.ndarray) -> dict[str, Estimate]:
        """Median of a ratio and resolution IQR/median, as estimates."""
        full, reps = self.quantiles(values, events)

        def res(q):
            with np.errstate(invalid="ignore", divide="ignore"):
                return (q[..., 2] - q[..., 0]) / q[..., 1]

        return {"median": Estimate(float(full[1]), reps[:, 1]), "resolution": Estimate(float(res(full)), res(reps))}

    def spread(self, values: np.ndarray, events: np.ndarray) -> dict[str, Estimate]:
        """Median of a difference and its Gaussian-equivalent width IQR/1.349, as estimates."""
        full, reps = self.quantiles(values, events)
        return {
            "median": Estimate(float(full[1]), reps[:, 1]),
            "sigma": Estimate(float((full[2] - full[0]) / GAUSSIAN_IQR), (reps[:, 2] - reps[:, 0]) / GAUSSIAN_IQR),
        }


def summary(estimates: dict[str, Estimate], n: int) -> dict:
    """{name: value, name_err: error} of some estimates, with the sample size."""
    out: dict = {"n": int(n)}
    for name, e in estimates.items():
        out[name] = e.value
        out[f"{name}_err"] = e.error
    return out
