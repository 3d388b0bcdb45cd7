"""JetClass ROOT files as published (tree `tree`, part_*/jet_*/label_* branches), written here
with uproot at a small size: staged by the jets family into the generated jets' features, and
trained on; a file missing a branch refused at submit (exit 2 naming file and branch) and, given
past validation, failed or quarantined by the staging like any bad file."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from pipeline.data.file_staging import DataError
from pipeline.families.jets.data import FEATURES, JETCLASS_LABELS, JetDataset, stage_jets
from pipeline.families.jets.params import JetsStageData

from .conftest import run_cli, write_workflow

LABELS = list(JETCLASS_LABELS)


def write_jetclass(path: Path, label: str, jets: int, seed: int, drop: str | None = None) -> dict:
    """A JetClass-schema file of one class; returns the arrays written (for the comparison)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(5, 20, jets)
    jet_pt, jet_eta, jet_phi = rng.uniform(500, 1000, jets), rng.uniform(-2, 2, jets), rng.uniform(-3, 3, jets)
    owner = np.repeat(np.arange(jets), counts)
    deta, dphi = rng.normal(0, 0.2, owner.size), rng.normal(0, 0.2, owner.size)
    pt = jet_pt[owner] * rng.dirichlet(np.ones(3), owner.size)[:, 0] / 3
    eta, phi = jet_eta[owner] + deta, jet_phi[owner] + dphi
    charged = rng.random(owner.size) < 0.6
    per_part = {
        "part_px": pt * np.cos(phi),
        "part_py": pt * np.sin(phi),
        "part_pz": pt * np.sinh(eta),
        "part_energy": pt * np.cosh(eta),
        "part_deta": deta,
        "part_dphi": dphi,
        "part_d0val": np.where(charged, rng.normal(0, 0.05, owner.size), 0.0),
        "part_d0err": np.where(charged, 0.01, 0.0),
        "part_dzval": np.where(charged, rng.normal(0, 0.1, owner.size), 0.0),
        "part_dzerr": np.where(charged, 0.02, 0.0),
        "part_charge": np.where(charged, rng.choice([-1, 1], owner.size), 0),
        "part_isChargedHadron": charged.astype(float),
        "part_isNeutralHadron": (~charged).astype(float),
        "part_isPhoton": np.zeros(owner.size),
        "part_isElectron": np.zeros(owner.size),
        "part_isMuon": np.zeros(owner.size),
    }
    energy = np.bincount(owner, weights=per_part["part_energy"], minlength=jets)
    per_jet = {
        "jet_pt": jet_pt, "jet_eta": jet_eta, "jet_phi": jet_phi, "jet_energy": energy,
        "jet_nparticles": counts.astype(float), "jet_sdmass": rng.uniform(10, 200, jets),
        **{f"jet_tau{i}": rng.uniform(0, 1, jets) for i in range(1, 5)},
        **{b: np.full(jets, float(b == label)) for b in LABELS},
    }  # fmt: skip
    branches = {k: ak.unflatten(v.astype(np.float32), counts) for k, v in per_part.items()}
    branches |= {k: v.astype(np.float32) for k, v in per_jet.items()}
    if drop:
        branches.pop(drop)
    with uproot.recreate(path) as handle:  # a TTree, as JetClass's are (uproot's dict assignment makes an RNTuple)
        types = {k: "var * float32" if isinstance(v, ak.Array) else np.float32 for k, v in branches.items()}
        handle.mktree("tree", types)
        handle["tree"].extend(branches)
    return {"counts": counts, **per_part, **per_jet}


