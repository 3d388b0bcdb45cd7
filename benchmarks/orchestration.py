"""Orchestration overhead: a 10-stage chain of no-op stages, on the local site and on the
devcluster (real Slurm). Measures wall time from `submit` to the last stage's completion
marker, minus the stages' own run time, per stage. Measured, not asserted.

    python benchmarks/orchestration.py [--sites local devcluster] [--stages 10] [--repeats 3]

Prints a table and writes benchmarks/results/orchestration.json.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", nargs="+", default=["local", "devcluster"])
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
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
