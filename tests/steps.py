"""Stage functions (kind `python`) used by the engine's tests. Small, real work only."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path


def touch(ctx, label: str = "", seconds: float = 0.0) -> dict:
    """Sleep a little (to overlap with the controller) and leave a file in outputs/."""
    ctx.log(f"touch {label} begins")
    time.sleep(seconds)
    (ctx.outputs_dir / f"{label or ctx.stage}.txt").write_text(f"{time.time()}\n")
    return {"label": label, "host": socket.gethostname()}


def upstream_names(ctx) -> list[str]:
    """The stages whose outputs this stage may read."""
    return sorted(ctx.upstream)


def count_runs(ctx, first_run_seconds: float = 0.0) -> int:
    """Append one line per execution to a file shared by all attempts (counts real runs);
    the first run lingers so that a test can interrupt it."""
    runs = ctx.stage_dir / "runs.log"
    first = not runs.exists()
    with runs.open("a") as handle:
        handle.write(f"{ctx.job_id} {ctx.attempt}\n")
    if first:
        time.sleep(first_run_seconds)
    return len(runs.read_text().splitlines())


def ranks(ctx) -> dict:
    """Every rank records who it is and where it runs."""
    record = {
        "rank": ctx.rank,
        "world_size": ctx.world_size,
        "local_rank": ctx.local_rank,
        "host": os.environ.get("SLURMD_NODENAME", socket.gethostname()),
    }
    (ctx.outputs_dir / f"rank{ctx.rank}.json").write_text(json.dumps(record))
    return record


def fail(ctx, message: str = "planned failure") -> None:
    raise RuntimeError(message)


def fail_unless_file(ctx, path: str) -> str:
    """Fails until `path` exists: lets a test fix the cause and then resume."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is missing")
    return "ok"


def wait_for_requeue(ctx, timeout: float = 120.0) -> dict:
    """First attempt: signal readiness and wait to be interrupted. After the requeue: finish,
    proving the checkpoint written by `save_checkpoint` is seen."""
    marker = ctx.checkpoints_dir / "state.json"
    if marker.exists():
        state = json.loads(marker.read_text())
        ctx.log(f"resumed from checkpoint {state}")
        return {"resumed_from": state, "attempt": ctx.attempt}
    (ctx.outputs_dir / "ready").write_text(ctx.job_id)
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.2)
    raise TimeoutError("was never signalled")


def save_checkpoint(ctx) -> None:
    (ctx.checkpoints_dir / "state.json").write_text(json.dumps({"step": 42, "job": ctx.job_id}))


def env_probe(ctx, names: list[str]) -> dict:
    return {name: os.environ.get(name) for name in names}


def scalar(ctx, value: float) -> None:
    """A real TensorBoard event file with one scalar, under the campaign's logdir."""
    from pipeline.tb_writer import scalar_writer

    with scalar_writer(ctx.tensorboard_dir / "steps") as writer:
        writer.add_scalar("steps/value", value, 0)


def report_progress(ctx, steps: int, seconds: float) -> int:
    """Work in `steps` pieces over `seconds`, reporting progress as a stage kind does."""
    for step in range(steps):
        time.sleep(seconds / steps)
        ctx.progress(step + 1, steps, "items", force=True, loss=1.0 / (step + 1))
    return steps
