"""Campaigns on the real development Slurm cluster (n1, n2): submit, dependencies, multi-node,
cancel + resume, requeue with checkpoint, and a submit killed halfway."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import py_stage, run_cli, stage_log_times, status_json, wait_until, write_workflow

pytestmark = pytest.mark.slurm

SLURM_CONF = "/tmp/colliderflow-devcluster/etc/slurm.conf"


def slurm(*args: str) -> str:
    env = {**os.environ, "SLURM_CONF": SLURM_CONF}
    return subprocess.run(list(args), capture_output=True, text=True, env=env, check=True).stdout


def states(campaign: Path) -> dict[str, str]:
    return {name: stage["state"] for name, stage in status_json(campaign)["stages"].items()}


def wait_all_completed(campaign: Path, timeout: float = 180) -> None:
    def done():
        current = states(campaign)
        failed = [s for s, v in current.items() if v in ("FAILED", "CANCELLED", "TIMEOUT")]
        assert not failed, f"stages ended badly: {current}"
        return all(v == "COMPLETED" for v in current.values())

    wait_until(done, timeout, interval=1.0, what="all stages COMPLETED")


def runs(campaign: Path, stage: str) -> int:
    path = campaign / "stages" / stage / "runs.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_chain_submits_and_returns_then_runs_in_order(devcluster, tmp_path):
    probe = py_stage("env_probe", needs=["second"], names=["TAG"])
    probe["env"] = {"TAG": "$(id); touch pwned"}
    workflow = {
        "name": "chain",
        "stages": {
            "first": py_stage("touch", label="first", seconds=3),
            "second": py_stage("touch", needs=["first"], label="second"),
            "third": probe,
        },
    }
    path = write_workflow(tmp_path, workflow)
    result = run_cli("submit", str(path), "--site", devcluster, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    campaign = tmp_path / "campaigns" / "chain"
    assert states(campaign)["third"] != "COMPLETED", "submit must return before the stages finish"
    wait_all_completed(campaign)
    for upstream, downstream in (("first", "second"), ("second", "third")):
        assert stage_log_times(campaign, downstream)["start"][0] > stage_log_times(campaign, upstream)["done"][0]
    probe_result = json.loads((campaign / "stages" / "third" / "result.json").read_text())
    assert probe_result == {"TAG": "$(id); touch pwned"}
    assert not list(tmp_path.rglob("pwned"))
    assert all(len(v["job_ids"]) == 1 for v in status_json(campaign)["stages"].values())


def test_two_node_stage_sees_ranks_on_n1_and_n2(devcluster, tmp_path):
    workflow = {"name": "nodes", "stages": {"r": py_stage("ranks", resources={"nodes": 2})}}
    path = write_workflow(tmp_path, workflow)
    assert run_cli("submit", str(path), "--site", devcluster, "--wait", "--poll", "0.5", cwd=tmp_path).returncode == 0
    outputs = tmp_path / "campaigns" / "nodes" / "stages" / "r" / "outputs"
    records = [json.loads(p.read_text()) for p in sorted(outputs.glob("rank*.json"))]
    assert [(r["rank"], r["world_size"]) for r in records] == [(0, 2), (1, 2)]
    assert sorted(r["host"] for r in records) == ["n1", "n2"]


def test_scancel_then_resume_then_resume_again(devcluster, tmp_path):
    workflow = {
        "name": "scancel",
        "stages": {
            "first": py_stage("count_runs"),
            "second": py_stage("count_runs", needs=["first"], first_run_seconds=120),
            "third": py_stage("count_runs", needs=["second"]),
        },
    }
    path = write_workflow(tmp_path, workflow)
    assert run_cli("submit", str(path), "--site", devcluster, cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "scancel"
    wait_until(lambda: states(campaign)["second"] == "RUNNING", 120, interval=0.5, what="second RUNNING")
    job = status_json(campaign)["stages"]["second"]["job_ids"][0]
    slurm("scancel", job)
    wait_until(
        lambda: states(campaign) == {"first": "COMPLETED", "second": "CANCELLED", "third": "CANCELLED"},
        60,
        what="second and its dependent CANCELLED",
    )
    assert runs(campaign, "third") == 0, "a dependent of a cancelled stage must not run"

    resumed = run_cli("resume", str(campaign), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resubmitted second" in resumed.stdout and "resubmitted third" in resumed.stdout
    again = run_cli("resume", str(campaign), cwd=tmp_path)
    assert again.returncode == 0 and "nothing to resubmit" in again.stdout
    wait_all_completed(campaign)
    assert (runs(campaign, "first"), runs(campaign, "second"), runs(campaign, "third")) == (1, 2, 1)
    final = run_cli("resume", str(campaign), cwd=tmp_path)
    assert "nothing to resubmit" in final.stdout


def test_requeue_signal_checkpoints_and_the_job_comes_back(devcluster, tmp_path):
    stage = py_stage("wait_for_requeue")
    stage["params"]["checkpoint"] = "tests.steps:save_checkpoint"
    path = write_workflow(tmp_path, {"name": "requeue", "stages": {"long": stage}})
    assert run_cli("submit", str(path), "--site", devcluster, cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "requeue"
    ready = campaign / "stages" / "long" / "outputs" / "ready"
    wait_until(ready.exists, 120, what="first attempt running")
    job = ready.read_text().strip()
    slurm("scancel", "--signal=USR2", job)
    checkpoint = campaign / "stages" / "long" / "checkpoints" / "state.json"
    wait_until(checkpoint.exists, 60, what="checkpoint() to run")

    def requeued_pending():
        out = slurm("squeue", "-h", "-j", job, "-o", "%T %r").strip()
        return out.startswith("PENDING")

    wait_until(requeued_pending, 60, what="job back in the queue")
    slurm("scontrol", "update", f"jobid={job}", "StartTime=now")  # skip Slurm's requeue back-off
    wait_all_completed(campaign)
    result = json.loads((campaign / "stages" / "long" / "result.json").read_text())
    assert result["resumed_from"]["step"] == 42 and result["attempt"] == 2
    log = (campaign / "stages" / "long" / "logs" / "stage.log").read_text()
    assert "requeue signal" in log and "resumed from checkpoint" in log
    assert status_json(campaign)["stages"]["long"]["job_ids"] == [job], "requeued, not resubmitted"


@pytest.mark.parametrize("status_first", [False, True], ids=["resume", "status-then-resume"])
def test_submit_killed_halfway_then_resume_runs_each_stage_once(devcluster, tmp_path, status_first):
    real_sbatch = subprocess.run(["which", "sbatch"], capture_output=True, text=True).stdout.strip()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    counter = tmp_path / "sbatch-calls"
    # On its second call this sbatch queues the job for real, then kills the submitting
    # process before it can journal the job id: the worst moment for a crash.
    (bindir / "sbatch").write_text(
        f"""#!/bin/bash
