"""The hpo stage: ASHA and BOHB searches with real Ray Tune over real training trials on staged
data, the trials table and HParams sessions read back from the event files, a diverging trial
errored while the search goes on, kill + resume without rerunning finished trials, the best
configuration handed to a downstream train stage, and Ray across the devcluster's two nodes."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from .conftest import hparams_of, run_cli, status_json, tensorboard_server, wait_until, write_workflow
from .physics_fixtures import small_training_set

TINY_GNN = {"kind": "gnn_lsh", "width": 16, "depth": 1, "head_width": 16, "bin_size": 16, "distance_dim": 8}
BRANCHING_SPACE = {
    "optimizer.lr": {"loguniform": [1.0e-4, 1.0e-2]},
    "model.kind": {
        "choice": {
            "gnn_lsh": {"model.width": {"choice": [16, 32]}},
            "kernel_transformer": {"model.num_random_features": {"randint": [8, 32]}},
        }
    },
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return small_training_set(tmp_path_factory.mktemp("hpodata"))


def hpo_stage(manifest: Path, algorithm: str, **params) -> dict:
    base = {
        "algorithm": algorithm,
        "num_samples": 6,
        "max_t": 3,
        "reduction_factor": 2,
        "seed": 5,
        "train": {"model": dict(TINY_GNN), "data": str(manifest), "batch_size": 4, "seed": 3},
        "search_space": BRANCHING_SPACE,
    }
    return {"kind": "hpo", "params": {**base, **params}, "resources": {"cpus_per_task": 2, "time": "00:20:00"}}


def search_then_train(tmp_path: Path, manifest: Path, name: str, stage: dict) -> Path:
    """Submit the hpo stage and a train that starts from its best trial; wait; the campaign."""
    train = {
        "kind": "train",
        "needs": ["hpo"],
        "params": {
            "model": dict(TINY_GNN),
            "data": str(manifest),
            "epochs": 1,
            "batch_size": 4,
            "init_from": "hpo_best",
        },
        "resources": {"time": "00:20:00"},
    }
    workflow = {"name": name, "stages": {"hpo": stage, "train": train}}
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path / "campaigns" / name


def trials_csv(campaign: Path) -> list[dict]:
    with open(campaign / "stages" / "hpo" / "outputs" / "trials.csv") as handle:
        return list(csv.DictReader(handle))


def hparams_sessions(campaign: Path) -> dict[str, dict]:
    """trial run -> the hyperparameters of its HParams session, read from the event files."""
    sessions = {run.name: hparams_of(run) for run in sorted((campaign / "tensorboard" / "hpo").iterdir())}
    return {name: session for name, session in sessions.items() if session}


def test_invalid_search_spaces_are_refused_at_submit_with_the_key(tmp_path, manifest):
    cases = [
        ({"optimizer.lr": {"normal": [0, 1]}}, "optimizer.lr: unknown distribution 'normal'"),
        ({"model.width": {"choice": []}}, "model.width: empty choice"),
        ({"optimizer.lr": {"uniform": [0.1, 0.01]}}, "optimizer.lr: low 0.1 must be below high 0.01"),
        ({"dropout": {"uniform": [0.0, 0.5]}}, "dropout: not a training parameter"),
        ({"model.heads": {"choice": [2, 4]}}, "model.heads: not a hyperparameter of gnn_lsh"),
    ]
    for space, message in cases:
        workflow = {"name": "bad", "stages": {"hpo": hpo_stage(manifest, "asha", search_space=space)}}
        result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path)
        assert result.returncode == 2, (space, result.stderr)
        assert "stages.hpo.params" in result.stderr and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    stage = hpo_stage(manifest, "asha")
    stage["resources"]["tasks_per_node"] = 2
    result = run_cli("submit", str(write_workflow(tmp_path, {"name": "bad", "stages": {"hpo": stage}})), cwd=tmp_path)
    assert result.returncode == 2 and "stages.hpo.resources.tasks_per_node" in result.stderr, result.stderr
    assert not (tmp_path / "campaigns" / "bad").exists()


def test_asha_search_errors_a_diverging_trial_and_hands_its_best_to_train(tmp_path, manifest):
    stage = hpo_stage(manifest, "asha", points=[{"optimizer.lr": 1.0e30, "model.kind": "gnn_lsh", "model.width": 16}])
    campaign = search_then_train(tmp_path, manifest, "asha", stage)

    rows = trials_csv(campaign)
    assert len(rows) == 6
    statuses = [r["status"] for r in rows]
    assert statuses.count("errored") == 1 and statuses.count("stopped") >= 1, statuses
    errored = next(r for r in rows if r["status"] == "errored")
    assert float(errored["optimizer.lr"]) == 1.0e30 and "NonFiniteLoss" in errored["reason"]
    for row in rows:
        if row["status"] == "completed":
            assert int(row["epochs"]) == 3 and all(row[f"val_loss@{e}"] for e in (1, 2, 3))
        assert row["model.kind"] in ("gnn_lsh", "kernel_transformer")
        assert (row["model.width"] == "") == (row["model.kind"] == "kernel_transformer")  # branch-only keys

    sessions = hparams_sessions(campaign)
    assert sorted(sessions) == sorted(r["trial_id"] for r in rows)
    for row in rows:
        assert sessions[row["trial_id"]]["model.kind"] == row["model.kind"]
        assert sessions[row["trial_id"]]["optimizer.lr"] == pytest.approx(float(row["optimizer.lr"]))

    best = json.loads((campaign / "stages" / "hpo" / "outputs" / "best.json").read_text())
    finished = [r for r in rows if r["val_loss_best"]]
    assert best["val_loss"] == pytest.approx(min(float(r["val_loss_best"]) for r in finished))
    assert Path(best["weights"]).is_file()
    summary = json.loads((campaign / "stages" / "train" / "result.json").read_text())
    assert summary["hpo_trial"] == best["trial_id"] and summary["hpo_config"] == best["config"]
    train_log = (campaign / "stages" / "train" / "logs" / "stage.log").read_text()
    assert f"initial weights from {best['weights']}" in train_log

    # each trial's own usage inside the search: its training time x the CPUs one trial holds
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    usage = status_json(campaign)["stages"]["hpo"]["usage"]
    live = json.loads((campaign / "stages" / "hpo" / "trial_usage.json").read_text())
    assert sorted(usage["trials"]) == sorted(r["trial_id"] for r in rows) and live["per_trial"]["cpus"] >= 1
    for row in rows:
        trial = usage["trials"][row["trial_id"]]
        assert trial["wall_s"] == pytest.approx(float(row["wall_s"]))
        expected = float(row["wall_s"]) * live["per_trial"]["cpus"] / 3600  # both rounded: 1 ms, 1e-6 h
        assert trial["cpu_hours"] == pytest.approx(expected, abs=1.0e-6)
        board = EventAccumulator(str(campaign / "tensorboard" / "hpo" / row["trial_id"]))
        board.Reload()  # the dashboard's table shows each trial's cost beside its metric
        assert board.Scalars("hparam/usage_cpu_hours")[-1].value == pytest.approx(float(row["cpu_hours"]), abs=1e-7)
        if int(row["epochs"]):  # the diverging trial never reported
            assert live["wall_s"][row["trial_id"]] == pytest.approx(float(row["wall_s"]), abs=1e-3)


def test_search_on_a_task_metric_compares_trials_with_different_loss_weights(tmp_path, manifest):
    """The weighted val_loss grows with the weights a trial tries; `val_loss_unweighted` (the
    default loss, every head weighted 1) does not: the search decides on it, names the trial best
    by it, and a downstream train starts from that trial's exported weights."""
    space = {"optimizer.lr": {"loguniform": [1.0e-3, 1.0e-2]}, "loss.weights.energy": {"choice": [1.0, 30.0]}}
    stage = hpo_stage(manifest, "asha", search_space=space, metric="val_loss_unweighted", num_samples=4)
    campaign = search_then_train(tmp_path, manifest, "unweighted", stage)
    rows = trials_csv(campaign)
    assert len(rows) == 4 and all(r["val_loss_unweighted_best"] for r in rows)
    heavy = [r for r in rows if float(r["loss.weights.energy"]) == 30.0]
    light = [r for r in rows if float(r["loss.weights.energy"]) == 1.0]
    assert heavy and light, rows  # both weights were tried (seeded)
    best = json.loads((campaign / "stages" / "hpo" / "outputs" / "best.json").read_text())
    assert best["val_loss_unweighted"] == pytest.approx(min(float(r["val_loss_unweighted_best"]) for r in rows))
    assert Path(best["weights"]).is_file()
    summary = json.loads((campaign / "stages" / "train" / "result.json").read_text())
    assert summary["hpo_trial"] == best["trial_id"]
    train_log = (campaign / "stages" / "train" / "logs" / "stage.log").read_text()
    assert f"initial weights from {best['weights']}" in train_log


