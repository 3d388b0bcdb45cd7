"""Cost of live progress reporting (measured, not asserted): a generate -> stage_data -> train
chain on the local site, run alternately with progress on and off (COLLIDERFLOW_PROGRESS=0 in
every stage's environment); wall time per stage from the stages' own attempt records.

    python benchmarks/progress.py [--repeats 2] [--events 150]

Prints a table and writes benchmarks/results/progress.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from results_file import save

REPO = Path(__file__).resolve().parent.parent
STAGES = ("generate", "stage", "train")


def workflow(name: str, events: int, progress: bool) -> dict:
    env = {} if progress else {"COLLIDERFLOW_PROGRESS": "0"}
    return {
        "name": name,
        "stages": {
            "generate": {
                "kind": "generate",
                "params": {"processes": ["ee_tt", "ee_qq"], "events_per_file": events, "seed": 7},
                "resources": {"array": 2},
                "env": env,
            },
            "stage": {
                "kind": "stage_data",
                "needs": ["generate"],
                "params": {"split": {"train": 0.5, "val": 0.5, "test": 0.0}},
                "env": env,
            },
            "train": {
                "kind": "train",
                "needs": ["stage"],
                "params": {
                    "model": {"kind": "gnn_lsh", "width": 32, "depth": 2, "head_width": 32, "bin_size": 64},
                    "epochs": 2,
                    "batch_size": 8,
                    "log_every": 1,
                },
                "env": env,
            },
        },
    }


def stage_seconds(campaign: Path, stage: str) -> float:
    """First start to last end of the stage's attempts (an array's tasks run two at a time)."""
    records = [json.loads(p.read_text()) for p in (campaign / "stages" / stage / "attempts").glob("*.json")]
    starts = [dt.datetime.fromisoformat(r["started"]) for r in records]
    ends = [dt.datetime.fromisoformat(r["ended"]) for r in records]
    return (max(ends) - min(starts)).total_seconds()


def call_cost(tmp: Path) -> dict[str, float]:
    """The reporter itself: a throttled call (what a stage pays per event or step) and a write."""
    import time

    from pipeline.progress import ProgressReporter

    reporter = ProgressReporter(tmp / "task-0.json")
    n = 200_000
    began = time.perf_counter()
    for i in range(n):
        reporter.update(i, n, "events", epoch="1/2", loss=0.5)
    throttled_us = (time.perf_counter() - began) / n * 1e6
    began = time.perf_counter()
    for i in range(200):
        reporter.update(i, n, "events", force=True, epoch="1/2", loss=0.5)
    write_ms = (time.perf_counter() - began) / 200 * 1e3
    return {"throttled_call_us": throttled_us, "write_ms": write_ms}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--events", type=int, default=150)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for mode in ("on", "off") if repeat % 2 == 0 else ("off", "on"):
                name = f"progress-{mode}-{repeat}"
                path = Path(tmp) / f"{name}.yaml"
                path.write_text(yaml.safe_dump(workflow(name, args.events, mode == "on")))
                subprocess.run(
                    [sys.executable, "-m", "pipeline.cli", "submit", str(path), "--wait"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                )
                campaign = Path(tmp) / "campaigns" / name
                record = {s: stage_seconds(campaign, s) for s in STAGES}
                runs[mode].append(record)
                print(mode, {k: round(v, 2) for k, v in record.items()}, flush=True)
    medians = {mode: {s: statistics.median(r[s] for r in rs) for s in STAGES} for mode, rs in runs.items()}
    print(f"{'stage':<10} {'progress on':>12} {'off':>8} {'on/off':>7}")
    for s in STAGES:
        on, off = medians["on"][s], medians["off"][s]
        print(f"{s:<10} {on:>10.2f} s {off:>6.2f} s {on / off:>7.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        cost = call_cost(Path(tmp))
    call_us, write_ms = cost["throttled_call_us"], cost["write_ms"]
    print(f"a throttled call: {call_us:.2f} us; a write: {write_ms:.2f} ms (one per 2 s at most)")
    record = {"events_per_file": args.events, "repeats": args.repeats, "runs": runs, "medians": medians, **cost}
    save("progress", record)


if __name__ == "__main__":
    main()
