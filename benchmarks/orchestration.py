"""Orchestration overhead, measured (not asserted), on the local site and on the devcluster
(real Slurm).

The chain: a 10-stage chain of no-op stages; wall time from `submit` to the last stage's
completion marker, minus the stages' own run time, per stage.

    python benchmarks/orchestration.py [--sites local devcluster] [--stages 10] [--repeats 3]

The scale (`--scale`): N independent no-op stages (20, 100, 400) and one no-op array of M
tasks (20, 200, 1,000): how long `submit` takes to return, how long `status` takes while the
campaign runs, and the wall time to completion.

    python benchmarks/orchestration.py --scale [--independent 20 100 400] [--arrays 20 200 1000]

Prints a table and writes benchmarks/results/orchestration.json (orchestration-scale.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results_file import save

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def noop(ctx) -> None:
    """The stage body: nothing (the point is the engine's own cost)."""


def chain_workflow(stages: int) -> dict:
    names = [f"s{i:02d}" for i in range(stages)]
    workflow = {"name": "orchestration", "stages": {}}
    for i, name in enumerate(names):
        stage = {
            "kind": "python",
            "params": {"target": "orchestration:noop"},
            "resources": {"time": "00:05:00"},
        }
        if i:
            stage["needs"] = [names[i - 1]]
        workflow["stages"][name] = stage
    return workflow


def stage_work_seconds(campaign: Path) -> float:
    total = 0.0
    for path in campaign.glob("stages/*/attempts/*.json"):
        record = json.loads(path.read_text())
        total += (
            dt.datetime.fromisoformat(record["ended"]) - dt.datetime.fromisoformat(record["started"])
        ).total_seconds()
    return total


def run_once(site: str, stages: int, workdir: Path) -> dict:
    workflow = workdir / "chain.yaml"
    workflow.write_text(yaml.safe_dump(chain_workflow(stages), sort_keys=False))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "submit", str(workflow), "--site", site],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    submit_returned = time.perf_counter() - started
    campaign = workdir / "campaigns" / "orchestration"
    last = campaign / "stages" / f"s{stages - 1:02d}" / "DONE"
    deadline = time.monotonic() + 600
    while not last.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{site}: chain did not finish in 600 s")
        time.sleep(0.05)
    wall = time.perf_counter() - started
    work = stage_work_seconds(campaign)
    return {
        "submit_s": submit_returned,
        "wall_s": wall,
        "work_s": work,
        "overhead_per_stage_s": (wall - work) / stages,
    }


def wide_workflow(stages: int = 0, array: int = 0) -> dict:
    """`stages` independent no-op stages, or one no-op stage of `array` tasks."""
    body = {"kind": "python", "params": {"target": "orchestration:noop"}, "resources": {"time": "00:30:00"}}
    if array:
        return {"name": "scale", "stages": {"tasks": {**body, "resources": {"time": "00:30:00", "array": array}}}}
    return {"name": "scale", "stages": {f"s{i:03d}": body for i in range(stages)}}


def run_scale(site: str, workflow: dict, workdir: Path, timeout_s: float = 3600) -> dict:
    """submit's time, status's time while it runs (the first call and the median of the rest),
    and the wall time until every stage is done."""
    path = workdir / "scale.yaml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "pipeline.cli"]
    started = time.perf_counter()
    subprocess.run([*command, "submit", str(path), "--site", site], cwd=workdir, env=env, check=True,
                   capture_output=True)  # fmt: skip
    submit_s = time.perf_counter() - started
    campaign = workdir / "campaigns" / "scale"
    done = [campaign / "stages" / name / "DONE" for name in workflow["stages"]]
    status_s = []
    while not all(p.exists() for p in done):
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"{site}: not done in {timeout_s:.0f} s")
        if len(status_s) < 5:
            began = time.perf_counter()
            subprocess.run([*command, "status", str(campaign), "--json"], cwd=workdir, env=env, capture_output=True)
            status_s.append(time.perf_counter() - began)
        time.sleep(1.0)
    wall = time.perf_counter() - started
    tasks = sum(s["resources"].get("array") or 1 for s in workflow["stages"].values())
    return {
        "tasks": tasks,
        "submit_s": round(submit_s, 3),
        "status_s_while_running": [round(t, 3) for t in status_s],
        "wall_s": round(wall, 2),
        "wall_per_task_s": round(wall / tasks, 3),
    }


def scale(args) -> int:
    if "devcluster" in args.sites:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "devcluster", "up"], check=True, cwd=REPO)
    cases = [("independent", n, wide_workflow(stages=n)) for n in args.independent]
    cases += [("array", n, wide_workflow(array=n)) for n in args.arrays]
    results: dict = {}
    print(f"{'site':<11} {'case':<18} {'submit':>8} {'status (1st, median)':>22} {'wall':>9} {'per task':>9}")
    for site in args.sites:
        for case, n, workflow in cases:
            # the local jobs' last bookkeeping may still land after the last DONE marker
            with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
                run = run_scale(site, workflow, Path(tmp))
                time.sleep(2.0)
            results.setdefault(site, {})[f"{case}-{n}"] = run
            status = run["status_s_while_running"]
            shown = f"{status[0]:.2f}, {statistics.median(status[1:] or status):.2f} s" if status else "-"
            print(f"{site:<11} {f'{case} {n}':<18} {run['submit_s']:>6.2f} s {shown:>22} {run['wall_s']:>7.1f} s "
                  f"{run['wall_per_task_s']:>7.2f} s", flush=True)  # fmt: skip
    save("orchestration-scale", {"results": results})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", nargs="+", default=["local", "devcluster"])
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", action="store_true", help="independent stages and arrays at several sizes")
    parser.add_argument("--independent", type=int, nargs="*", default=[20, 100, 400])
    parser.add_argument("--arrays", type=int, nargs="*", default=[20, 200, 1000])
    args = parser.parse_args()
    if args.scale:
        return scale(args)
    if "devcluster" in args.sites:
        subprocess.run([sys.executable, "-m", "pipeline.cli", "devcluster", "up"], check=True, cwd=REPO)
    results = {}
    for site in args.sites:
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(run_once(site, args.stages, Path(tmp)))
        results[site] = {
            "runs": runs,
            "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_submit_s": statistics.median(r["submit_s"] for r in runs),
            "median_overhead_per_stage_s": statistics.median(r["overhead_per_stage_s"] for r in runs),
        }
    print(f"{args.stages}-stage chain of no-op stages, {args.repeats} runs each (median)")
    print(f"{'site':<12} {'submit returns':>15} {'submit->done':>13} {'overhead/stage':>15}")
    for site, res in results.items():
        print(
            f"{site:<12} {res['median_submit_s']:>13.2f} s {res['median_wall_s']:>11.2f} s "
            f"{res['median_overhead_per_stage_s']:>13.2f} s"
        )
    save("orchestration", {"stages": args.stages, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
