"""SUEP anomaly detection, the parts that exist: the dark shower, images, the Dice loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from models.autoencoder.loss import dice_coefficient, inverse_dice_loss
from pipeline.physics import pp, suep


def test_meson_energies_sum_to_the_mediator_mass_and_momenta_to_zero():
    rng = np.random.default_rng(3)
    for point in suep.POINTS.values():
        p = suep.meson_momenta(point, rng)
        energy = np.sqrt((p**2).sum(axis=1) + point.meson_mass**2)
        assert energy.sum() == pytest.approx(point.mediator_mass, rel=1e-9)
        assert np.abs(p.sum(axis=0)).max() < 1e-9 * point.mediator_mass


def test_shower_conserves_the_mediator_four_momentum():
    point = suep.POINTS["suep_m400"]
    mediator = np.array([np.sqrt(400.0**2 + 120.0**2 + 30.0**2), 120.0, 0.0, -30.0])
    out = suep.shower(point, mediator, np.random.default_rng(1))
    total = [out["energy"].sum(), out["px"].sum(), out["py"].sum(), out["pz"].sum()]
    assert np.allclose(total, mediator, rtol=1e-9, atol=1e-6)
    assert set(np.abs(out["pid"])) <= {11, 13, 211} and out["charge"].sum() == 0


def test_boltzmann_sampler_follows_the_analytic_density():
    mass, temperature = 2.0, 2.0
    sampler = suep.BoltzmannSampler(mass, temperature)
    draws = sampler(40000, np.random.default_rng(7))
    edges = np.linspace(0.0, 20.0, 41)
    observed, _ = np.histogram(draws, edges)
    fine = np.linspace(0.0, 20.0, 40001)
    cdf = np.concatenate([[0], np.cumsum(suep.boltzmann_density(fine, mass, temperature)[1:] * np.diff(fine))])
    expected = np.diff(np.interp(edges, fine, cdf)) / sampler.norm * draws.size
    keep = expected > 5
    chi2 = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


def test_images_put_energy_in_the_right_pixels_and_channels():
    binning = pp.ImageBinning(eta_bins=50, phi_bins=72)
    index, inside = binning.pixels(np.array([0.01, -2.49, 3.0]), np.array([0.0, -np.pi + 1e-6, 0.0]), channel=2)
    assert inside.tolist() == [True, True, False]
    assert index[0] == (2 * 50 + 25) * 72 + 36 and index[1] == (2 * 50 + 0) * 72 + 0
    image = pp.dense_image(np.array([index[0], index[0]]), np.array([1.5, 2.0], dtype=np.float32), binning.shape)
    assert image[2, 25, 36] == pytest.approx(3.5) and image.sum() == pytest.approx(3.5)


def test_dice_loss_by_hand_and_zero_for_a_perfect_reconstruction():
    y = torch.tensor([[[[1.0, 2.0], [0.0, 0.0]]]])
    yhat = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    d = (2 * 1.0 + 1e-6) / (5.0 + 2.0 + 1e-6)
    assert dice_coefficient(y, yhat).item() == pytest.approx(d)
    assert inverse_dice_loss(y, yhat)[0].item() == pytest.approx(1 / d - 1)
    assert inverse_dice_loss(y, y)[0].item() == pytest.approx(0.0, abs=1e-6)


def test_pileup_adds_minimum_bias_particles_and_keeps_the_hard_event():
    from pipeline.physics.generator import PARTICLE_FIELDS

    plain_particles, plain_ht = next(pp.generate_pp("suep_m400", 1, 5, 500.0, 250.0))
    piled_particles, piled_ht = next(pp.generate_pp("suep_m400", 1, 5, 500.0, 250.0, pileup=10.0))
    hard = plain_particles["pid"].size
    assert piled_ht == plain_ht  # HT of the hard interaction
    assert piled_particles["pid"].size > hard + 200  # ten minimum-bias interactions on average
    for name in PARTICLE_FIELDS:
        np.testing.assert_array_equal(piled_particles[name][:hard], plain_particles[name])
