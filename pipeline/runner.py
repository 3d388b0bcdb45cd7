"""What runs inside a job: build the stage context, run the stage, write the markers.

`StageJob` is the picklable Submitit Checkpointable handed to the scheduler; on the requeue
signal (or the time limit) Submitit calls its checkpoint(), which calls the stage's own
checkpoint() hook and asks for the same task to be run again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
import traceback
from typing import Any

import submitit

from .atomic import atomic_write_json, atomic_write_text
from .context import open_context
from .stage import Stage, StageContext, StageInterrupted

RANK_WAIT_S = 600.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class StageJob(submitit.helpers.Checkpointable):
    def __init__(self, campaign_dir: str, stage: str) -> None:
        self.campaign_dir = str(campaign_dir)
        self.stage = stage
        self._active: Stage | None = None
        self._requeueing = False

    def __getstate__(self) -> dict[str, Any]:
        return {"campaign_dir": self.campaign_dir, "stage": self.stage}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._active = None
        self._requeueing = False

    def __call__(self, array_index: int | None = None) -> Any:
        return run_task(self, array_index)

    def checkpoint(self, array_index: int | None = None) -> submitit.helpers.DelayedSubmission:
        self._requeueing = True
        stage = self._active
        if stage is not None:
            stage.ctx.log("requeue signal: running the stage's checkpoint()")
            stage.checkpoint()
            _record_attempt(stage.ctx, "REQUEUED")
            stage.ctx.log("checkpoint written; the job goes back to the queue")
        args = () if array_index is None else (array_index,)
        return submitit.helpers.DelayedSubmission(StageJob(self.campaign_dir, self.stage), *args)


def _record_attempt(ctx: StageContext, state: str, **extra: Any) -> None:
    if not ctx.is_main or not ctx.job_id:
        return
    path = ctx.stage_dir / "attempts" / f"{ctx.job_id}.json"
    record: dict[str, Any] = {}
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except ValueError:
            record = {}
    if state == "RUNNING" and record.get("started"):  # a requeued job: keep what its earlier attempts used
        from .usage import attempt_wall

        earlier = attempt_wall({**record, "state": "ENDED"}, dt.datetime.now(dt.UTC)) or 0.0
        record["earlier_wall_s"] = record.get("earlier_wall_s", 0.0) + earlier
        record.pop("ended", None)
    record.update(state=state, updated=_now(), host=ctx.hostname, attempt=ctx.attempt, array_index=ctx.array_index)
    record["node"] = os.environ.get("SLURMD_NODENAME", ctx.hostname)  # the scheduler's node (hosts can be shared)
    record.update(extra)
    atomic_write_json(path, record)


def allocation(ctx: StageContext) -> dict[str, int]:
    """What this job (one array task, for an array) holds while it runs: the usage records' unit."""
    from .spec import ResolvedResources

    r = ResolvedResources.of(ctx.resources)
    return {
        "nodes": r.nodes,
        "accelerators": r.nodes * r.gpus_per_node,
        "cpus": r.nodes * r.tasks_per_node * r.cpus_per_task,
    }


def _provenance(ctx: StageContext) -> str | None:
    """The key of the provenance this attempt runs with (rank 0 writes it into the campaign)."""
    if not ctx.is_main or not ctx.job_id:
        return None
    from .provenance import record

    try:
        return record(ctx.campaign_dir)
    except OSError as exc:  # provenance must never stop the work
        ctx.log(f"provenance not recorded: {exc}")
        return None


def _submission_number(store, stage: str, job_id: str | None) -> int:
    """Which submission of the stage (submit, resume, adoption) this job belongs to, from the journal."""
    records = [
        e for e in store.journal.entries() if e.get("event") in ("submitted", "adopted") and e.get("stage") == stage
    ]
    base = (job_id or "").split("_")[0]
    for number, record in enumerate(records, 1):
        if any(str(j).split("_")[0] == base for j in record.get("job_ids", [])):
            return number
    return max(len(records), 1)


