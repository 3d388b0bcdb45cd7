"""Boosted jets in JetClass-like classes: truth matching, mass peaks and the constituents' detector response."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.physics.jets import GLUON, QUARK, constituents, delta_r, generate_jets
from pipeline.physics.kinematics import ParticleClass as PC
from pipeline.physics.pp import cms_like_detector

SPEC = cms_like_detector()


@pytest.mark.parametrize(("name", "mass"), [("w_qq", 80.4), ("z_qq", 91.2), ("t_bqq", 172.5), ("h_bb", 125.0)])
def test_resonance_jets_hold_their_decay_partons_and_peak_at_the_mass(name, mass):
    jets = [jet for _, jet in generate_jets(name, 12, 7, SPEC)]
    assert len(jets) == 12
    for jet in jets:
        assert 0 < jet.partons_dr_max < 0.8 and jet.parton == 0
        assert 500 <= jet.pt <= 1000 and abs(jet.eta) < 2.0
        # anti-kt clusters in rapidity with E-scheme recombination: constituents lie about, not
        # strictly, within R of the pseudorapidity axis
        inside = delta_r(jet.constituents["eta"], jet.constituents["phi"], jet.eta, jet.phi)
        assert inside.max() < 1.1 * 0.8
    assert np.median([j.mass for j in jets]) == pytest.approx(mass, rel=0.2)


def test_qcd_jets_are_labelled_quark_or_gluon_and_lighter_than_top():
    qcd = [jet for _, jet in generate_jets("qcd", 16, 3, SPEC)]
    top = [jet for _, jet in generate_jets("t_bqq", 8, 3, SPEC)]
    assert {j.parton for j in qcd} <= {QUARK, GLUON} and len({j.parton for j in qcd}) == 2
    assert np.median([j.mass for j in qcd]) < np.median([j.mass for j in top])


def test_constituents_of_a_hand_built_event():
    # a 20 GeV pi+, a 10 GeV photon and a neutrino, all at eta 0.5
    eta, pts = 0.5, np.array([20.0, 10.0, 5.0])
    phi = np.array([0.1, -0.3, 1.0])
    particles = {
        "pid": np.array([211, 22, 14]),
        "charge": np.array([1.0, 0.0, 0.0]),
        "px": pts * np.cos(phi),
        "py": pts * np.sin(phi),
        "pz": pts * np.sinh(eta),
        "energy": np.hypot(pts * np.cosh(eta), [0.1396, 0.0, 0.0]),
        "vx": np.zeros(3),
        "vy": np.zeros(3),
        "vz": np.zeros(3),
    }
    parts = constituents(particles, SPEC, np.random.default_rng(0))
    assert parts["kind"].tolist() == [PC.CHARGED_HADRON, PC.PHOTON]
    assert parts["charge"].tolist() == [1.0, 0.0]
    assert parts["pt"] == pytest.approx([20.0, 10.0], rel=0.1)
    assert parts["eta"] == pytest.approx([eta, eta], abs=0.01) and parts["phi"][1] == pytest.approx(-0.3)
    assert parts["d0_err"][0] > 0 and parts["d0_err"][1] == 0
