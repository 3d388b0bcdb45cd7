"""One trial of a search: the train stage's own Trainer on the trial's configuration, reporting
every epoch to Tune with a checkpoint, so schedulers can stop, pause and resume it.

A trial's files live in the hpo stage's directory (trials/<trial_id>/: checkpoints, outputs,
logs); what Tune keeps as the trial's checkpoint is a pointer (pointer.json) to the DeepSpeed
checkpoint of the reported epoch. On a resume the trial rewinds to exactly that epoch, so Tune's
iteration count and the trainer's state always agree; a trial Tune restarts from scratch
starts from an empty directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic import append_line, atomic_write_json, atomic_write_text

FAILURE = "failure.json"
REPORTS = "reports.jsonl"  # every epoch this trial reported to Tune, with its checkpoint tag
PHASES = "phases.jsonl"  # where each run of the trial spent its time (benchmarks/hpo.py)
_RUNS_IN_PROCESS = 0  # trials this worker process has run (more than one: a reused actor)


class TrialFailed(RuntimeError):
    """A trial that cannot succeed (diverged, out of memory): errored with its reason."""


@dataclass
class TrialSetup:
    campaign_dir: str
    stage: str
    base_train: dict[str, Any]
    max_t: int
    ranks: int
    metric: str = "val_loss"  # what the search decides on: a trial exports its best weights by it
    mode: str = "min"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def trial_params(setup: TrialSetup, config: dict[str, Any]):
    from ..training.params import TrainParams
    from .search_space import apply

    params = apply(config, setup.base_train)
    params["epochs"] = setup.max_t  # the schedule of every trial spans the full budget
    params["checkpoint_every"] = 10**9  # epoch ends (and the stop signal) only
    params["keep_checkpoints"] = max(3, params.get("keep_checkpoints", 3))
    return TrainParams.model_validate(params)


def trial_context(setup: TrialSetup, trial_id: str, params: Any, rank: int, world: int):
    from ..context import build_context

    stage_ctx = build_context(setup.campaign_dir, setup.stage, None)
    ctx = stage_ctx.derive(f"{setup.stage}/{trial_id}", stage_ctx.stage_dir / "trials" / trial_id, params, rank, world)
    for directory in (ctx.outputs_dir, ctx.checkpoints_dir, ctx.logs_dir):
        directory.mkdir(parents=True, exist_ok=True)
    return ctx


def _process_env(rank: int, world: int, port: int):
    from slurm.launch_env import ProcessEnv

    return ProcessEnv(
        launcher="single",
        rank=rank,
        world_size=world,
        local_rank=rank,
        local_world_size=world,
        master_addr_hint="127.0.0.1",
        master_port_hint=port,
    )


def _trainer(ctx, trial_id: str, port: int, report, setup: TrialSetup | None = None):
    """The trial's Trainer on this rank (`ctx` from trial_context) with its own rendezvous. Rank 0
    (given the setup) exports its best weights by the search's metric, counting the epochs it
    reported before a resume."""
    from ..training.trainer import Trainer, TrialMode

    logdir = ctx.tensorboard_dir / "hpo" / trial_id
    process = _process_env(ctx.rank, ctx.world_size, port)
    mode = TrialMode(logdir, report)
    if setup is not None:
        earlier = [r[setup.metric] for r in _reports(ctx.stage_dir / REPORTS) if r.get(setup.metric) is not None]
        best = (min if setup.mode == "min" else max)(earlier) if earlier else None
        mode = TrialMode(logdir, report, setup.metric, setup.mode, best)
    return Trainer(ctx, ctx.params, process=process, trial=mode)


def _reports(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []


def _prepare(trial_dir: Path, checkpoint) -> list[dict[str, Any]]:
    """Agree with Tune on where this trial stands before any rank loads a checkpoint; returns
    the epochs this trial reported that Tune's saved state does not hold yet (to report again,
    not to train again)."""
    from ..training.checkpoints import CheckpointStore

    failure = trial_dir / FAILURE
    if failure.exists():  # deterministic failures are not retried by a resume
        raise TrialFailed(json.loads(failure.read_text())["reason"])
    checkpoints, reports = trial_dir / "checkpoints", trial_dir / REPORTS
    pointer = {"epoch": 0, "tag": None}  # Tune holds no checkpoint: it starts the trial from scratch
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            pointer = json.loads((Path(directory) / "pointer.json").read_text())
    history = _reports(reports)
    ahead = [r for r in history if r["epoch"] > pointer["epoch"]]
    if not all((checkpoints / r["checkpoint_tag"]).is_dir() for r in ahead):
        ahead = []
    known_epoch, known_tag = pointer["epoch"], pointer["tag"]
    if ahead:
        known_epoch, known_tag = ahead[-1]["epoch"], ahead[-1]["checkpoint_tag"]
    if known_tag is None:  # nothing to continue from: an empty start
        for sub in ("checkpoints", "outputs"):
            shutil.rmtree(trial_dir / sub, ignore_errors=True)
            (trial_dir / sub).mkdir(parents=True)
        reports.unlink(missing_ok=True)
        return []
    latest_file = checkpoints / "LATEST.json"
    latest = json.loads(latest_file.read_text()) if latest_file.exists() else None
    if latest is None or latest["epoch"] != known_epoch:
        CheckpointStore(checkpoints, 0, 1, 0).rewind(known_tag)
    kept = [r for r in history if r["epoch"] <= known_epoch]
    atomic_write_text(reports, "".join(json.dumps(r) + "\n" for r in kept))
    return ahead


def _spawn_ranks(setup: TrialSetup, trial_id: str, config: dict[str, Any], world: int, port: int):
    """Ranks 1.. of a multi-rank trial, as children that die with the trial's actor."""
    children = []
    payload = json.dumps({"setup": asdict(setup), "trial_id": trial_id, "config": config, "port": port})
    for rank in range(1, world):
        env = {**os.environ, "COLLIDERFLOW_TRIAL_RANK": str(rank), "COLLIDERFLOW_TRIAL_WORLD": str(world)}
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "pipeline.hpo.trial", payload], env=env, preexec_fn=_die_with_parent
            )
        )
    return children


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _watch(children: list[subprocess.Popen], trial_dir: Path, stopping: threading.Event) -> None:
    """A rank that dies takes the trial down (rank 0 would otherwise wait in a collective)."""
    for child in children:
        code = child.wait()
        if code != 0 and not stopping.is_set():
            for other in children:
                other.kill()
            atomic_write_json(trial_dir / FAILURE, {"reason": f"rank process exited with {code}"})
            os._exit(1)


