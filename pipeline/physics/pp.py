"""pp collisions at 13 TeV for anomaly detection: Pythia 8 multijet QCD (with a trigger-like
threshold on HT, the scalar sum of jet pT) and a heavy scalar S from gluon fusion that decays to
a dark shower (physics/suep.py); events through the same detector code as the e+e- data, in a
CMS-like configuration, into eta-phi images of track pT, ECAL E_T and HCAL E_T."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .calorimeter import ECAL, HCAL, digitise, shower_spots, with_angles
from .detector_spec import DetectorSpec
from .generator import PARTICLE_FIELDS, particles_of, pythia_events, pythia_from
from .suep import POINT_ORDER, POINTS, BoltzmannSampler, shower
from .tracker import reconstruct_tracks

SQRT_S = 13000.0
BACKGROUND = "pp_qcd"
SCALAR_ID = 25  # the S is Pythia's Higgs with another mass, kept undecayed (the shower replaces its decay)


def pp_processes() -> list[str]:
    return [BACKGROUND, *POINT_ORDER]


def cms_like_detector() -> DetectorSpec:
    """The parametric detector in a CMS-like configuration: 3.8 T, |eta| < 2.5 tracking,
    PbWO4-like ECAL cells of 0.0174 in eta-phi at 1.29 m, HCAL towers of 0.087 at 1.8 m,
    resolutions of the CMS technical design; heavy shower spots (images need cell energies,
    not shower shapes)."""
    acceptance = float(np.tanh(2.5))  # |cos theta| at |eta| = 2.5
    return DetectorSpec.model_validate(
        {
            "name": "cms-like",
            "magnetic_field": 3.8,
            "tracker": {
                "layer_radii": [
                    0.044, 0.073, 0.102, 0.255, 0.339, 0.418, 0.498, 0.608, 0.692, 0.78, 0.868, 0.965, 1.08
                ],
                "half_length": 2.7,
                "cos_theta_max": acceptance,
                "pt_min": 0.2,
                "efficiency": 0.95,
                "efficiency_low_pt": 0.85,
                "curvature_term": 1.5e-4,
                "scattering_term": 8e-3,
            },
            "ecal": {
                "barrel_radius": 1.29, "endcap_z": 3.15, "depth": 0.23, "layers": 1, "cell_size": 0.022,
                "radiation_lengths": 25.8, "interaction_lengths": 1.1, "stochastic": 0.03, "constant": 0.005,
                "mip_energy_per_layer": 0.25, "hit_threshold": 0.1, "cos_theta_max": acceptance, "link_distance": 0.03,
            },
            "hcal": {
                "barrel_radius": 1.77, "endcap_z": 3.9, "depth": 1.0, "layers": 1, "cell_size": 0.15,
                "radiation_lengths": 60.0, "interaction_lengths": 5.8, "stochastic": 1.0, "constant": 0.05,
                "mip_energy_per_layer": 2.0, "hit_threshold": 0.5, "cos_theta_max": acceptance, "link_distance": 0.2,
            },
            "shower": {"em_spot_energy": 0.05, "hadron_spot_energy": 0.2, "max_spots": 150},
        }
    )  # fmt: skip


@dataclass(frozen=True)
class Production:
    """How the samples are produced: QCD above a pT-hat floor (optionally biased towards high pT
    hat, with Pythia's event weights), the scalar by gluon fusion alone or with a hard jet."""

    pthat_min: float = 250.0  # QCD PhaseSpace:pTHatMin (GeV)
    bias_power: float | None = None  # PhaseSpace:bias2SelectionPow (weights ~ pthat^-power), None: unweighted
    signal: str = "inclusive"  # inclusive: gg -> S; hjet: gg -> S g (top loop), above signal_pthat_min
    signal_pthat_min: float = 150.0


SIGNAL_PRODUCTION = {"inclusive": ["HiggsSM:gg2H = on"], "hjet": ["HiggsSM:gg2Hg(l:t) = on"]}


def make_pp_pythia(process: str, seed: int, production: Production | float):
    if not isinstance(production, Production):  # a pT-hat floor alone: the first runs' set-up
        production = Production(pthat_min=float(production))
    settings = [f"Beams:eCM = {SQRT_S}"]
    if process == BACKGROUND:
        settings += ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {production.pthat_min}"]
        if production.bias_power is not None:
            settings += [
                "PhaseSpace:bias2Selection = on",
                f"PhaseSpace:bias2SelectionPow = {production.bias_power}",
                f"PhaseSpace:bias2SelectionRef = {production.pthat_min}",
            ]
    else:
        mass = POINTS[process].mediator_mass
        settings += [
            *SIGNAL_PRODUCTION[production.signal],
            f"{SCALAR_ID}:m0 = {mass}",
            f"{SCALAR_ID}:mWidth = 0.01",
            f"{SCALAR_ID}:doForceWidth = on",
            f"{SCALAR_ID}:mMin = {mass - 0.1}",
            f"{SCALAR_ID}:mMax = {mass + 0.1}",
            f"{SCALAR_ID}:mayDecay = off",
        ]
        if production.signal == "hjet":
            settings += [f"PhaseSpace:pTHatMin = {production.signal_pthat_min}"]
    return pythia_from(settings, seed, process)


def jet_ht(particles: dict[str, np.ndarray], jet_pt_min: float = 30.0, eta_max: float = 2.5) -> float:
    """HT: scalar sum of anti-kt R = 0.4 jet pT (jets above `jet_pt_min`, |eta| < eta_max) of the
    visible final state (neutrinos left out), as a trigger would see it."""
    import fastjet

    visible = ~np.isin(np.abs(particles["pid"]), (12, 14, 16))
    if not visible.any():
        return 0.0
    inputs = [
        fastjet.PseudoJet(float(px), float(py), float(pz), float(e))
        for px, py, pz, e in zip(
            particles["px"][visible], particles["py"][visible], particles["pz"][visible], particles["energy"][visible],
            strict=True,
        )
    ]  # fmt: skip
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4))
    return float(sum(j.pt() for j in sequence.inclusive_jets(jet_pt_min) if abs(j.eta()) < eta_max))


