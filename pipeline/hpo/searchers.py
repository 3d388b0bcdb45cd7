"""The two algorithms of the hpo stage as Ray Tune (searcher, scheduler) pairs.

- asha: our own random searcher (given points first, then samples that follow the branches of
  the space directly) with ASHAScheduler.
- bohb: TuneBOHB over the equivalent conditional ConfigSpace with HyperBandForBOHB; its
  suggestions are mapped back to dotted keys before a trial sees them.

Both schedulers take the epochs a resumed trial reports again (done before a kill, see
`_ReplayAware`) as done work, not as decision points, and both know the job's time limit
(`_DeadlineAware`): near it, trials pause at an epoch boundary instead of starting an epoch
that would be cut off, and `DeadlineStop` ends the search for a requeue.

Both searchers keep their whole state in `__dict__`, which Tune saves beside the experiment
state and restores on `Tuner.restore`.
"""

from __future__ import annotations

import os
import pickle
import signal
from typing import Any

import numpy as np
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler, HyperBandForBOHB, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.bohb import TuneBOHB

from . import search_space as ss


class RandomSearch(Searcher):
    def __init__(self, space: list[ss.Dimension], points: list[dict[str, Any]], seed: int, metric: str, mode: str):
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.points = [dict(p) for p in points]
        self.rng = np.random.default_rng(seed)

    def suggest(self, trial_id: str) -> dict[str, Any]:
        return self.points.pop(0) if self.points else ss.sample(self.space, self.rng)

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

    # Upstream TuneBOHB forgets a trial's parameters when it completes, and its saved state can
    # predate a trial that Tune's restored experiment state still runs: after Tuner.restore a
    # result for such a trial raised KeyError (ray-project/ray#39900). The trial's own config,
    # sent with every result, gives the parameters back.
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.trial_to_params:
            config = result.get("config") or {
                key.split("/", 1)[1]: value for key, value in result.items() if key.startswith("config/")
            }
            self.trial_to_params[trial_id] = ss.configspace_names(self.dimensions, config)
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.trial_to_params.pop(trial_id, None)
        self.paused.discard(trial_id)
        self.running.discard(trial_id)


REPLAYED_UNTIL = "replayed_until"  # in a result a resumed trial reports again: its last trained epoch


class _ReplayAware:
    """After a kill, Tune's saved state can lag behind a trial: the trial then reports again the
    epochs it had trained (each with `replayed_until`, the last of them) before it trains on.
    Those epochs are done work, so only the last of them is a decision point: a scheduler
    that paused or stopped the trial halfway through them would record fewer epochs than it
    trained (the trial's own record would be right, Tune's table wrong)."""

    def on_trial_result(self, runner: Any, trial: Any, result: dict) -> str:
        if result.get(REPLAYED_UNTIL, 0) > result.get(self._time_attr, 0):
            return TrialScheduler.CONTINUE
        return super().on_trial_result(runner, trial, result)


class DeadlineWatch:
    """The job's time limit as the search sees it: each trial's epoch time (Tune's
    time_this_iter_s), and whether an epoch fits before the deadline less the margin. The
    deadline is this job's (set by the hpo stage before every fit, never pickled with the
    scheduler: a requeued job has a new one)."""

    timer: Any = None  # deadline.UnitTimer of the running job, or None (no limit)
    stopped = False  # DeadlineStop ended the search
    reports = 0  # epochs reported in this job: the limit is applied after the first (progress each job)

    @classmethod
    def start(cls, timer: Any) -> None:
        cls.timer, cls.stopped, cls.reports = timer, False, 0

    @classmethod
    def fits(cls, epoch_s: float) -> bool:
        return cls.timer is None or cls.reports == 0 or cls.timer.fits_seconds(epoch_s)

    @classmethod
    def remaining(cls) -> float:
        return float("inf") if cls.timer is None else cls.timer.remaining()


