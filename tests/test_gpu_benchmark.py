"""benchmarks/gpu.py, the one call a lent GPU runs: on a CPU its smoke test takes every code path
of every section at toy sizes (what CI can check before any device is lent)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import REPO


def test_the_gpu_benchmark_smoke_runs_every_section_on_the_cpu(tmp_path):
    env = {**os.environ, "COLLIDERFLOW_BENCHMARK_RESULTS": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--smoke"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads((tmp_path / "gpu-smoke.json").read_text())
    sections = figures["sections"]
    assert figures["smoke"] and not [name for name, result in sections.items() if "error" in result]
    mlpf = sections["mlpf_training"]
    assert len([k for k in mlpf if k != "section_seconds"]) == 8  # 2 models x 2 levels x fp32/bf16
    assert all(v["events_per_second"] > 0 for k, v in mlpf.items() if k != "section_seconds")
    attention = {k: v for k, v in sections["attention_scaling"].items() if k != "section_seconds"}
    assert len(attention) == 4 and all("ms" in v for v in attention.values()), attention
    assert sections["pet_training"]["jets_per_second"] > 0
    assert sections["suep_autoencoder"]["training_images_per_second"] > 0
    assert sections["quickstart"] == {
        "dry_run_exit": 0,
        "jobs": 5,
        "section_seconds": sections["quickstart"]["section_seconds"],
    }
    assert figures["code"]["commit"]
