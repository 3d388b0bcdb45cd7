"""The generated field reference, the TensorBoard verb and the devcluster verb."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest

from pipeline.reference import reference_markdown
from slurm.devcluster import DEFAULT_DIR as DEVCLUSTER_DIR

from .conftest import REPO, py_stage, run_cli, tensorboard_server, wait_until, write_workflow


def test_reference_doc_is_generated_from_the_code():
    doc = (REPO / "docs" / "reference.md").read_text()
    assert doc == reference_markdown(), "regenerate: colliderflow reference > docs/reference.md"
    for field in (
        "`array`",
        "`max_requeues`",
        "`visible_devices_env`",
        "`deepspeed_accelerator`",
        "`target`",
    ):
        assert field in doc


def test_tensorboard_serves_the_campaign_logdir(tmp_path):
    path = write_workflow(tmp_path, {"name": "tb", "stages": {"a": py_stage("touch")}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    with tensorboard_server(["tb"], tmp_path) as request:
        assert str(tmp_path / "campaigns" / "tb" / "tensorboard") in request("/data/logdir")


def test_tensorboard_runs_from_the_environment_s_script_without_it_on_path(tmp_path):
    """As a script or a cron job calls it: the environment's `colliderflow` script, a PATH that
    holds nothing (no `tensorboard` executable anywhere), no activated environment."""
    script = Path(sysconfig.get_path("scripts")) / "colliderflow"
    assert script.is_file(), f"{script}: colliderflow is not installed in this environment"
    path = write_workflow(tmp_path, {"name": "tb", "stages": {"a": py_stage("touch")}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {"HOME": str(tmp_path), "PATH": str(empty), "PYTHONPATH": str(REPO)}
    with tensorboard_server(["tb"], tmp_path, command=[str(script)], env=env) as request:
        assert str(tmp_path / "campaigns" / "tb" / "tensorboard") in request("/data/logdir")


def test_tensorboard_serves_several_campaigns_side_by_side_under_their_names(tmp_path):
    for name in ("asha", "bohb"):
        path = write_workflow(tmp_path, {"name": name, "stages": {"a": py_stage("scalar", value=1.0)}}, f"{name}.yaml")
        assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    with tensorboard_server(["asha", "bohb"], tmp_path) as request:

        def runs():  # TensorBoard lists runs once it has read their event files
            listed = json.loads(request("/data/runs"))
            return listed if len(listed) >= 2 else None

        listed = wait_until(runs, 60, 0.5, "both campaigns' runs")
    assert {"asha/steps", "bohb/steps"} <= set(listed), listed


def test_unknown_campaign_is_a_clear_error(tmp_path):
    result = run_cli("status", "nope", cwd=tmp_path)
    assert result.returncode == 2 and "no campaign 'nope'" in result.stderr


def _daemon_pids() -> list[str]:
    return sorted(p.read_text().split()[0] for p in (Path(DEVCLUSTER_DIR) / "run").glob("*.pid"))


def _running(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slurm
def test_devcluster_up_is_idempotent_and_down_stops_only_its_daemons(devcluster):
    before = _daemon_pids()
    assert len(before) >= 3  # slurmctld + two slurmd (+ munged when this cluster started it)
    assert run_cli("devcluster", "up", cwd=REPO).returncode == 0
    assert _daemon_pids() == before, "a second `up` must not start daemons again"
    status = run_cli("devcluster", "status", cwd=REPO)
    assert status.returncode == 0 and "n1:" in status.stdout and "n2:" in status.stdout
    try:
        down = run_cli("devcluster", "down", cwd=REPO)
        assert down.returncode == 0 and "slurmctld" in down.stdout
        assert not [pid for pid in before if _running(pid)], down.stdout
        assert run_cli("devcluster", "status", cwd=REPO).returncode == 1
    finally:
        up = run_cli("devcluster", "up", cwd=REPO)  # leave it running for the other tests, whatever failed
    assert up.returncode == 0, up.stdout + up.stderr
