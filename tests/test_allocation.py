"""The allocation: a campaign's cost before it is submitted (plan), what it used after (from
its attempt records), and the provenance of what ran."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import yaml

from .conftest import REPO, py_stage, run_cli, status_json, write_workflow


def gpu_site(tmp_path):
    site = {
        "name": "gpus", "scheduler": "slurm", "accelerator": "cuda", "gpus_per_node": 4, "cpus_per_node": 32,
        "slurm": {"partition": "gpu", "max_requeues": 1},
    }  # fmt: skip
    path = tmp_path / "gpus.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


def test_a_plan_gives_the_most_node_and_accelerator_hours_each_stage_can_use(tmp_path):
    stages = {
        "make": {**py_stage("touch"), "resources": {"time": "00:30:00", "array": 10}},
        "fit": {**py_stage("touch", needs=["make"]),
                "resources": {"time": "02:00:00", "nodes": 2, "gpus_per_node": 4, "max_requeues": 3}},
    }  # fmt: skip
    path = write_workflow(tmp_path, {"name": "planned", "stages": stages})
    result = run_cli("plan", str(path), "--site", str(gpu_site(tmp_path)), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    make, fit = plan["stages"]["make"], plan["stages"]["fit"]
    # 10 tasks x 0.5 h x 1 node x (1 + the site's 1 requeue)
    assert make["jobs"] == 10 and make["max_node_hours"] == pytest.approx(10.0) and make["max_accelerator_hours"] == 0
    # 1 job x 2 h x 2 nodes x (1 + 3 requeues); 4 accelerators per node
    assert fit["max_node_hours"] == pytest.approx(16.0) and fit["max_accelerator_hours"] == pytest.approx(64.0)
    assert plan["total"]["max_node_hours"] == pytest.approx(26.0)
    dry = run_cli("submit", str(path), "--site", str(gpu_site(tmp_path)), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "# cost plan for site gpus" in dry.stdout and not (tmp_path / "campaigns").exists()


def test_usage_is_the_attempts_wall_time_times_their_allocation_and_plan_like_uses_it(tmp_path):
    stages = {
        "wide": {**py_stage("touch", seconds=0.5), "resources": {"time": "00:10:00", "array": 2, "cpus_per_task": 2}},
        "one": py_stage("touch", needs=["wide"]),
    }
    path = write_workflow(tmp_path, {"name": "used", "stages": stages})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "used"
    status = status_json(campaign)
    expected_total = 0.0
    for stage in ("wide", "one"):
        hours = 0.0
        for attempt in (campaign / "stages" / stage / "attempts").glob("*.json"):
            record = json.loads(attempt.read_text())
            wall = dt.datetime.fromisoformat(record["ended"]) - dt.datetime.fromisoformat(record["started"])
            assert record["allocation"]["cpus"] == (2 if stage == "wide" else 1)
            hours += wall.total_seconds() / 3600 * record["allocation"]["cpus"]
        assert status["stages"][stage]["usage"]["cpu_hours"] == pytest.approx(hours)
        assert status["stages"][stage]["usage"]["attempts"] == (2 if stage == "wide" else 1)
        expected_total += hours
    assert status["usage"]["cpu_hours"] == pytest.approx(expected_total)
    # TensorBoard shows each stage's usage (written by the task that completed it)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(campaign / "tensorboard" / "usage" / "one"))
    board.Reload()
    assert board.Scalars("usage/cpu_hours")[-1].value == pytest.approx(status["stages"]["one"]["usage"]["cpu_hours"])
    report = run_cli("report", str(campaign), cwd=tmp_path)
    assert "node-h" in report.stdout and "Provenance: submitted from commit" in report.stdout
    like = run_cli("plan", str(path), "--like", str(campaign), "--json", cwd=tmp_path)
    planned = json.loads(like.stdout)
    wide = status["stages"]["wide"]["usage"]
    assert planned["stages"]["wide"]["expected_node_hours"] == pytest.approx(wide["wall_seconds"] / 3600)


def test_provenance_names_the_commit_and_the_diff_of_a_dirty_tree(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--local", "--no-hardlinks", str(REPO), str(clone)], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    with (clone / "README.md").open("a") as handle:
        handle.write("\nan uncommitted line\n")
    path = write_workflow(tmp_path, {"name": "dirty", "stages": {"a": py_stage("touch")}})
    env = {**os.environ, "PYTHONPATH": f"{clone}{os.pathsep}{REPO}"}  # the clone's code; tests.steps from here
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "submit", str(path), "--wait"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "dirty"
    submitted = json.loads((campaign / "provenance" / "submit.json").read_text())
    assert submitted["code"]["commit"] == head and submitted["code"]["dirty"]
    assert "+an uncommitted line" in submitted["code"]["diff"]
    assert submitted["packages"]["versions"]["torch"] and submitted["packages"]["python"]
    attempt = next((campaign / "stages" / "a" / "attempts").glob("*.json"))
    key = json.loads(attempt.read_text())["provenance"]
    assert json.loads((campaign / "provenance" / f"{key}.json").read_text())["code"]["commit"] == head
    summary = json.loads(
        subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "status", str(campaign), "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        ).stdout  # fmt: skip
    )["provenance"]
    assert summary["submit"]["dirty"] and not summary["mixed"]


def lumi_plan(tmp_path, stages: dict) -> dict:
    path = write_workflow(tmp_path, {"name": "billed", "stages": stages})
    env = {"LUMI_PROJECT": "project_465000000", "SIF": "/appl/x.sif"}
    result = run_cli("plan", str(path), "--site", "lumi-g", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_plan_bills_as_the_site_charges_whole_nodes_and_the_largest_share(tmp_path):
    stages = {
        # standard-g is exclusive: 4 GPU-hours a node-hour whatever is asked; 3 h x 2 nodes x (1 + 5 requeues)
        "fit": {**py_stage("touch"),
                "resources": {"time": "03:00:00", "nodes": 2, "gpus_per_node": 2, "partition": "standard-g"}},
        # small-g: 0.5 x max(2 GCDs, ceil(24 cores / 8) = 3, ceil(100 GB / 64) = 2) = 1.5 an hour
        "score": {**py_stage("touch", needs=["fit"]), "resources": {
            "time": "02:00:00", "gpus_per_node": 2, "cpus_per_task": 24, "mem": "100G", "partition": "small-g",
            "max_requeues": 0}},
        # LUMI-C small: max(4 cores, 16 GB / 2 GB = 8) core-hours an hour, 10 tasks x 1 h
        "make": {**py_stage("touch"), "resources": {
            "time": "01:00:00", "array": 10, "cpus_per_task": 4, "mem": "16G", "partition": "small",
            "max_requeues": 0}},
    }  # fmt: skip
    plan = lumi_plan(tmp_path, stages)
    fit, score, make = (plan["stages"][s] for s in ("fit", "score", "make"))
    assert fit["billing_unit"] == "GPU-hours" and fit["max_billing"] == pytest.approx(3 * 2 * 6 * 4.0)
    assert score["max_billing"] == pytest.approx(2 * 1.5)
    assert make["billing_unit"] == "CPU-core-hours" and make["max_billing"] == pytest.approx(10 * 8.0)
    assert plan["total"]["max_billing"] == {"GPU-hours": pytest.approx(147.0), "CPU-core-hours": pytest.approx(80.0)}


def test_a_billing_rule_must_say_how_it_bills(tmp_path):
    from pipeline.site import BillingRule

    with pytest.raises(ValueError, match="either per_node or max_of"):
        BillingRule(unit="GPU-hours")
    with pytest.raises(ValueError, match="either per_node or max_of"):
        BillingRule(unit="GPU-hours", per_node=4.0, max_of={"gpus": 1})
    site = yaml.safe_load((REPO / "sites" / "local.yaml").read_text())
    site["billing"] = [{"unit": "core-h", "max_of": {"cpus": 0}}]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(site))
    path = write_workflow(tmp_path, {"name": "bad", "stages": {"a": py_stage("touch")}})
    result = run_cli("plan", str(path), "--site", str(tmp_path / "bad.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and "billing" in result.stderr and "Traceback" not in result.stderr


def test_slurm_outputs_are_parsed_for_max_array_size_and_accounting():
    from pipeline.accounting import parse_sacct
    from slurm.slurm_scheduler import parse_max_array_size

    assert parse_max_array_size("MaxArraySize            = 1001\nMaxJobCount = 10000\n") == 1001
    assert parse_max_array_size("MaxJobCount = 10000\n") is None
    # a requeued job has two rows under one raw id; steps and headers are left out
    text = "107|20|2|4|COMPLETED\n106|5|1|1|REQUEUED\n106|7|1|1|COMPLETED\n106.batch|7|1|1|COMPLETED\n"
    jobs = parse_sacct(text)
    assert jobs == {"107": {"elapsed_s": 20.0, "node_seconds": 40.0}, "106": {"elapsed_s": 12.0, "node_seconds": 12.0}}
