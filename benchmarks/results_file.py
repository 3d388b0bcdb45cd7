"""Saving a benchmark's figures with the machine they were measured on and the commit (and
whether the tree had uncommitted changes) that measured them."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# where the figures go (tests point it elsewhere, so a smoke run leaves the committed figures alone)
RESULTS = Path(os.environ.get("COLLIDERFLOW_BENCHMARK_RESULTS", REPO / "benchmarks" / "results"))


def code_version() -> dict:
    def git(*args: str) -> str:
        try:
            run = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return run.stdout.strip() if run.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def save(name: str, figures: dict) -> Path:
    record = {
        "benchmark": name,
        "code": code_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **figures,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"saved {path}")
    return path
