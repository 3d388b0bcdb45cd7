"""Calorimeter response: particles -> shower spots (longitudinal and lateral profiles, MIP
segments) -> energy in the cells of a granular ECAL and HCAL. Vectorised over all spots of
an event; nearby showers share cells, which is the confusion particle flow must resolve."""

from __future__ import annotations

import numpy as np

from .compiled import cell_centres, sorted_runs, spot_cell_keys, spot_positions
from .detector_spec import CalorimeterSpec, DetectorSpec
from .grouping import best_per_group
from .kinematics import ParticleClass as PC
from .kinematics import cos_theta, particle_class, pt_eta_phi
from .tracker import helix_radius

HIT_FIELDS = ("energy", "x", "y", "z", "eta", "phi", "layer", "subdetector", "gen_index")
ECAL, HCAL = 0, 1
BARREL, ENDCAP_POS, ENDCAP_NEG = 0, 1, 2


def impacts(particles: dict[str, np.ndarray], spec: DetectorSpec) -> dict[str, np.ndarray]:
    """Where each particle enters the ECAL (helix for charged, line for neutral) and its
    direction there. `ok` is False for particles that never reach it (loopers, beam pipe)."""
    px, py, pz, q = particles["px"], particles["py"], particles["pz"], particles["charge"]
    pt, _, phi0 = pt_eta_phi(px, py, pz)
    ct = cos_theta(px, py, pz)
    st = np.sqrt(np.clip(1 - ct**2, 1e-12, 1))
    radius = np.where(q != 0, helix_radius(np.maximum(pt, 1e-9), spec.magnetic_field), np.inf)
    sign_q = np.sign(q)
    cot = pz / np.maximum(pt, 1e-9)
    rb, ze = spec.ecal.barrel_radius, spec.ecal.endcap_z
    with np.errstate(invalid="ignore", divide="ignore"):
        reaches_barrel = 2 * radius > rb
        s_b = np.where(np.isinf(radius), rb, 2 * radius * np.arcsin(np.clip(rb / (2 * radius), 0, 1)))
        z_b = particles["vz"] + s_b * cot
        barrel = reaches_barrel & (np.abs(z_b) <= ze)
        side = np.where(pz >= 0, 1.0, -1.0)
        s_e = (side * ze - particles["vz"]) / np.where(cot == 0, 1e-12, cot)
        phase_e = np.where(np.isinf(radius), 0.0, s_e / (2 * radius))
        r_e = np.where(np.isinf(radius), s_e, 2 * radius * np.abs(np.sin(phase_e)))
        endcap = ~barrel & (s_e > 0) & (phase_e < np.pi / 2) & (r_e < rb)
    s = np.where(barrel, s_b, s_e)
    phase = np.where(np.isinf(radius), 0.0, s / (2 * np.where(np.isinf(radius), 1.0, radius)))
    r = np.where(barrel, rb, r_e)
    phi_pos = phi0 - sign_q * phase
    phi_dir = phi0 - sign_q * 2 * phase
    z = np.where(barrel, z_b, side * ze)
    axis = np.stack([st * np.cos(phi_dir), st * np.sin(phi_dir), ct], axis=1)
    ok = (barrel | endcap) & (np.abs(ct) < spec.ecal.cos_theta_max)
    region = np.where(barrel, BARREL, np.where(side > 0, ENDCAP_POS, ENDCAP_NEG))
    pos = np.stack([r * np.cos(phi_pos), r * np.sin(phi_pos), z], axis=1)
    return {"ok": ok, "pos": pos, "axis": axis, "region": region}


def _hcal_offset(pos: np.ndarray, axis: np.ndarray, region: np.ndarray, spec: DetectorSpec) -> np.ndarray:
    """Distance along the shower axis from the ECAL entry point to the HCAL front face."""
    a2 = np.maximum(axis[:, 0] ** 2 + axis[:, 1] ** 2, 1e-12)
    b = pos[:, 0] * axis[:, 0] + pos[:, 1] * axis[:, 1]
    c = pos[:, 0] ** 2 + pos[:, 1] ** 2 - spec.hcal.barrel_radius**2
    t_barrel = (-b + np.sqrt(np.maximum(b**2 - a2 * c, 0))) / a2
    t_endcap = (spec.hcal.endcap_z - np.abs(pos[:, 2])) / np.maximum(np.abs(axis[:, 2]), 1e-6)
    return np.where(region == BARREL, t_barrel, t_endcap)


