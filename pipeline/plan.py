"""A campaign's cost before it is submitted: per stage and in total, jobs, nodes and
accelerators, and the most node-hours and accelerator-hours it can use — every job of the stage
running to its time limit, every allowed requeue included (time limit x nodes x array tasks x
(1 + max_requeues)). With a campaign that ran before (`--like`), also the expected cost: that
campaign's measured wall time per stage (usage.py) times this workflow's allocation, scaled by
the number of array tasks."""

from __future__ import annotations

from typing import Any

from .dag import topological_order
from .spec import ResolvedResources
from .timelimit import time_to_minutes


def stage_plan(spec, stage: str) -> dict[str, Any]:
    r = ResolvedResources.of(spec.workflow.stages[stage].resources)
    jobs = r.array or 1
    requeues = r.max_requeues if r.max_requeues is not None else spec.site.slurm.max_requeues
    hours = time_to_minutes(r.time) / 60
    runs = jobs * (1 + requeues)
    return {
        "jobs": jobs,
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
        p["expected_from"] = {"campaign": str(like.root), "wall_seconds": measured["wall_seconds"], "jobs": tasks_then}
    keys = ["jobs", "max_node_hours", "max_accelerator_hours", "max_cpu_hours"]
    total = {key: sum(p[key] for p in stages.values()) for key in keys}
    for key in ("expected_node_hours", "expected_accelerator_hours"):
        if any(key in p for p in stages.values()):
            total[key] = sum(p.get(key, 0.0) for p in stages.values())
    return {"site": spec.site.name, "stages": stages, "total": total}


def plan_text(result: dict[str, Any]) -> str:
    header = ["STAGE", "JOBS", "NODES", "ACC/JOB", "LIMIT h", "REQUEUES", "MAX node-h", "MAX acc-h", "EXPECTED node-h"]
    rows = [header]
    for stage, p in result["stages"].items():
        expected = f"{p['expected_node_hours']:.4g}" if "expected_node_hours" in p else "-"
        rows.append([stage, str(p["jobs"]), str(p["nodes"]), str(p["accelerators_per_job"]),
                     f"{p['time_limit_hours']:.4g}", str(p["max_requeues"]), f"{p['max_node_hours']:.4g}",
                     f"{p['max_accelerator_hours']:.4g}", expected])  # fmt: skip
    t = result["total"]
    expected = f"{t['expected_node_hours']:.4g}" if "expected_node_hours" in t else "-"
    rows.append(["total", str(t["jobs"]), "", "", "", "", f"{t['max_node_hours']:.4g}",
                 f"{t['max_accelerator_hours']:.4g}", expected])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"cost plan for site {result['site']} (max: every job to its time limit, every requeue used)"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
