"""The search's live progress for `status` and `--wait`: trials done, running, stopped early and
errored, and the best metric so far, reported from Tune's driver loop; and each trial's own
usage so far (its training time and what it holds) for usage.py, while the search runs."""

from __future__ import annotations

import time
from pathlib import Path

from ray.tune import Callback

from ..atomic import atomic_write_json
from ..progress import ProgressReporter


class SearchProgress(Callback):
    """Tune pickles its run configuration (callbacks included) and a restored search brings this
    back: it holds only plain values, and makes its writer in the process that uses it."""

    def __init__(
        self,
        path: Path,
        num_samples: int,
        metric: str,
        mode: str,
        max_t: int,
        usage_path: Path | None = None,
        cpus_per_trial: int = 1,
        accelerators_per_trial: int = 0,
    ) -> None:
        self.path = Path(path)
        self.num_samples = num_samples
        self.metric, self.mode, self.max_t = metric, mode, max_t
        self.best: float | None = None
        self._reporter: ProgressReporter | None = None
        self.usage_path = Path(usage_path) if usage_path else None
        self.per_trial = {"cpus": cpus_per_trial, "accelerators": accelerators_per_trial}
        self.walls: dict[str, float] = {}
        self.started: dict[str, list[float]] = {}  # when Tune started (or resumed) each trial

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_reporter": None}

    def report(self, *args, **kwargs) -> None:
        if self._reporter is None:
            self._reporter = ProgressReporter(self.path)
        self._reporter.update(*args, **kwargs)

    def _publish(self, trials, force: bool = False) -> None:
        status = [t.status for t in trials]
        ended = [t for t in trials if t.status in ("TERMINATED", "ERROR")]
        stopped = sum(
            t.status == "TERMINATED" and (t.last_result or {}).get("training_iteration", 0) < self.max_t for t in trials
        )
        fields = {
            "running": status.count("RUNNING"),
            "stopped early": stopped,
            "errored": status.count("ERROR"),
        }
        if self.best is not None:
            fields[f"best {self.metric}"] = self.best
        self.report(len(ended), self.num_samples, "trials", force=force, **fields)

    def _record_usage(self, trial, result) -> None:
        if self.usage_path is None:
            return
        self.walls[str(trial.trial_id)] = float(result.get("time_total_s", 0.0) or 0.0)
        self._write()

    def _write(self) -> None:
        if self.usage_path is not None:
            record = {"per_trial": self.per_trial, "wall_s": self.walls, "started_at": self.started}
            atomic_write_json(self.usage_path, record)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.started.setdefault(str(trial.trial_id), []).append(time.time())
        self._write()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._record_usage(trial, result)
        value = result.get(self.metric)
        if isinstance(value, (int, float)):
            better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
            self.best = value if better else self.best
        self._publish(trials)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._publish(trials, force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._publish(trials, force=True)