def run_task(job: StageJob, array_index: int | None) -> Any:
    ctx, store, kind = open_context(job.campaign_dir, job.stage, array_index)
    started = time.time()
    _record_attempt(
        ctx,
        "RUNNING",
        started=_now(),
        allocation=allocation(ctx),
        provenance=_provenance(ctx),
        slurm_job_id=os.environ.get("SLURM_JOB_ID"),  # the raw id sacct lists an array task by
    )
    ctx.log(
        f"start: job {ctx.job_id or '-'}, submission {_submission_number(store, job.stage, ctx.job_id)} "
        f"of the stage, attempt {ctx.attempt} of this job (requeues)"
    )
    stage: Stage = kind.load()(ctx)
    job._active = stage
    try:
        result = stage.run()
    except StageInterrupted as stop:
        _stop_after_checkpoint(ctx, stop)
        raise
    except BaseException as exc:
        if job._requeueing:
            raise  # Submitit is requeueing this job: not a failure
        message = f"{type(exc).__name__}: {exc}"
        ctx.log(f"FAILED: {message}")
        _record_attempt(ctx, "FAILED", error=message, traceback=traceback.format_exc(), ended=_now())
        raise
    finally:
        job._active = None
    _finish_task(store, ctx, result)
    ctx.log(f"done in {time.time() - started:.2f} s")
    _record_attempt(ctx, "COMPLETED", ended=_now())
    _usage_scalars(store, ctx)
    return result


def _usage_scalars(store: Any, ctx: StageContext) -> None:
    """The stage's usage so far as TensorBoard scalars (tensorboard/usage/<stage>), rewritten by
    each task that completes; never a reason for the job to fail."""
    if not ctx.is_main:
        return
    from .tb_writer import scalar_writer
    from .usage import stage_usage

    try:
        usage = stage_usage(store, ctx.stage)
        with scalar_writer(ctx.tensorboard_dir / "usage" / ctx.stage, replace=True) as writer:
            for unit in ("node_hours", "accelerator_hours", "cpu_hours"):
                writer.add_scalar(f"usage/{unit}", usage[unit], 0)
            for unit, amount in usage["billing"].items():
                writer.add_scalar(f"usage/billing/{unit}", amount, 0)
    except Exception as exc:  # noqa: BLE001 - the work is done; its bookkeeping must not undo it
        ctx.log(f"usage scalars not written: {exc}")


def _stop_after_checkpoint(ctx: StageContext, stop: StageInterrupted) -> None:
    """The stage checkpointed on a signal: requeue the Slurm job (rank 0), or just stop."""
    limit = ctx.resources.max_requeues if ctx.resources.max_requeues is not None else ctx.site.slurm.max_requeues
    job = os.environ.get("SLURM_JOB_ID")
    if not (stop.requeue and job):
        _record_attempt(ctx, "INTERRUPTED", ended=_now())
        ctx.log("stopped after writing a checkpoint; `colliderflow resume` continues from it")
        return
    if ctx.attempt > limit:
        _record_attempt(ctx, "FAILED", error=f"requeue limit ({limit}) reached", ended=_now())
        raise RuntimeError(f"requeue limit ({limit}) reached; `colliderflow resume` continues from the checkpoint")
    _record_attempt(ctx, "REQUEUED", ended=_now())
    if ctx.is_main:
        ctx.log(f"checkpoint written; requeueing job {job}")
        subprocess.run(["scontrol", "requeue", job], check=False)
    time.sleep(600)  # Slurm ends this attempt and starts the next one from the queue


def _finish_task(store: Any, ctx: StageContext, result: Any) -> None:
    """Rank 0 saves the result and marks the task done once every rank has finished it."""
    tasks_dir = ctx.stage_dir / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    run_key = f"{ctx.array_index or 0}.{ctx.job_id or 'job'}.{ctx.attempt}"
    atomic_write_text(tasks_dir / f"{run_key}.rank{ctx.rank}", _now() + "\n")
    if not ctx.is_main:
        return
    deadline = time.monotonic() + RANK_WAIT_S
    others = [tasks_dir / f"{run_key}.rank{r}" for r in range(1, ctx.world_size)]
    while not all(p.exists() for p in others):
        if time.monotonic() > deadline:
            raise RuntimeError(f"ranks did not all finish within {RANK_WAIT_S:.0f} s of rank 0")
        time.sleep(0.2)
    if result is not None:
        name = "result.json" if ctx.array_index is None else f"results/{ctx.array_index}.json"
        atomic_write_text(ctx.stage_dir / name, json.dumps(result, indent=2, default=str) + "\n")
    marker = {"completed": _now(), "job_id": ctx.job_id, "attempt": ctx.attempt, "host": ctx.hostname}
    atomic_write_json(store.task_marker(ctx.stage, ctx.array_index), marker)
    if not store.missing_tasks(ctx.stage):
        atomic_write_json(store.done_marker(ctx.stage), marker)