def test_hparams_dashboard_compares_two_searches_and_the_train_stage(tmp_path, manifest):
    """Two real ASHA searches over a float and a `choice` of integers (one followed by a train
    from its best trial), served side by side by a real TensorBoard and read through its HParams
    plugin over HTTP, as the dashboard reads them."""
    space = {"optimizer.lr": {"loguniform": [1.0e-3, 1.0e-2]}, "model.width": {"choice": [16, 32]}}
    first = search_then_train(
        tmp_path, manifest, "lr_width_a", hpo_stage(manifest, "asha", search_space=space, num_samples=3, max_t=2)
    )
    second = tmp_path / "lr_width_b.yaml"
    stage = hpo_stage(manifest, "asha", search_space=space, num_samples=3, max_t=2, seed=11)
    write_workflow(tmp_path, {"name": "lr_width_b", "stages": {"hpo": stage}}, second.name)
    result = run_cli("submit", str(second), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    with tensorboard_server(["lr_width_a", "lr_width_b"], tmp_path) as request:
        listing = {
            "experimentName": "",
            "allowedStatuses": ["STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING", "STATUS_UNKNOWN"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 100,
            "includeMetrics": True,
        }

        def all_groups():  # TensorBoard lists sessions once it has read their event files
            groups = json.loads(request("/data/plugin/hparams/session_groups", listing)).get("sessionGroups", [])
            return groups if len(groups) == 7 else None

        groups = {g["name"]: g for g in wait_until(all_groups, 90, 1.0, "3 + 3 trials and a train stage")}
        experiment = json.loads(request("/data/plugin/hparams/experiment", {"experimentName": ""}))

    infos = experiment["hparamInfos"]
    assert {i["name"] for i in infos[:2]} == {"optimizer.lr", "model.width"}, [i["name"] for i in infos]
    assert all(i["differs"] for i in infos[:2])
    width = next(i for i in infos if i["name"] == "model.width")
    assert width["type"] == "DATA_TYPE_FLOAT64" and width["domainDiscrete"] == [16, 32]
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert metrics[0] == "hparam/val_loss", metrics  # the search decides on it
    assert {"hparam/val_sum_pt_resolution", "hparam/val_met_resolution"} <= set(metrics)  # physics proxies
    assert not any(i["differs"] for i in infos[2:]) and [i["name"] for i in infos[2:]] == sorted(
        i["name"] for i in infos[2:]
    )

    names = {i["name"] for i in infos}
    kinds: dict[str, set[str]] = {}
    for group in groups.values():
        assert set(group["hparams"]) == names, (group["name"], names ^ set(group["hparams"]))
        for key, value in group["hparams"].items():
            kinds.setdefault(key, set()).add(type(value).__name__.replace("int", "float"))
        assert any(m["name"]["tag"] == "hparam/val_loss" for m in group["metricValues"]), group
    assert {k: v for k, v in kinds.items() if len(v) > 1} == {}
    assert kinds["model.width"] == {"float"} and kinds["model.kind"] == {"str"}

    # short names, most telling first: `hpo #2 lr_width_a (1a2b3c4d)`, `train lr_width_a`
    for campaign in ("lr_width_a", "lr_width_b"):
        trials = sorted(n for n in groups if n.startswith("hpo #") and f" {campaign} (" in n)
        assert [n.split()[1] for n in trials] == ["#1", "#2", "#3"], trials
        ids = {r["trial_id"] for r in trials_csv(tmp_path / "campaigns" / campaign)}
        assert {n.rsplit("(", 1)[1].rstrip(")") for n in trials} == ids
        assert all(groups[n]["hparams"]["campaign"] == campaign for n in trials)
    best = json.loads((first / "stages" / "hpo" / "outputs" / "best.json").read_text())
    (best_trial,) = [g for n, g in groups.items() if n.endswith(f" lr_width_a ({best['trial_id']})")]
    train = groups["train lr_width_a"]["hparams"]
    for key in ("optimizer.lr", "model.width"):
        assert train[key] == pytest.approx(best_trial["hparams"][key]) == pytest.approx(best["config"][key])
    assert train["init_from"] == "hpo_best" and best_trial["hparams"]["init_from"] == "scratch"


def _finished_trials(campaign: Path, max_t: int) -> set[str]:
    finished = set()
    for latest in (campaign / "stages" / "hpo" / "trials").glob("*/checkpoints/LATEST.json"):
        if json.loads(latest.read_text())["epoch"] >= max_t:
            finished.add(latest.parent.parent.name)
    return finished


def _trained_after(trial_dir: Path, moment: float) -> list[str]:
    """Log lines of training work (an epoch, a checkpoint) written after `moment`. An epoch the
    trial finished before the kill but Tune's last saved state had not seen is reported again
    from the trial's own record ('reported again'): that is not training."""
    lines = (trial_dir / "logs" / "stage.log").read_text().splitlines()
    return [
        line
        for line in lines
        if dt.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp() > moment and "reported again" not in line
    ]


@pytest.mark.parametrize("algorithm", ["bohb", "asha"])
def test_killed_search_resumes_without_rerunning_finished_trials(tmp_path, manifest, algorithm):
    """Each algorithm runs 8 trials, stops some early, and lists every trial in the table and
    on the HParams dashboard, across a kill and a resume."""
    workflow = {"name": "resume", "stages": {"hpo": hpo_stage(manifest, algorithm, num_samples=8)}}
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    campaign = tmp_path / "campaigns" / "resume"
    finished = wait_until(lambda: len(_finished_trials(campaign, 3)) >= 2 and _finished_trials(campaign, 3), 300)
    result = run_cli("cancel", str(campaign), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    killed_at = dt.datetime.now().timestamp()
    assert status_json(campaign)["stages"]["hpo"]["state"] == "CANCELLED"

    result = run_cli("resume", str(campaign), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["trial_id"]: r for r in trials_csv(campaign)}
    assert len(rows) == 8 and not [r for r in rows.values() if r["status"] == "errored"], rows
    trials = campaign / "stages" / "hpo" / "trials"
    # A trial that ran its whole short life after Tune's last saved state is unknown to the
    # resumed search: its files are set aside (and a new trial drawn), never mixed in.
    orphaned = {t for t in finished if t not in rows}
    assert orphaned < finished and all((trials / "orphaned" / t).is_dir() for t in orphaned), (finished, rows)
    for trial in finished - orphaned:  # finished before the kill: not trained again
        assert _trained_after(trials / trial, killed_at) == []
        assert rows[trial]["epochs"] == "3" and rows[trial]["status"] == "completed", rows[trial]
    assert [r for r in rows.values() if r["status"] == "stopped"], rows  # the scheduler cut some short
    assert sorted(hparams_sessions(campaign)) == sorted(rows)  # every trial on the HParams dashboard
    log = (campaign / "stages" / "hpo" / "logs" / "stage.log").read_text()
    assert "resuming the search" in log
    assert (
        sum(int(r["epochs"]) for r in rows.values())
        == json.loads((campaign / "stages" / "hpo" / "result.json").read_text())["trial_epochs"]
    )


@pytest.mark.slurm
def test_two_node_search_on_the_devcluster_uses_both_nodes(devcluster, tmp_path, manifest):
    stage = hpo_stage(manifest, "asha", num_samples=4, max_t=2, ranks_per_trial=2, cpus_per_trial=2)
    stage["resources"]["nodes"] = 2
    workflow = {"name": "ray2", "stages": {"hpo": stage}}
    result = run_cli(
        "submit", str(write_workflow(tmp_path, workflow)), "--site", devcluster, "--wait", "--poll", "1", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "ray2"
    summary = json.loads((campaign / "stages" / "hpo" / "result.json").read_text())
    nodes = {n["node_id"] for n in summary["ray_nodes"]}
    assert len(nodes) == 2
    rows = trials_csv(campaign)
    assert len(rows) == 4 and {r["node_id"] for r in rows} == nodes  # a 2-CPU trial fills a node: both used


@pytest.mark.parametrize("algorithm", ["asha", "bohb"])
def test_a_search_near_its_time_limit_pauses_trials_at_epoch_ends_and_requeues(tmp_path, manifest, algorithm):
    """One-minute jobs with a 45 s margin: once no trial's next epoch would end 45 s before the
    limit, the running trials pause at their last reported epoch, the search saves its state and
    stops (on the local site: INTERRUPTED; on Slurm the job is requeued), and resumes go on until
    it is done: every trial's epochs are trained once, none cut off by the limit."""
    stage = hpo_stage(manifest, algorithm, num_samples=6, max_t=4, deadline_margin_s=45.0)
    stage["params"]["train"]["batch_size"] = 1  # longer epochs: the search needs several jobs
    stage["resources"]["time"] = "00:01:00"
    workflow = {"name": "deadline", "stages": {"hpo": stage}}
    run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", cwd=tmp_path)
    campaign = tmp_path / "campaigns" / "deadline"
    for _ in range(12):
        if status_json(campaign)["stages"]["hpo"]["state"] == "COMPLETED":
            break
        run_cli("resume", str(campaign), "--wait", cwd=tmp_path)
    stage_status = status_json(campaign)["stages"]["hpo"]
    assert stage_status["state"] == "COMPLETED", stage_status
    log = (campaign / "stages" / "hpo" / "logs" / "stage.log").read_text()
    assert "before the time limit: no trial's next epoch would have ended 45 s before it" in log
    attempts = [json.loads(p.read_text()) for p in (campaign / "stages" / "hpo" / "attempts").glob("*.json")]
    assert len(attempts) >= 2 and not [a for a in attempts if a["state"] == "FAILED"]
    assert "time limit" not in stage_status["reason"]  # never cut off by the limit (TIMEOUT)
    rows = trials_csv(campaign)
    assert len(rows) == 6 and not [r for r in rows if r["status"] == "errored"], rows
    for row in rows:  # each epoch trained once: the trial's own record has no epoch twice
        reports = (campaign / "stages" / "hpo" / "trials" / row["trial_id"] / "reports.jsonl").read_text()
        epochs = [json.loads(line)["epoch"] for line in reports.splitlines()]
        assert epochs == list(range(1, int(row["epochs"]) + 1)), (row["trial_id"], epochs)
