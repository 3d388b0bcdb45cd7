"""Shared fixtures: the CLI as a user runs it (a subprocess), workflow files, the devcluster."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    env.update(extra or {})
    return env


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_workflow(directory: Path, data: dict, name: str = "workflow.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def submitted(root: Path, workflow: dict) -> Path:
    """`workflow` submitted from `root` on the local site and waited for; its campaign directory."""
    result = run_cli("submit", str(write_workflow(root, workflow)), "--wait", "--poll", "0.5", cwd=root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root / "campaigns" / workflow["name"]


def status_json(campaign: Path) -> dict:
    result = run_cli("status", str(campaign), "--json", cwd=campaign.parent)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def wait_until(predicate, timeout: float = 120.0, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stage_log_times(campaign: Path, stage: str) -> dict[str, list[float]]:
    """Timestamps of the 'start:' and 'done in' lines of a stage's own log."""
    import datetime as dt

    times: dict[str, list[float]] = {"start": [], "done": []}
    for line in (campaign / "stages" / stage / "logs" / "stage.log").read_text().splitlines():
        stamp = dt.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
        if "] start:" in line:
            times["start"].append(stamp)
        elif "] done in" in line:
            times["done"].append(stamp)
    return times


def hparams_of(run: Path) -> dict:
    """The hyperparameters of the HParams session in a TensorBoard run (its event files), each as
    the type it was written with (float, str or bool), and under the key `metrics` the names of
    the session's metric scalars (`hparam/...`)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = EventAccumulator(str(run))
    accumulator.Reload()
    out: dict = {}
    for content in accumulator.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for key, value in data.session_start_info.hparams.items():
                out[key] = getattr(value, value.WhichOneof("kind"))
    if out:
        out["metrics"] = sorted(t for t in accumulator.Tags()["scalars"] if t.startswith("hparam/"))
    return out


@contextmanager
def tensorboard_server(campaigns: list[str], cwd: Path, command: list[str] | None = None, env: dict | None = None):
    """A running `colliderflow tensorboard CAMPAIGNS` (by default `python -m pipeline.cli`, else
    `command`, with `env` as its whole environment); yields `request(path, body=None)`, which
    GETs (or POSTs the JSON `body` to) the server once it answers and returns the reply text."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = command or [sys.executable, "-m", "pipeline.cli"]
    server = subprocess.Popen(
        [*command, "tensorboard", *campaigns, "--port", str(port)],
        cwd=cwd,
        env=env if env is not None else cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def request(path: str, body: dict | None = None) -> str:
        data = None if body is None else json.dumps(body).encode()
        url = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, {"Content-Type": "application/json"})
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    return reply.read().decode()
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "tensorboard did not come up"
                time.sleep(0.5)

    try:
        yield request
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # busy reading event files: SIGTERM waits for that
            server.kill()
            server.wait(10)


def py_stage(target: str, needs: list[str] | None = None, resources: dict | None = None, **kwargs) -> dict:
    stage = {"kind": "python", "params": {"target": f"tests.steps:{target}", "kwargs": kwargs}}
    if needs:
        stage["needs"] = needs
    stage["resources"] = {"time": "00:10:00", **(resources or {})}
    return stage


@pytest.fixture(scope="session")
def devcluster():
    """The real development Slurm cluster (started once; left running for reuse)."""
    result = run_cli("devcluster", "up", cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return "devcluster"
