"""Work that never overruns its time limit. A job knows its deadline: Slurm's end time
(SLURM_JOB_END_TIME, Slurm >= 23.02), the local site's (COLLIDERFLOW_JOB_END_TIME), else the
moment the work started plus the stage's time limit (older Slurm). `UnitTimer` measures how
long each unit of work takes (a training step, a validation, a checkpoint, a file) and answers
whether the next units can still finish, and be saved, before the deadline with a margin —
so the work stops and is checkpointed early instead of depending on the late requeue signal
alone."""

from __future__ import annotations

import os
import time

from .timelimit import time_to_minutes


def job_deadline(time_limit: str, started: float | None = None) -> float:
    """The job's end (epoch seconds): Slurm's, the local site's (COLLIDERFLOW_JOB_END_TIME, set
    when the task started), else `started` (or now) plus the time limit."""
    for name in ("SLURM_JOB_END_TIME", "COLLIDERFLOW_JOB_END_TIME"):
        end = os.environ.get(name, "")
        if end.isdigit() and int(end) > 0:
            return float(end)
    return (started if started is not None else time.time()) + 60 * time_to_minutes(time_limit)


class UnitTimer:
    """Durations of named units of work: the longest seen so far and a smoothed mean; the
    estimate of a unit is the larger of the two halves' weighting (a slow outlier counts)."""

    def __init__(self, deadline: float | None, margin_s: float, full_s: float | None = None) -> None:
        self.deadline, self.margin_s = deadline, margin_s
        self.full_s = full_s  # the whole time limit a (requeued) job gets
        self.longest: dict[str, float] = {}
        self.mean: dict[str, float] = {}

    def record(self, unit: str, seconds: float) -> None:
        self.longest[unit] = max(self.longest.get(unit, 0.0), seconds)
        previous = self.mean.get(unit)
        self.mean[unit] = seconds if previous is None else 0.8 * previous + 0.2 * seconds

    def estimate(self, unit: str) -> float:
        return max(self.mean.get(unit, 0.0), 0.5 * self.longest.get(unit, 0.0))

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.time()

    def fits(self, *units: str) -> bool:
        """Whether these units, one after another, end `margin_s` before the deadline."""
        return sum(self.estimate(u) for u in units) + self.margin_s < self.remaining()

    def fits_seconds(self, seconds: float) -> bool:
        """Whether work expected to take `seconds` ends `margin_s` before the deadline."""
        return seconds + self.margin_s < self.remaining()


def stage_timer(ctx, margin_s: float) -> UnitTimer:
    """The timer of a stage's job: its deadline from Slurm, else the stage's time limit from now."""
    return UnitTimer(job_deadline(ctx.resources.time), margin_s, 60.0 * time_to_minutes(ctx.resources.time))


class TooLongForTheLimit(Exception):
    """One unit of work (a file) takes longer than the stage's whole time limit: a requeue
    cannot help, the limit or the unit's size must change."""


def start_or_requeue(timer: UnitTimer, expected: float, name: str, advice: str, log) -> None:
    """Before starting `name`, expected to take `expected` seconds: return when it ends in time;
    requeue the job (StageInterrupted) when the time left is too short; fail (TooLongForTheLimit,
    with `advice`) when even a whole time limit is too short."""
    from .stage import StageInterrupted

    if timer.fits_seconds(expected):
        return
    if timer.full_s is not None and expected + timer.margin_s > timer.full_s:
        raise TooLongForTheLimit(
            f"{name} is expected to take {expected:.0f} s, more than the stage's time limit allows "
            f"({timer.full_s:.0f} s less the {timer.margin_s:g} s margin): {advice}"
        )
    log(
        f"not starting {name}: ~{expected:.0f} s expected, {timer.remaining():.0f} s left before the time "
        f"limit (margin {timer.margin_s:g} s); requeued to go on from it"
    )
    raise StageInterrupted(requeue=True)