echo x >> {counter}
out=$({real_sbatch} "$@") || exit $?
echo "$out"
if [ "$(wc -l < {counter})" -ge 2 ]; then kill -9 $PPID; sleep 5; fi
"""
    )
    (bindir / "sbatch").chmod(0o755)
    workflow = {
        "name": "killed",
        "stages": {
            "first": py_stage("count_runs", first_run_seconds=2),
            "second": py_stage("count_runs", needs=["first"]),
            "third": py_stage("count_runs", needs=["second"]),
        },
    }
    path = write_workflow(tmp_path, workflow)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    result = run_cli("submit", str(path), "--site", devcluster, cwd=tmp_path, env=env)
    assert result.returncode == -9, (result.returncode, result.stdout, result.stderr)
    campaign = tmp_path / "campaigns" / "killed"
    events = [json.loads(line)["event"] for line in (campaign / "journal.jsonl").read_text().splitlines()]
    assert events.count("submitted") == 1 and events.count("submitting") == 2
    if status_first:  # status journals the adoption first; the adopted job must still start
        status_json(campaign)
        events = [json.loads(line)["event"] for line in (campaign / "journal.jsonl").read_text().splitlines()]
        assert events.count("adopted") == 1

    resumed = run_cli("resume", str(campaign), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resubmitted third" in resumed.stdout
    assert "first" not in resumed.stdout and "second" not in resumed.stdout
    assert "nothing to resubmit" in run_cli("resume", str(campaign), cwd=tmp_path).stdout
    wait_all_completed(campaign)
    time.sleep(1)
    assert [runs(campaign, s) for s in ("first", "second", "third")] == [1, 1, 1]


def test_site_launcher_and_kind_resources_on_real_slurm(devcluster, tmp_path):
    """A site's launch wrapper and Python run every task (variables expanded on the node, from
    the required ones as submitted) and its per-kind resources reach srun."""
    import sys

    import yaml

    from .conftest import REPO

    site = yaml.safe_load((REPO / "sites" / "devcluster.yaml").read_text())
    site.update(
        name="devcluster-wrapped",
        required_env={"CF_WRAP_TAG": "export CF_WRAP_TAG=<anything>"},
        launcher=["env", "CF_LAUNCHER=wrapped-$CF_WRAP_TAG"],
        python=sys.executable,
        kinds={"python": {"cpus_per_task": 2}},
    )
    site_file = tmp_path / "devcluster-wrapped.yaml"
    site_file.write_text(yaml.safe_dump(site))
    probe = py_stage("env_probe", names=["CF_LAUNCHER", "SLURM_CPUS_PER_TASK"])
    path = write_workflow(tmp_path, {"name": "wrapped", "stages": {"probe": probe}})
    unset = run_cli("submit", str(path), "--site", str(site_file), cwd=tmp_path, env={"CF_WRAP_TAG": ""})
    assert unset.returncode == 2 and "required_env.CF_WRAP_TAG" in unset.stderr
    result = run_cli(
        "submit", str(path), "--site", str(site_file), "--wait", "--poll", "0.5", cwd=tmp_path,
        env={"CF_WRAP_TAG": "ok"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    probe_result = json.loads((tmp_path / "campaigns" / "wrapped" / "stages" / "probe" / "result.json").read_text())
    assert probe_result == {"CF_LAUNCHER": "wrapped-ok", "SLURM_CPUS_PER_TASK": "2"}


def flaky_sbatch(directory: Path, script: str) -> tuple[dict[str, str], Path]:
    """An `sbatch` first on PATH that runs `script` (bash; $n is this call's number, $REAL the
    real sbatch), so the controller can be made to fail in chosen ways."""
    import shutil

    calls = directory / "sbatch-calls"
    wrapper = directory / "bin" / "sbatch"
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(
        f"#!/bin/bash\nREAL={shutil.which('sbatch')}\nn=$(( $(cat {calls} 2>/dev/null || echo 0) + 1 ))\n"
        f'echo $n > {calls}\n{script}\nexec $REAL "$@"\n'
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{wrapper.parent}:{os.environ['PATH']}"}, calls


def fast_retry_site(tmp_path: Path) -> Path:
    import yaml

    from .conftest import REPO

    site = yaml.safe_load((REPO / "sites" / "devcluster.yaml").read_text())
    site["name"] = "devcluster-retry"
    site["slurm"]["retry"] = {"attempts": 5, "initial_s": 0.2, "max_s": 1.0, "budget_s": 30}
    path = tmp_path / "devcluster-retry.yaml"
    path.write_text(yaml.safe_dump(site))
    return path


def queued_jobs(campaign: Path, stage: str) -> list[str]:
    """The jobs in the queue (any state) carrying the stage's submission tokens."""
    journal = [json.loads(line) for line in (campaign / "journal.jsonl").read_text().splitlines()]
    tokens = {e["token"] for e in journal if e.get("event") == "submitting" and e.get("stage") == stage}
    lines = slurm("squeue", "-h", "-t", "all", "-o", "%i|%k", "--name", f"cf.{campaign.name}.{stage}").split()
    return [job for job, _, comment in (line.partition("|") for line in lines) if comment.split(":")[-1] in tokens]


