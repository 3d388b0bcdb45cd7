"""The simulated detector conserves and resolves what it should (real Pythia 8 events)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.physics.detector_spec import DetectorSpec
from pipeline.physics.generator import generate
from pipeline.physics.kinematics import cos_theta
from pipeline.physics.simulate import simulate_event

from .physics_fixtures import gun

SPEC = DetectorSpec()


@pytest.fixture(scope="module")
def qq_events():
    rng = np.random.default_rng(5)
    return [simulate_event(p, SPEC, rng, ("clusters", "hits")) for p in generate("ee_qq", 15, 11)]


def test_target_energy_equals_the_detected_generator_energy(qq_events):
    for event in qq_events:
        gen = event["gen"]
        for level, calo, kind in (("clusters", "cluster", "element_kind"), ("hits", "hit", "element_kind_hits")):
            targets = event["track"]["target_energy"].sum() + event[calo]["target_energy"].sum()
            detected = gen["energy"][gen[kind] >= 0].sum()
            assert targets == pytest.approx(detected, rel=1e-9), level


def test_targets_cover_the_visible_energy_in_acceptance(qq_events):
    ratios = []
    for event in qq_events:
        gen = event["gen"]
        visible = ~np.isin(np.abs(gen["pid"]), (12, 14, 16))
        inside = np.abs(cos_theta(gen["px"], gen["py"], gen["pz"])) < SPEC.ecal.cos_theta_max
        reference = gen["energy"][visible & inside].sum()
        linked = gen["energy"][visible & inside & (gen["element_kind"] >= 0)].sum()
        ratios.append(linked / reference)
    assert np.mean(ratios) > 0.97 and min(ratios) > 0.9


def test_tracks_match_charged_generator_particles(qq_events):
    pulls, same_charge, n = [], 0, 0
    for event in qq_events:
        gen, track = event["gen"], event["track"]
        idx = track["gen_index"]
        assert np.all(gen["charge"][idx] != 0)
        pt_gen = np.hypot(gen["px"][idx], gen["py"][idx])
        sin_t = pt_gen / np.sqrt(pt_gen**2 + gen["pz"][idx] ** 2)
        sigma = pt_gen**2 * np.hypot(
            SPEC.tracker.curvature_term, SPEC.tracker.scattering_term / (pt_gen * np.sqrt(sin_t))
        )
        pulls.append((track["pt"] - pt_gen) / sigma)
        same_charge += int(np.sum(track["charge"] == gen["charge"][idx]))
        n += idx.size
        assert set(track) >= {"d0", "z0", "chi2", "ndf", "nhits", "tanlambda", "radius_innermost", "p"}
    pulls = np.concatenate(pulls)
    assert same_charge / n > 0.99
    assert abs(np.median(pulls)) < 0.3 and 0.7 < np.std(pulls[np.abs(pulls) < 10]) < 1.3


@pytest.mark.parametrize(
    ("pid", "energy", "cal"),
    [(22, 20.0, "ecal"), (11, 20.0, "ecal"), (130, 20.0, "hcal"), (211, 20.0, "hcal")],
)
def test_cluster_energy_response_and_resolution(pid, energy, cal):
    rng = np.random.default_rng(pid)
    measured = []
    for particles in gun(pid, energy, 150, rng):
        clusters = simulate_event(particles, SPEC, rng)["cluster"]
        measured.append(clusters["energy"].sum())
    response = np.asarray(measured) / energy
    spec = getattr(SPEC, cal)
    stated = np.hypot(spec.stochastic / np.sqrt(energy), spec.constant)
    # median and a robust width (IQR/1.349) of the response
    q25, q50, q75 = np.percentile(response, [25, 50, 75])
    assert q50 == pytest.approx(1.0, abs=0.03)
    assert (q75 - q25) / 1.349 == pytest.approx(stated, rel=0.3)


def test_muons_leave_minimum_ionising_tracks_through_both_calorimeters():
    rng = np.random.default_rng(13)
    expected = SPEC.ecal.layers * SPEC.ecal.mip_energy_per_layer + SPEC.hcal.layers * SPEC.hcal.mip_energy_per_layer
    tracks = 0
    for particles in gun(13, 30.0, 20, rng):
        event = simulate_event(particles, SPEC, rng, ("clusters", "hits"))
        assert event["cluster"]["energy"].sum() == pytest.approx(expected, rel=0.02)
        for sub, cal in ((0, SPEC.ecal), (1, SPEC.hcal)):  # one hit in every layer
            layers = event["hit"]["layer"][event["hit"]["subdetector"] == sub]
            assert np.unique(layers).size == cal.layers
        tracks += event["track"]["pt"].size
    assert tracks >= 18  # 99% tracking efficiency


def test_overlapping_showers_share_a_cluster():
    rng = np.random.default_rng(3)
    photon, pion = gun(22, 15.0, 1, rng)[0], gun(211, 15.0, 1, rng)[0]
    # point the pion 0.005 rad from the photon: their showers overlap in the ECAL
    eta = np.arcsinh(photon["pz"][0] / np.hypot(photon["px"][0], photon["py"][0]))
    phi = np.arctan2(photon["py"][0], photon["px"][0]) + 0.005
    # a 15 GeV pion bends by ~0.03 rad before the ECAL: compensate so that the impacts overlap
    phi_start = phi + 0.3 * SPEC.magnetic_field * SPEC.ecal.barrel_radius / (2 * 15.0 / np.cosh(eta))
    pt = np.sqrt(15.0**2 - 0.13957**2) / np.cosh(eta)
    pion.update(
        px=np.array([pt * np.cos(phi_start)]), py=np.array([pt * np.sin(phi_start)]), pz=np.array([pt * np.sinh(eta)])
    )
    both = {k: np.concatenate([photon[k], pion[k]]) for k in photon}
    event = simulate_event(both, SPEC, rng)
    clusters = event["cluster"]
    big = clusters["energy"] > 1.0
    assert big.sum() == 1, clusters["energy"]
    assert clusters["energy"][big][0] > 20.0  # photon and pion energy in one cluster
    # targets: the pion belongs to its track, the photon to the shared cluster
    assert event["track"]["target_cls"].tolist() == [1]
    assert clusters["target_cls"][big].tolist() == [3]


def test_hit_level_is_granular():
    rng = np.random.default_rng(2)
    counts = [simulate_event(p, SPEC, rng, ("clusters", "hits"))["hit"]["energy"].size for p in generate("ee_tt", 5, 3)]
    assert np.mean(counts) > 5000


def test_an_event_that_leaves_nothing_in_the_calorimeters_simulates_to_no_elements():
    """e.g. Z -> nu nu in ZH with an invisible recoil: no spots, no hits, no clusters (the
    medium campaign hit this in 2 of 40,000 events before digitise handled it)."""
    zero = np.zeros(2)
    particles = {
        "pid": np.array([12, -12], dtype=np.int32), "charge": zero, "px": np.array([10.0, -10.0]), "py": zero,
        "pz": zero, "energy": np.array([10.0, 10.0]), "vx": zero, "vy": zero, "vz": zero,
    }  # fmt: skip
    event = simulate_event(particles, DetectorSpec(), np.random.default_rng(0), ("clusters", "hits"))
    assert [len(event[c]["energy"]) for c in ("cluster", "hit")] == [0, 0] and len(event["track"]["pt"]) == 0
    assert len(event["gen"]["pid"]) == 2


def _brute_force_groups(voxels: np.ndarray, n_wrap: int) -> np.ndarray:
    """Group per voxel (region, layer, i, j) from every pair's Chebyshev distance (26-connectivity,
    i wrapping in region 0), numbered like scipy's connected_components on the sorted voxels."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    r, l, i, j = voxels.T  # noqa: E741
    di = np.abs(i[:, None] - i[None, :])
    di = np.where((r[:, None] == 0) & (r[None, :] == 0), np.minimum(di, n_wrap - di), di)
    touch = (r[:, None] == r[None, :]) & (np.abs(l[:, None] - l[None, :]) <= 1) & (di <= 1)
    touch &= np.abs(j[:, None] - j[None, :]) <= 1
    a, b = np.nonzero(touch)
    return connected_components(coo_matrix((np.ones(a.size), (a, b)), shape=(len(r), len(r))), directed=False)[1]


