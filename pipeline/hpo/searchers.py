"""The two algorithms of the hpo stage as Ray Tune (searcher, scheduler) pairs.

- asha: our own random searcher (given points first, then samples that follow the branches of
  the space directly) with ASHAScheduler.
- bohb: TuneBOHB over the equivalent conditional ConfigSpace with HyperBandForBOHB; its
  suggestions are mapped back to dotted keys before a trial sees them.

Both searchers keep their whole state in `__dict__`, which Tune saves beside the experiment
state and restores on `Tuner.restore`.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
from ray.tune.search import Searcher
from ray.tune.search.bohb import TuneBOHB

from . import search_space as ss


class RandomSearch(Searcher):
    def __init__(self, space: list[ss.Dimension], points: list[dict[str, Any]], seed: int, metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.points = [dict(p) for p in points]
        self.rng = np.random.default_rng(seed)
        self.suggested: dict[str, dict[str, Any]] = {}

    def suggest(self, trial_id: str) -> dict[str, Any]:
        config = self.points.pop(0) if self.points else ss.sample(self.space, self.rng)
        self.suggested[trial_id] = config
        return dict(config)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__dict__, handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.__dict__.update(pickle.load(handle))  # noqa: S301 - our own file, written by save()


class ConditionalBOHB(TuneBOHB):
    """TuneBOHB on a conditional ConfigSpace whose suggestions come back as dotted keys."""

    def __init__(self, space: list[ss.Dimension], points: list[dict[str, Any]], seed: int, metric: str, mode: str):
        self.dimensions = space
        super().__init__(
            space=ss.to_configspace(space, seed=seed),
            metric=metric,  # given here: TuneBOHB ignores Tune's metric once it has a space
            mode=mode,
            points_to_evaluate=[ss.configspace_names(space, p) for p in points] or None,
            seed=seed,
        )

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        raw = super().suggest(trial_id)
        return None if raw is None else ss.from_configspace(self.dimensions, raw)


def make(params: Any) -> tuple[Searcher, Any]:
    from ray.tune.schedulers import ASHAScheduler, HyperBandForBOHB

    space = ss.parse(params.search_space)
    common = {"metric": params.metric, "mode": params.mode}
    if params.algorithm == "bohb":
        searcher = ConditionalBOHB(space, params.points, params.seed, **common)
        scheduler = HyperBandForBOHB(max_t=params.max_t, reduction_factor=params.reduction_factor, **common)
    else:
        searcher = RandomSearch(space, params.points, params.seed, **common)
        scheduler = ASHAScheduler(
            max_t=params.max_t,
            grace_period=params.grace_period,
            reduction_factor=params.reduction_factor,
            **common,
        )
    return searcher, scheduler