def test_sbatch_failing_transiently_twice_succeeds_on_the_third_try_with_one_job(devcluster, tmp_path):
    env, calls = flaky_sbatch(
        tmp_path, 'if [ $n -le 2 ]; then echo "sbatch: error: Batch job submission failed: Socket timed out on '
        'send/recv operation" >&2; exit 1; fi'
    )  # fmt: skip
    path = write_workflow(tmp_path, {"name": "flaky", "stages": {"a": py_stage("touch")}})
    result = run_cli("submit", str(path), "--site", str(fast_retry_site(tmp_path)), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().strip() == "3" and "retrying in" in result.stderr
    campaign = tmp_path / "campaigns" / "flaky"
    journal = [json.loads(line) for line in (campaign / "journal.jsonl").read_text().splitlines()]
    assert [e["event"] for e in journal].count("submitted") == 1
    assert len(queued_jobs(campaign, "a")) == 1
    wait_all_completed(campaign)


def test_a_lost_sbatch_reply_is_adopted_not_submitted_twice(devcluster, tmp_path):
    # the first call queues the job and then reports a time-out, as a lost reply does
    env, calls = flaky_sbatch(
        tmp_path, 'if [ $n -eq 1 ]; then $REAL "$@" > /dev/null; echo "sbatch: error: Socket timed out on '
        'send/recv operation" >&2; exit 1; fi'
    )  # fmt: skip
    path = write_workflow(tmp_path, {"name": "lost", "stages": {"a": py_stage("count_runs")}})
    result = run_cli("submit", str(path), "--site", str(fast_retry_site(tmp_path)), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls.read_text().strip() == "1" and "queued after all" in result.stderr
    campaign = tmp_path / "campaigns" / "lost"
    wait_all_completed(campaign)
    assert len(queued_jobs(campaign, "a")) == 1 and runs(campaign, "a") == 1


def test_a_permanent_sbatch_error_fails_at_once_with_slurms_message(devcluster, tmp_path):
    env, calls = flaky_sbatch(
        tmp_path, 'echo "sbatch: error: Batch job submission failed: Invalid account or account/partition '
        'combination specified" >&2; exit 1'
    )  # fmt: skip
    path = write_workflow(tmp_path, {"name": "refused", "stages": {"a": py_stage("touch")}})
    result = run_cli("submit", str(path), "--site", str(fast_retry_site(tmp_path)), cwd=tmp_path, env=env)
    assert result.returncode == 1 and calls.read_text().strip() == "1"
    assert "Invalid account or account/partition combination" in result.stderr and "Traceback" not in result.stderr
    assert "stage a: the scheduler refused the job" in result.stderr
