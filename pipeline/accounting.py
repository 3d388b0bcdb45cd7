"""The attempt records' usage cross-checked with Slurm's accounting: one sacct call for every job
the campaign's attempts ran as (their SLURM_JOB_ID), from the accounting database, or from the
job-completion log (`sacct --completion`) where the cluster keeps no database (the devcluster).
sacct's elapsed time covers the whole job, the start of Python and the stage's imports
included, so it is expected to exceed the attempt records' time by a few seconds a job; a job
the records know that sacct does not is listed."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from typing import Any

from .usage import attempt_records, attempt_wall

FIELDS = "JobIDRaw,ElapsedRaw,NNodes,AllocCPUS,State"


def parse_sacct(text: str) -> dict[str, dict[str, float]]:
    """`sacct -n -P --format JobIDRaw,ElapsedRaw,NNodes,AllocCPUS,State` -> {raw id: elapsed
    seconds and node-seconds}, rows of one id (a requeued job) summed; steps (123.batch) left out."""
    jobs: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 4 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        elapsed, nodes = float(parts[1]), float(parts[2] or 0)
        job = jobs.setdefault(parts[0], {"elapsed_s": 0.0, "node_seconds": 0.0})
        job["elapsed_s"] += elapsed
        job["node_seconds"] += elapsed * nodes
    return jobs


def _sacct(ids: list[str], conf: str | None) -> tuple[dict[str, dict[str, float]] | None, str]:
    env = {**os.environ, **({"SLURM_CONF": conf} if conf else {})}
    # -D: every run of a requeued job, not only its last
    base = ["sacct", "-n", "-P", "-X", "-D", "--format", FIELDS, "-j", ",".join(ids)]
    errors = []
    for command in (base, [*base[:1], "--completion", *base[1:]]):
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"sacct could not run: {exc}"
        if result.returncode == 0 and result.stdout.strip():
            source = "job-completion log" if "--completion" in command else "accounting database"
            return parse_sacct(result.stdout), source
        errors.append((result.stderr.strip().splitlines() or ["no records"])[-1])
    return None, "; ".join(dict.fromkeys(errors))


def cross_check(store) -> dict[str, Any]:
    """Per stage and in all: node-hours from the attempt records and from sacct, for the jobs
    both know, and the jobs sacct does not know."""
    if store.spec.site.scheduler != "slurm":
        return {"available": False, "reason": "not a Slurm site"}
    now = dt.datetime.now(dt.UTC)
    by_stage: dict[str, list[tuple[str, float, int]]] = {}
    for stage in store.spec.workflow.stages:
        for record in attempt_records(store, stage):
            wall = attempt_wall(record, now)
            raw = record.get("slurm_job_id")
            if wall is None or not raw or record.get("state") == "RUNNING":
                continue
            nodes = (record.get("allocation") or {}).get("nodes", 1)
            by_stage.setdefault(stage, []).append((str(raw), wall, nodes))
    ids = sorted({raw for rows in by_stage.values() for raw, _, _ in rows}, key=int)
    if not ids:
        return {"available": False, "reason": "no finished attempt names its Slurm job id"}
    jobs, source = _sacct(ids, store.spec.site.slurm.conf)
    if jobs is None:
        return {"available": False, "reason": f"no Slurm accounting: {source}"}
    stages, total = {}, {"jobs": 0, "attempts_node_hours": 0.0, "sacct_node_hours": 0.0, "missing": []}
    for stage, rows in by_stage.items():
        seen: set[str] = set()
        entry = {"jobs": 0, "attempts_node_hours": 0.0, "sacct_node_hours": 0.0, "missing": []}
        for raw, wall, nodes in rows:
            if raw not in jobs:
                entry["missing"].append(raw)
                continue
            entry["attempts_node_hours"] += wall * nodes / 3600
            if raw not in seen:  # requeues: sacct's rows for one id are summed already
                seen.add(raw)
                entry["jobs"] += 1
                entry["sacct_node_hours"] += jobs[raw]["node_seconds"] / 3600
        stages[stage] = entry
        for key in ("jobs", "attempts_node_hours", "sacct_node_hours"):
            total[key] += entry[key]
        total["missing"] += entry["missing"]
    return {"available": True, "source": source, "stages": stages, "total": total}


def cross_check_lines(check: dict[str, Any]) -> list[str]:
    if not check["available"]:
        return [f"Accounting cross-check: not available ({check['reason']})"]
    t = check["total"]
    lines = [
        f"Accounting cross-check with sacct ({check['source']}): {t['jobs']} jobs, "
        f"{t['sacct_node_hours']:.4g} node-h in sacct against {t['attempts_node_hours']:.4g} node-h in the "
        "attempt records (sacct includes each job's start-up)"
    ]
    if t["missing"]:
        lines.append(f"  jobs sacct does not know: {', '.join(t['missing'][:20])}")
    return lines
