"""The train stage: DeepSpeed on CPU through the real launch paths (local site and the
devcluster), checkpoints, exact resume after a signal, SIGKILL recovery, world-size change,
NaN detection, exported weights and TensorBoard records."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import numpy as np
import pytest
import torch
import yaml

from pipeline.data.sampler import BucketBatchSampler
from pipeline.data.shards import SHARD_KEYS
from pipeline.tasks import task_names

from .conftest import hparams_of, run_cli, status_json, wait_until, write_workflow
from .physics_fixtures import small_training_set

SLURM_CONF = "/tmp/colliderflow-devcluster/etc/slurm.conf"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return small_training_set(tmp_path_factory.mktemp("traindata"))


def train_workflow(name: str, manifest, **params) -> dict:
    base = {
        "model": {"kind": "gnn_lsh", "width": 16, "depth": 1, "head_width": 16, "bin_size": 16, "distance_dim": 8},
        "data": str(manifest),
        "epochs": 2,
        "batch_size": 2,
        "checkpoint_every": 3,
        "log_every": 1,
        "seed": 11,
    }
    return {
        "name": name,
        "stages": {"train": {"kind": "train", "params": {**base, **params}, "resources": {"time": "00:20:00"}}},
    }


def losses(campaign) -> list[tuple[int, float]]:
    lines = (campaign / "stages" / "train" / "outputs" / "losses.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


def tb_steps(campaign, tag: str = "train/loss") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(campaign / "tensorboard" / "train" / "train"))
    accumulator.Reload()
    return [event.step for event in accumulator.Scalars(tag)]


def test_bad_model_hyperparameter_is_refused_at_submit(tmp_path, manifest):
    workflow = train_workflow("bad", manifest)
    workflow["stages"]["train"]["params"]["model"]["heads"] = 4
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path)
    assert result.returncode == 2
    assert "stages.train.params.model" in result.stderr and "unknown hyperparameter(s) 'heads'" in result.stderr


def test_unknown_task_is_refused_listing_the_available(tmp_path, manifest):
    workflow = train_workflow("badtask", manifest, task="jet_tagging_typo")
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "stages.train.params.task" in result.stderr
    assert f"available: {', '.join(task_names())}" in result.stderr and "particle_flow" in task_names()


def test_training_completes_exports_weights_and_tensorboard(tmp_path, manifest):
    path = write_workflow(tmp_path, train_workflow("train", manifest))
    result = run_cli("submit", str(path), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "train"
    summary = json.loads((campaign / "stages" / "train" / "result.json").read_text())
    steps = [s for s, _ in losses(campaign)]
    assert steps == list(range(1, summary["steps"] + 1)) and summary["epochs"] == 2
    assert summary["best_val_loss"] is not None
    from models import build_model

    config = json.loads((campaign / "stages" / "train" / "outputs" / "model.json").read_text())
    state = torch.load(campaign / "stages" / "train" / "outputs" / "model.pt", weights_only=True)
    build_model(config).load_state_dict(state)
    assert tb_steps(campaign) == steps
    for tag in ("train/loss_cls", "train/lr", "train/grad_norm", "train/events_per_second", "val/loss"):
        assert tb_steps(campaign, tag)
    hparams = list((campaign / "tensorboard" / "train" / "train").rglob("hparams/events.out.tfevents.*"))
    session = hparams_of(hparams[0].parent)  # named as a search's trials name them, resolved
    assert {"model.kind", "model.width", "optimizer.lr", "batch_size", "loss.focal_gamma"} <= set(session)
    assert isinstance(session["model.width"], float) and isinstance(session["model.kind"], str)
    assert {"hparam/val_loss", "hparam/val_loss_final", "hparam/epochs"} <= set(session["metrics"])
    ckpts = campaign / "stages" / "train" / "checkpoints"
    assert json.loads((ckpts / "LATEST.json").read_text())["step"] == summary["steps"]
    assert (ckpts / "BEST.json").is_file()
    assert len([p for p in ckpts.iterdir() if p.is_dir()]) <= 4  # the last 3 + the best


def _signal_when_step(campaign, step: int, sig: int) -> None:
    path = campaign / "stages" / "train" / "outputs" / "losses.jsonl"
    wait_until(
        lambda: path.exists() and len(path.read_text().splitlines()) >= step, 300, interval=0.05, what=f"step {step}"
    )
    proc = json.loads(next((campaign / "local-queue").glob("*.proc.json")).read_text())
    os.killpg(proc["pid"], sig)


def test_interrupt_then_resume_reproduces_the_uninterrupted_losses(tmp_path, manifest):
    reference_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    reference_dir.mkdir(), run_dir.mkdir()
    assert (
        run_cli(
            "submit", str(write_workflow(reference_dir, train_workflow("t", manifest))), "--wait", cwd=reference_dir
        ).returncode
        == 0
    )
    reference = losses(reference_dir / "campaigns" / "t")

    campaign = run_dir / "campaigns" / "t"
    assert run_cli("submit", str(write_workflow(run_dir, train_workflow("t", manifest))), cwd=run_dir).returncode == 0
    _signal_when_step(campaign, 4, signal.SIGTERM)  # stop mid-epoch: checkpoint at the step boundary
    wait_until(
        lambda: status_json(campaign)["stages"]["train"]["state"] in ("CANCELLED", "FAILED"), 120, what="interrupted"
    )
    latest = json.loads((campaign / "stages" / "train" / "checkpoints" / "LATEST.json").read_text())
    assert latest["step"] >= 4 and latest["batch"] > 0, "a mid-epoch checkpoint"
    resumed = run_cli("resume", str(campaign), "--wait", cwd=run_dir)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [s for s, _ in losses(campaign)] == [s for s, _ in reference]
    assert np.allclose([v for _, v in losses(campaign)], [v for _, v in reference], rtol=1e-6, atol=1e-7)


def test_sigkill_then_resume_counts_no_step_twice(tmp_path, manifest):
    path = write_workflow(tmp_path, train_workflow("kill", manifest, checkpoint_every=2))
    assert run_cli("submit", str(path), cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "kill"
    _signal_when_step(campaign, 5, signal.SIGKILL)  # node loss: no checkpoint at the kill
    wait_until(lambda: status_json(campaign)["stages"]["train"]["state"] == "FAILED", 60, what="lost")
    resumed = run_cli("resume", str(campaign), "--wait", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    steps = tb_steps(campaign)
    assert steps == sorted(set(steps)) and steps == list(range(1, steps[-1] + 1))
    assert [s for s, _ in losses(campaign)] == steps


@pytest.mark.parametrize(("zero_stage", "works"), [(0, True), (1, False)])
def test_resume_on_fewer_ranks(tmp_path, manifest, zero_stage, works):
    workflow = train_workflow("ranks", manifest, zero_stage=zero_stage, epochs=3)
    workflow["stages"]["train"]["resources"]["tasks_per_node"] = 2
    assert run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path).returncode == 0
    campaign = tmp_path / "campaigns" / "ranks"
    _signal_when_step(campaign, 3, signal.SIGTERM)
    wait_until(
        lambda: status_json(campaign)["stages"]["train"]["state"] in ("CANCELLED", "FAILED"), 120, what="stopped"
    )
    # the operator moves the run to one rank (edits the frozen campaign's resources)
    frozen = yaml.safe_load((campaign / "workflow.yaml").read_text())
    frozen["stages"]["train"]["resources"]["tasks_per_node"] = 1
    (campaign / "workflow.yaml").write_text(yaml.safe_dump(frozen, sort_keys=False))
    resumed = run_cli("resume", str(campaign), "--wait", cwd=tmp_path)
    if works:
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert json.loads((campaign / "stages" / "train" / "result.json").read_text())["world_size"] == 1
    else:
        assert resumed.returncode == 1
        assert "written by 2 rank(s) with ZeRO stage 1" in resumed.stderr and "same number of ranks" in resumed.stderr


def test_nan_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, manifest):
    staged = tmp_path / "staged"
    source = json.loads(manifest.read_text())
    for shard in source["shards"]:
        (staged / shard["path"]).parent.mkdir(parents=True, exist_ok=True)
        (staged / shard["path"]).write_bytes((manifest.parent / shard["path"]).read_bytes())
    (staged / "manifest.json").write_text(manifest.read_text())
    from pipeline.data.dataset import ShardDataset

    train = ShardDataset(staged / "manifest.json", "train")
    victim = BucketBatchSampler(train.sizes, batch_size=2, seed=11).batches()[4][0]  # in the 5th batch
    shard_index = int(np.searchsorted(train.first, victim, side="right") - 1)
    path = staged / train.shards[shard_index]["path"]
    with np.load(path) as data:
        arrays = {k: data[k].copy() for k in SHARD_KEYS}
    local = victim - train.first[shard_index]
    arrays["X"][arrays["offsets"][local] : arrays["offsets"][local + 1], 1:] = np.nan
    np.savez(path, **arrays)

    result = run_cli(
        "submit",
        str(write_workflow(tmp_path, train_workflow("nan", staged / "manifest.json", checkpoint_every=1))),
        "--wait",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "NonFiniteLoss: non-finite loss at step 5" in result.stderr
    checkpoints = tmp_path / "campaigns" / "nan" / "stages" / "train" / "checkpoints"
    latest = json.loads((checkpoints / "LATEST.json").read_text())
    assert latest["step"] == 4 and (checkpoints / latest["tag"]).is_dir()


@pytest.mark.slurm
def test_two_node_training_on_the_devcluster_agrees_on_weights(devcluster, tmp_path, manifest):
    workflow = train_workflow("twonode", manifest, zero_stage=2, epochs=1)
    workflow["stages"]["train"]["resources"]["nodes"] = 2
    result = run_cli(
        "submit", str(write_workflow(tmp_path, workflow)), "--site", devcluster, "--wait", "--poll", "1", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "campaigns" / "twonode" / "stages" / "train" / "result.json").read_text())
    assert summary["world_size"] == 2 and summary["weights_agree"] is True


@pytest.mark.slurm
def test_requeue_signal_on_slurm_resumes_exactly(devcluster, tmp_path, manifest):
    reference_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    reference_dir.mkdir(), run_dir.mkdir()
    assert (
        run_cli(
            "submit",
            str(write_workflow(reference_dir, train_workflow("rq", manifest, epochs=6))),
            "--site",
            devcluster,
            "--wait",
            "--poll",
            "1",
            cwd=reference_dir,
        ).returncode
        == 0
    )
    reference = losses(reference_dir / "campaigns" / "rq")

    campaign = run_dir / "campaigns" / "rq"
    assert (
        run_cli(
            "submit",
            str(write_workflow(run_dir, train_workflow("rq", manifest, epochs=6))),
            "--site",
            devcluster,
            cwd=run_dir,
        ).returncode
        == 0
    )
    # the job id first: between step 4 and the signal only scancel's own latency (a whole run of
    # this model takes seconds, a `status` call about one)
    job = status_json(campaign)["stages"]["train"]["job_ids"][0]
    env = {**os.environ, "SLURM_CONF": SLURM_CONF}
    out = campaign / "stages" / "train" / "outputs" / "losses.jsonl"
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 4, 300, interval=0.05, what="step 4")
    subprocess.run(["scancel", "--signal=USR2", job], env=env, check=True)

    def pending_again() -> bool:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=env, capture_output=True, text=True)
        return state.stdout.strip() == "PENDING"

    wait_until(pending_again, 120, what="requeued")
    subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], env=env, check=True)
    wait_until(
        lambda: status_json(campaign)["stages"]["train"]["state"] == "COMPLETED",
        300,
        interval=1,
        what="completed after requeue",
    )
    assert [s for s, _ in losses(campaign)] == [s for s, _ in reference]
    assert np.allclose([v for _, v in losses(campaign)], [v for _, v in reference], rtol=1e-6, atol=1e-7)
    attempts = json.loads((campaign / "stages" / "train" / "attempts" / f"{job}.json").read_text())
    assert attempts["attempt"] == 2


def test_a_subset_of_the_training_split_sets_the_steps_per_epoch(tmp_path, manifest):
    workflow = train_workflow("subset", manifest, train_events=8, val_events=4, batch_size=4, epochs=2)
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "campaigns" / "subset" / "stages" / "train" / "result.json").read_text())
    assert summary["steps"] == 4 and summary["epochs"] == 2  # 8 of the 32 training events, 4 per batch


def test_event_subsets_are_seeded_and_keep_event_sizes(manifest):
    from pipeline.data.dataset import EventSubset, ShardDataset

    data = ShardDataset(manifest, "train")
    a, b = EventSubset(data, 8, seed=0), EventSubset(data, 8, seed=0)
    assert list(a.indices) == list(b.indices) and len(set(a.indices)) == 8
    assert [len(a[i]["X"]) for i in range(8)] == list(a.sizes)
    assert len(EventSubset(data, 10_000, seed=0)) == len(data)


def test_particle_flow_task_reproduces_the_losses_from_before_the_task_plugins(tmp_path, manifest):
    """Same seed, same data: the per-step losses of the particle-flow task equal the ones the
    trainer wrote before training went through task plug-ins (recorded at commit e96bd97, the last
    one with the particle-flow loss wired into the loop)."""
    golden = os.path.join(os.path.dirname(__file__), "golden", "particle_flow_losses.json")
    path = write_workflow(tmp_path, train_workflow("pf", manifest, epochs=1, max_steps=6, validation=False))
    result = run_cli("submit", str(path), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (tmp_path / "campaigns" / "pf" / "stages" / "train" / "outputs" / "losses.jsonl").read_text()
    records = [json.loads(line) for line in lines.splitlines()]
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w") as handle:
            json.dump(records, handle, indent=1)
    with open(golden) as handle:
        expected = json.load(handle)
    assert [r["step"] for r in records] == [r["step"] for r in expected]
    for got, want in zip(records, expected, strict=True):
        assert set(got) == set(want)
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), (got["step"], key)


def test_plateau_and_early_stopping_on_a_tiny_run_and_the_best_epoch_exported(tmp_path, manifest):
    """A learning rate too small to move the validation loss (by more than min_delta): the
    plateau drops the rate after 2 flat epochs, early stopping ends the run after 3, and with
    select: best the exported weights are the best epoch's, not the last's."""
    workflow = train_workflow(
        "plateau", manifest, epochs=20, train_events=8, val_events=4, batch_size=4,
        optimizer={"name": "adam", "lr": 1e-9, "weight_decay": 0.0},
        schedule={"decay": "constant", "plateau": {"patience": 2, "factor": 0.1, "min_delta": 1e-3}},
        early_stopping={"patience": 3, "min_delta": 1e-3}, select="best",
    )  # fmt: skip
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    stage = tmp_path / "campaigns" / "plateau" / "stages" / "train"
    summary = json.loads((stage / "result.json").read_text())
    # epoch 1 sets the best; 2 and 3 are flat (rate x0.1 after 3); 4 is the third flat one: stop
    assert summary["epochs"] == 4 and summary["stopped_early"] and summary["lr_reductions"] == 1
    assert summary["steps"] == 8  # 2 steps per epoch, nothing after the stop
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tmp_path / "campaigns" / "plateau" / "tensorboard" / "train" / "train"))
    accumulator.Reload()
    lr = {e.step: e.value for e in accumulator.Scalars("train/lr")}
    assert lr[6] == pytest.approx(1e-9) and lr[7] == pytest.approx(1e-10)  # dropped after epoch 3 (step 6)
    selection = json.loads((stage / "outputs" / "selection.json").read_text())
    best = json.loads((stage / "checkpoints" / "BEST.json").read_text())
    assert selection["select"] == "best" and selection["selected"]["tag"] == best["tag"] == "step000000002-e1"
    # the exported weights are epoch 1's, not the last epoch's
    exported = torch.load(stage / "outputs" / "model.pt", weights_only=True)
    saved = torch.load(stage / "checkpoints" / best["tag"] / "mp_rank_00_model_states.pt", weights_only=False)
    name = next(iter(exported))
    assert torch.equal(exported[name], saved["module"][name].float())


def test_the_plateau_and_early_stopping_decisions_survive_a_resume():
    from pipeline.training.plateau import EpochWatch

    straight, resumed = EpochWatch(2, 0.1, 4, 0.0), EpochWatch(2, 0.1, 4, 0.0)
    losses = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94]
    for loss in losses[:3]:
        resumed.observe(loss)
    saved = resumed.saved()
    resumed = EpochWatch(2, 0.1, 4, 0.0)
    resumed.restore(json.loads(json.dumps(saved)))
    for loss in losses[3:]:
        resumed.observe(loss)
    for loss in losses:
        straight.observe(loss)
    assert straight.saved() == resumed.saved()
    assert straight.state.lr_scale == pytest.approx(0.01) and straight.state.stopped  # 2 drops, 5 flat epochs


def test_select_best_and_early_stopping_need_validation(tmp_path, manifest):
    workflow = train_workflow("noval", manifest, validation=False, select="best")
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path)
    assert result.returncode == 2 and "need the validation loss" in result.stderr


def test_a_job_near_its_time_limit_checkpoints_early_and_resumes_with_nothing_lost(tmp_path, manifest):
    """A one-minute time limit and a 55 s margin: the trainer stops itself, checkpointed, when
    the next step and a checkpoint would end inside the margin (no signal needed); resumed
    until done, the losses are the uninterrupted run's, step for step."""
    reference_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    reference_dir.mkdir(), run_dir.mkdir()
    params = {"epochs": 40, "batch_size": 4, "checkpoint_every": 1000, "keep_checkpoints": 1}
    reference_flow = train_workflow("t", manifest, **params)
    assert (
        run_cli("submit", str(write_workflow(reference_dir, reference_flow)), "--wait", cwd=reference_dir).returncode
        == 0
    )
    reference = losses(reference_dir / "campaigns" / "t")

    workflow = train_workflow("t", manifest, deadline_margin_s=55.0, **params)
    workflow["stages"]["train"]["resources"]["time"] = "00:01:00"
    first = run_cli("submit", str(write_workflow(run_dir, workflow)), "--wait", cwd=run_dir)
    campaign = run_dir / "campaigns" / "t"
    log = (campaign / "stages" / "train" / "logs" / "stage.log").read_text()
    assert first.returncode == 1 and "would end within 55 s of the time limit" in log
    for _ in range(8):
        if run_cli("resume", str(campaign), "--wait", cwd=run_dir).returncode == 0:
            break
    assert status_json(campaign)["stages"]["train"]["state"] == "COMPLETED"
    assert [s for s, _ in losses(campaign)] == [s for s, _ in reference]
    assert np.allclose([v for _, v in losses(campaign)], [v for _, v in reference], rtol=1e-6, atol=1e-7)