@pytest.mark.parametrize("seed", range(5))
def test_voxel_groups_match_the_pairwise_definition(seed):
    """The compiled union-find (forward-moving pointers, searches only across the barrel's wrap)
    groups voxels exactly as linking every touching pair would."""
    from pipeline.physics.compiled import voxel_groups, voxel_keys

    rng = np.random.default_rng(seed)
    n_wrap = 40
    region = rng.integers(0, 3, 900)
    voxels = np.stack(
        [
            region,
            rng.integers(0, 6, 900),
            np.where(region == 0, rng.integers(0, n_wrap, 900), rng.integers(-8, 8, 900)),
            rng.integers(-6, 6, 900),
        ],
        axis=1,
    )
    voxels = np.unique(voxels, axis=0)  # sorted like their keys
    keys = voxel_keys(*voxels.T)
    assert np.all(np.diff(keys) > 0)
    count, labels = voxel_groups(keys, 0, n_wrap)
    expected = _brute_force_groups(voxels, n_wrap)
    assert count == expected.max() + 1
    np.testing.assert_array_equal(labels, expected)
    # the wrap-around is exercised: some group spans i = 0 and i = n_wrap - 1 in the barrel
    barrel = voxels[:, 0] == 0
    assert set(labels[barrel & (voxels[:, 2] == 0)]) & set(labels[barrel & (voxels[:, 2] == n_wrap - 1)])


