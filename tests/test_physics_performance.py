"""The baseline particle flow and the ideal association on simulated Pythia 8 events (tt and qq
through the detector simulation, staged as the pipeline stages them). The bounds are loose
guards against regressions; the exact figures are benchmarks/physics.py's."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluation import candidates, comparison, inference, metrics
from pipeline.evaluation.baseline_pf import BaselineConfig, NeutralCalibration, reconstruct
from pipeline.physics.detector_spec import DetectorSpec

from .physics_fixtures import write_files

IDEAL_FLOOR = 0.03  # jet pT resolution of a perfect association on these elements (independent check)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Baseline calibrated on 100 events, then every source on 100 other events."""
    from pipeline.data.staging import stage_files
    from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams

    directory = tmp_path_factory.mktemp("pythia")
    files = write_files(directory, ["ee_tt", "ee_qq", "ee_tt", "ee_qq"], events=50, levels=("clusters",))
    staged = {}
    for split, chosen in (("train", files[:2]), ("test", files[2:])):
        params = StageDataParams(split={"train": 0.0, "val": 0.0, "test": 1.0}, max_events_per_shard=100)
        stage_files(chosen, directory / split, params, log=lambda m: None)
        staged[split] = inference.load_events(directory / split / "manifest.json", "test", None)
    train, test = staged["train"], staged["test"]
    features, level = test.manifest["features"], test.manifest["input_level"]
    cfg, detector = BaselineConfig(), DetectorSpec()
    raw = [reconstruct(x, k, features, level, detector, cfg) for x, k in zip(train.X, train.K, strict=True)]
    calibration = NeutralCalibration.fit(raw, [candidates.from_targets(y) for y in train.Y], cfg)
    sources = {
        "baseline": [
            reconstruct(x, k, features, level, detector, cfg, calibration) for x, k in zip(test.X, test.K, strict=True)
        ],
        "ideal": [candidates.from_ideal(g, k) for g, k in zip(test.gen, test.K, strict=True)],
        "element-truth": [candidates.from_targets(y) for y in test.Y],
    }
    settings = comparison.Settings(metrics.JetConfig(), metrics.Binning(), bootstrap=100, seed=0)
    out, _ = comparison.compare(
        sources, test.gen, sources["element-truth"], test.process_id, test.manifest["processes"], settings
    )
    return out


def test_the_baseline_jet_response_is_unbiased_and_its_resolution_far_below_the_old_one(evaluated):
    jets = evaluated["sources"]["baseline"]["jets"]
    assert jets["matched"] > 200
    assert 0.95 <= jets["pt_response"]["median"] <= 1.05
    assert jets["pt_response"]["resolution"] < 0.15


def test_the_ideal_association_is_near_the_floor_and_better_than_the_baseline(evaluated):
    ideal = evaluated["sources"]["ideal"]["jets"]["pt_response"]
    assert abs(ideal["median"] - 1.0) < 0.01
    assert ideal["resolution"] < 2 * IDEAL_FLOOR
    difference = evaluated["differences"]["sources"]["ideal"]["jet_pt_resolution"]
    assert difference["value"] < 0 and difference["significant"]
    met = {s: evaluated["sources"][s]["met"]["sigma_gev"]["value"] for s in ("ideal", "baseline")}
    assert met["ideal"] < met["baseline"]


def test_sources_come_in_a_fixed_order_and_the_met_names_its_processes(evaluated):
    assert list(evaluated["sources"]) == ["baseline", "ideal", "element-truth"]
    assert evaluated["processes"] == {"ee_qq": 50, "ee_tt": 50}
    assert evaluated["sources"]["element-truth"]["jets"]["pt_response"]["resolution"] == pytest.approx(0, abs=1e-3)


def test_the_baseline_finds_neutrals_without_the_charged_energy_fakes_of_old(evaluated):
    classes = evaluated["sources"]["baseline"]["particles"]["classes"]
    assert classes["neutral hadron"]["fake_rate"] < 0.5  # 0.74 before tracks linked along their path
    assert classes["charged hadron"]["efficiency"] > 0.9
    assert np.isfinite(classes["photon"]["efficiency_err"])


def test_evaluate_runs_on_data_without_a_training_split_leaving_the_baseline_uncalibrated(tmp_path):
    import json

    from pipeline.data.staging import stage_files
    from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams

    from .conftest import run_cli, write_workflow

    files = write_files(tmp_path, ["ee_qq"], events=12, levels=("clusters",))
    params = StageDataParams(split={"train": 0.0, "val": 0.0, "test": 1.0})
    stage_files(files, tmp_path / "staged", params, log=lambda m: None)
    manifest = tmp_path / "staged" / "manifest.json"
    # two evaluate stages of one family in one campaign: each keeps its own report
    stages = {
        "evaluate": {"kind": "evaluate", "params": {"data": str(manifest)}},
        "evaluate_again": {"kind": "evaluate", "params": {"data": str(manifest), "bootstrap": 20, "seed": 9}},
    }
    workflow = {"name": "evalonly", "stages": stages}
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), "--wait", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "evalonly"
    assert "left uncalibrated" in (campaign / "stages" / "evaluate" / "logs" / "stage.log").read_text()
    reports = {name: json.loads((campaign / "report" / name / "metrics.json").read_text()) for name in stages}
    for report in reports.values():
        assert report["task"] == "particle_flow"
        assert list(report["sources"]) == ["baseline", "ideal", "element-truth"] and report["events"] == 12
    assert reports["evaluate"]["bootstrap"] != reports["evaluate_again"]["bootstrap"] == 20
    for name in stages:
        folder = campaign / "report" / name
        assert (folder / "report.md").is_file() and any((folder / "plots").iterdir())
        assert any((campaign / "tensorboard" / "evaluate" / name / "baseline").iterdir())
    summary = run_cli("report", str(campaign), cwd=tmp_path).stdout
    assert "Physics performance, evaluate (12 test events)" in summary
    assert "Physics performance, evaluate_again (12 test events)" in summary
