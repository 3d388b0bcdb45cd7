"""Particle-flow physics figures (measured, not asserted) from finished campaigns' evaluations:
the summary table of every source (models, baseline, ideal association, element truth) overall
and per generator jet-pT bin, the paired differences to the baseline with their significance,
MET resolution with the processes it covers, and the baseline's throughput.

    colliderflow submit workflows/physics-baseline.yaml --wait     # >= 5,000 tt + qq events
    python benchmarks/physics.py campaigns/physics-baseline campaigns/quickstart [--label NAME ...]

Prints the tables and writes benchmarks/results/physics.json, naming the commit, workflow and
machine of each figure.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from results_file import save

from pipeline.evaluation.reports import task_report

HERE = Path(__file__).resolve().parent


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def figures_of(campaign: Path) -> dict:
    """The headline figures of a campaign's report, per source and per difference."""
    import yaml

    metrics = task_report(campaign, "particle_flow")
    workflow = yaml.safe_load((campaign / "workflow.yaml").read_text())
    out: dict = {
        "campaign": str(campaign),
        "workflow": workflow.get("name"),
        "events": metrics["events"],
        "split": metrics["split"],
        "processes": metrics.get("processes", {}),
        "bootstrap": metrics["bootstrap"],
        "sources": {},
        "differences_to_baseline": {},
    }
    for name, m in metrics["sources"].items():
        jets, met = m["jets"], m["met"]
        out["sources"][name] = {
            "jet_pt_response": [jets["pt_response"]["median"], jets["pt_response"]["median_err"]],
            "jet_pt_resolution": [jets["pt_response"]["resolution"], jets["pt_response"]["resolution_err"]],
            "jet_pt_resolution_vs_gen_pt": {
                f"{b['low']:g}-{b['high']:g}": [b["resolution"], b["resolution_err"], b["median"]]
                for b in jets["pt_response_vs_gen_pt"]
            },
            "met_sigma_gev": [met["sigma_gev"]["value"], met["sigma_gev"]["value_err"]],
        }
    for name, d in metrics.get("differences", {}).get("sources", {}).items():
        out["differences_to_baseline"][name] = {
            key: [d[key]["value"], d[key]["err"], d[key]["significant"]]
            for key in d
            if key.startswith(("jet_pt_resolution", "met_sigma_gev"))
        }
    baseline = metrics["timing"].get("baseline", {})
    if baseline.get("ms_per_event"):
        out["baseline_events_per_s"] = 1000.0 / baseline["ms_per_event"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("campaigns", type=Path, nargs="+", help="finished campaigns with an evaluate stage")
    parser.add_argument("--label", nargs="*", default=None, help="a name for each campaign in the results")
    args = parser.parse_args()

    from pipeline.evaluation.report import table_text

    labels = args.label or [c.name for c in args.campaigns]
    results = {}
    for label, campaign in zip(labels, args.campaigns, strict=True):
        metrics = task_report(campaign, "particle_flow")
        print(f"== {label}: {metrics['events']} {metrics['split']} events, processes {metrics.get('processes')}")
        print(table_text(metrics))
        results[label] = figures_of(campaign)
        if "baseline_events_per_s" in results[label]:
            print(f"baseline throughput: {results[label]['baseline_events_per_s']:.0f} events/s (one core)\n")
    save("physics", {"commit": commit(), "campaigns": results})


if __name__ == "__main__":
    main()