def incidence(pos: np.ndarray, axis: np.ndarray, region: np.ndarray) -> np.ndarray:
    """cos of the angle between the shower axis and the layers' normal (path-length factor)."""
    radial = (pos[:, 0] * axis[:, 0] + pos[:, 1] * axis[:, 1]) / np.maximum(np.hypot(pos[:, 0], pos[:, 1]), 1e-9)
    return np.clip(np.where(region == BARREL, radial, np.abs(axis[:, 2])), 0.2, 1.0)


def _distance(u: np.ndarray, per_ecal: float, per_hcal: float, t_hcal: np.ndarray, cos_inc: np.ndarray, spec):
    """Material depth u (X0 or lambda) -> distance along the axis (m), subdetector, inside?
    Layers are `depth / layers` thick along their normal, so an oblique path is longer."""
    in_ecal = u < per_ecal
    d = np.where(
        in_ecal,
        u / per_ecal * spec.ecal.depth / cos_inc,
        t_hcal + (u - per_ecal) / per_hcal * spec.hcal.depth / cos_inc,
    )
    return d, np.where(in_ecal, ECAL, HCAL), u < per_ecal + per_hcal


def _lateral(n: int, core: float, halo: float, core_fraction: float, rng: np.random.Generator) -> np.ndarray:
    scale = np.where(rng.random(n) < core_fraction, core, halo)
    return rng.standard_exponential(n) * scale  # = rng.exponential(scale), value for value, faster


