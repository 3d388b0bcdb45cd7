"""The jet foundation model end to end on the local site, at test size: Pythia 8 jets of three
classes -> staged -> PET pretrained -> fine-tuned on top vs QCD from another detector
configuration (new head, backbone lr factor) beside the same model from scratch -> evaluated."""

from __future__ import annotations

import json

import pytest

from .conftest import run_cli, status_json, submitted, write_workflow


def jets_workflow() -> dict:
    train = {"task": "jet_classification", "model": {"kind": "pet", "width": 16, "depth": 1, "heads": 2, "k": 4},
             "batch_size": 8, "epochs": 2, "optimizer": {"lr": 1.0e-3}, "seed": 3}  # fmt: skip
    downstream = {**train, "loss": {"classes": ["qcd", "t_bqq"]}}
    init = {"weights": "pretrain", "replace": ["head"], "backbone_lr_scale": 0.3}
    return {
        "name": "jets-test",
        "stages": {
            "generate": {
                "kind": "generate",
                "params": {"dataset": "jets", "processes": ["qcd", "w_qq", "t_bqq"], "events_per_file": 12, "seed": 1},
                "resources": {"array": 6},
            },
            "generate_downstream": {
                "kind": "generate",
                "params": {
                    "dataset": "jets",
                    "processes": ["qcd", "t_bqq"],
                    "events_per_file": 12,
                    "seed": 50,
                    "detector": {"hcal": {"stochastic": 1.5}},
                },
                "resources": {"array": 6},
            },
            "stage": {"kind": "stage_data", "needs": ["generate"],
                      "params": {"dataset": "jets", "split": {"train": 0.5, "val": 0.5, "test": 0.0}}},
            "stage_downstream": {"kind": "stage_data", "needs": ["generate_downstream"],
                                 "params": {"dataset": "jets", "split": {"train": 0.34, "val": 0.33, "test": 0.33}}},
            "pretrain": {"kind": "train", "needs": ["stage"], "params": {**train, "loss": {"jet_weight": 0.1}}},
            "finetune": {
                "kind": "train",
                "needs": ["stage_downstream", "pretrain"],
                "params": {**downstream, "init_from": init},
            },
            "scratch": {"kind": "train", "needs": ["stage_downstream"], "params": downstream},
            "evaluate": {"kind": "evaluate", "needs": ["stage_downstream", "finetune", "scratch"],
                         "params": {"bootstrap": 20}},
            # quark vs gluon on the pretraining detector's qcd jets
            "qg": {"kind": "train", "needs": ["stage", "pretrain"],
                   "params": {**train, "loss": {"target": "parton"}, "init_from": {**init, "replace": ["head"]}}},
            "evaluate_qg": {"kind": "evaluate", "needs": ["stage", "qg"], "params": {"split": "val", "bootstrap": 5}},
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    return submitted(tmp_path_factory.mktemp("jets"), jets_workflow())


def test_pretrain_finetune_and_scratch_complete_and_are_evaluated(campaign):
    assert {s["state"] for s in status_json(campaign)["stages"].values()} == {"COMPLETED"}
    metrics = json.loads((campaign / "report" / "evaluate" / "metrics.json").read_text())
    assert metrics["classes"] == ["qcd", "t_bqq"] and set(metrics["models"]) == {"finetune", "scratch"}
    for model in metrics["models"].values():
        assert set(model) == {"auc", "accuracy", "rejection_at_0.5", "rejection_at_0.3"}
        assert 0.0 <= model["auc"]["value"] <= 1.0
    assert list(metrics["differences"]) == ["finetune - scratch"]
    curves = metrics["convergence"]["curves"]
    assert [r["epoch"] for r in curves["finetune"]] == [1, 2] and "auc" in curves["scratch"][0]
    speed = metrics["convergence"]["speed_up"]
    assert speed["finetuned"] == "finetune" and speed["scratch"] == "scratch"
    assert "speed_up" in speed or "never reached" in speed["note"]
    plots = {p.name for p in (campaign / "report" / "evaluate" / "plots").iterdir()}
    assert plots >= {"roc.png", "convergence_auc.png"}
    report = run_cli("report", str(campaign), cwd=campaign)
    assert report.returncode == 0 and "Jet tagging" in report.stdout and "Convergence:" in report.stdout


def test_the_fine_tuned_model_starts_from_the_pretrained_backbone(campaign):
    init = json.loads((campaign / "stages" / "finetune" / "outputs" / "init_weights.json").read_text())
    assert init["source"].endswith("pretrain/outputs/model.pt")
    assert "embed.0.weight" in init["loaded"] and "jet_head.weight" in init["loaded"]
    assert init["initialised"] == ["head.weight", "head.bias"] and "head.weight" in init["skipped"]
    result = json.loads((campaign / "stages" / "finetune" / "result.json").read_text())
    assert result["init_from"]["weights"] == "pretrain" and result["task_settings"]["classes"] == ["qcd", "t_bqq"]
    pretrain = json.loads((campaign / "stages" / "pretrain" / "outputs" / "model.json").read_text())
    assert pretrain["num_classes"] == 3
    # the downstream files were made with the coarser HCAL
    meta = json.loads((campaign / "stages" / "generate_downstream" / "outputs" / "qcd_0000.json").read_text())
    assert meta["detector"]["hcal"]["stochastic"] == 1.5 and meta["detector"]["magnetic_field"] == 3.8


def test_a_backbone_of_another_size_is_refused(campaign, tmp_path):
    workflow = {
        "name": "mismatch",
        "stages": {
            "finetune": {
                "kind": "train",
                "params": {
                    "task": "jet_classification",
                    "data": str(campaign / "stages" / "stage_downstream" / "outputs" / "manifest.json"),
                    "model": {"kind": "pet", "width": 32, "depth": 1, "heads": 2, "k": 4},
                    "loss": {"classes": ["qcd", "t_bqq"]},
                    "init_from": {"weights": str(campaign / "stages" / "pretrain" / "outputs" / "model.pt"),
                                  "replace": ["head"]},
                },
            }
        },
    }  # fmt: skip
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", "--poll", "0.5", cwd=tmp_path)
    assert result.returncode == 1
    assert (
        "params.init_from" in result.stdout + result.stderr
        and "does not fit the model" in result.stdout + result.stderr
    )


def test_quark_gluon_is_a_second_downstream_task_with_its_own_report(campaign):
    metrics = json.loads((campaign / "report" / "evaluate_qg" / "metrics.json").read_text())
    assert metrics["classes"] == ["quark", "gluon"] and list(metrics["models"]) == ["qg"]
    assert sum(metrics["per_class"].values()) == metrics["jets"] > 0
    assert "speed_up" not in metrics["convergence"]  # no from-scratch partner in this campaign