def test_sorted_runs_sum_cells_and_contributions_like_bincount():
    from pipeline.physics.compiled import sorted_runs

    rng = np.random.default_rng(3)
    cells, particles = rng.integers(0, 50, 2000), rng.integers(0, 7, 2000)
    pairs = np.sort((cells << 16) | particles)
    energy = rng.random(2000)
    keys, cell_e, pair_cell, pair_particle, pair_e = sorted_runs(pairs, energy, 16)
    unique_pairs, pair_of = np.unique(pairs, return_inverse=True)
    unique_cells, cell_of = np.unique(pairs >> 16, return_inverse=True)
    np.testing.assert_array_equal(keys, unique_cells)
    np.testing.assert_array_equal(cell_e, np.bincount(cell_of, weights=energy))  # same order, same sums
    np.testing.assert_array_equal(pair_e, np.bincount(pair_of, weights=energy))
    np.testing.assert_array_equal(pair_particle, unique_pairs & 0xFFFF)
    np.testing.assert_array_equal(unique_cells[pair_cell], unique_pairs >> 16)


def _random_spots(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Spots spread over both calorimeters' barrel and endcaps, positions in float32."""
    spec = DetectorSpec()
    sub, region = rng.integers(0, 2, n), rng.integers(0, 3, n)
    cal_r = np.where(sub == 0, spec.ecal.barrel_radius, spec.hcal.barrel_radius)
    cal_z = np.where(sub == 0, spec.ecal.endcap_z, spec.hcal.endcap_z)
    phi, depth = rng.uniform(-np.pi, np.pi, n), rng.uniform(-0.05, 1.6, n)
    barrel_pos = np.stack([(cal_r + depth) * np.cos(phi), (cal_r + depth) * np.sin(phi), rng.uniform(-2.3, 2.3, n)])
    side = np.where(region == 2, -1.0, 1.0)
    endcap_pos = np.stack([rng.uniform(-1.5, 1.5, n), rng.uniform(-1.5, 1.5, n), side * (cal_z + depth)])
    pos = np.where(region == 0, barrel_pos, endcap_pos).T.astype(np.float32)
    return {"pos": pos, "sub": sub, "region": region, "owner": rng.integers(0, 300, n)}


def test_compiled_cell_geometry_matches_the_array_formulas():
    """The digitisation's compiled per-spot cell keys and per-cell centres give, bit for bit, what
    the float32 / float64 array formulas they replaced give (the simulation's outputs did not move)."""
    from pipeline.physics import calorimeter as calo
    from pipeline.physics.compiled import cell_centres, spot_cell_keys

    spec, rng = DetectorSpec(), np.random.default_rng(11)
    spots = _random_spots(rng, 20000)
    keys = spot_cell_keys(
        spots["pos"], spots["sub"], spots["region"], spots["owner"], calo._geometry(spec, np.float32), 0, 18, 16
    )
    offset = 1 << 17
    for sub, cal in ((0, spec.ecal), (1, spec.hcal)):
        sel = spots["sub"] == sub
        x, y, z = spots["pos"][sel].T
        barrel = spots["region"][sel] == 0
        depth = np.where(barrel, np.hypot(x, y) - cal.barrel_radius, np.abs(z) - cal.endcap_z)
        i_len = np.where(barrel, np.arctan2(y, x) * cal.barrel_radius, x)
        j_len = np.where(barrel, z, y)
        assert depth.dtype == i_len.dtype == np.float32
        layer = np.clip(np.floor(depth / (cal.depth / cal.layers)), 0, cal.layers - 1).astype(np.int64)
        i = np.floor(i_len / cal.cell_size).astype(np.int64)
        j = np.floor(j_len / cal.cell_size).astype(np.int64)
        head = (sub * 3 + spots["region"][sel]) * 128 + layer
        cell = (head << 36) | ((i + offset) << 18) | (j + offset)
        np.testing.assert_array_equal(keys[sel], (cell << 16) | spots["owner"][sel])

        # the centres of those cells, against the float64 formulas
        r_c = cal.barrel_radius + (layer + 0.5) * (cal.depth / cal.layers)
        phi_c = (i + 0.5) * cal.cell_size / cal.barrel_radius
        side = np.where(spots["region"][sel] == 2, -1.0, 1.0)
        expected = np.where(
            barrel,
            [r_c * np.cos(phi_c), r_c * np.sin(phi_c), (j + 0.5) * cal.cell_size],
            [
                (i + 0.5) * cal.cell_size,
                (j + 0.5) * cal.cell_size,
                side * (cal.endcap_z + (layer + 0.5) * (cal.depth / cal.layers)),
            ],
        )
        centres = cell_centres(
            layer, i, j, np.full(layer.size, sub), spots["region"][sel], calo._geometry(spec, np.float64), 0, 2
        )
        np.testing.assert_array_equal(centres, expected)


def test_best_per_group_takes_the_first_of_equal_maxima_on_grouped_and_ungrouped_input():
    from pipeline.physics.grouping import best_per_group

    rng = np.random.default_rng(4)
    groups = np.sort(rng.integers(0, 300, 5000))
    weights = rng.integers(0, 5, 5000).astype(float)  # many ties
    values = np.arange(5000)
    grouped = best_per_group(groups, values, weights, 310)  # the compiled pass over runs
    shuffled = rng.permutation(5000)
    ungrouped = best_per_group(groups[shuffled], values[shuffled], weights[shuffled], 310)  # the sort
    expected = np.full(310, -1)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        expected[g] = values[members[np.argmax(weights[members])]]  # argmax: the first maximum
    np.testing.assert_array_equal(grouped, expected)
    np.testing.assert_array_equal(np.isin(ungrouped, values), expected >= 0)
    for g in np.unique(groups):  # the sort's tie-break differs; the weight chosen is the same
        assert weights[ungrouped[g]] == weights[expected[g]]


@pytest.mark.parametrize("n", [0, 1, 7, 30000])
def test_unique_inverse_is_np_unique(n):
    from pipeline.physics.compiled import unique_inverse

    rng = np.random.default_rng(n)
    # few distinct keys, repeated; negative and large keys; keys equal modulo the table size
    distinct = np.concatenate([rng.integers(-(1 << 62), 1 << 62, 200), np.arange(50) << 20])
    keys = rng.choice(distinct, n) if n else np.zeros(0, dtype=np.int64)
    got, expected = unique_inverse(keys), np.unique(keys, return_inverse=True)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
