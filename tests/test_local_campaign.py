"""Campaigns on the embedded local site: the same engine contract without Slurm."""

from __future__ import annotations

import fcntl
import json
import os
import signal

from .conftest import py_stage, run_cli, stage_log_times, status_json, wait_until, write_workflow


def chain(name: str, **middle) -> dict:
    return {
        "name": name,
        "stages": {
            "first": py_stage("touch", label="first", seconds=0.5),
            "second": middle or py_stage("touch", needs=["first"], label="second"),
            "third": py_stage("touch", needs=["second"], label="third"),
        },
    }


def submitted_count(campaign) -> int:
    lines = (campaign / "journal.jsonl").read_text().splitlines()
    return sum(json.loads(line)["event"] == "submitted" for line in lines)


def test_chain_completes_in_dependency_order(tmp_path):
    path = write_workflow(tmp_path, chain("chain"))
    result = run_cli("submit", str(path), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "chain"
    status = status_json(campaign)
    assert {s: v["state"] for s, v in status["stages"].items()} == dict.fromkeys(
        ("first", "second", "third"), "COMPLETED"
    )
    for upstream, downstream in (("first", "second"), ("second", "third")):
        assert stage_log_times(campaign, downstream)["start"][0] > stage_log_times(campaign, upstream)["done"][0]
    assert json.loads((campaign / "stages" / "second" / "result.json").read_text())["label"] == "second"
    assert (campaign / "workflow.yaml").is_file() and (campaign / "site.yaml").is_file()
    report = run_cli("report", str(campaign), cwd=tmp_path)
    assert report.returncode == 0 and "stages/second/result.json" not in report.stdout  # raw JSON behind a flag
    assert "--results" in report.stdout
    report = run_cli("report", str(campaign), "--results", cwd=tmp_path)
    assert report.returncode == 0 and "stages/second/result.json" in report.stdout


def test_after_orders_a_stage_without_giving_it_the_outputs(tmp_path):
    """`after` waits like `needs` (also for a stage that could otherwise run at once: the local site
    runs two tasks at a time) but hands the stage no upstream outputs."""
    workflow = {
        "name": "ordered",
        "stages": {
            "data": py_stage("touch", label="data"),
            "search": py_stage("touch", needs=["data"], label="search", seconds=1.0),
            "second": {**py_stage("upstream_names", needs=["data"]), "after": ["search"]},
        },
    }
    path = write_workflow(tmp_path, workflow)
    result = run_cli("submit", str(path), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "ordered"
    assert stage_log_times(campaign, "second")["start"][0] > stage_log_times(campaign, "search")["done"][0]
    assert json.loads((campaign / "stages" / "second" / "result.json").read_text()) == ["data"]


def test_failure_cancels_dependents_then_resume_completes_once(tmp_path):
    flag = tmp_path / "fixed"
    workflow = chain("fix", **py_stage("fail_unless_file", needs=["first"], path=str(flag)))
    path = write_workflow(tmp_path, workflow)
    result = run_cli("submit", str(path), "--wait", cwd=tmp_path)
    assert result.returncode == 1
    assert "stage second: FAILED" in result.stderr and "is missing" in result.stderr
    campaign = tmp_path / "campaigns" / "fix"
    states = {s: v["state"] for s, v in status_json(campaign)["stages"].items()}
    assert states == {"first": "COMPLETED", "second": "FAILED", "third": "CANCELLED"}
    assert not (campaign / "stages" / "third" / "tasks").exists(), "dependent must not have run"

    flag.write_text("ok")
    resumed = run_cli("resume", str(campaign), "--wait", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resubmitted second" in resumed.stdout and "resubmitted third" in resumed.stdout
    assert "resubmitted first" not in resumed.stdout
    count = submitted_count(campaign)
    again = run_cli("resume", str(campaign), cwd=tmp_path)
    assert again.returncode == 0 and "nothing to resubmit" in again.stdout
    assert submitted_count(campaign) == count
    assert len(stage_log_times(campaign, "first")["start"]) == 1


def test_cancel_then_resume(tmp_path):
    workflow = chain("cancel", **py_stage("touch", needs=["first"], label="slow", seconds=60))
    path = write_workflow(tmp_path, workflow)
    assert run_cli("submit", str(path), cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "cancel"
    wait_until(lambda: status_json(campaign)["stages"]["second"]["state"] == "RUNNING", 60, what="second running")
    cancelled = run_cli("cancel", str(campaign), cwd=tmp_path)
    assert cancelled.returncode == 0 and "cancelled 2 job(s)" in cancelled.stdout
    states = {s: v["state"] for s, v in status_json(campaign)["stages"].items()}
    assert states == {"first": "COMPLETED", "second": "CANCELLED", "third": "CANCELLED"}
    resumed = run_cli("resume", str(campaign), cwd=tmp_path)
    assert "resubmitted second" in resumed.stdout and "resubmitted third" in resumed.stdout
    wait_until(lambda: status_json(campaign)["stages"]["second"]["state"] == "RUNNING", 60, what="resumed")
    assert run_cli("cancel", str(campaign), cwd=tmp_path).returncode == 0


def test_hard_killed_job_is_lost_and_resumed(tmp_path):
    workflow = {"name": "lost", "stages": {"only": py_stage("count_runs", first_run_seconds=60)}}
    path = write_workflow(tmp_path, workflow)
    assert run_cli("submit", str(path), cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "lost"
    wait_until(lambda: (campaign / "stages" / "only" / "runs.log").exists(), 60, what="stage started")
    proc = json.loads(next((campaign / "local-queue").glob("*.proc.json")).read_text())
    os.killpg(proc["pid"], signal.SIGKILL)  # node loss: no chance to write anything
    stage = wait_until(
        lambda: (s := status_json(campaign)["stages"]["only"])["state"] == "FAILED" and s, 30, what="lost"
    )
    assert "lost" in stage["reason"]
    resumed = run_cli("resume", str(campaign), "--wait", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resubmitted only" in resumed.stdout
    assert len((campaign / "stages" / "only" / "runs.log").read_text().splitlines()) == 2


def test_second_controller_gets_a_clear_busy_error(tmp_path):
    path = write_workflow(tmp_path, {"name": "locked", "stages": {"a": py_stage("touch")}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "locked"
    with open(campaign / ".lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("`resume` by pid 1 on elsewhere")
        handle.flush()
        result = run_cli("resume", str(campaign), cwd=tmp_path)
        assert result.returncode == 3
        assert "busy" in result.stderr and "Traceback" not in result.stderr
        assert run_cli("status", str(campaign), cwd=tmp_path).returncode == 0  # status never needs the lock


def test_env_values_reach_the_stage_literally(tmp_path):
    stage = py_stage("env_probe", names=["TAG", "OTHER"])
    stage["env"] = {"TAG": "$(id); touch pwned", "OTHER": "`id` && touch pwned2"}
    path = write_workflow(tmp_path, {"name": "env", "stages": {"probe": stage}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    result = json.loads((tmp_path / "campaigns" / "env" / "stages" / "probe" / "result.json").read_text())
    assert result == {"TAG": "$(id); touch pwned", "OTHER": "`id` && touch pwned2"}
    assert not list(tmp_path.rglob("pwned*"))


def test_multi_process_stage_gets_ranks_on_the_local_site(tmp_path):
    stage = py_stage("ranks", resources={"tasks_per_node": 2})
    path = write_workflow(tmp_path, {"name": "ranks", "stages": {"r": stage}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    outputs = tmp_path / "campaigns" / "ranks" / "stages" / "r" / "outputs"
    records = sorted(json.loads(p.read_text())["rank"] for p in outputs.glob("rank*.json"))
    assert records == [0, 1]


def test_torn_journal_line_is_tolerated(tmp_path):
    path = write_workflow(tmp_path, {"name": "torn", "stages": {"a": py_stage("touch")}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "torn"
    with open(campaign / "journal.jsonl", "a") as handle:
        handle.write('{"event": "submitted", "stage": "a", "tok')  # a writer killed mid-line
    assert status_json(campaign)["stages"]["a"]["state"] == "COMPLETED"


def test_running_stages_show_their_progress_in_status_and_while_waiting(tmp_path):
    workflow = {"name": "prog", "stages": {"work": py_stage("report_progress", steps=40, seconds=8.0)}}
    path = write_workflow(tmp_path, workflow)
    assert run_cli("submit", str(path), cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "prog"

    def progress():
        stage = status_json(campaign)["stages"]["work"]
        return stage["progress"] if stage["state"] == "RUNNING" and stage["progress"].get("fraction") else None

    seen = wait_until(progress, 60, what="progress of the running stage")
    assert 0 < seen["fraction"] <= 1 and seen["unit"] == "items"
    assert "/40 items" in seen["text"] and "loss" in seen["text"]
    table = run_cli("status", str(campaign), cwd=tmp_path).stdout
    assert "/40 items" in table
    followed = run_cli("resume", str(campaign), "--wait", cwd=tmp_path)  # output is a pipe: plain lines
    assert followed.returncode == 0, followed.stderr
    assert "work" in followed.stdout and "progress" in followed.stdout and "items/s" in followed.stdout


def test_thirty_independent_stages_never_run_more_tasks_at_once_than_the_machine_has_slots(tmp_path):
    stages = {f"s{i:02d}": py_stage("touch", seconds=0.3) for i in range(30)}
    path = write_workflow(tmp_path, {"name": "wide", "stages": stages})
    result = run_cli("submit", str(path), "--set", "site.local.slots=2", "--wait", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "wide"
    spans = []
    for stage in stages:
        times = stage_log_times(campaign, stage)
        spans.append((times["start"][0], times["done"][0]))
    events = sorted([(start, 1) for start, _ in spans] + [(done, -1) for _, done in spans])
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert most <= 2
    # and the slots were used: some stages did run side by side
    assert most == 2
    slots = sorted(p.name for p in (tmp_path / "campaigns" / ".local-slots").iterdir())
    assert slots == ["slot-0", "slot-1"]
