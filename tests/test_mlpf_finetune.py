"""MLPF across detectors at test size on the local site: CLIC-like events -> a GNN-LSH pretrained
-> CLD-like events (the `preset: cld-like` detector) -> fine-tuned from the pretrained weights
beside the same model from scratch -> evaluated against the CLD-like baseline, which (like the
staged link features) takes the detector from the data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import uproot

from pipeline.physics import detector_records
from pipeline.physics.detector_spec import DetectorSpec
from pipeline.physics.schema import branch

from .conftest import run_cli, status_json, submitted, write_workflow

GNN = {"kind": "gnn_lsh", "width": 16, "depth": 1, "head_width": 16, "bin_size": 16, "distance_dim": 8}
TRAIN = {"model": GNN, "epochs": 1, "batch_size": 4, "seed": 2}
STAGE = {"links": {"enabled": True}, "max_events_per_shard": 8}


def finetune_workflow() -> dict:
    def generate(seed: int, detector: dict, files: int) -> dict:
        return {"kind": "generate", "resources": {"array": files},
                "params": {"processes": ["ee_qq", "ee_tt"], "events_per_file": 8, "seed": seed,
                           "input_levels": ["clusters", "hits"], "detector": detector}}  # fmt: skip

    return {
        "name": "mlpf-cross",
        "stages": {
            "generate": generate(11, {}, 2),
            "generate_cld": generate(12, {"preset": "cld-like"}, 4),
            "stage": {"kind": "stage_data", "needs": ["generate"],
                      "params": {**STAGE, "split": {"train": 0.5, "val": 0.5, "test": 0.0}}},
            "stage_cld": {"kind": "stage_data", "needs": ["generate_cld"],
                          "params": {**STAGE, "split": {"train": 0.5, "val": 0.25, "test": 0.25}}},
            "pretrain": {"kind": "train", "needs": ["stage"], "params": TRAIN},
            "finetune": {"kind": "train", "needs": ["stage_cld", "pretrain"],
                         "params": {**TRAIN,
                                    "init_from": {"weights": "pretrain", "replace": ["regression"],
                                                  "backbone_lr_scale": 0.5}}},
            "scratch": {"kind": "train", "needs": ["stage_cld"], "params": TRAIN},
            "evaluate": {"kind": "evaluate", "needs": ["stage_cld", "finetune", "scratch"],
                         "params": {"bootstrap": 10, "baseline": {"calibration_events": 0}}},
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    return submitted(tmp_path_factory.mktemp("mlpf-cross"), finetune_workflow())


def ecal_barrel_radii(path: Path) -> np.ndarray:
    hits = uproot.open(path)["events"].arrays([branch("hit", f) for f in ("x", "y", "z", "subdetector")], library="np")
    x, y, z, sub = (np.concatenate(hits[branch("hit", f)]) for f in ("x", "y", "z", "subdetector"))
    r = np.hypot(x, y)
    barrel = (sub == 0) & (np.abs(z) < 1.0)
    return r[barrel]


def test_the_cld_preset_changes_field_and_geometry_in_the_files(campaign):
    clic, cld = (campaign / "stages" / name / "outputs" for name in ("generate", "generate_cld"))
    record = json.loads((cld / "ee_qq_0000.json").read_text())["detector"]
    assert record["preset"] == "cld-like" and record["name"] == "cld-like"
    assert record["magnetic_field"] == 2.0 and record["ecal"]["barrel_radius"] == 2.15
    assert record["hcal"]["barrel_radius"] == 2.40 and record["tracker"]["layer_radii"][-1] == 2.136
    assert json.loads((clic / "ee_qq_0000.json").read_text())["detector"]["magnetic_field"] == 4.0
    r_clic, r_cld = ecal_barrel_radii(clic / "ee_qq_0000.root"), ecal_barrel_radii(cld / "ee_qq_0000.root")
    assert len(r_clic) and len(r_cld)
    assert r_clic.min() >= 1.50 and r_clic.max() <= 1.50 + 0.20 + 0.01  # CLIC-like ECAL: 1.50-1.70 m
    assert r_cld.min() >= 2.15 and r_cld.max() <= 2.15 + 0.202 + 0.01  # CLD-like ECAL: 2.15-2.35 m
    # the staged manifest carries the data's detector for the stages after it
    manifest = json.loads((campaign / "stages" / "stage_cld" / "outputs" / "manifest.json").read_text())
    assert manifest["detector"]["magnetic_field"] == 2.0 and manifest["detector"]["ecal"]["barrel_radius"] == 2.15


def test_finetune_starts_from_the_clic_backbone_and_both_are_evaluated_on_cld(campaign):
    assert {s["state"] for s in status_json(campaign)["stages"].values()} == {"COMPLETED"}
    init = json.loads((campaign / "stages" / "finetune" / "outputs" / "init_weights.json").read_text())
    assert init["source"].endswith("pretrain/outputs/model.pt")
    assert any(n.startswith("embed.") for n in init["loaded"]) and any(n.startswith("layers.") for n in init["loaded"])
    assert init["initialised"] and all(n.startswith("regression.") for n in init["initialised"])
    assert not (campaign / "stages" / "scratch" / "outputs" / "init_weights.json").exists()
    metrics = json.loads((campaign / "report" / "evaluate" / "metrics.json").read_text())
    text = json.dumps(metrics)
    for source in ("finetune", "scratch", "baseline", "ideal"):
        assert f'"{source}"' in text, source
    # resolution against N: one point of each kind here, the same N, and their paired difference
    scaling = metrics["data_scaling"]
    (ft,), (sc,) = scaling["curves"]["fine-tuned"], scaling["curves"]["scratch"]
    assert ft["model"] == "finetune" and sc["model"] == "scratch" and ft["n"] == sc["n"] > 0
    assert ft["jet_pt_resolution"]["vs_baseline"]["value"] == pytest.approx(
        metrics["differences"]["sources"]["finetune"]["jet_pt_resolution"]["value"]
    )
    assert set(scaling["references"]) == {"baseline", "ideal"}
    pair = scaling["pairs"]["finetune - scratch"]["jet_pt_resolution"]
    assert {"value", "err", "significant"} <= set(pair)
    for metric in ("jet_pt_resolution", "met_sigma_gev"):
        reached = scaling["reaches_baseline"]["fine-tuned"][metric]
        assert reached is None or reached == ft["n"]
        assert (campaign / "report" / "evaluate" / "plots" / f"scaling_{metric}.png").is_file()
    report = (campaign / "report" / "evaluate" / "report.md").read_text()
    assert "## Resolution against training events" in report and "baseline reached at N =" in report


def test_a_detector_given_to_a_later_stage_must_be_the_datas(campaign):
    outputs = campaign / "stages" / "generate_cld" / "outputs"
    files = sorted(outputs.glob("*.root"))
    data = detector_records.recorded(files)
    assert detector_records.resolve({}, data, "params.detector", "x") == DetectorSpec.model_validate(data)
    assert detector_records.resolve({"preset": "cld-like"}, data, "params.detector", "x").magnetic_field == 2.0
    wrong = r"params.links.detector: differs .*magnetic_field: 4.0 given, 2.0 in the data"
    with pytest.raises(ValueError, match=wrong):
        detector_records.resolve({"name": "cld-like"}, data, "params.links.detector", "the input files")
    # files of two detectors in one staging: named, refused
    mixed = files[:1] + sorted((campaign / "stages" / "generate" / "outputs").glob("*.root"))[:1]
    with pytest.raises(ValueError, match=r"ee_qq_0000.json: field detector differs .*ecal.barrel_radius"):
        detector_records.recorded(mixed)


def test_evaluating_with_another_detector_fails_naming_the_field(campaign, tmp_path):
    workflow = {
        "name": "wrong-detector",
        "stages": {
            "evaluate": {"kind": "evaluate",
                         "params": {"data": str(campaign / "stages" / "stage_cld" / "outputs" / "manifest.json"),
                                    "bootstrap": 0, "baseline": {"calibration_events": 0},
                                    "detector": {"magnetic_field": 4.0}}},
        },
    }  # fmt: skip
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", "--poll", "0.5", cwd=tmp_path)
    assert result.returncode != 0
    log = "".join(p.read_text() for p in (tmp_path / "campaigns" / "wrong-detector").rglob("*.log"))
    assert "params.detector: differs from the detector of the data (" in log + result.stdout + result.stderr