class DeadlineStop(Callback):
    """Ends the search when the deadline is near and nothing runs any more (every unfinished
    trial paused or never started, _DeadlineAware): SIGUSR1 is Tune's own graceful stop (the
    loop ends and the experiment state is saved once more); the hpo stage then requeues."""

    def __init__(self) -> None:
        self.epochs: dict[str, float] = {}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.epochs[trial.trial_id] = float(result.get("time_this_iter_s", 0.0) or 0.0)

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        from ray.tune.experiment import Trial

        if DeadlineWatch.timer is None or DeadlineWatch.stopped or not self.epochs:
            return
        if DeadlineWatch.fits(max(self.epochs.values())):
            return
        if any(t.status == Trial.RUNNING for t in trials):
            return
        if not any(t.status in (Trial.PENDING, Trial.PAUSED) for t in trials):
            return
        DeadlineWatch.stopped = True
        os.kill(os.getpid(), signal.SIGUSR1)


class _DeadlineAware:
    """Near the time limit: a trial whose next epoch would not end in time is paused at the
    epoch it just reported (its checkpoint), and no trial is started whose first epoch would
    not (the longest epoch seen stands for it). The search then has nothing running and is
    stopped by the hpo stage and requeued; the paused trials go on in the next job."""

    def _epoch_s(self, trial_id: str) -> float:
        epochs = getattr(self, "_epoch_times", {})
        return epochs.get(trial_id, max(epochs.values(), default=0.0))

    def on_trial_result(self, runner: Any, trial: Any, result: dict) -> str:
        epochs = self.__dict__.setdefault("_epoch_times", {})
        if result.get(REPLAYED_UNTIL, 0) <= result.get("training_iteration", 0):
            seconds = float(result.get("time_this_iter_s", 0.0) or 0.0)
            epochs[trial.trial_id] = max(seconds, 0.8 * epochs.get(trial.trial_id, 0.0))
            DeadlineWatch.reports += 1
        decision = super().on_trial_result(runner, trial, result)
        if decision == TrialScheduler.CONTINUE and not DeadlineWatch.fits(self._epoch_s(trial.trial_id)):
            self.__dict__.setdefault("_paused_for_deadline", set()).add(trial.trial_id)
            return TrialScheduler.PAUSE
        return decision

    def choose_trial_to_run(self, runner: Any, *args: Any, **kwargs: Any) -> Any:
        if not DeadlineWatch.fits(self._epoch_s("")):
            return None
        return super().choose_trial_to_run(runner, *args, **kwargs)


class ResumableASHA(_DeadlineAware, _ReplayAware, ASHAScheduler):
    """ASHAScheduler that does not act on the epochs a resumed trial reports again."""


class ResumableHyperBandForBOHB(_DeadlineAware, _ReplayAware, HyperBandForBOHB):
    """HyperBandForBOHB that survives Tuner.restore. Tune restores trials but not this
    scheduler's brackets: every restored trial is added to fresh brackets. Upstream, finished
    trials went into those brackets too and were waited on forever, and trials paused at max_t
    were never ended, so a restored search could hang with every trial PAUSED. Here finished
    trials stay out of the brackets, and a trial that has had its full budget is stopped."""

    def on_trial_add(self, runner: Any, trial: Any) -> None:
        from ray.tune.experiment import Trial

        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            return
        super().on_trial_add(runner, trial)

    def on_trial_result(self, runner: Any, trial: Any, result: dict) -> str:
        result.setdefault("hyperband_info", {})  # TuneBOHB warns on a result without it (a replayed one)
        decision = super().on_trial_result(runner, trial, result)
        if result.get(self._time_attr, 0) >= self._max_t_attr:
            return TrialScheduler.STOP
        return decision


def make(params: Any) -> tuple[Searcher, Any]:
    space = ss.parse(params.search_space)
    common = {"metric": params.metric, "mode": params.mode}
    if params.algorithm == "bohb":
        searcher = ConditionalBOHB(space, params.points, params.seed, **common)
        scheduler = ResumableHyperBandForBOHB(max_t=params.max_t, reduction_factor=params.reduction_factor, **common)
    else:
        searcher = RandomSearch(space, params.points, params.seed, **common)
        scheduler = ResumableASHA(
            max_t=params.max_t,
            grace_period=params.grace_period,
            reduction_factor=params.reduction_factor,
            **common,
        )
    return searcher, scheduler
