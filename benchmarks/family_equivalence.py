"""Does a refactor change any figure? Runs the quickstart (at the test's small size), the SUEP
and the jets test workflows on the local site with their fixed seeds, and saves every evaluate
stage's report/<stage>/metrics.json with the run-to-run noise taken out (timings, latencies,
paths). Two such files from two commits must be equal to the last digit.

    python benchmarks/family_equivalence.py --tag before     # writes results/family_equivalence-before.json
    python benchmarks/family_equivalence.py --compare results/family_equivalence-before.json

Measured, not asserted: prints what differs.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results_file import save

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

# keys whose values are timings, machine- or path-dependent: not physics
NOISE = {"timing", "latency", "manifest", "seconds", "evaluation_events_per_second", "report", "weights", "file"}


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in NOISE and "per_second" not in k}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def campaigns() -> dict[str, tuple[dict | Path, list[str]]]:
    from tests.test_jets_campaign import jets_workflow
    from tests.test_quickstart import SMALL
    from tests.test_suep_campaign import suep_workflow

    return {
        "quickstart": (REPO / "workflows" / "quickstart.yaml", SMALL),
        "suep": (suep_workflow(), []),
        "jets": (jets_workflow(), []),
    }


def run(name: str, workflow: dict | Path, sets: list[str], root: Path) -> dict:
    if isinstance(workflow, dict):
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**workflow, "name": name}, sort_keys=False))
    else:
        path = workflow
    args = [x for item in sets for x in ("--set", item)]
    began = time.perf_counter()
    cmd = [sys.executable, "-m", "pipeline.cli", "submit", str(path), "--name", name, "--wait", "--poll", "0.5", *args]
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    reports = {}
    for metrics in sorted((root / "campaigns" / name / "report").glob("*/metrics.json")):
        reports[metrics.parent.name] = strip(json.loads(metrics.read_text()))
    return {"seconds": round(time.perf_counter() - began, 1), "reports": reports}


def differences(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in one" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += differences(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{where}[{i}]")]
    same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    return [] if same else [f"{where}: {a!r} != {b!r}"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tag", default="now")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--compare", type=Path, default=None, help="an earlier result to compare with")
    parser.add_argument("--saved", type=Path, default=None, help="compare this saved result instead of running")
    args = parser.parse_args()
    if args.saved:
        report(json.loads(args.compare.read_text()), json.loads(args.saved.read_text()))
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    figures = {"commit": commit.stdout.strip(), "campaigns": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (workflow, sets) in campaigns().items():
            if args.only and name not in args.only:
                continue
            figures["campaigns"][name] = run(name, workflow, sets, Path(tmp))
            print(f"{name}: {figures['campaigns'][name]['seconds']} s")
    save(f"family_equivalence-{args.tag}", figures)
    if args.compare:
        report(json.loads(args.compare.read_text()), figures)


def report(earlier: dict, now: dict) -> None:
    """What differs between two results, campaign by campaign (NaN equals NaN)."""
    for name, run_ in now["campaigns"].items():
        diff = differences(earlier["campaigns"][name]["reports"], run_["reports"], name)
        print(f"{name}: {'identical' if not diff else f'{len(diff)} difference(s)'}")
        for line in diff[:40]:
            print("  ", line)


if __name__ == "__main__":
    main()
