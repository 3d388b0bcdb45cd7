"""The SUEP reference set-up on hand-built events: tracks at their calorimeter-face position,
tower thresholds, the HCAL 5 x 5 spread conserving E_T, charged pileup removed from the track
channel but kept in the calorimeters; the reference network's latent; the HT cut applied the
same way to QCD and signal; weighted efficiencies and AUC."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.families.suep_images import anomaly
from pipeline.physics.generator import PARTICLE_FIELDS
from pipeline.physics.pileup import PileupConfig, PileupOverlay, transformed
from pipeline.physics.pp import cms_like_detector
from pipeline.physics.reference_images import HcalBlocks, ImageBinning, ReferenceConfig, crossing_image
from pipeline.physics.towers import ECAL_TOWERS, HCAL_TOWERS, FaceGeometry, face_positions, measured_towers

GRID = ImageBinning()
ROWS, COLUMNS = GRID.eta_bins, GRID.phi_bins


def particles(*rows) -> dict[str, np.ndarray]:
    """rows: (pid, charge, pt, eta, phi, vz)."""
    out = {name: [] for name in PARTICLE_FIELDS}
    for pid, charge, pt, eta, phi, vz in rows:
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        mass = 0.13957 if abs(pid) == 211 else 0.0
        for name, value in zip(PARTICLE_FIELDS, (pid, charge, px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2),
                                                 0.0, 0.0, vz), strict=True):  # fmt: skip
            out[name].append(value)
    arrays = {k: np.array(v, dtype=float) for k, v in out.items()}
    arrays["pid"] = arrays["pid"].astype(np.int32)
    return arrays


def channel_pixels(index: np.ndarray, channel: int) -> np.ndarray:
    lo, hi = channel * ROWS * COLUMNS, (channel + 1) * ROWS * COLUMNS
    return index[(index >= lo) & (index < hi)] - lo


def test_a_track_lands_where_its_helix_meets_the_calorimeter_face():
    face = FaceGeometry(1.29, 3.0, 3.8)
    # a 2 GeV pi+ at eta 0, phi 0: radius pT / (0.3 B) = 1.755 m; at r = 1.29 m it has turned by
    # 2 arcsin(1.29 / 3.51) = 0.752 rad, its position sits at half that angle, clockwise (q > 0)
    eta, phi, reached = face_positions(particles((211, 1, 2.0, 0.0, 0.0, 0.0)), face)
    radius = 2.0 / (0.299792458 * 3.8)
    assert reached[0] and eta[0] == pytest.approx(0.0, abs=1e-9)
    assert phi[0] == pytest.approx(-np.arcsin(1.29 / (2 * radius)), rel=1e-6)
    # the opposite charge bends the other way; a neutral particle stays on its line
    assert face_positions(particles((-211, -1, 2.0, 0.0, 0.0, 0.0)), face)[1][0] == pytest.approx(-phi[0])
    assert face_positions(particles((22, 0, 2.0, 0.3, 1.0, 0.0)), face)[1][0] == pytest.approx(1.0)
    # a 0.5 GeV track loops inside the radius (2R = 0.88 m < 1.29 m): followed to the end plane
    eta, phi, reached = face_positions(particles((211, 1, 0.5, 0.5, 0.0, 0.0)), face)
    assert reached[0] and eta[0] > 1.5  # at |z| = 3 m, within r < 0.88 m: far forward of its direction

    # in the image: the track's pixel is at the face position, not at its vertex direction
    spec = cms_like_detector()
    event = particles((211, 1, 2.0, 0.0, 0.0, 0.0))
    image = crossing_image(event, 0.0, spec, GRID, ReferenceConfig(face=face), np.random.default_rng(0))
    (pixel,) = channel_pixels(image.index, 0)
    i, j = divmod(int(pixel), COLUMNS)
    assert GRID.column_phi(j) == pytest.approx(-np.arcsin(1.29 / (2 * radius)), abs=2 * np.pi / COLUMNS)
    assert image.ntracks == 1 and image.value[image.index == pixel][0] == pytest.approx(2.0, rel=0.05)


def test_towers_pass_only_above_their_energy_floor_and_significance():
    rng = np.random.default_rng(3)
    towers = np.arange(2000)
    energies = np.geomspace(0.05, 200.0, towers.size)
    for response in (ECAL_TOWERS, HCAL_TOWERS):
        ids, measured = measured_towers(towers, energies, lambda t: np.zeros(t.size), response, rng)
        assert (measured > response.energy_min).all()
        assert (measured > response.significance_min * response.sigma(measured, np.zeros(ids.size))).all()
        assert ids.min() > 0 and ids.size > 100  # the softest never pass, the hardest always do
        assert set(range(1900, 2000)) <= set(ids.tolist())
    # the HCAL needs E > 2 sigma = 2 x 1.5 sqrt(E), about 9 GeV: below 4 GeV only rare upward
    # fluctuations of the log-normal smearing pass
    ids, _ = measured_towers(towers, energies, lambda t: np.zeros(t.size), HCAL_TOWERS, rng)
    soft = energies < 4.0
    assert np.isin(np.flatnonzero(soft), ids).mean() < 0.1


def test_the_hcal_spread_over_5x5_pixels_conserves_et_even_at_the_image_edge():
    blocks = HcalBlocks(GRID)
    last_row = (blocks.rows - 1) * blocks.columns  # the block row cut by the image edge (286 = 57 x 5 + 1)
    towers, et = np.array([0, 7, last_row + 3]), np.array([25.0, 10.0, 6.0])
    rows, columns, values = blocks.spread(towers, et)
    owner = blocks.tower(rows, columns)
    for t, e in zip(towers, et, strict=True):
        assert values[owner == t].sum() == pytest.approx(e)
    assert (owner == 0).sum() == 25 and np.allclose(values[owner == 0], 1.0)
    assert (owner == last_row + 3).sum() == 5  # one row of 5 pixels left at the edge


def test_charged_pileup_leaves_the_track_channel_and_stays_in_the_calorimeters():
    spec, cfg = cms_like_detector(), ReferenceConfig()
    hard = (211, 1, 5.0, 0.2, 0.5, 0.0)
    pileup_track = (211, 1, 30.0, -1.0, 2.0, 0.05)  # 5 cm away along z
    pileup_photon = (22, 0, 30.0, -1.0, -2.0, 0.05)
    image = crossing_image(particles(hard, pileup_track, pileup_photon), 0.0, spec, GRID, cfg, np.random.default_rng(1))
    tracks = channel_pixels(image.index, 0)
    assert image.ntracks == 1 and tracks.size == 1
    assert image.value[image.index == tracks[0]][0] == pytest.approx(5.0, rel=0.05)
    # the pileup pion's energy is in the HCAL, the pileup photon's in the ECAL, both on the far side
    ecal, hcal = channel_pixels(image.index, 1), channel_pixels(image.index, 2)
    assert any(GRID.column_phi(p % COLUMNS) < -1.5 for p in ecal)
    assert any(GRID.column_phi(p % COLUMNS) > 1.5 for p in hcal)
    # with the vertices swapped the pileup track is the one kept
    swapped = crossing_image(particles(hard, pileup_track), 0.05, spec, GRID, cfg, np.random.default_rng(2))
    assert swapped.ntracks == 1 and swapped.value[swapped.index == channel_pixels(swapped.index, 0)[0]][0] > 20


def test_pileup_draws_reuse_the_pool_rotated_and_each_at_its_own_vertex():
    overlay = PileupOverlay(PileupConfig(mean=8.0, z_spread=0.05, pool=5), seed=4)
    hard = particles((211, 1, 5.0, 0.0, 0.0, 0.0))
    merged, mask = overlay.add(hard)
    assert not mask[0] and mask[1:].all() and overlay.generated == min(5, overlay.drawn)
    assert np.unique(np.round(merged["vz"][mask], 6)).size > 1  # several vertices
    again, _ = overlay.add(hard)
    assert overlay.generated == 5 and again["pid"].size > 1  # the pool is full: reused
    one = particles((211, 1, 5.0, 1.0, 0.5, 0.01))
    turned = transformed(one, np.pi / 2, flip=True)
    assert np.hypot(turned["px"], turned["py"])[0] == pytest.approx(5.0) and turned["pz"][0] < 0
    assert turned["vz"][0] == pytest.approx(-0.01)


def test_the_reference_network_has_a_240_float_latent_for_a_288x360_input():
    import torch

    from models import build_model

    model = build_model({
        "kind": "conv_autoencoder", "image_shape": [3, 286, 360], "filters": [128, 64, 32, 16, 8],
        "strides": [[3, 3], [2, 2], [2, 2], [2, 2], [2, 3]], "activation": "prelu", "output_norm": True,
        "pad_to": [288, 360], "log_scale": False, "input_scale": 2000.0,
    })  # fmt: skip
    assert model.describe()["latent_shape"] == [8, 6, 5] and model.describe()["latent_floats"] == 240
    images = torch.zeros(2, 3, 286, 360)
    images[0, 1, 100, 100] = 50.0
    with torch.no_grad():
        latent = model.encoder(torch.nn.functional.pad(model.to_target(images), (0, 0, 1, 1)))
        out = model(images)
    assert latent.shape == (2, 8, 6, 5) and out.shape == images.shape and (out >= 0).all()
    assert model.to_target(images)[0, 1, 100, 100] == pytest.approx(50.0 / 2000.0)


def test_a_layer_list_the_decoder_cannot_mirror_is_refused():
    from models import ModelConfigError, model_config

    with pytest.raises((ModelConfigError, ValueError)):
        model_config({"kind": "conv_autoencoder", "filters": [8], "strides": [[2]]})


def test_weighted_efficiency_and_auc_count_each_event_with_its_weight():
    rng = np.random.default_rng(7)
    background, signal = rng.normal(0, 1, 400), rng.normal(1, 1, 300)
    weight = rng.integers(1, 4, background.size).astype(float)
    duplicated = np.repeat(background, weight.astype(int))  # weight w == the event w times
    assert anomaly.weighted_auc(background, signal, weight) == pytest.approx(anomaly.auc(duplicated, signal))
    for mistag in (0.01, 0.02, 0.05):
        threshold = anomaly.threshold_at(background, mistag, weight)
        above = weight[background > threshold].sum() / weight.sum()
        at_or_above = weight[background >= threshold].sum() / weight.sum()
        assert above <= mistag < at_or_above + 1e-12
        assert anomaly.efficiency_at(background, signal, mistag, weight) == pytest.approx((signal > threshold).mean())
    # uniform weights take the unweighted formulas: the earlier figures are unchanged
    assert anomaly.efficiency_at(background, signal, 0.02, np.full(400, 2.0)) == anomaly.efficiency_at(
        background, signal, 0.02
    )


def test_the_ht_cut_is_the_same_pileup_corrected_cut_on_qcd_and_signal():
    from pipeline.physics.crossings import CrossingSample
    from pipeline.physics.pp import Production

    spec = cms_like_detector()
    cfg = ReferenceConfig(pileup=PileupConfig(mean=5.0, pool=10))
    kept = {}
    for process in ("pp_qcd", "suep_ref_m125"):
        sample = CrossingSample(process, 21, 300.0, 200.0, Production(150.0, None, "hjet", 150.0), cfg)
        events = list(sample.events(3, spec, GRID, np.random.default_rng(2)))
        counts = sample.record()["acceptance"]
        assert len(events) == counts["kept"] == 3 and counts["tried"] >= counts["preselected"] >= 3
        assert all(image.ht >= 300.0 for image, _ in events) and all(w == 1.0 for _, w in events)
        kept[process] = counts
        assert sample.record()["pileup"]["interactions_drawn"] > 0
    # a cut the signal could not pass is refused for the signal as for the background
    sample = CrossingSample("suep_ref_m125", 22, 1e5, 0.0, Production(150.0, None, "hjet", 150.0), cfg)
    with pytest.raises(RuntimeError, match="too few events"):
        next(iter(sample.events(1, spec, ImageBinning(36, 45), np.random.default_rng(0))))


def test_a_biased_qcd_sample_carries_pythia_weights_into_the_files(tmp_path):
    from pipeline.physics.pp import Production, make_pp_pythia

    pythia = make_pp_pythia("pp_qcd", 5, Production(150.0, 4.5))
    weights, pthat = [], []
    while len(weights) < 40:
        if pythia.next():
            weights.append(pythia.infoPython().weight())
            pthat.append(pythia.infoPython().pTHat())
    weights, pthat = np.array(weights), np.array(pthat)
    assert weights.std() > 0 and np.corrcoef(pthat, weights)[0, 1] < 0  # harder events weigh less