def run_trial(config: dict[str, Any], setup: TrialSetup) -> None:
    """The Tune trainable (function API). Each run appends where its time went to the trial's
    phases.jsonl: the worker process's age when the run began (its start-up, for a new actor),
    imports, context, the agreement with Tune's checkpoint, the trainer's set-up, its data,
    model, engine, restore, training, validation and checkpoints, and the reports to Tune."""
    global _RUNS_IN_PROCESS
    import psutil

    entered = time.time()
    _RUNS_IN_PROCESS += 1
    phases: dict[str, Any] = {
        "entered": entered,
        "process_age_s": entered - psutil.Process().create_time(),
        "run_in_process": _RUNS_IN_PROCESS,
    }
    began = time.perf_counter()

    def spent(phase: str) -> None:
        nonlocal began
        now = time.perf_counter()
        phases[phase] = phases.get(phase, 0.0) + now - began
        began = now

    import ray
    import torch
    from ray import tune

    from ..training.trainer import NonFiniteLoss
    from .searchers import REPLAYED_UNTIL

    spent("imports")

    trial_id = tune.get_context().get_trial_id()
    node_id = ray.get_runtime_context().get_node_id()
    port = free_port()

    def send(record: dict[str, Any], **extra: Any) -> None:
        metrics = {k: v for k, v in record.items() if k != "checkpoint_tag" and v is not None} | extra
        with tempfile.TemporaryDirectory() as directory:
            pointer = json.loads((ctx.checkpoints_dir / record["checkpoint_tag"] / "pointer.json").read_text())
            (Path(directory) / "pointer.json").write_text(json.dumps(pointer))
            reporting = time.perf_counter()
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
            phases["report"] = phases.get("report", 0.0) + time.perf_counter() - reporting

    def report(record: dict[str, Any]) -> None:
        # the node, and the wall clock that orders the epochs of concurrent trials
        record = {**record, "node_id": node_id, "reported_at": time.time()}
        append_line(ctx.stage_dir / REPORTS, json.dumps(record))
        send(record)

    params = trial_params(setup, config)
    ctx = trial_context(setup, trial_id, params, 0, setup.ranks)
    spent("context")
    replayed = _prepare(ctx.stage_dir, tune.get_checkpoint())
    spent("prepare")
    for record in replayed:
        ctx.log(f"epoch {record['epoch']} reported again (trained before the search was interrupted)")
        send(record, **{REPLAYED_UNTIL: replayed[-1]["epoch"]})
    children = _spawn_ranks(setup, trial_id, config, setup.ranks, port) if setup.ranks > 1 else []
    stopping = threading.Event()
    if children:
        threading.Thread(target=_watch, args=(children, ctx.stage_dir, stopping), daemon=True).start()
    atomic_write_json(ctx.stage_dir / "config.json", config)
    trainer = None
    try:
        try:
            trainer = _trainer(ctx, trial_id, port, report, setup)
            spent("trainer_init")
            trainer.fit()
        except (NonFiniteLoss, torch.OutOfMemoryError, MemoryError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            ctx.log(f"trial failed: {reason}")
            atomic_write_json(ctx.stage_dir / FAILURE, {"reason": reason})
            raise TrialFailed(reason) from exc
    except BaseException:
        stopping.set()
        for child in children:
            child.kill()
        raise
    finally:
        _write_phases(ctx.stage_dir, phases, trainer, began)
    for child in children:
        child.wait()


def _write_phases(trial_dir: Path, phases: dict[str, Any], trainer: Any, began: float) -> None:
    """The run's phases: the trainer's own, and what the fit spent outside them ("other")."""
    inner = dict(trainer.phases) if trainer is not None else {}
    fit = time.perf_counter() - began  # since the trainer was set up: its fit, reports included
    inner["other_in_fit"] = max(fit - sum(inner.values()) - phases.get("report", 0.0), 0.0)
    record = {**phases, **{k: round(v, 4) for k, v in inner.items()}, "ended": time.time()}
    append_line(trial_dir / PHASES, json.dumps(record))


def _rank_main(payload: str) -> None:
    args = json.loads(payload)
    rank, world = int(os.environ["COLLIDERFLOW_TRIAL_RANK"]), int(os.environ["COLLIDERFLOW_TRIAL_WORLD"])
    setup = TrialSetup(**args["setup"])
    ctx = trial_context(setup, args["trial_id"], trial_params(setup, args["config"]), rank, world)
    _trainer(ctx, args["trial_id"], args["port"], None).fit()


if __name__ == "__main__":
    _rank_main(sys.argv[1])
