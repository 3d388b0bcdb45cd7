"""The baseline particle flow on hand-built events, and the jet and MET metrics on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.features import FeatureConfig, element_kinematics, element_matrix
from pipeline.evaluation import candidates, metrics
from pipeline.evaluation.baseline_pf import BaselineConfig, NeutralCalibration, reconstruct
from pipeline.evaluation.paired import EventResampler
from pipeline.physics.detector_spec import DetectorSpec
from pipeline.physics.kinematics import ParticleClass as PC
from pipeline.physics.track_paths import track_paths

CHARGED_HADRON, NEUTRAL_HADRON, PHOTON, MUON = PC.CHARGED_HADRON, PC.NEUTRAL_HADRON, PC.PHOTON, PC.MUON
FEATURES = FeatureConfig()
MANIFEST_FEATURES = FEATURES.model_dump()
DETECTOR = DetectorSpec()


def track(pt: float, eta: float, phi: float, charge: int) -> dict[str, np.ndarray]:
    values = {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "p": pt * np.cosh(eta),
        "charge": charge,
        "chi2": 1.0,
        "nhits": 10,
        "d0": 0.0,
        "z0": 0.0,
        "tanlambda": np.sinh(eta),
        "radius_innermost": 0.03,
    }
    return {k: np.array([v], dtype=np.float64) for k, v in values.items()}


def cluster(energy: float, ecal: float, eta: float, phi: float, depth: float = 0.05) -> dict[str, np.ndarray]:
    """A cluster whose centre lies `depth` m behind the ECAL face in the direction (eta, phi)."""
    radius = DETECTOR.ecal.barrel_radius + depth
    values = {
        "energy": energy,
        "energy_ecal": ecal,
        "energy_hcal": energy - ecal,
        "eta": eta,
        "phi": phi,
        "nhits": 20,
        "x": radius * np.cos(phi),
        "y": radius * np.sin(phi),
        "z": radius * np.sinh(eta),
        "sigma_x": 0.01,
        "sigma_y": 0.01,
        "sigma_z": 0.01,
    }
    return {k: np.array([v], dtype=np.float64) for k, v in values.items()}


def on_path(energy: float, ecal: float, pt: float, eta: float, phi: float, charge: int, depth: float) -> dict:
    """A cluster centred `depth` m along the path a track enters the calorimeters on."""
    start, axis, ok, _ = track_paths(
        np.array([pt]), np.array([eta]), np.array([phi]), np.array([charge]), np.zeros(1), DETECTOR
    )
    assert ok[0]
    x, y, z = start[0] + depth * axis[0]
    r = np.sqrt(x**2 + y**2 + z**2)
    c = cluster(energy, ecal, np.arctanh(z / r), np.arctan2(y, x))
    c["x"], c["y"], c["z"] = np.array([x]), np.array([y]), np.array([z])
    return c


def event(tracks: list[dict], clusters: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    width = FEATURES.width("clusters")
    rows, kin = [], []
    for element, items in (("track", tracks), ("cluster", clusters)):
        for item in items:
            rows.append(element_matrix(item, element, FEATURES, width))
            kin.append(element_kinematics(item, element))
    return np.concatenate(rows), np.concatenate(kin)


def pf(tracks, clusters) -> np.ndarray:
    X, K = event(tracks, clusters)
    return reconstruct(X, K, MANIFEST_FEATURES, "clusters", DETECTOR, BaselineConfig())


def test_a_lone_photon_is_a_photon_with_its_energy():
    out = pf([], [cluster(12.0, 11.8, 0.3, 1.0)])
    assert out.shape == (1, 6)
    assert out[0, 0] == PHOTON and out[0, 1] == 0
    assert out[0, 5] == pytest.approx(12.0, rel=1e-5)
    assert out[0, 2] == pytest.approx(12.0 / np.cosh(0.3), rel=1e-5)
    assert out[0, 3] == pytest.approx(0.3, abs=1e-5) and out[0, 4] == pytest.approx(1.0, abs=1e-5)


def test_a_lone_charged_pion_is_one_charged_hadron_and_its_cluster_is_used_up():
    out = pf([track(5.0, 0.2, -0.5, 1)], [on_path(5.2, 1.0, 5.0, 0.2, -0.5, 1, 0.3)])
    assert out[0, 0] == CHARGED_HADRON and out[0, 1] == 1
    assert out[0, 2] == pytest.approx(5.0, rel=1e-5)
    assert out[1, 0] == 0  # no neutral from an energy the track explains


def test_a_split_shower_joins_its_track_along_the_path_not_by_its_direction_from_the_origin():
    # a 3 GeV track bends: its HCAL piece, 0.9 m down its path, lies far from the ECAL piece in (eta, phi)
    pt, eta, phi = 3.0, 0.1, 1.0
    ecal_piece, hcal_piece = on_path(0.8, 0.8, pt, eta, phi, 1, 0.05), on_path(2.3, 0.0, pt, eta, phi, 1, 0.9)
    seen_apart = np.hypot(ecal_piece["eta"] - hcal_piece["eta"], ecal_piece["phi"] - hcal_piece["phi"])[0]
    assert seen_apart > 0.05  # the old clustering's joining distance: these two stayed apart
    out = pf([track(pt, eta, phi, 1)], [ecal_piece, hcal_piece])
    assert out[0, 0] == CHARGED_HADRON
    assert (out[1:, 0] == 0).all()  # neither piece becomes a neutral hadron


def test_a_low_e_over_p_track_takes_a_nearby_free_cluster_only_while_compatible():
    pt, eta, phi = 10.0, 0.0, 0.0
    core = on_path(4.0, 1.0, pt, eta, phi, 1, 0.4)
    # a piece 0.4 m beside the path (outside the link distance, inside the re-association cone)
    piece = on_path(6.0, 0.5, pt, eta, phi, 1, 0.6)
    piece["z"] = piece["z"] + 0.4  # along the beam: perpendicular to this central track's path
    far_photon = cluster(5.0, 5.0, 1.5, 2.0)
    out = pf([track(pt, eta, phi, 1)], [core, piece, far_photon])
    assert out[1, 0] == 0 and out[2, 0] == 0  # the piece completes E/p ~ 1
    assert out[3, 0] == PHOTON  # the unrelated photon stays


def test_a_muon_is_found_and_its_mip_deposit_is_not_a_neutral():
    pt, eta, phi = 20.0, 0.3, 2.0
    mip = (
        DETECTOR.ecal.layers * DETECTOR.ecal.mip_energy_per_layer
        + DETECTOR.hcal.layers * DETECTOR.hcal.mip_energy_per_layer
    )
    hcal_part = DETECTOR.hcal.layers * DETECTOR.hcal.mip_energy_per_layer
    out = pf([track(pt, eta, phi, -1)], [on_path(mip, mip - hcal_part, pt, eta, phi, -1, 0.8)])
    assert out[0, 0] == MUON
    assert out[1, 0] == 0


def test_a_pion_and_a_photon_in_one_cluster_give_a_charged_hadron_and_the_photon_excess():
    p = 4.0 * np.cosh(-0.4)
    photon_energy = 10.0
    out = pf([track(4.0, -0.4, 2.0, -1)], [on_path(p + photon_energy, photon_energy + 0.3, 4.0, -0.4, 2.0, -1, 0.1)])
    assert out[0, 0] == CHARGED_HADRON and out[0, 1] == -1
    assert out[1, 0] == PHOTON
    assert out[1, 5] == pytest.approx(photon_energy, rel=1e-5)


def test_an_unlinked_hadronic_cluster_is_a_neutral_hadron():
    out = pf([track(3.0, 1.5, 0.0, 1)], [cluster(8.0, 0.5, -1.0, 2.5)])
    assert out[0, 0] == CHARGED_HADRON and out[1, 0] == NEUTRAL_HADRON


def test_neutral_calibration_is_fitted_per_class_and_energy_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    energy = rng.uniform(0.5, 50.0, 4000)
    cls = np.where(rng.random(4000) < 0.5, int(PHOTON), int(NEUTRAL_HADRON))
    true_energy = energy * np.where(cls == PHOTON, 1.0, np.where(energy < 4.0, 1.3, 0.8))
    reco = np.zeros((4000, 6))
    reco[:, 0], reco[:, 5] = cls, energy
    target = reco.copy()
    target[:, 5] = true_energy
    calibration = NeutralCalibration.fit([reco], [target], BaselineConfig())
    corrected = calibration.apply(cls, energy)
    hadron = cls == NEUTRAL_HADRON
    assert np.median(true_energy[~hadron] / corrected[~hadron]) == pytest.approx(1.0, abs=0.01)
    for low, high in ((0.5, 2.0), (10.0, 50.0)):  # away from the step, where interpolation is exact
        inside = hadron & (energy > low) & (energy < high)
        assert np.median(true_energy[inside] / corrected[inside]) == pytest.approx(1.0, abs=0.02)
    calibration.save(tmp_path / "calibration.json")
    assert NeutralCalibration.load(tmp_path / "calibration.json") == calibration


def gen_events(n: int, rng) -> list[np.ndarray]:
    """Two back-to-back sprays of particles per event (pid, charge, px, py, pz, E)."""
    events = []
    for _ in range(n):
        rows = []
        for side in (1, -1):
            axis = rng.normal(size=3)
            axis = side * axis / np.linalg.norm(axis)
            for _ in range(8):
                direction = axis + 0.05 * rng.normal(size=3)
                p = rng.uniform(2, 15) * direction / np.linalg.norm(direction)
                rows.append([211, 1, *p, np.linalg.norm(p)])
        events.append(np.array(rows))
    return events


def jets_of(events: list[np.ndarray]) -> list[np.ndarray]:
    return metrics.cluster_jets(events, metrics.JetConfig())


def test_generator_truth_as_reconstruction_has_response_one_and_zero_width():
    rng = np.random.default_rng(0)
    gen = [candidates.from_gen(g) for g in gen_events(30, rng)]
    jets = jets_of(gen)
    rs = EventResampler(len(gen), 20, rng)
    result, _ = metrics.jet_metrics(metrics.match_jets(jets, jets, 0.1), jets, metrics.Binning(), rs)
    assert result["matched"] == result["gen_jets"] > 30
    assert result["pt_response"]["median"] == pytest.approx(1.0, abs=1e-12)
    assert result["pt_response"]["resolution"] == pytest.approx(0.0, abs=1e-12)
    total = metrics.transverse_sum(gen)
    met, _ = metrics.met_metrics(total, total, metrics.Binning(), rs)
    assert met["sigma_gev"]["value"] == 0.0 and met["magnitude_bias_gev"]["value"] == 0.0


def smeared_jets(gen_jets: list[np.ndarray], sigma: float, rng) -> list[np.ndarray]:
    return [j * np.array([1 + sigma * rng.standard_normal(len(j)), *np.ones((3, len(j)))]).T for j in gen_jets]


def test_a_known_smearing_gives_the_known_resolution():
    rng = np.random.default_rng(1)
    gen_jets = jets_of([candidates.from_gen(g) for g in gen_events(400, rng)])
    sigma = 0.1
    reco_jets = smeared_jets(gen_jets, sigma, rng)
    rs = EventResampler(len(gen_jets), 100, rng)
    result, _ = metrics.jet_metrics(metrics.match_jets(reco_jets, gen_jets, 0.1), gen_jets, metrics.Binning(), rs)
    # IQR of a Gaussian is 1.349 sigma; its median is 1
    assert result["pt_response"]["median"] == pytest.approx(1.0, abs=0.01)
    assert result["pt_response"]["resolution"] == pytest.approx(1.349 * sigma, rel=0.08)
    assert 0 < result["pt_response"]["resolution_err"] < 0.01


def test_a_known_met_smearing_gives_the_known_spread_in_gev():
    rng = np.random.default_rng(2)
    gen = rng.normal(0, 20, (3000, 2))
    reco = gen + rng.normal(0, 5.0, gen.shape)
    met, _ = metrics.met_metrics(reco, gen, metrics.Binning(), EventResampler(3000, 50, rng))
    assert met["sigma_gev"]["value"] == pytest.approx(5.0, rel=0.05)
    assert sum(b["n"] for b in met["sigma_vs_gen_met"]) == 3000


def test_paired_bootstrap_a_source_against_itself_differs_by_exactly_zero_and_a_smeared_copy_significantly():
    rng = np.random.default_rng(4)
    gen_jets = jets_of([candidates.from_gen(g) for g in gen_events(300, rng)])
    reco = smeared_jets(gen_jets, 0.08, rng)
    worse = [j * np.array([1 + 0.05 * rng.standard_normal(len(j)), *np.ones((3, len(j)))]).T for j in reco]
    rs = EventResampler(len(gen_jets), 200, rng)
    estimates = {
        name: metrics.jet_metrics(metrics.match_jets(jets, gen_jets, 0.1), gen_jets, metrics.Binning(), rs)[1]
        for name, jets in (("baseline", reco), ("same", [j.copy() for j in reco]), ("smeared", worse))
    }
    differences = metrics.paired_differences(estimates, "baseline")
    same = differences["same"]["jet_pt_resolution"]
    assert same["value"] == 0.0 and same["err"] == 0.0 and not same["significant"]
    smeared = differences["smeared"]["jet_pt_resolution"]
    assert smeared["significant"] and smeared["interval"][0] > 0
    # pairing: the difference is known better than either resolution on its own
    assert smeared["err"] < np.hypot(*(estimates[s]["jet_pt_resolution"].error for s in ("baseline", "smeared")))


def test_models_are_also_compared_with_a_model_reference_paired_per_event():
    """`model_reference`: the searched configuration against the default one, with one paired
    error, besides every source's difference to the baseline."""
    from pipeline.evaluation import comparison, report

    rng = np.random.default_rng(8)
    gen = gen_events(300, rng)
    truth = [candidates.from_gen(g) for g in gen]

    def smeared(sigma: float) -> list[np.ndarray]:
        out = []
        for t in truth:
            t = t.copy()
            t[:, 2] *= 1 + sigma * rng.standard_normal(len(t))
            out.append(t)
        return out

    sources = {"searched": smeared(0.03), "default": smeared(0.08), "baseline": smeared(0.12)}
    settings = comparison.Settings(metrics.JetConfig(), metrics.Binning(), 100, 0)
    out, _ = comparison.compare(sources, gen, truth, [0] * len(gen), ["ee_tt"], settings, "default")
    assert out["differences"]["reference"] == "baseline" and set(out["differences"]["sources"]) == {
        "searched",
        "default",
    }
    model = out["model_differences"]
    assert model["reference"] == "default" and set(model["sources"]) == {"searched"}
    gain = model["sources"]["searched"]["jet_pt_resolution"]
    expected = out["sources"]["searched"]["jets"]["pt_response"]["resolution"]
    expected -= out["sources"]["default"]["jets"]["pt_response"]["resolution"]
    assert gain["value"] == pytest.approx(expected) and gain["significant"] and gain["value"] < 0
    assert "Paired differences to default" in report.table_text(out)
