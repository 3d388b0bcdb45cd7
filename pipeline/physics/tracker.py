"""Tracks from charged particles: acceptance, efficiency, curvature and angular resolution,
impact parameters, hit counts and fit quality, as a real reconstruction stores them."""

from __future__ import annotations

import numpy as np

from .detector_spec import DetectorSpec
from .kinematics import cos_theta, pt_eta_phi

TRACK_FIELDS = (
    "pt",
    "eta",
    "phi",
    "p",
    "charge",
    "d0",
    "z0",
    "chi2",
    "ndf",
    "nhits",
    "tanlambda",
    "radius_innermost",
    "gen_index",
)


def helix_radius(pt: np.ndarray, field_t: float) -> np.ndarray:
    """Transverse radius of curvature (m) of a unit-charge track in field_t tesla."""
    return pt / (0.299792458 * field_t)


def impact_resolution(spec: DetectorSpec, p: np.ndarray, sin_theta: np.ndarray) -> np.ndarray:
    """sigma(d0) = sigma(z0) (m) of a track of momentum p (GeV) at polar angle theta."""
    trk = spec.tracker
    return np.hypot(trk.ip_term, trk.ip_scattering_term / (np.maximum(p, 1e-9) * sin_theta**1.5))


def reconstruct_tracks(particles: dict[str, np.ndarray], spec: DetectorSpec, rng: np.random.Generator) -> dict:
    trk = spec.tracker
    px, py, pz, q = particles["px"], particles["py"], particles["pz"], particles["charge"]
    pt, _, phi = pt_eta_phi(px, py, pz)
    ct = cos_theta(px, py, pz)
    sin_t = np.sqrt(np.clip(1 - ct**2, 1e-12, 1))
    r_prod = np.hypot(particles["vx"], particles["vy"])
    radius = helix_radius(pt, spec.magnetic_field)

    # Layers crossed: outside the production radius, reachable by the helix (2R), inside the z extent.
    layers = np.asarray(trk.layer_radii)[None, :]
    reach = np.minimum(2 * radius, np.inf)[:, None]
    arc = 2 * radius[:, None] * np.arcsin(np.clip(layers / np.maximum(reach, 1e-9), 0, 1))
    z_at = particles["vz"][:, None] + arc * (pz / np.maximum(pt, 1e-9))[:, None]
    crossed = (layers > r_prod[:, None]) & (layers < reach) & (np.abs(z_at) < trk.half_length)
    nhits = crossed.sum(axis=1)

    efficiency = np.where(pt > 1.0, trk.efficiency, trk.efficiency_low_pt)
    found = (
        (q != 0)
        & (np.abs(ct) < trk.cos_theta_max)
        & (pt > trk.pt_min)
        & (r_prod < trk.max_production_radius)
        & (nhits >= trk.min_hits)
        & (rng.random(q.shape) < efficiency)
    )
    idx = np.flatnonzero(found)
    n = idx.size
    pt_t, phi_t, q_t, st = pt[idx], phi[idx], q[idx], sin_t[idx]
    theta_t = np.arccos(ct[idx])
    p_t = pt_t / st

    sigma_k = np.hypot(trk.curvature_term, trk.scattering_term / (pt_t * np.sqrt(st)))  # sigma(pT)/pT^2
    kappa = q_t / pt_t + sigma_k * rng.standard_normal(n)
    sigma_ang = np.hypot(trk.angle_term, trk.angle_scattering_term / (p_t * np.sqrt(st)))
    theta_m = np.clip(theta_t + sigma_ang * rng.standard_normal(n), 1e-4, np.pi - 1e-4)
    phi_m = np.angle(np.exp(1j * (phi_t + sigma_ang * rng.standard_normal(n))))
    pt_m = 1.0 / np.maximum(np.abs(kappa), 1e-6)

    vx, vy, vz = particles["vx"][idx], particles["vy"][idx], particles["vz"][idx]
    d0_true = vx * np.sin(phi_t) - vy * np.cos(phi_t)
    z0_true = vz - (vx * np.cos(phi_t) + vy * np.sin(phi_t)) * (np.cos(theta_t) / st)
    sigma_ip = impact_resolution(spec, p_t, st)
    nh = nhits[idx]
    ndf = np.maximum(2 * nh - 5, 1)
    first_layer = np.argmax(crossed[idx], axis=1) if n else np.zeros(0, dtype=int)
    return {
        "pt": pt_m,
        "eta": -np.log(np.tan(theta_m / 2)),
        "phi": phi_m,
        "p": pt_m / np.sin(theta_m),
        "charge": np.sign(kappa),
        "d0": d0_true + sigma_ip * rng.standard_normal(n),
        "z0": z0_true + sigma_ip * rng.standard_normal(n),
        "chi2": rng.chisquare(ndf).astype(np.float64),
        "ndf": ndf,
        "nhits": nh,
        "tanlambda": 1.0 / np.tan(theta_m),
        "radius_innermost": np.asarray(trk.layer_radii)[first_layer],
        "gen_index": idx,
    }
