"""SUEP anomaly detection end to end on the local site, at test size: Pythia 8 QCD and SUEP
images -> staged -> autoencoder trained on QCD only (exported to ONNX, checked) -> evaluated on
held-out QCD and signal; the exported model scores the signal file through `colliderflow score`;
and a search over the autoencoder runs through the hpo stage."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats

from .conftest import run_cli, status_json, submitted, write_workflow

IMAGES = {"eta_bins": 72, "phi_bins": 90}


def suep_workflow(with_search: bool = False) -> dict:
    train = {
        "task": "anomaly_detection",
        "model": {"kind": "conv_autoencoder", "width": 8, "depth": 3},
        "batch_size": 8,
        "optimizer": {"lr": 3.0e-3},
        "schedule": {"warmup_steps": 2},
        "norm_recalibration": 2,
        "seed": 5,
    }
    stages = {
        "generate": {
            "kind": "generate",
            "params": {
                "dataset": "suep_images",
                "processes": ["pp_qcd", "pp_qcd", "pp_qcd", "pp_qcd", "suep_m750"],
                "events_per_file": 30,
                "seed": 40,
                "images": IMAGES,
            },
            "resources": {"array": 5, "time": "00:20:00"},
        },
        "stage": {
            "kind": "stage_data",
            "needs": ["generate"],
            "params": {"dataset": "suep_images", "split": {"train": 0.5, "val": 0.25, "test": 0.25}},
        },
        "train": {"kind": "train", "needs": ["stage"], "params": {**train, "epochs": 8}},
        "evaluate": {
            "kind": "evaluate",
            "needs": ["stage", "train"],
            "params": {"bootstrap": 20, "anomaly": {"trigger_ht": 500.0, "latency_events": 20, "threads": 1}},
        },
    }
    if with_search:
        stages["search"] = {
            "kind": "hpo",
            "needs": ["stage"],
            "params": {
                "algorithm": "asha",
                "num_samples": 2,
                "max_t": 2,
                "reduction_factor": 2,
                "train": train,
                "search_space": {"model.width": {"choice": [2, 4]}, "model.norm": {"choice": ["batch", "group"]}},
            },
        }
        stages["train"]["needs"] = ["stage", "search"]
    return {"name": "suep-test", "stages": stages}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    return submitted(tmp_path_factory.mktemp("suep"), suep_workflow())


def test_every_stage_completes_and_the_report_names_each_source(campaign):
    assert {s["state"] for s in status_json(campaign)["stages"].values()} == {"COMPLETED"}
    metrics = json.loads((campaign / "report" / "evaluate" / "metrics.json").read_text())
    assert metrics["background"] == ["pp_qcd"] and list(metrics["points"]) == ["suep_m750"]
    selections = metrics["points"]["suep_m750"]["selections"]
    assert set(selections) == {"all", "ht>=500"}
    assert set(selections["all"]["sources"]) == {"train", "track_multiplicity", "ht"}
    for source in selections["all"]["sources"].values():
        assert set(source["efficiency"]) == {"0.01", "0.02", "0.05"}
        assert all(0.0 <= e["value"] <= 1.0 for e in source["efficiency"].values())
    assert set(selections["all"]["differences"]) == {"train - track_multiplicity", "train - ht"}
    plots = {p.name for p in (campaign / "report" / "evaluate" / "plots").iterdir()}
    assert {"roc_train.png", "scores_train.png", "examples_train.png"} <= plots
    assert any((campaign / "tensorboard" / "evaluate" / "evaluate" / "train").glob("events.out.tfevents.*"))
    assert any((campaign / "tensorboard" / "evaluate" / "evaluate" / "plots").glob("events.out.tfevents.*"))
    report = run_cli("report", str(campaign), cwd=campaign)
    assert report.returncode == 0 and "Anomaly detection" in report.stdout and "at batch 1: median" in report.stdout


def test_signal_scores_are_distributed_differently_from_qcd(campaign):
    scores = np.load(campaign / "report" / "evaluate" / "anomaly_scores.npz")
    processes = list(scores["processes"])
    qcd = scores["score_train"][scores["process_id"] == processes.index("pp_qcd")]
    signal = scores["score_train"][scores["process_id"] == processes.index("suep_m750")]
    assert qcd.size >= 20 and signal.size == 30
    assert stats.ks_2samp(qcd, signal).pvalue < 1e-3


def test_the_exported_onnx_model_scores_events_like_pytorch(campaign, tmp_path):
    outputs = campaign / "stages" / "train" / "outputs"
    record = json.loads((outputs / "model.onnx.json").read_text())
    assert record["input"]["shape"] == ["batch", 3, IMAGES["eta_bins"], IMAGES["phi_bins"]]
    assert record["check"]["outputs"]["score"]["max_rel_diff"] < 1e-3
    signal_file = campaign / "stages" / "generate" / "outputs" / "suep_m750_0000.root"
    out = tmp_path / "scores.csv"
    result = run_cli("score", str(outputs / "model.onnx"), str(signal_file), "--out", str(out), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    latency = json.loads(result.stdout)
    assert latency["events"] == 30 and latency["model"]["events"] == 20 and latency["model"]["p99_ms"] > 0
    rows = list(csv.DictReader(out.open()))
    onnx = {int(r["event_id"]): float(r["score"]) for r in rows}
    scores = np.load(campaign / "report" / "evaluate" / "anomaly_scores.npz")
    signal = scores["process_id"] == list(scores["processes"]).index("suep_m750")
    torch_scores = dict(zip(scores["event_id"][signal].tolist(), scores["score_train"][signal].tolist(), strict=True))
    assert set(onnx) == set(torch_scores)
    assert all(onnx[e] == pytest.approx(torch_scores[e], rel=1e-4) for e in onnx)


def test_score_refuses_a_file_of_another_binning(campaign, tmp_path):
    outputs = campaign / "stages" / "train" / "outputs"
    bad = run_cli("score", str(outputs / "model.onnx"), str(outputs / "model.pt"), cwd=tmp_path)
    assert bad.returncode == 2 and "not a readable ROOT file" in bad.stderr and "Traceback" not in bad.stderr


def test_a_search_over_the_autoencoder_feeds_the_train_stage(tmp_path):
    workflow = suep_workflow(with_search=True)
    workflow["stages"]["generate"]["params"]["events_per_file"] = 16
    del workflow["stages"]["evaluate"]
    workflow["stages"]["train"]["params"]["epochs"] = 1
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", "--poll", "0.5", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    campaign = tmp_path / "campaigns" / "suep-test"
    best = json.loads((campaign / "stages" / "search" / "outputs" / "best.json").read_text())
    assert set(best["config"]) == {"model.width", "model.norm"}
    summary = json.loads((campaign / "stages" / "train" / "result.json").read_text())
    assert summary["hpo_config"] == best["config"]
    trained = json.loads((campaign / "stages" / "train" / "outputs" / "model.json").read_text())
    assert trained["width"] == best["config"]["model.width"] and trained["norm"] == best["config"]["model.norm"]


def test_the_exported_batch_norm_statistics_are_the_exact_average_over_the_recalibration_batches(campaign):
    """norm_recalibration: 2 -> the running mean of each BatchNorm is the mean of its batch means
    over the first two training batches (8 events each), with the final weights."""
    import torch

    from models import build_model
    from pipeline.families.suep_images.data import ImageDataset, densify

    outputs = campaign / "stages" / "train" / "outputs"
    model = build_model(json.loads((outputs / "model.json").read_text()))
    model.load_state_dict(torch.load(outputs / "model.pt", weights_only=True))
    manifest = campaign / "stages" / "stage" / "outputs" / "manifest.json"
    data = ImageDataset(manifest, "train", processes=json.loads(manifest.read_text())["background"])
    first = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    hook = first.register_forward_hook(lambda module, inputs, out: seen.append(inputs[0].mean(dim=(0, 2, 3))))
    saved = first.running_mean.clone()
    model.train()
    with torch.no_grad():
        for start in (0, 8):
            model(densify([data[i] for i in range(start, start + 8)], data.shape))
    hook.remove()
    assert torch.allclose(saved, torch.stack(seen).mean(dim=0), rtol=1e-4, atol=1e-6)
