"""What the engine asks a scheduler for: one job (or job array) of one stage."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Scheduler-neutral job states (Slurm's many states fold into these).
PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT = (
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, TIMEOUT})


@dataclass
class JobRequest:
    """One submission. `payload` is a picklable callable run once per task (with the array index)."""

    name: str
    token: str
    folder: Path
    payload: Callable[..., Any]
    array_indices: list[int] | None = None
    nodes: int = 1
    tasks_per_node: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem: str | None = None
    time_min: int = 60
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    additional: dict[str, str] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    srun_args: list[str] = field(default_factory=list)
    python: str | None = None  # shell fragment: launch wrapper + the job's Python (None: the submitting one)
    array_parallelism: int | None = None
    max_requeues: int = 3
    signal_delay_s: int = 120
    max_parallel_local: int = 1
    local_slots: int | None = None  # the machine's CPU slots (None: its CPU count)

    @property
    def comment(self) -> str:
        return f"colliderflow:{self.token}"

    def env_exports(self) -> list[str]:
        """`export K=V` lines with every value shell-quoted (values never reach a shell raw)."""
        return [f"export {key}={shlex.quote(value)}" for key, value in self.env.items()]


@dataclass(frozen=True)
class QueueEntry:
    """A job as the scheduler sees it right now."""

    job_id: str
    state: str  # one of the scheduler-neutral states
    reason: str = ""
    token: str = ""
    raw_state: str = ""


class SchedulerUnavailable(RuntimeError):
    """The scheduler could not be asked (controller down, command missing)."""


class SubmissionRejected(RuntimeError):
    """sbatch refused the job for a reason a retry cannot change (its message is Slurm's)."""
