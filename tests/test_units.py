"""Small pure pieces: time limits, DAG order and cycles, overrides, squeue parsing, launch env."""

from __future__ import annotations

import pytest

from pipeline.dag import CycleError, topological_order
from pipeline.overrides import apply_overrides, parse_overrides
from pipeline.timelimit import time_to_minutes
from slurm.launch_env import current
from slurm.request import JobRequest
from slurm.slurm_scheduler import SlurmScheduler, parse_squeue


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30", 30), ("01:30:00", 90), ("1-00:00:00", 1440), ("2-12", 3600), ("00:00:30", 1), ("10:30", 11)],
)
def test_time_limits(text, minutes):
    assert time_to_minutes(text) == minutes


@pytest.mark.parametrize("text", ["1:2:3:4", "abc", "-5", "01:75:00", "0", ""])
def test_malformed_time_limits(text):
    with pytest.raises(ValueError):
        time_to_minutes(text)


def test_topological_order():
    needs = {
        "evaluate": ["train"],
        "train": ["hpo", "stage"],
        "hpo": ["stage"],
        "stage": ["generate"],
        "generate": [],
    }
    order = topological_order(needs)
    for stage, ups in needs.items():
        assert all(order.index(up) < order.index(stage) for up in ups)


def test_cycle_is_reported_with_its_path():
    with pytest.raises(CycleError) as info:
        topological_order({"a": ["c"], "b": ["a"], "c": ["b"]})
    assert info.value.cycle[0] == info.value.cycle[-1]
    assert set(info.value.cycle) == {"a", "b", "c"}


def test_overrides_parse_yaml_values_and_split_site():
    wf, site = parse_overrides(["stages.t.resources.nodes=4", "site.slurm.partition=gpu", "a.b=[1, 2]"])
    data: dict = {}
    apply_overrides(data, wf, "x.yaml")
    assert data == {"stages": {"t": {"resources": {"nodes": 4}}}, "a": {"b": [1, 2]}}
    assert site == [(["slurm", "partition"], "gpu")]


def test_squeue_parsing_maps_states_and_tokens():
    text = (
        "12_3|RUNNING|None|colliderflow:abc\n"
        "13|PENDING|DependencyNeverSatisfied|colliderflow:def\n"
        "14|NODE_FAIL|x|other\n"
    )
    entries = parse_squeue(text)
    assert [(e.job_id, e.state, e.token) for e in entries] == [
        ("12_3", "RUNNING", "abc"),
        ("13", "PENDING", "def"),
        ("14", "FAILED", ""),
    ]


def test_array_dependencies_use_the_array_job_id(tmp_path):
    request = JobRequest(name="cf.x.y", token="t", folder=tmp_path, payload=print)
    params = SlurmScheduler.parameters(request, ["7_0", "7_1", "9"])
    assert params["additional_parameters"]["dependency"] == "afterok:7:9"
    assert params["additional_parameters"]["kill_on_invalid_dep"] == "yes"


def test_launch_env_from_slurm_and_local():
    slurm = current(
        {
            "SLURM_JOB_ID": "55",
            "SLURM_PROCID": "3",
            "SLURM_NTASKS": "4",
            "SLURM_LOCALID": "1",
            "SLURM_JOB_NUM_NODES": "2",
            "SLURM_NODEID": "1",
            "SLURM_RESTART_COUNT": "2",
        }
    )
    assert (slurm.rank, slurm.world_size, slurm.local_rank, slurm.local_world_size) == (3, 4, 1, 2)
    assert (
        slurm.restart_count == 2
        and slurm.master_port == current({"SLURM_JOB_ID": "55", "SLURM_PROCID": "0"}).master_port
    )
    array = current({"SLURM_JOB_ID": "60", "SLURM_PROCID": "0", "SLURM_ARRAY_JOB_ID": "58", "SLURM_ARRAY_TASK_ID": "2"})
    assert array.job_id == "58_2"
    local = current({"COLLIDERFLOW_LAUNCHER": "local", "RANK": "1", "WORLD_SIZE": "2", "MASTER_PORT": "1234"})
    assert (local.launcher, local.rank, local.world_size, local.master_port, local.master_addr()) == (
        "local",
        1,
        2,
        1234,
        "127.0.0.1",
    )


def test_an_append_after_a_torn_journal_line_is_kept(tmp_path):
    from pipeline.journal import Journal

    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("submitted", stage="a", job_ids=["1"])
    with open(journal.path, "a") as handle:
        handle.write('{"event": "state", "jobs": {"26": "RUN')  # a writer killed mid-line
    journal.append("adopted", stage="b", job_ids=["27"])
    journal.append("cancelled", stage="b")
    assert [e["event"] for e in journal.entries()] == ["submitted", "adopted", "cancelled"]


@pytest.mark.parametrize(
    ("state", "code", "note"),
    [
        ("RUNNING", "None", ""),
        ("CANCELLED", "None", "cancelled"),
        ("CANCELLED", "Dependency", "cancelled"),
        ("PENDING", "Dependency", "waiting for upstream stages"),
        ("PENDING", "Resources", "Resources"),
    ],
)
def test_queue_reason_codes_read_as_words(state, code, note):
    from pipeline.observe import _describe

    assert _describe(state, code) == note


def test_array_progress_counts_finished_tasks_by_marker_and_running_ones_by_their_share():
    from pipeline.progress import summarize

    running = [{"done": 50, "total": 100, "unit": "events", "rate": 10.0}]  # one task half done
    p = summarize(running, tasks_total=4, tasks_done=2)
    assert p["fraction"] == pytest.approx((2 + 0.5) / 4)
    assert p["eta_s"] == pytest.approx((50 + 1 * 100) / 10.0)  # its rest plus one waiting task
    assert p["text"].startswith("tasks 2/4") and "10 events/s" in p["text"]
    single = summarize([{"done": 30, "total": 120, "unit": "steps", "rate": 3.0, "loss": 0.5}], None, 0)
    assert single["fraction"] == 0.25 and single["eta_s"] == 30.0 and "loss 0.5" in single["text"]


def test_retries_back_off_with_jitter_within_their_bounds_and_stop_at_the_budget():
    import random

    from slurm.retry import RetryPolicy, TransientFailure, is_transient, with_retries

    policy = RetryPolicy(attempts=5, initial_s=1.0, max_s=3.0, budget_s=100.0)
    delays = policy.delays(random.Random(1))
    assert len(delays) == 4 and all(0 <= d <= min(3.0, 2**k) for k, d in enumerate(delays))
    assert is_transient("sbatch: error: Batch job submission failed: Resource temporarily unavailable")
    assert is_transient("slurm_load_jobs error: Socket timed out on send/recv operation")
    assert not is_transient("sbatch: error: Batch job submission failed: Invalid account or account/partition")

    calls, slept = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientFailure("Socket timed out")
        return "ok"

    assert with_retries(flaky, "sbatch", policy, sleep=slept.append, rng=random.Random(0)) == "ok"
    assert len(calls) == 3 and len(slept) == 2

    def always():
        raise TransientFailure("Socket timed out")

    with pytest.raises(TransientFailure, match="gave up after 5 tries"):
        with_retries(always, "squeue", policy, sleep=lambda s: None)
    with pytest.raises(TransientFailure, match="gave up after 1 tries"):
        with_retries(always, "squeue", RetryPolicy(attempts=3, budget_s=0.0), sleep=lambda s: None)
    found = with_retries(always, "sbatch", policy, before_retry=lambda: ["42"], sleep=lambda s: None)
    assert found == ["42"]  # queued after all: adopted, not submitted again
