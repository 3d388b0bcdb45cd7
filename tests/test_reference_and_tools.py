"""The generated field reference, the TensorBoard verb and the devcluster verb."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.reference import reference_markdown
from slurm.devcluster import DEFAULT_DIR as DEVCLUSTER_DIR

from .conftest import REPO, cli_env, py_stage, run_cli, write_workflow


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


def _serve_tensorboard(args: list[str], cwd, path: str) -> str:
    """Start `colliderflow tensorboard ARGS`, return the body of GET `path` once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "tensorboard", *args, "--port", str(port)],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
                    return reply.read().decode()
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "tensorboard did not come up"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(10)


def test_tensorboard_serves_the_campaign_logdir(tmp_path):
    path = write_workflow(tmp_path, {"name": "tb", "stages": {"a": py_stage("touch")}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    body = _serve_tensorboard(["tb"], tmp_path, "/data/logdir")
    assert str(tmp_path / "campaigns" / "tb" / "tensorboard") in body


def test_tensorboard_serves_several_campaigns_side_by_side_under_their_names(tmp_path):
    for name in ("asha", "bohb"):
        path = write_workflow(tmp_path, {"name": name, "stages": {"a": py_stage("scalar", value=1.0)}}, f"{name}.yaml")
        assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    deadline = time.monotonic() + 60
    while True:  # TensorBoard lists runs once it has read their event files
        runs = json.loads(_serve_tensorboard(["asha", "bohb"], tmp_path, "/data/runs"))
        if len(runs) >= 2 or time.monotonic() > deadline:
            break
    assert {"asha/steps", "bohb/steps"} <= set(runs), runs


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
    down = run_cli("devcluster", "down", cwd=REPO)
    assert down.returncode == 0 and "slurmctld" in down.stdout
    assert not any(_running(pid) for pid in before)
    assert run_cli("devcluster", "status", cwd=REPO).returncode == 1
    up = run_cli("devcluster", "up", cwd=REPO)  # leave it running for the other tests
    assert up.returncode == 0, up.stdout + up.stderr
