"""The allocation on the real development Slurm cluster: arrays above MaxArraySize split into
parts that all run, with the dependent waiting on every part; the attempt records' usage against
sacct (the devcluster's job-completion log); the site's submission-rate budget."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, py_stage, run_cli, stage_log_times, status_json, write_workflow
from .test_slurm_campaign import SLURM_CONF, flaky_sbatch, wait_all_completed

pytestmark = pytest.mark.slurm


@contextlib.contextmanager
def max_array_size(size: int):
    """The devcluster's MaxArraySize lowered for one test (slurm.conf + reconfigure), then restored."""
    conf = Path(SLURM_CONF)
    original = conf.read_text()
    env = {**os.environ, "SLURM_CONF": SLURM_CONF}
    conf.write_text(original + f"MaxArraySize={size}\n")
    subprocess.run(["scontrol", "reconfigure"], env=env, check=True)
    try:
        shown = subprocess.run(["scontrol", "show", "config"], env=env, capture_output=True, text=True).stdout
        assert f"MaxArraySize            = {size}" in shown
        yield
    finally:
        conf.write_text(original)
        subprocess.run(["scontrol", "reconfigure"], env=env, check=True)


def journal(campaign: Path) -> list[dict]:
    return [json.loads(line) for line in (campaign / "journal.jsonl").read_text().splitlines()]


def test_an_array_of_three_times_max_array_size_runs_whole_and_its_dependent_waits(devcluster, tmp_path):
    stages = {
        "many": {**py_stage("touch", seconds=0.5), "resources": {"time": "00:10:00", "array": 12}},
        "after": py_stage("touch", needs=["many"]),
    }
    path = write_workflow(tmp_path, {"name": "wide", "stages": stages})
    with max_array_size(4):
        result = run_cli("submit", str(path), "--site", devcluster, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "12 tasks as 3 arrays (MaxArraySize 4)" in result.stderr
        campaign = tmp_path / "campaigns" / "wide"
        wait_all_completed(campaign, timeout=300)
    submitted = [e for e in journal(campaign) if e.get("event") == "submitted" and e["stage"] == "many"]
    assert len(submitted) == 1 and len(submitted[0]["job_ids"]) == 12
    assert len({job.split("_")[0] for job in submitted[0]["job_ids"]}) == 3
    after = next(e for e in journal(campaign) if e.get("event") == "submitted" and e["stage"] == "after")
    assert {job.split("_")[0] for job in after["after"]} == {job.split("_")[0] for job in submitted[0]["job_ids"]}
    markers = sorted(p.name for p in (campaign / "stages" / "many" / "tasks").glob("*.done"))
    assert markers == sorted(f"{i}.done" for i in range(12))
    many = stage_log_times(campaign, "many")
    assert len(many["done"]) == 12 and stage_log_times(campaign, "after")["start"][0] > max(many["done"])

    # the attempt records' usage against sacct (the devcluster keeps a job-completion log)
    status = status_json(campaign)
    records = {stage: status["stages"][stage]["usage"] for stage in ("many", "after")}
    assert records["many"]["attempts"] == 12 and records["after"]["attempts"] == 1
    checked = json.loads(run_cli("status", str(campaign), "--json", "--sacct", cwd=tmp_path).stdout)["accounting"]
    assert checked["available"] and checked["source"] == "job-completion log", checked
    total = checked["total"]
    assert total["jobs"] == 13 and total["missing"] == []
    assert total["attempts_node_hours"] == pytest.approx(records["many"]["node_hours"] + records["after"]["node_hours"])
    # sacct counts whole seconds of the whole job (Python's start-up too): never less than the records
    # (less 1 s a job for its rounding), and at most a start-up's worth more
    assert (
        total["attempts_node_hours"] - 13 / 3600
        <= total["sacct_node_hours"]
        <= total["attempts_node_hours"] + 13 * 30 / 3600
    )
    report = run_cli("report", str(campaign), cwd=tmp_path).stdout
    assert "Accounting cross-check with sacct (job-completion log): 13 jobs" in report


def test_the_sites_submission_rate_budget_spaces_sbatch_calls(devcluster, tmp_path):
    stamps = tmp_path / "stamps"
    env, _ = flaky_sbatch(tmp_path, f"date +%s.%N >> {stamps}")
    site = yaml.safe_load((REPO / "sites" / "devcluster.yaml").read_text())
    site["name"] = "devcluster-paced"
    site["slurm"]["submit_rate_per_min"] = 60.0  # one sbatch a second
    (tmp_path / "paced.yaml").write_text(yaml.safe_dump(site))
    path = write_workflow(tmp_path, {"name": "paced", "stages": {n: py_stage("touch") for n in ("a", "b", "c")}})
    result = run_cli("submit", str(path), "--site", str(tmp_path / "paced.yaml"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    times = [float(line) for line in stamps.read_text().split()]
    assert len(times) == 3 and all(b - a >= 0.95 for a, b in zip(times, times[1:], strict=False))
    wait_all_completed(tmp_path / "campaigns" / "paced")
