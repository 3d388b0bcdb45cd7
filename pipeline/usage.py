"""What a campaign used, from its attempt records alone (so it works without Slurm accounting):
each attempt's wall time (start to end, or to now while it runs) times the allocation it held
(nodes, accelerators, CPUs; runner.allocation), summed per stage and for the campaign, in
node-hours, accelerator-hours, CPU-hours and the site's billing units (billing.py). Records
written before allocations were recorded use the stage's resources from the frozen workflow.
Inside a search, each trial's own share: its training time times what one trial holds
(written live by the search, hpo/progress_callback.py). accounting.py cross-checks the figures
with sacct where the cluster keeps accounting."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from . import billing

UNITS = ("node_hours", "accelerator_hours", "cpu_hours")
TRIAL_USAGE = "trial_usage.json"  # <stage dir>/trial_usage.json, written by a running search


def _time(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def attempt_records(store, stage: str) -> list[dict[str, Any]]:
    records = []
    for path in sorted((store.stage_dir(stage) / "attempts").glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (ValueError, OSError):
            continue
    return records


def attempt_wall(record: dict[str, Any], now: dt.datetime) -> float | None:
    """Seconds the job ran: its latest attempt from start to end (to now while it runs), plus its
    earlier attempts' (a requeued job keeps one record); None if it never started."""
    start = _time(record.get("started"))
    if start is None:
        return None
    end = _time(record.get("ended")) or (now if record.get("state") == "RUNNING" else _time(record.get("updated")))
    return max(((end or start) - start).total_seconds(), 0.0) + float(record.get("earlier_wall_s", 0.0))


def stage_usage(store, stage: str, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    holding = billing.stage_holding(store.spec, stage)  # also what old records without an allocation held
    seconds = 0.0
    totals = dict.fromkeys(UNITS, 0.0)
    billed: dict[str, float] = {}
    attempts = 0
    for record in attempt_records(store, stage):
        wall = attempt_wall(record, now)
        if wall is None:
            continue
        held = record.get("allocation") or holding
        attempts += 1
        seconds += wall
        totals["node_hours"] += wall / 3600 * held["nodes"]
        totals["accelerator_hours"] += wall / 3600 * held["accelerators"]
        totals["cpu_hours"] += wall / 3600 * held["cpus"]
        rate = billing.hourly(store.spec.site, {**holding, **held})
        if rate:
            billing.add(billed, rate[0], wall / 3600 * rate[1])
    usage: dict[str, Any] = {"attempts": attempts, "wall_seconds": seconds, **totals, "billing": billed}
    trials = trial_usage(store, stage)
    if trials:
        usage["trials"] = trials
    return usage


def trial_usage(store, stage: str) -> dict[str, dict[str, float]]:
    """{trial id: its wall seconds, accelerator-hours and CPU-hours} inside a search: from the
    finished search's table, else from what the running search wrote so far."""
    stage_dir = store.stage_dir(stage)
    table = stage_dir / "outputs" / "trials.json"
    try:
        if table.is_file():
            return {
                r["trial_id"]: {
                    "wall_s": r["wall_s"],
                    "accelerator_hours": r.get("accelerator_hours", 0.0),
                    "cpu_hours": r.get("cpu_hours", 0.0),
                }
                for r in json.loads(table.read_text())
            }
        live = json.loads((stage_dir / TRIAL_USAGE).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    per = live.get("per_trial", {})
    return {
        trial: {
            "wall_s": round(wall, 3),
            "accelerator_hours": wall / 3600 * per.get("accelerators", 0),
            "cpu_hours": wall / 3600 * per.get("cpus", 0),
        }
        for trial, wall in live.get("wall_s", {}).items()
    }


def campaign_usage(store) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    stages = {stage: stage_usage(store, stage, now) for stage in store.spec.workflow.stages}
    total: dict[str, Any] = {unit: sum(s[unit] for s in stages.values()) for unit in (*UNITS, "wall_seconds")}
    billed: dict[str, float] = {}
    for s in stages.values():
        for unit, amount in s["billing"].items():
            billing.add(billed, unit, amount)
    total["billing"] = billed
    return {"stages": stages, "total": total}


def short(usage: dict[str, Any]) -> str:
    """'used 0.12 node-h, 0.5 accelerator-h, 2 GPU-hours' (accelerators and billing where there are any)."""
    if not usage.get("attempts"):
        return ""
    text = f"used {usage['node_hours']:.3g} node-h"
    if usage["accelerator_hours"]:
        text += f", {usage['accelerator_hours']:.3g} accelerator-h"
    if usage.get("billing"):
        text += f", {billing.text(usage['billing'])}"
    if usage.get("trials"):
        text += f" ({len(usage['trials'])} trials)"
    return text
