"""Slurm through Submitit: sbatch scripts from one template (Submitit's) + the site profile."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import subprocess
import sys
import time
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
    SubmissionRejected,
)
from .retry import RetryPolicy, TransientFailure, is_transient, with_retries

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


def _log(message: str) -> None:
    print(f"colliderflow: {message}", file=sys.stderr, flush=True)


class SlurmScheduler:
    def __init__(
        self,
        conf: str | None = None,
        retry: RetryPolicy | None = None,
        max_array_size: int | None = None,
        submit_rate_per_min: float | None = None,
    ) -> None:
        self.conf = conf
        self.retry = retry or RetryPolicy()
        self.site_max_array_size = max_array_size
        self.submit_interval_s = 60.0 / submit_rate_per_min if submit_rate_per_min else 0.0
        self._cluster_max_array_size: int | None | bool = False  # False: not asked yet
        self._last_sbatch = float("-inf")

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

    def max_array_size(self) -> int | None:
        """The most tasks one array may have: the site's limit, or the cluster's MaxArraySize
        (array indices must stay below it), whichever is smaller; None when neither is known."""
        if self._cluster_max_array_size is False:
            self._cluster_max_array_size = self._read_max_array_size()
        known = [n for n in (self.site_max_array_size, self._cluster_max_array_size) if n]
        return min(known) if known else None

    def _read_max_array_size(self) -> int | None:
        try:
            result = with_retries(lambda: self._run(["scontrol", "show", "config"]), "scontrol", self.retry, log=_log)
        except (TransientFailure, SchedulerUnavailable):
            return None
        return parse_max_array_size(result.stdout) if result.returncode == 0 else None

    def submit(self, request: JobRequest, after: list[str]) -> list[str]:
        """sbatch through Submitit, retried on transient errors; an array larger than the
        cluster allows goes as several arrays of at most MaxArraySize tasks, submitted in order
        (their job ids list the tasks in index order; dependents wait on every part). A part that
        cannot be submitted cancels the parts before it, so a failed submission leaves no jobs."""
        indices = request.array_indices
        limit = self.max_array_size() if indices else None
        if not indices or limit is None or len(indices) <= limit:
            return self._submit_retried(request, after, set())
        parts = [indices[i : i + limit] for i in range(0, len(indices), limit)]
        _log(f"sbatch {request.name}: {len(indices)} tasks as {len(parts)} arrays (MaxArraySize {limit})")
        ids: list[str] = []
        for part in parts:
            try:
                ids += self._submit_retried(dataclasses.replace(request, array_indices=part), after, set(ids))
            except Exception:
                if ids:
                    with contextlib.suppress(Exception):
                        self.cancel(ids)
                raise
        return ids

    def _pace(self) -> None:
        """The site's submission-rate budget: sbatch calls at least 60/rate seconds apart."""
        wait = self._last_sbatch + self.submit_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_sbatch = time.monotonic()

    def _submit_retried(self, request: JobRequest, after: list[str], earlier: set[str]) -> list[str]:
        """One sbatch, retried; before a retry the queue is searched for the request's token (not
        counting `earlier`, the parts already submitted): a submission whose reply was lost is
        adopted, never submitted twice."""

        def once() -> list[str]:
            self._pace()
            try:
                return self._submit_once(request, after)
            except Exception as exc:  # Submitit wraps sbatch's stderr in its own exception types
                if is_transient(str(exc)):
                    raise TransientFailure(_first_line(exc)) from None
                raise SubmissionRejected(_first_line(exc)) from None

        def queued_already() -> list[str] | None:
            try:
                entries = self._query_once([request.name])
            except (TransientFailure, SchedulerUnavailable):
                return None
            ids = sorted(
                (e.job_id for e in entries if e.token == request.token and e.job_id not in earlier), key=_task_order
            )
            if not ids:
                return None
            _log(f"sbatch for {request.name}: the earlier try was queued after all ({', '.join(ids)}); adopted")
            self.adopt(request, ids)
            return ids

        try:
            return with_retries(once, f"sbatch {request.name}", self.retry, queued_already, _log)
        except TransientFailure as exc:
            raise SchedulerUnavailable(str(exc)) from None

    def _submit_once(self, request: JobRequest, after: list[str]) -> list[str]:
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
        try:
            return with_retries(lambda: self._query_once(names), "squeue", self.retry, log=_log)
        except TransientFailure as exc:
            raise SchedulerUnavailable(str(exc)) from None

    def _query_once(self, names: list[str]) -> list[QueueEntry]:
        if not names:
            return []
        command = ["squeue", "-h", "-r", "-t", "all", "-o", _SQUEUE_FORMAT, "--name", ",".join(names)]
        result = self._run(command)
        if result.returncode != 0:
            raise SchedulerUnavailable(f"squeue failed: {result.stderr.strip()}")
        return parse_squeue(result.stdout)

    def cancel(self, job_ids: list[str]) -> None:
        if not job_ids:
            return

        def once() -> None:
            result = self._run(["scancel", *job_ids])
            if result.returncode != 0 and "Invalid job id" not in result.stderr:
                raise SchedulerUnavailable(f"scancel failed: {result.stderr.strip()}")

        try:
            with_retries(once, "scancel", self.retry, log=_log)
        except TransientFailure as exc:
            raise SchedulerUnavailable(str(exc)) from None

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        """One slurm client command; a time-out or a transient error is a TransientFailure."""
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=self._command_env(), timeout=60)
        except subprocess.TimeoutExpired:
            raise TransientFailure(f"{command[0]} timed out after 60 s") from None
        except OSError as exc:
            raise SchedulerUnavailable(f"{command[0]} failed: {exc}") from None
        if result.returncode != 0 and is_transient(result.stderr):
            raise TransientFailure(f"{command[0]} failed: {result.stderr.strip()}")
        return result


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if "error" in line.lower()]
    return lines[-1] if lines else str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def _task_order(job_id: str) -> tuple[int, int]:
    head, _, tail = job_id.partition("_")
    return int(head) if head.isdigit() else 0, int(tail) if tail.isdigit() else -1


def python_of(request: JobRequest) -> str:
    """What srun starts on each task: the site's wrapper + Python, else the submitting interpreter."""
    return request.python or shlex.quote(sys.executable)


def parse_max_array_size(text: str) -> int | None:
    """MaxArraySize from `scontrol show config` ("MaxArraySize = 1001"); None if absent."""
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return int(value.strip())
    return None


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