def _with_shower(event, point, sampler, rng) -> dict[str, np.ndarray]:
    """Final-state particles with the undecayed S replaced by its dark shower."""
    particles = particles_of(event)
    scalar = np.flatnonzero(particles["pid"] == SCALAR_ID)
    if scalar.size != 1:
        raise RuntimeError(f"expected one undecayed S in the event, found {scalar.size}")
    s = scalar[0]
    four = np.array([particles["energy"][s], particles["px"][s], particles["py"][s], particles["pz"][s]])
    dark = shower(point, four, rng, sampler)
    keep = np.arange(particles["pid"].size) != s
    return {name: np.concatenate([particles[name][keep], dark[name]]) for name in PARTICLE_FIELDS}


class Pileup:
    """Minimum-bias pp interactions (Pythia SoftQCD:nonDiffractive, its own seed stream) overlaid
    on an event, a Poisson number of them with mean `mean`, all at the nominal vertex (the
    parametric detector has no vertex spread: pileup tracks are not separable by their z)."""

    def __init__(self, mean: float, seed: int) -> None:
        self.mean = mean
        self.rng = np.random.default_rng([seed, 1])  # not the shower's stream: mean 0 changes nothing
        self.pythia = pythia_from(
            [f"Beams:eCM = {SQRT_S}", "SoftQCD:nonDiffractive = on"], (seed + 450_000_000) % 900_000_000, "pileup"
        )

    def add(self, particles: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        wanted, extra = int(self.rng.poisson(self.mean)), []
        while len(extra) < wanted:
            if self.pythia.next():
                extra.append(particles_of(self.pythia.event))
        if not extra:
            return particles
        return {name: np.concatenate([particles[name], *(e[name] for e in extra)]) for name in PARTICLE_FIELDS}


def generate_pp(
    process: str, n_events: int, seed: int, trigger_ht: float, pthat_min: float, pileup: float = 0.0
) -> Iterator[tuple[dict[str, np.ndarray], float]]:
    """(particles, HT) of `n_events` events, with `pileup` minimum-bias interactions on average
    overlaid. The background must pass HT >= trigger_ht, HT of the hard interaction (as a trigger's
    pileup-corrected jets estimate it); the signal is kept whatever its HT (its efficiency is
    reported before any trigger and after the same cut)."""
    pythia = make_pp_pythia(process, seed, pthat_min)
    overlay = Pileup(pileup, seed) if pileup > 0 else None
    rng = np.random.default_rng(seed)
    point = POINTS.get(process)
    sampler = BoltzmannSampler(point.meson_mass, point.temperature) if point else None
    produced = 0
    for _, event in pythia_events(pythia, 200 * n_events + 1000, f"{process} (HT >= {trigger_ht} GeV)"):
        if produced >= n_events:
            return
        particles = _with_shower(event, point, sampler, rng) if point else particles_of(event)
        ht = jet_ht(particles)
        if point is None and ht < trigger_ht:
            continue
        if overlay is not None:
            particles = overlay.add(particles)
        produced += 1
        yield particles, ht


@dataclass(frozen=True)
class ImageBinning:
    """The image grid: rows in eta over |eta| < eta_max, columns over the full phi range."""

    eta_bins: int = 286
    phi_bins: int = 360
    eta_max: float = 2.5

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.eta_bins, self.phi_bins)

    def cell(self, eta: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, inside |eta| < eta_max) of each point."""
        inside = np.abs(eta) < self.eta_max
        i = np.floor((eta + self.eta_max) / (2 * self.eta_max) * self.eta_bins).astype(np.int64)
        j = np.floor(np.mod(phi + np.pi, 2 * np.pi) / (2 * np.pi) * self.phi_bins).astype(np.int64)
        return np.clip(i, 0, self.eta_bins - 1), np.clip(j, 0, self.phi_bins - 1), inside

    def pixels(self, eta: np.ndarray, phi: np.ndarray, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """(flat pixel index, inside-acceptance mask) of (eta, phi) points in one channel."""
        i, j, inside = self.cell(eta, phi)
        return (channel * self.eta_bins + i) * self.phi_bins + j, inside

    def row_eta(self, rows: np.ndarray) -> np.ndarray:
        """eta at the centre of (fractional) rows."""
        return -self.eta_max + (np.asarray(rows, dtype=float) + 0.5) * (2 * self.eta_max / self.eta_bins)

    def column_phi(self, columns: np.ndarray) -> np.ndarray:
        return -np.pi + (np.asarray(columns, dtype=float) + 0.5) * (2 * np.pi / self.phi_bins)


def image_event(
    particles: dict[str, np.ndarray], spec: DetectorSpec, binning: ImageBinning, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse 3-channel image of one event: (pixel index int32, value float32), sorted by index;
    channel 0 track pT, 1 ECAL E_T, 2 HCAL E_T (GeV)."""
    tracks = reconstruct_tracks(particles, spec, rng)
    hits = with_angles(digitise(shower_spots(particles, spec, rng), particles["pid"].size, spec)[0])
    et = hits["energy"] / np.cosh(hits["eta"])
    parts = [(tracks["eta"], tracks["phi"], tracks["pt"], 0)]
    for channel, sub in ((1, ECAL), (2, HCAL)):
        sel = hits["subdetector"] == sub
        parts.append((hits["eta"][sel], hits["phi"][sel], et[sel], channel))
    index, value = [], []
    for eta, phi, weight, channel in parts:
        pix, inside = binning.pixels(eta, phi, channel)
        index.append(pix[inside])
        value.append(weight[inside])
    index_all, value_all = np.concatenate(index), np.concatenate(value)
    unique, inverse = np.unique(index_all, return_inverse=True)
    summed = np.bincount(inverse, weights=value_all, minlength=unique.size)
    return unique.astype(np.int32), summed.astype(np.float32)


def dense_image(index: np.ndarray, value: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    image = np.zeros(int(np.prod(shape)), dtype=np.float32)
    np.add.at(image, index.astype(np.int64), value)
    return image.reshape(shape)
