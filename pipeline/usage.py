"""What a campaign used, from its attempt records alone (so it works without Slurm accounting):
each attempt's wall time (start to end, or to now while it runs) times the allocation it held
(nodes, accelerators, CPUs; runner.allocation), summed per stage and for the campaign, in
node-hours, accelerator-hours and CPU-hours. Records written before allocations were recorded
use the stage's resources from the frozen workflow."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .spec import ResolvedResources

UNITS = ("node_hours", "accelerator_hours", "cpu_hours")


def _time(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def stage_allocation(store, stage: str) -> dict[str, int]:
    r = ResolvedResources.of(store.spec.workflow.stages[stage].resources)
    return {
        "nodes": r.nodes,
        "accelerators": r.nodes * r.gpus_per_node,
        "cpus": r.nodes * r.tasks_per_node * r.cpus_per_task,
    }


def stage_usage(store, stage: str, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    fallback = stage_allocation(store, stage)
    seconds = 0.0
    totals = dict.fromkeys(UNITS, 0.0)
    attempts = 0
    for path in sorted((store.stage_dir(stage) / "attempts").glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (ValueError, OSError):
            continue
        start = _time(record.get("started"))
        if start is None:
            continue
        end = _time(record.get("ended")) or (now if record.get("state") == "RUNNING" else _time(record.get("updated")))
        wall = max(((end or start) - start).total_seconds(), 0.0)
        held = record.get("allocation") or fallback
        attempts += 1
        seconds += wall
        totals["node_hours"] += wall / 3600 * held["nodes"]
        totals["accelerator_hours"] += wall / 3600 * held["accelerators"]
        totals["cpu_hours"] += wall / 3600 * held["cpus"]
    return {"attempts": attempts, "wall_seconds": seconds, **totals}


def campaign_usage(store) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    stages = {stage: stage_usage(store, stage, now) for stage in store.spec.workflow.stages}
    total = {unit: sum(s[unit] for s in stages.values()) for unit in (*UNITS, "wall_seconds")}
    return {"stages": stages, "total": total}


def short(usage: dict[str, Any]) -> str:
    """'0.12 node-h, 0.5 acc-h' (accelerators only where there are any)."""
    if not usage.get("attempts"):
        return ""
    text = f"used {usage['node_hours']:.3g} node-h"
    if usage["accelerator_hours"]:
        text += f", {usage['accelerator_hours']:.3g} accelerator-h"
    return text
