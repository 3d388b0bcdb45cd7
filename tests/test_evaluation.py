"""The baseline particle flow on hand-built events, and the jet and MET metrics on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.features import FeatureConfig, element_kinematics, element_matrix
from pipeline.evaluation import candidates, metrics
from pipeline.evaluation.baseline_pf import (
    CHARGED_HADRON,
    NEUTRAL_HADRON,
    PHOTON,
    BaselineConfig,
    reconstruct,
    track_impacts,
)
from pipeline.physics.detector_spec import DetectorSpec

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


def cluster(energy: float, ecal: float, eta: float, phi: float) -> dict[str, np.ndarray]:
    values = {
        "energy": energy,
        "energy_ecal": ecal,
        "energy_hcal": energy - ecal,
        "eta": eta,
        "phi": phi,
        "nhits": 20,
        "x": 0.0,
        "y": 0.0,
        "z": 0.0,
        "sigma_x": 0.01,
        "sigma_y": 0.01,
        "sigma_z": 0.01,
    }
    return {k: np.array([v], dtype=np.float64) for k, v in values.items()}


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


def impact_of(pt: float, eta: float, phi: float, charge: int) -> tuple[float, float]:
    e, p = track_impacts(np.array([pt]), np.array([eta]), np.array([phi]), np.array([charge]), np.zeros(1), DETECTOR)
    return float(e[0]), float(p[0])


def test_a_lone_photon_is_a_photon_with_its_energy():
    out = pf([], [cluster(12.0, 11.8, 0.3, 1.0)])
    assert out.shape == (1, 6)
    assert out[0, 0] == PHOTON and out[0, 1] == 0
    assert out[0, 5] == pytest.approx(12.0, rel=1e-5)
    assert out[0, 2] == pytest.approx(12.0 / np.cosh(0.3), rel=1e-5)
    assert out[0, 3] == pytest.approx(0.3, abs=1e-5) and out[0, 4] == pytest.approx(1.0, abs=1e-5)


def test_a_lone_charged_pion_is_one_charged_hadron_and_its_cluster_is_used_up():
    eta_i, phi_i = impact_of(5.0, 0.2, -0.5, 1)
    out = pf([track(5.0, 0.2, -0.5, 1)], [cluster(5.2, 1.0, eta_i, phi_i)])
    assert out[0, 0] == CHARGED_HADRON and out[0, 1] == 1
    assert out[0, 2] == pytest.approx(5.0, rel=1e-5)
    assert out[1, 0] == 0  # no neutral from an energy the track explains


def test_a_pion_and_a_photon_in_one_cluster_give_a_charged_hadron_and_the_photon_excess():
    eta_i, phi_i = impact_of(4.0, -0.4, 2.0, -1)
    p = 4.0 * np.cosh(-0.4)
    photon_energy = 10.0
    out = pf([track(4.0, -0.4, 2.0, -1)], [cluster(p + photon_energy, photon_energy + 0.3, eta_i, phi_i)])
    assert out[0, 0] == CHARGED_HADRON and out[0, 1] == -1
    assert out[1, 0] == PHOTON
    assert out[1, 5] == pytest.approx(photon_energy, rel=1e-5)


def test_an_unlinked_hadronic_cluster_is_a_neutral_hadron():
    out = pf([track(3.0, 1.5, 0.0, 1)], [cluster(8.0, 0.5, -1.0, 2.5)])
    assert out[0, 0] == CHARGED_HADRON and out[1, 0] == NEUTRAL_HADRON


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


def test_generator_truth_as_reconstruction_has_response_one_and_zero_width():
    rng = np.random.default_rng(0)
    gen = [candidates.from_gen(g) for g in gen_events(30, rng)]
    cfg = metrics.JetConfig()
    jets = metrics.cluster_jets(gen, cfg)
    result = metrics.jet_metrics(jets, jets, cfg, metrics.Binning(), 20, rng)
    assert result["matched"] == result["gen_jets"] > 30
    assert result["pt_response"]["median"] == pytest.approx(1.0, abs=1e-12)
    assert result["pt_response"]["resolution"] == pytest.approx(0.0, abs=1e-12)
    met = metrics.met_metrics(gen, gen, metrics.Binning(met=(0.1, 1e3)), 0, rng)
    assert met["response"]["median"] == pytest.approx(1.0) and met["response"]["resolution"] == pytest.approx(0.0)


def test_a_known_smearing_gives_the_known_resolution():
    rng = np.random.default_rng(1)
    gen = [candidates.from_gen(g) for g in gen_events(400, rng)]
    cfg = metrics.JetConfig()
    gen_jets = metrics.cluster_jets(gen, cfg)
    sigma = 0.1
    reco_jets = [j * np.array([1 + sigma * rng.standard_normal(len(j)), *np.ones((3, len(j)))]).T for j in gen_jets]
    result = metrics.jet_metrics(reco_jets, gen_jets, cfg, metrics.Binning(), 50, rng)
    # IQR of a Gaussian is 1.349 sigma; its median is 1
    assert result["pt_response"]["median"] == pytest.approx(1.0, abs=0.01)
    assert result["pt_response"]["resolution"] == pytest.approx(1.349 * sigma, rel=0.08)
    assert 0 < result["pt_response"]["resolution_err"] < 0.01