def smear_energy(cal: CalorimeterSpec, e: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Measured energies: Gaussian with sigma/E = stochastic/sqrt(E) (+) constant, not below 0."""
    sigma = np.hypot(cal.stochastic / np.sqrt(np.maximum(e, 1e-6)), cal.constant)
    return np.maximum(e * (1 + sigma * rng.standard_normal(e.size)), 0)


def shower_spots(particles: dict[str, np.ndarray], spec: DetectorSpec, rng: np.random.Generator) -> dict:
    """Every deposit as (particle, subdetector, position, energy)."""
    hit = impacts(particles, spec)
    cls = particle_class(particles["pid"], particles["charge"])
    energy = particles["energy"]
    sh = spec.shower
    t_h = _hcal_offset(hit["pos"], hit["axis"], hit["region"], spec)
    cos_inc = incidence(hit["pos"], hit["axis"], hit["region"])
    parts: list[tuple[np.ndarray, ...]] = []

    def resolution(cal: CalorimeterSpec, e: np.ndarray) -> np.ndarray:
        return smear_energy(cal, e, rng)

    # Electromagnetic showers (photons, electrons): gamma-distributed depth in X0.
    em = np.flatnonzero(hit["ok"] & ((cls == PC.PHOTON) | (cls == PC.ELECTRON)))
    if em.size:
        e_vis = resolution(spec.ecal, energy[em])
        n = np.clip(np.ceil(e_vis / sh.em_spot_energy), 1, sh.max_spots).astype(int)
        t_max = np.log(np.maximum(energy[em] / sh.critical_energy, 1.0)) + np.where(cls[em] == PC.PHOTON, 0.5, -0.5)
        shape = np.maximum(0.5 * t_max + 1, 1.0)
        owner = np.repeat(em, n)
        u = rng.standard_gamma(np.repeat(shape, n)) * 2.0  # = rng.gamma(shape, 2.0)
        d, sub, inside = _distance(
            u, spec.ecal.radiation_lengths, spec.hcal.radiation_lengths, t_h[owner], cos_inc[owner], spec
        )
        lateral = _lateral(owner.size, 0.3 * sh.moliere_radius, 1.5 * sh.moliere_radius, 0.85, rng)
        parts.append((owner, sub, d, lateral, np.repeat(e_vis / n, n), inside))

    # Hadronic showers (charged and neutral hadrons): exponential start, then gamma profile in lambda.
    had = np.flatnonzero(hit["ok"] & ((cls == PC.CHARGED_HADRON) | (cls == PC.NEUTRAL_HADRON)))
    lam_e, lam_h = spec.ecal.interaction_lengths, spec.hcal.interaction_lengths
    start = np.full(energy.shape, np.inf)
    if had.size:
        start[had] = rng.exponential(1.0, had.size)
        e_vis = resolution(spec.hcal, energy[had])
        n = np.clip(np.ceil(e_vis / sh.hadron_spot_energy), 1, sh.max_spots).astype(int)
        scale = (0.2 * np.log(np.maximum(energy[had], 1.0)) + 0.7) / 2.0
        owner = np.repeat(had, n)
        u = start[owner] + rng.standard_gamma(2.0, owner.size) * np.repeat(scale, n)  # = gamma(2, scale)
        d, sub, inside = _distance(u, lam_e, lam_h, t_h[owner], cos_inc[owner], spec)
        lateral = _lateral(owner.size, sh.hadron_core, sh.hadron_halo, 0.7, rng)
        parts.append((owner, sub, d, lateral, np.repeat(e_vis / n, n), inside))

    # Minimum-ionising segments: muons through both calorimeters, charged hadrons until they shower.
    mip = np.flatnonzero(hit["ok"] & ((cls == PC.MUON) | ((cls == PC.CHARGED_HADRON) & np.isfinite(start))))
    for cal, per, offset_units in ((spec.ecal, lam_e, 0.0), (spec.hcal, lam_h, lam_e)):
        if not mip.size or cal.mip_energy_per_layer == 0:
            continue
        u_layer = offset_units + (np.arange(cal.layers) + 0.5) / cal.layers * per
        owner = np.repeat(mip, cal.layers)
        u = np.tile(u_layer, mip.size)
        keep = u < start[owner]
        owner, u = owner[keep], u[keep]
        d, sub, inside = _distance(u, lam_e, lam_h, t_h[owner], cos_inc[owner], spec)
        e_mip = np.full(owner.size, cal.mip_energy_per_layer)
        parts.append((owner, sub, d, np.zeros(owner.size), e_mip, inside))

    if not parts:
        empty = np.zeros(0)
        return {
            "owner": empty.astype(int),
            "sub": empty.astype(int),
            "pos": np.zeros((0, 3), dtype=np.float32),  # as spot_positions gives
            "energy": empty,
            "region": empty.astype(int),
        }
    owner, sub, d, lateral, e, inside = (np.concatenate(x) for x in zip(*parts, strict=True))
    kept = np.flatnonzero(inside)
    owner, sub, d, lateral, e = owner[kept], sub[kept], d[kept], lateral[kept], e[kept]
    # the shower axis and a transverse basis per particle, then per spot
    # (float32 per spot: 0.2 um at 2.5 m, far below the 5 mm cells, at half the memory traffic)
    axes = np.nan_to_num(hit["axis"])
    helper = np.where(np.abs(axes[:, 2:3]) < 0.9, np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]))
    e1 = np.cross(axes, helper)
    e1 /= np.maximum(np.linalg.norm(e1, axis=1, keepdims=True), 1e-12)
    e2 = np.cross(axes, e1)
    frame = np.stack([axes, e1, e2], axis=1).astype(np.float32)  # (particles, 3 directions, 3)
    alpha = rng.random(owner.size, dtype=np.float32) * np.float32(2 * np.pi)
    lateral = lateral.astype(np.float32)
    local = (d.astype(np.float32), lateral * np.cos(alpha), lateral * np.sin(alpha))
    start = np.nan_to_num(hit["pos"]).astype(np.float32)
    pos = spot_positions(owner, *local, frame, start)
    return {"owner": owner, "sub": sub, "pos": pos, "energy": e, "region": hit["region"][owner]}


# A cell as one int64: (subdetector, region, layer) | i | j, and room for the particle below it.
_INDEX_BITS, _OWNER_BITS = 18, 16
_INDEX_OFFSET, _INDEX_MASK = 1 << (_INDEX_BITS - 1), (1 << _INDEX_BITS) - 1
_HEAD_SHIFT = 2 * _INDEX_BITS


def _geometry(spec: DetectorSpec, dtype) -> np.ndarray:
    """Per subdetector (ECAL, HCAL): barrel radius, endcap z, layer thickness, layers, cell size."""
    return np.array(
        [[c.barrel_radius, c.endcap_z, c.depth / c.layers, c.layers, c.cell_size] for c in (spec.ecal, spec.hcal)],
        dtype=dtype,
    )


def digitise(spots: dict, n_particles: int, spec: DetectorSpec) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Sum spots into cells; drop cells under threshold. Returns hits (energy, cell centre and
    indices, ordered by cell key: subdetector, region, layer, i, j) and the per-(hit, particle)
    energy contributions used for truth. `with_angles` and `hit_collection` add the rest of a hit
    record, which the clusters level does not need."""
    if n_particles >= 1 << _OWNER_BITS:
        raise ValueError(f"{n_particles} particles in one event: at most {(1 << _OWNER_BITS) - 1} are supported")
    # One sort of (cell, particle) keys gives both the cells and each particle's share of them.
    pair = spot_cell_keys(
        spots["pos"],
        spots["sub"],
        spots["region"],
        spots["owner"],
        _geometry(spec, np.float32),
        BARREL,
        _INDEX_BITS,
        _OWNER_BITS,
    )
    order = np.argsort(pair)
    cell_keys, energy, contrib_cell, contrib_particle, contrib_e = sorted_runs(
        pair[order], spots["energy"][order], _OWNER_BITS
    )
    head = cell_keys >> _HEAD_SHIFT
    sub, region, layer = head // 128 // 3, head // 128 % 3, head % 128
    threshold = np.where(sub == ECAL, spec.ecal.hit_threshold, spec.hcal.hit_threshold)
    keep = energy >= threshold
    new_index = np.cumsum(keep) - 1
    kept = keep[contrib_cell]
    contributions = {
        "element": new_index[contrib_cell[kept]],
        "particle": contrib_particle[kept],
        "energy": contrib_e[kept],
    }
    kept_keys, sub, region, layer = cell_keys[keep], sub[keep], region[keep], layer[keep]
    cell_i = ((kept_keys >> _INDEX_BITS) & _INDEX_MASK) - _INDEX_OFFSET
    cell_j = (kept_keys & _INDEX_MASK) - _INDEX_OFFSET
    x, y, z = cell_centres(layer, cell_i, cell_j, sub, region, _geometry(spec, np.float64), BARREL, ENDCAP_NEG)
    hits = {
        "energy": energy[keep],
        "x": x,
        "y": y,
        "z": z,
        "layer": layer,
        "subdetector": sub,
        # cell indices for the clustering (not written to ROOT: not in the schema)
        "region": region,
        "cell_i": cell_i,
        "cell_j": cell_j,
    }
    return hits, contributions


def eta_phi(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudorapidity and azimuth of positions seen from the interaction point."""
    r = np.sqrt(x**2 + y**2 + z**2)
    return np.arctanh(np.clip(z / np.maximum(r, 1e-9), -0.999999, 0.999999)), np.arctan2(y, x)


def with_angles(hits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The hits with each cell centre's eta and phi (the clustering needs neither)."""
    eta, phi = eta_phi(hits["x"], hits["y"], hits["z"])
    return {**hits, "eta": eta, "phi": phi}


def hit_collection(hits: dict[str, np.ndarray], contributions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The hits as written at the hits level: with angles and each hit's leading particle."""
    return {**with_angles(hits), "gen_index": leading_particle(contributions, hits["energy"].size)}


def leading_particle(contributions: dict[str, np.ndarray], n_elements: int) -> np.ndarray:
    """For each element, the particle that gave it the most energy (-1 if none)."""
    return best_per_group(contributions["element"], contributions["particle"], contributions["energy"], n_elements)