@pytest.fixture(scope="module")
def jetclass_files(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("jetclass")
    written = {}
    for i, (stem, label) in enumerate(
        [("ZJetsToNuNu_000", "label_QCD"), ("ZJetsToNuNu_001", "label_QCD"), ("TTBar_000", "label_Tbqq"),
         ("TTBar_001", "label_Tbqq")]
    ):  # fmt: skip
        written[stem] = write_jetclass(root / f"{stem}.root", label, 24, seed=i)
    return root, written


def test_jetclass_files_stage_into_the_generated_jets_features(jetclass_files, tmp_path):
    root, written = jetclass_files
    params = JetsStageData(
        format="jetclass", split={"train": 0.5, "val": 0.5, "test": 0.0}, max_events_per_shard=10, step_size=7
    )
    manifest = stage_jets(sorted(root.glob("*.root")), tmp_path, params, log=lambda m: None)
    assert manifest["family"] == "jets" and manifest["format"] == "jetclass"
    assert manifest["classes"] == list(JETCLASS_LABELS.values()) and manifest["present"] == ["qcd", "t_bqq"]
    assert manifest["class_counts"]["qcd"] == 48 and manifest["class_counts"]["t_bqq"] == 48
    assert all(s["events"] <= 10 for s in manifest["shards"]) and manifest["quarantined"] == []
    # every class in both splits (two files each)
    data = JetDataset(tmp_path / "manifest.json", "train", ["qcd", "t_bqq"])
    assert sorted({label for _, _, label in data.rows}) == [0, 1] and len(data) == 48
    # the first jet of the first file, feature by feature against what was written
    source = next(s for s in manifest["shards"] if s["source"].endswith("TTBar_000.root"))
    with np.load(tmp_path / source["path"]) as shard:
        features, offsets = shard["features"], shard["offsets"]
    jets = written["TTBar_000"]
    n = int(jets["counts"][0])
    pt = np.hypot(jets["part_px"][:n], jets["part_py"][:n])
    order = np.argsort(-pt, kind="stable")
    got = features[offsets[0] : offsets[1]]
    column = {name: got[:, i] for i, name in enumerate(FEATURES)}
    np.testing.assert_allclose(column["deta"], jets["part_deta"][:n][order], atol=1e-5)
    np.testing.assert_allclose(column["dphi"], jets["part_dphi"][:n][order], atol=1e-5)
    np.testing.assert_allclose(column["log_pt"], np.log(pt[order]), rtol=1e-5)
    np.testing.assert_allclose(column["tanh_d0"], np.tanh(jets["part_d0val"][:n][order]), atol=1e-5)
    np.testing.assert_allclose(column["is_charged_hadron"], jets["part_isChargedHadron"][:n][order])


def test_a_jetclass_file_missing_a_branch_fails_naming_file_and_branch(tmp_path):
    bad = tmp_path / "HToBB_000.root"
    write_jetclass(bad, "label_Hbb", 5, seed=9, drop="part_dzerr")
    params = JetsStageData(format="jetclass")
    with pytest.raises(DataError, match=r"HToBB_000.root.*lacks branches: part_dzerr"):
        stage_jets([bad], tmp_path / "out", params, log=lambda m: None)
    kept = stage_jets([bad], tmp_path / "skip", params.model_copy(update={"on_error": "skip"}), log=lambda m: None)
    assert (
        kept["quarantined"][0]["source"].endswith("HToBB_000.root") and "part_dzerr" in kept["quarantined"][0]["error"]
    )

    workflow = {
        "name": "bad-jetclass",
        "stages": {
            "stage": {"kind": "stage_data", "params": {"dataset": "jets", "format": "jetclass", "inputs": [str(bad)]}}
        },
    }
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--dry-run", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(bad) in result.stderr and "part_dzerr" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "campaigns").exists()


def test_a_campaign_stages_jetclass_files_and_trains_on_them(jetclass_files, tmp_path):
    root, _ = jetclass_files
    train = {"task": "jet_classification", "model": {"kind": "pet", "width": 16, "depth": 1, "heads": 2, "k": 4},
             "batch_size": 8, "epochs": 1, "optimizer": {"lr": 1.0e-3}, "seed": 3,
             "loss": {"classes": ["qcd", "t_bqq"]}}  # fmt: skip
    workflow = {
        "name": "jetclass",
        "stages": {
            "stage": {
                "kind": "stage_data",
                "params": {"dataset": "jets", "format": "jetclass", "inputs": [str(root / "*.root")],
                           "split": {"train": 0.5, "val": 0.5, "test": 0.0}},
            },
            "train": {"kind": "train", "needs": ["stage"], "params": train},
            "evaluate": {"kind": "evaluate", "needs": ["stage", "train"], "params": {"split": "val", "bootstrap": 5}},
        },
    }  # fmt: skip
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", "--poll", "0.5", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    campaign = tmp_path / "campaigns" / "jetclass"
    model = json.loads((campaign / "stages" / "train" / "outputs" / "model.json").read_text())
    assert model["num_classes"] == 2 and model["num_features"] == len(FEATURES)
    metrics = json.loads((campaign / "report" / "evaluate" / "metrics.json").read_text())
    assert metrics["family"] == "jets" and metrics["task"] == "jet_classification"
    assert 0.0 <= metrics["models"]["train"]["auc"]["value"] <= 1.0
