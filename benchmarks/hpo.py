"""Search efficiency of the hpo stage (measured, not asserted).

Three searches over the same space on the same staged Pythia data, each a real campaign on the
local site: random search with the full budget (ASHA with grace_period = max_t never stops a
trial), ASHA and BOHB. Random search and ASHA draw the same configurations (same searcher,
same seed). For ASHA and BOHB we report the compute (trial-epochs, in the order epochs were
reported) they spend until their best validation loss reaches the best that random search
reaches with its whole budget, as a fraction of random search's compute; and the scheduling
overhead per trial: the search's wall time x its concurrency, minus the trials' own time,
divided by the number of trials, and where it goes: each trial's runs record their phases
(trials/<id>/phases.jsonl: the worker's start-up before the run, imports, context, the
trainer's set-up, data, model, engine, restore, training, validation, checkpoints, reports to
Tune) and the search records when Tune started each run (trial_usage.json).

    python benchmarks/hpo.py [--events 240] [--trials 18] [--max-t 9] [--only asha] [--tag after]

Prints the figures and writes benchmarks/results/hpo.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results_file import save
from train import make_data

SPACE = {
    "optimizer.lr": {"loguniform": [1.0e-4, 3.0e-2]},
    "model.width": {"choice": [16, 32, 64]},
    "model.depth": {"randint": [1, 3]},
    "batch_size": {"choice": [4, 8]},
}
CONCURRENCY = 2  # 2 CPUs, 1 per trial


REUSE = {"reuse_actors": "auto"}  # --no-reuse: every trial in a new worker process (before reuse existed)


def run_search(root: Path, name: str, manifest: Path, algorithm: str, trials: int, max_t: int, grace: int) -> dict:
    params = {
        "ray": dict(REUSE),
        "algorithm": algorithm,
        "num_samples": trials,
        "max_t": max_t,
        "grace_period": grace,
        "reduction_factor": 3,
        "seed": 7,
        "train": {
            "model": {"kind": "gnn_lsh", "width": 32, "depth": 1, "head_width": 32, "bin_size": 32, "distance_dim": 16},
            "data": str(manifest),
            "batch_size": 8,
            "seed": 1,
        },
        "search_space": SPACE,
    }
    workflow = {
        "name": name,
        "stages": {"hpo": {"kind": "hpo", "params": params, "resources": {"cpus_per_task": CONCURRENCY}}},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(workflow))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "submit", str(path), "--wait"], cwd=root, check=True, capture_output=True
    )
    wall = time.perf_counter() - started
    stage = root / "campaigns" / name / "stages" / "hpo"
    records = json.loads((stage / "outputs" / "trials.json").read_text())
    return {"wall_s": wall, "records": records, "phases": trial_phases(stage, records)}


PHASES = ("imports", "context", "prepare", "trainer_init", "data", "model", "engine", "restore", "train",
          "validation", "checkpoint", "report", "other_in_fit")  # fmt: skip


def trial_phases(stage: Path, records: list[dict]) -> dict:
    """Mean seconds per trial in each phase (a trial's runs summed), the start-up between Tune
    starting a run and the run entering the trainable, and the runs per trial."""
    started = json.loads((stage / "trial_usage.json").read_text()).get("started_at", {})
    totals = dict.fromkeys(("process_start", "startup", *PHASES), 0.0)
    runs = reused = 0
    for record in records:
        path = stage / "trials" / record["trial_id"] / "phases.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        starts = started.get(record["trial_id"], [])
        for number, line in enumerate(lines):
            runs += 1
            reused += line["run_in_process"] > 1
            if line["run_in_process"] == 1:  # a new worker: its age when the run began is its start-up
                totals["process_start"] += line["process_age_s"]
            if number < len(starts):
                totals["startup"] += max(line["entered"] - starts[number], 0.0)
            for phase in PHASES:
                totals[phase] += line.get(phase, 0.0)
    count = max(len(records), 1)
    return {
        "per_trial_s": {k: round(v / count, 3) for k, v in totals.items()},
        "runs_per_trial": round(runs / count, 2),
        "runs_in_a_reused_worker": reused,
    }


def epochs_to_reach(records: list[dict], target: float) -> int | None:
    """Trial-epochs spent, in reporting order, until some epoch's val_loss <= target."""
    epochs = sorted((h["reported_at"], h["val_loss"]) for r in records for h in r["history"] if "val_loss" in h)
    for spent, (_, loss) in enumerate(epochs, start=1):
        if loss <= target * (1 + 1e-9):
            return spent
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=240)
    parser.add_argument("--trials", type=int, default=18)
    parser.add_argument("--max-t", type=int, default=9)
    parser.add_argument("--only", choices=["asha", "bohb"], default=None, help="one search (phases only)")
    parser.add_argument("--tag", default="", help="results file suffix (hpo-<tag>.json)")
    parser.add_argument("--no-reuse", action="store_true", help="a new worker process for every trial")
    args = parser.parse_args()
    if args.no_reuse:
        REUSE["reuse_actors"] = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = make_data(root, args.events, split={"train": 0.7, "val": 0.3, "test": 0.0})
        if args.only:
            run = run_search(root, args.only, manifest, args.only, args.trials, args.max_t, grace=1)
            own = sum(r["wall_s"] for r in run["records"])
            overhead = (run["wall_s"] * CONCURRENCY - own) / len(run["records"])
            print(f"{args.only}: wall {run['wall_s']:.0f} s, overhead/trial {overhead:.1f} s")
            print_phases(args.only, run["phases"])
            figures = {"algorithm": args.only, "reuse_actors": REUSE["reuse_actors"], "events": args.events,
                       "trials": args.trials, "max_t": args.max_t,
                       "search_wall_s": round(run["wall_s"], 1), "overhead_per_trial_s": round(overhead, 2),
                       "phases": run["phases"]}  # fmt: skip
            save(f"hpo-{args.tag}" if args.tag else "hpo-phases", figures)
            return
        runs = {
            "random": run_search(root, "random", manifest, "asha", args.trials, args.max_t, grace=args.max_t),
            "asha": run_search(root, "asha", manifest, "asha", args.trials, args.max_t, grace=1),
            "bohb": run_search(root, "bohb", manifest, "bohb", args.trials, args.max_t, grace=1),
        }
    random_records = runs["random"]["records"]
    target = min(r["val_loss_best"] for r in random_records if r["val_loss_best"] is not None)
    random_compute = sum(r["epochs"] for r in random_records)
    figures: dict = {
        "events": args.events,
        "trials": args.trials,
        "max_t": args.max_t,
        "random_best_val_loss": target,
        "random_trial_epochs": random_compute,
        "reuse_actors": REUSE["reuse_actors"],
    }
    print(f"random search: best val_loss {target:.4f} with {random_compute} trial-epochs")
    for name, run in runs.items():
        records = run["records"]
        total = sum(r["epochs"] for r in records)
        reached = epochs_to_reach(records, target)
        within = epochs_to_reach(records, target * 1.01)
        own = sum(r["wall_s"] for r in records)
        overhead = (run["wall_s"] * CONCURRENCY - own) / len(records)
        best = min(r["val_loss_best"] for r in records if r["val_loss_best"] is not None)
        figures[name] = {
            "best_val_loss": best,
            "trial_epochs": total,
            "epochs_to_reach_random_best": reached,
            "fraction_of_random_compute": None if reached is None else reached / random_compute,
            "epochs_to_within_1pct_of_random_best": within,
            "fraction_within_1pct": None if within is None else within / random_compute,
            "stopped_early": sum(r["status"] == "stopped" for r in records),
            "search_wall_s": round(run["wall_s"], 1),
            "overhead_per_trial_s": round(overhead, 2),
            "phases": run["phases"],
        }
        fraction = "not reached" if reached is None else f"{reached / random_compute:.2f} of random's compute"
        print(
            f"{name:>6}: best {best:.4f}, {total} trial-epochs, reaches random's best after "
            f"{reached} ({fraction}); wall {run['wall_s']:.0f} s, overhead/trial {overhead:.1f} s"
        )
        print_phases(name, run["phases"])
    save(f"hpo-{args.tag}" if args.tag else "hpo", figures)


def print_phases(name: str, phases: dict) -> None:
    parts = ", ".join(f"{k} {v:.2f}" for k, v in phases["per_trial_s"].items() if v >= 0.005)
    print(f"{'':>8}per trial (s): {parts}; {phases['runs_per_trial']} runs/trial, "
          f"{phases['runs_in_a_reused_worker']} runs in a reused worker")  # fmt: skip


if __name__ == "__main__":
    main()
