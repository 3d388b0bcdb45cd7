"""A campaign's cost before it is submitted: per stage and in total, jobs, nodes and
accelerators, and the most node-hours and accelerator-hours it can use — every job of the stage
running to its time limit, every allowed requeue included (time limit x nodes x array tasks x
(1 + max_requeues)). With a campaign that ran before (`--like`), also the expected cost: that
campaign's measured wall time per stage (usage.py) times this workflow's allocation, scaled by
the number of array tasks."""

from __future__ import annotations

from typing import Any

from . import billing
from .dag import topological_order
from .spec import ResolvedResources
from .timelimit import time_to_minutes


def stage_plan(spec, stage: str) -> dict[str, Any]:
    r = ResolvedResources.of(spec.workflow.stages[stage].resources)
    jobs = r.array or 1
    requeues = r.max_requeues if r.max_requeues is not None else spec.site.slurm.max_requeues
    hours = time_to_minutes(r.time) / 60
    runs = jobs * (1 + requeues)
    rate = billing.hourly(spec.site, billing.stage_holding(spec, stage))
    return {
        "jobs": jobs,
        "billing_unit": rate[0] if rate else None,
        "billing_per_job_hour": rate[1] if rate else None,
        "max_billing": rate[1] * hours * runs if rate else None,
        "nodes": r.nodes,
        "accelerators_per_job": r.nodes * r.gpus_per_node,
        "cpus_per_job": r.nodes * r.tasks_per_node * r.cpus_per_task,
        "time_limit_hours": hours,
        "max_requeues": requeues,
        "max_node_hours": hours * r.nodes * runs,
        "max_accelerator_hours": hours * r.nodes * r.gpus_per_node * runs,
        "max_cpu_hours": hours * r.nodes * r.tasks_per_node * r.cpus_per_task * runs,
    }


def plan(spec, like=None) -> dict[str, Any]:
    """The plan of every stage in submission order, the totals, and with `like` (a campaign
    store) the expected figures from its measured stage times."""
    from .usage import stage_usage

    stages = {stage: stage_plan(spec, stage) for stage in topological_order(spec.workflow.needs_graph())}
    for stage, p in stages.items():
        if like is None or stage not in like.spec.workflow.stages:
            continue
        measured = stage_usage(like, stage)
        if not measured["attempts"]:
            continue
        tasks_then = like.array_size(stage) or 1
        per_job_hours = measured["wall_seconds"] / 3600 / tasks_then
        p["expected_node_hours"] = per_job_hours * p["jobs"] * p["nodes"]
        p["expected_accelerator_hours"] = per_job_hours * p["jobs"] * p["accelerators_per_job"]
        if p["billing_unit"]:
            p["expected_billing"] = p["billing_per_job_hour"] * per_job_hours * p["jobs"]
        p["expected_from"] = {"campaign": str(like.root), "wall_seconds": measured["wall_seconds"], "jobs": tasks_then}
    keys = ["jobs", "max_node_hours", "max_accelerator_hours", "max_cpu_hours"]
    total = {key: sum(p[key] for p in stages.values()) for key in keys}
    for key in ("expected_node_hours", "expected_accelerator_hours"):
        if any(key in p for p in stages.values()):
            total[key] = sum(p.get(key, 0.0) for p in stages.values())
    for key in ("max_billing", "expected_billing"):
        sums: dict[str, float] = {}
        for p in stages.values():
            if p.get(key) is not None and p["billing_unit"]:
                billing.add(sums, p["billing_unit"], p[key])
        if sums:
            total[key] = sums
    return {"site": spec.site.name, "stages": stages, "total": total}


def plan_text(result: dict[str, Any]) -> str:
    billed = any(p["billing_unit"] for p in result["stages"].values())
    header = ["STAGE", "JOBS", "NODES", "ACC/JOB", "LIMIT h", "REQUEUES", "MAX node-h", "MAX acc-h", "EXPECTED node-h"]
    header += ["MAX BILLED"] if billed else []
    rows = [header]
    for stage, p in result["stages"].items():
        expected = f"{p['expected_node_hours']:.4g}" if "expected_node_hours" in p else "-"
        row = [stage, str(p["jobs"]), str(p["nodes"]), str(p["accelerators_per_job"]),
               f"{p['time_limit_hours']:.4g}", str(p["max_requeues"]), f"{p['max_node_hours']:.4g}",
               f"{p['max_accelerator_hours']:.4g}", expected]  # fmt: skip
        if billed:
            row.append(f"{p['max_billing']:.4g} {p['billing_unit']}" if p["billing_unit"] else "-")
        rows.append(row)
    t = result["total"]
    expected = f"{t['expected_node_hours']:.4g}" if "expected_node_hours" in t else "-"
    last = ["total", str(t["jobs"]), "", "", "", "", f"{t['max_node_hours']:.4g}",
            f"{t['max_accelerator_hours']:.4g}", expected]  # fmt: skip
    rows.append(last + ([billing.text(t.get("max_billing", {}))] if billed else []))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"cost plan for site {result['site']} (max: every job to its time limit, every requeue used)"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if "expected_billing" in t:
        lines.append(f"expected billing (from the measured campaign): {billing.text(t['expected_billing'])}")
    return "\n".join(lines)
