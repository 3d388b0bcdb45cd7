"""Slurm through Submitit: sbatch scripts from one template (Submitit's) + the site profile."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .atomic import atomic_path
from .request import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    RUNNING,
    TIMEOUT,
    JobRequest,
    QueueEntry,
    SchedulerUnavailable,
)

# Slurm job states -> scheduler-neutral states.
SLURM_STATES = {
    "PENDING": PENDING,
    "REQUEUED": PENDING,
    "REQUEUE_HOLD": PENDING,
    "REQUEUE_FED": PENDING,
    "PREEMPTED": PENDING,
    "SUSPENDED": PENDING,
    "RESV_DEL_HOLD": PENDING,
    "CONFIGURING": RUNNING,
    "RUNNING": RUNNING,
    "COMPLETING": RUNNING,
    "RESIZING": RUNNING,
    "STAGE_OUT": RUNNING,
    "SIGNALING": RUNNING,
    "STOPPED": RUNNING,
    "COMPLETED": COMPLETED,
    "CANCELLED": CANCELLED,
    "TIMEOUT": TIMEOUT,
    "DEADLINE": TIMEOUT,
    "FAILED": FAILED,
    "NODE_FAIL": FAILED,
    "BOOT_FAIL": FAILED,
    "OUT_OF_MEMORY": FAILED,
    "SPECIAL_EXIT": FAILED,
    "REVOKED": CANCELLED,
}

_SQUEUE_FORMAT = "%i|%T|%r|%k"


class SlurmScheduler:
    def __init__(self, conf: str | None = None) -> None:
        self.conf = conf

    @contextlib.contextmanager
    def _environment(self) -> Iterator[None]:
        """Point the slurm commands (and Submitit's) at the site's SLURM_CONF, if it names one."""
        if not self.conf:
            yield
            return
        previous = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = self.conf
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = previous

    def _command_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.conf:
            env["SLURM_CONF"] = self.conf
        return env

    @staticmethod
    def parameters(request: JobRequest, after: list[str]) -> dict[str, Any]:
        """Submitit SlurmExecutor parameters for this request (sbatch directives + setup lines)."""
        additional: dict[str, Any] = {}
        if request.mem:
            additional["mem"] = request.mem
        if after:
            # An array is waited on through its array job id (123 for tasks 123_0, 123_1...).
            masters = sorted({job.split("_", 1)[0] for job in after}, key=lambda j: (len(j), j))
            additional["dependency"] = "afterok:" + ":".join(masters)
            additional["kill_on_invalid_dep"] = "yes"
        # An empty value is a bare flag (`exclusive: ""` -> `#SBATCH --exclusive`).
        additional.update({key: value if value != "" else True for key, value in request.additional.items()})
        params: dict[str, Any] = {
            "job_name": request.name,
            "comment": request.comment,
            "time": request.time_min,
            "nodes": request.nodes,
            "ntasks_per_node": request.tasks_per_node,
            "cpus_per_task": request.cpus_per_task,
            "gpus_per_node": request.gpus_per_node or None,
            "partition": request.partition,
            "account": request.account,
            "qos": request.qos,
            "constraint": request.constraint,
            "signal_delay_s": request.signal_delay_s,
            "setup": list(request.setup) + request.env_exports(),
            # explicit: srun no longer inherits --cpus-per-task from sbatch (Slurm 22.05+)
            "srun_args": [f"--cpus-per-task={request.cpus_per_task}", *request.srun_args],
            "additional_parameters": additional,
        }
        if request.array_parallelism:
            params["array_parallelism"] = request.array_parallelism
        return {key: value for key, value in params.items() if value is not None}

    def render(self, request: JobRequest, after: list[str]) -> str:
        from submitit.slurm.slurm import _make_sbatch_string

        command = " ".join([python_of(request), "-u -m submitit.core._submit", shlex.quote(str(request.folder))])
        params = self.parameters(request, after)
        if request.array_indices is not None:
            params["map_count"] = len(request.array_indices)
        return _make_sbatch_string(command=command, folder=request.folder, **params)

    def submit(self, request: JobRequest, after: list[str]) -> list[str]:
        import submitit

        Path(request.folder).mkdir(parents=True, exist_ok=True)
        with self._environment():
            executor = submitit.SlurmExecutor(
                folder=request.folder, max_num_timeout=request.max_requeues, python=python_of(request)
            )
            executor.update_parameters(**self.parameters(request, after))
            if request.array_indices is None:
                jobs = [executor.submit(request.payload)]
            else:
                jobs = executor.map_array(request.payload, request.array_indices)
        return [str(job.job_id) for job in jobs]

    def adopt(self, request: JobRequest, job_ids: list[str]) -> None:
        """Make queued jobs whose submitter died right after sbatch runnable.

        Submitit pickles the call to `<folder>/<job id>_submitted.pkl` only after sbatch has
        returned; a job whose submitter was killed in between waits for that file and fails.
        Writing it here keeps the job's place in the queue instead of resubmitting.
        """
        from submitit.core.utils import DelayedSubmission

        indices = request.array_indices or [None] * len(job_ids)
        for job_id, index in zip(job_ids, indices, strict=False):
            path = Path(request.folder) / f"{job_id}_submitted.pkl"
            if path.exists():
                continue
            args = () if index is None else (index,)
            delayed = DelayedSubmission(request.payload, *args)
            delayed.set_timeout(request.time_min, request.max_requeues)
            with atomic_path(path) as tmp:
                delayed.dump(tmp)

    def query(self, names: list[str]) -> list[QueueEntry]:
        if not names:
            return []
        command = ["squeue", "-h", "-r", "-t", "all", "-o", _SQUEUE_FORMAT, "--name", ",".join(names)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=self._command_env(), timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SchedulerUnavailable(f"squeue failed: {exc}") from None
        if result.returncode != 0:
            raise SchedulerUnavailable(f"squeue failed: {result.stderr.strip()}")
        return parse_squeue(result.stdout)

    def cancel(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        result = subprocess.run(
            ["scancel", *job_ids], capture_output=True, text=True, env=self._command_env(), timeout=60
        )
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            raise SchedulerUnavailable(f"scancel failed: {result.stderr.strip()}")


def python_of(request: JobRequest) -> str:
    """What srun starts on each task: the site's wrapper + Python, else the submitting interpreter."""
    return request.python or shlex.quote(sys.executable)


def parse_squeue(text: str) -> list[QueueEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.strip().split("|", 3)
        if len(parts) != 4:
            continue
        job_id, raw_state, reason, comment = parts
        raw_state = raw_state.split()[0] if raw_state else ""
        token = comment.split(":", 1)[1] if comment.startswith("colliderflow:") else ""
        state = SLURM_STATES.get(raw_state, PENDING)
        entries.append(QueueEntry(job_id=job_id, state=state, reason=reason, token=token, raw_state=raw_state))
    return entries
