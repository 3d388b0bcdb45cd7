"""The quickstart workflow end to end at a smaller size: generate -> stage -> ASHA search ->
train the best configuration -> evaluate model, best trial and baseline; the report holds every
metric for every source and `colliderflow report` prints the comparison table."""

from __future__ import annotations

import json
import math

from .conftest import REPO, run_cli

SMALL = [
    "stages.generate.params.events_per_file=40",
    "stages.generate.resources.array=4",
    "stages.search.params.num_samples=3",
    "stages.search.params.max_t=2",
    "stages.train.params.epochs=1",
    "stages.evaluate.params.bootstrap=5",
    "stages.evaluate.params.jets.min_pt=2.0",
]


def test_quickstart_small_variant_runs_end_to_end_and_reports_every_metric(tmp_path):
    args = [x for item in SMALL for x in ("--set", item)]
    result = run_cli(
        "submit", str(REPO / "workflows" / "quickstart.yaml"), "--name", "qs", "--wait", *args, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "qs"
    metrics = json.loads((campaign / "report" / "evaluate" / "metrics.json").read_text())
    # models first, then the reference points, on the same events
    assert list(metrics["sources"]) == ["search-best", "train", "baseline", "ideal", "element-truth"]
    assert sum(metrics["processes"].values()) == metrics["events"]
    for name, source in metrics["sources"].items():
        jets, met = source["jets"], source["met"]
        assert jets["gen_jets"] > 0 and jets["matched"] > 0, name
        for stat in ("median", "median_err", "resolution", "resolution_err"):
            assert stat in jets["pt_response"]
        assert math.isfinite(jets["pt_response"]["resolution"]), name
        assert math.isfinite(met["sigma_gev"]["value"]) and math.isfinite(met["sigma_gev"]["value_err"]), name
        assert len(jets["pt_response_vs_gen_pt"]) == len(metrics["binning"]["jet_pt"]) - 1
        assert len(met["sigma_vs_gen_met"]) == len(metrics["binning"]["met"]) - 1
        if name == "ideal":
            assert "particles" not in source  # one row per particle: no element-by-element metrics
            continue
        particles = source["particles"]
        assert len(particles["confusion"]) == 6 and set(particles["classes"]) == {
            "charged hadron",
            "neutral hadron",
            "photon",
            "electron",
            "muon",
        }
        for cls in particles["classes"].values():
            for key in ("efficiency", "fake_rate", "efficiency_vs_pt", "efficiency_vs_eta", "pt_response"):
                assert key in cls
    assert abs(metrics["sources"]["element-truth"]["jets"]["pt_response"]["median"] - 1.0) < 1e-6
    differences = metrics["differences"]
    assert differences["reference"] == "baseline"
    assert set(differences["sources"]) == {"search-best", "train", "ideal", "element-truth"}
    for source in differences["sources"].values():
        for key in ("jet_pt_resolution", "met_sigma_gev", "jet_pt_resolution[0]"):
            assert {"value", "err", "interval", "significant"} <= set(source[key])
    calibration = campaign / "stages" / "evaluate" / "outputs" / "baseline_calibration.json"
    assert set(json.loads(calibration.read_text())["classes"]) == {"neutral hadron", "photon"}
    plots = {p.name for p in (campaign / "report" / "evaluate" / "plots").iterdir()}
    assert {"jet_response.png", "jet_response_vs_pt.png", "met_difference.png", "confusion_train.png"} <= plots
    text = (campaign / "report" / "evaluate" / "report.md").read_text()
    assert "jet pT resolution" in text and "Paired differences to `baseline`" in text
    trained = json.loads((campaign / "stages" / "train" / "result.json").read_text())
    assert (
        trained["hpo_config"]
        == json.loads((campaign / "stages" / "search" / "outputs" / "best.json").read_text())["config"]
    )

    report = run_cli("report", str(campaign), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "jet pT resolution (IQR/median)" in report.stdout
    assert "Paired differences to baseline" in report.stdout
    for source in ("baseline", "train", "search-best"):
        assert source in report.stdout
    assert (campaign / "tensorboard" / "evaluate" / "evaluate" / "baseline").is_dir()
