"""generate -> stage_data as campaigns: validation of their parameters, the local site, and a
job array on the real devcluster."""

from __future__ import annotations

import json

import pytest
import uproot

from .conftest import run_cli, write_workflow


def data_workflow(name: str, files: int = 2, events: int = 6, **stage_params) -> dict:
    return {
        "name": name,
        "stages": {
            "generate": {
                "kind": "generate",
                "params": {"processes": ["ee_qq", "ee_tt"], "events_per_file": events, "seed": 7},
                "resources": {"array": files, "time": "00:20:00"},
            },
            "stage": {
                "kind": "stage_data",
                "needs": ["generate"],
                "params": {"max_events_per_shard": 4, "split": {"train": 0.5, "val": 0.5, "test": 0.0}, **stage_params},
                "resources": {"time": "00:20:00"},
            },
        },
    }


BAD = {
    "unknown process": (("generate", "processes"), ["ee_qq", "ee_bb"], "stages.generate.params.processes", "'ee_zz'"),
    "unknown detector option": (
        ("generate", "detector"),
        {"ecal": {"cell_sise": 0.01}},
        "stages.generate.params.detector.ecal.cell_sise",
        "valid: barrel_radius",
    ),
    "unknown feature": (
        ("stage", "features"),
        {"track": [{"name": "ptt"}]},
        "stages.stage.params.features",
        "unknown feature 'ptt'",
    ),
    "split fractions": (("stage", "split"), {"train": 0.9, "val": 0.3}, "stages.stage.params.split", "sum to 1"),
    "unknown on_error": (("stage", "on_error"), "ignore", "stages.stage.params.on_error", "'fail' or 'skip'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_physics_parameters_exit_2_with_the_choices(tmp_path, case):
    (stage, key), value, field, words = BAD[case]
    workflow = data_workflow("bad")
    workflow["stages"][stage]["params"][key] = value
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert field in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "campaigns").exists()


def test_generate_and_stage_on_the_local_site(tmp_path):
    path = write_workflow(tmp_path, data_workflow("data"))
    result = run_cli("submit", str(path), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "data"
    outputs = campaign / "stages" / "generate" / "outputs"
    assert sorted(p.name for p in outputs.glob("*.root")) == ["ee_qq_0000.root", "ee_tt_0000.root"]
    assert uproot.open(outputs / "ee_tt_0000.root")["events"].num_entries == 6
    meta = json.loads((outputs / "ee_tt_0000.json").read_text())
    assert meta["events"] == 6 and meta["mean_per_event"]["track"] > 5
    manifest = json.loads((campaign / "stages" / "stage" / "outputs" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["events"] + manifest["splits"]["val"]["events"] == 12
    assert list((campaign / "tensorboard" / "generate").glob("*/events.out.tfevents.*"))
    # resuming a completed campaign generates nothing again
    assert "nothing to resubmit" in run_cli("resume", str(campaign), cwd=tmp_path).stdout


@pytest.mark.slurm
def test_generate_array_and_staging_on_the_devcluster(devcluster, tmp_path):
    path = write_workflow(tmp_path, data_workflow("slurmdata", files=4, events=4))
    result = run_cli("submit", str(path), "--site", devcluster, "--wait", "--poll", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "slurmdata"
    status = json.loads(run_cli("status", str(campaign), "--json", cwd=tmp_path).stdout)
    assert len(status["stages"]["generate"]["job_ids"]) == 4
    attempts = [json.loads(p.read_text()) for p in (campaign / "stages" / "generate" / "attempts").glob("*.json")]
    assert sorted(a["array_index"] for a in attempts) == [0, 1, 2, 3]
    assert {a["node"] for a in attempts} <= {"n1", "n2"}  # each task ran on a node of the cluster
    manifest = json.loads((campaign / "stages" / "stage" / "outputs" / "manifest.json").read_text())
    assert sum(s["events"] for s in manifest["shards"]) == 16


def test_a_generate_task_does_not_start_a_file_longer_than_its_time_limit(tmp_path):
    # task 0 makes the first ee_qq file and its time; task 1 (run after it: one task at a time on
    # the local site) expects the same for its file, which with a margin as long as the limit
    # cannot end in time: it fails at once, naming the file, instead of being cut off mid-file
    workflow = data_workflow("late", files=4)
    del workflow["stages"]["stage"]
    workflow["stages"]["generate"]["params"]["deadline_margin_s"] = 1200.0
    path = write_workflow(tmp_path, workflow)
    result = run_cli("submit", str(path), "--wait", cwd=tmp_path)
    assert result.returncode == 1
    campaign = tmp_path / "campaigns" / "late"
    status = json.loads(run_cli("status", str(campaign), "--json", cwd=tmp_path).stdout)["stages"]["generate"]
    assert status["state"] == "FAILED" and "ee_qq_0001.root" in status["reason"]
    assert "more than the stage's time limit allows" in status["reason"]
    outputs = sorted(p.name for p in (campaign / "stages" / "generate" / "outputs").glob("*.root"))
    assert outputs == ["ee_qq_0000.root", "ee_tt_0000.root"]  # the first file of each process, nothing partial
