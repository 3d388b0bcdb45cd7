"""The scheduler interface and the registry that picks one by the site's `scheduler:` name."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .request import JobRequest, QueueEntry, SchedulerUnavailable

__all__ = ["Scheduler", "SchedulerUnavailable", "make_scheduler"]


class Scheduler(Protocol):
    def render(self, request: JobRequest, after: list[str]) -> str:
        """The job script (or launch description) that `submit` would use, for --dry-run."""

    def submit(self, request: JobRequest, after: list[str]) -> list[str]:
        """Queue the job; return one id per task of an array, or one id. Runs after `after` succeed."""

    def adopt(self, request: JobRequest, job_ids: list[str]) -> None:
        """Make jobs found in the queue, but never journaled (submitter killed), runnable."""

    def query(self, names: list[str]) -> list[QueueEntry]:
        """Jobs of these names the scheduler still knows about (any state)."""

    def cancel(self, job_ids: list[str]) -> None:
        """Cancel these jobs (unknown or finished ids are ignored)."""


def make_scheduler(
    kind: str,
    campaign_dir: Path,
    slurm_conf: str | None = None,
    retry: dict | None = None,
    max_array_size: int | None = None,
    submit_rate_per_min: float | None = None,
) -> Scheduler:
    from .local_scheduler import LocalScheduler
    from .retry import RetryPolicy
    from .slurm_scheduler import SlurmScheduler

    factories = {
        "slurm": lambda: SlurmScheduler(
            conf=slurm_conf,
            retry=RetryPolicy(**(retry or {})),
            max_array_size=max_array_size,
            submit_rate_per_min=submit_rate_per_min,
        ),
        "local": lambda: LocalScheduler(queue_dir=campaign_dir / "local-queue"),
    }
    try:
        return factories[kind]()
    except KeyError:
        raise ValueError(f"unknown scheduler {kind!r} (known: {', '.join(factories)})") from None
