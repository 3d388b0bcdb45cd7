"""Boosted jets from Pythia 8 pp collisions at 13 TeV in JetClass-like classes.

Each event's visible final state goes through the parametric detector in its CMS-like
configuration (physics/pp.py): charged particles the tracker finds become tracks (measured pT,
direction, d0 and z0 with their resolutions), every other visible particle a calorimeter
object with its energy smeared by the ECAL (photons, electrons) or HCAL (hadrons) resolution
at its true direction. Those constituents are clustered with anti-kt R = 0.8 (fastjet); a jet
in the pT window and |eta| < eta_max is kept when it is truth-matched:

- resonance classes: every visible decay parton of the labelled resonance (the quarks and
  charged leptons its decay chain produced before showering; for t -> b W the b and the W's
  daughters, for H -> WW* -> 4q the four quarks) lies within Delta R < R of the jet axis;
- qcd: no W, Z, t or H in the event; the jet is labelled quark or gluon by the nearest
  outgoing parton of the hard process (within Delta R < R).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .calorimeter import smear_energy
from .detector_spec import DetectorSpec
from .generator import particles_of, pythia_events, pythia_from
from .kinematics import ParticleClass as PC
from .kinematics import particle_class, pt_eta_phi
from .tracker import impact_resolution, reconstruct_tracks

SQRT_S = 13000.0
RESONANCES = (6, 23, 24, 25)
QUARKS_AND_LEPTONS = (1, 2, 3, 4, 5, 11, 13, 15)
HADRONIC_W = "24:onMode = off", "24:onIfAny = 1 2 3 4 5"


@dataclass(frozen=True)
class JetClass:
    settings: tuple[str, ...]
    resonance: int | None  # PDG id of the labelled resonance (its sign picks one of a pair)
    description: str
    boosted: tuple[str, ...] = field(default=())


JET_CLASSES: dict[str, JetClass] = {
    "qcd": JetClass(("HardQCD:all = on",), None, "light-quark and gluon jets from 2 -> 2 QCD"),
    "z_qq": JetClass(
        ("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on", "WeakZ0:gmZmode = 2",
         "23:onMode = off", "23:onIfAny = 1 2 3 4 5"),
        23, "Z -> q qbar",
    ),
    "w_qq": JetClass(
        ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *HADRONIC_W), 24, "W -> q qbar'"
    ),
    "t_bqq": JetClass(
        ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onPosIfAny = 1 2 3 4 5",
         "24:onNegIfAny = 11 13"),
        6, "t -> b W+, W+ -> q qbar' (the tbar decays leptonically)",
    ),
    "t_blv": JetClass(
        ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onPosIfAny = 1 2 3 4 5",
         "24:onNegIfAny = 11 13"),
        -6, "tbar -> bbar W-, W- -> l nu (l = e, mu)",
    ),
    "h_bb": JetClass(("25:onMode = off", "25:onIfAny = 5"), 25, "H -> b bbar"),
    "h_cc": JetClass(("25:onMode = off", "25:onIfAny = 4"), 25, "H -> c cbar"),
    "h_gg": JetClass(("25:onMode = off", "25:onIfAny = 21"), 25, "H -> g g"),
    "h_4q": JetClass(("25:onMode = off", "25:onIfAny = 24", *HADRONIC_W), 25, "H -> W W* -> 4 quarks"),
}  # fmt: skip
HIGGS_PLUS_JET = ("HiggsSM:gg2Hg(l:t) = on", "HiggsSM:qg2Hq(l:t) = on", "HiggsSM:qqbar2Hg(l:t) = on")

QUARK, GLUON = 1, 2  # qcd jets' parton label (0: none matched / a resonance class)
CONSTITUENT_FIELDS = ("pt", "eta", "phi", "energy", "charge", "kind", "d0", "d0_err", "dz", "dz_err")


@dataclass
class JetSettings:
    pt_min: float = 500.0
    pt_max: float = 1000.0
    eta_max: float = 2.0
    radius: float = 0.8
    pthat_min: float = 450.0  # Pythia PhaseSpace:pTHatMin


def make_jet_pythia(name: str, seed: int, pthat_min: float):
    cls = JET_CLASSES[name]
    process = HIGGS_PLUS_JET if cls.resonance == 25 else ()
    return pythia_from(
        [f"Beams:eCM = {SQRT_S}", f"PhaseSpace:pTHatMin = {pthat_min}", *process, *cls.settings], seed, name
    )


def delta_r(eta1, phi1, eta2, phi2):
    return np.hypot(np.asarray(eta1) - eta2, np.angle(np.exp(1j * (np.asarray(phi1) - phi2))))


def _eta_phi(p) -> tuple[float, float]:
    return p.eta(), p.phi()


def decay_partons(event, index: int) -> list[tuple[float, float]]:
    """(eta, phi) of the visible decay partons of the resonance at `index`, recursively through
    t -> W and H -> W W*; neutrinos are left out (invisible)."""
    bottom = event[index].iBotCopyId()
    out = []
    for d in event[bottom].daughterList():
        pid = abs(event[d].id())
        if pid in RESONANCES:
            out += decay_partons(event, d)
        elif pid in QUARKS_AND_LEPTONS or pid == 21:
            out.append(_eta_phi(event[d]))
    return out


def truth(event, cls: JetClass) -> tuple[list[list[tuple[float, float]]], list[tuple[float, float, int]]]:
    """The labelled resonances' decay partons (one list per resonance copy) and the hard
    process's outgoing partons (eta, phi, QUARK|GLUON); for qcd, an event with any resonance
    gives none (it is not a light jet event)."""
    resonances, partons = [], []
    for i in range(event.size()):
        p = event[i]
        if cls.resonance is not None and p.id() == cls.resonance and p.iTopCopyId() == i:
            resonances.append(decay_partons(event, i))
        elif cls.resonance is None and abs(p.id()) in RESONANCES:
            return [], []
        if p.status() == -23 and (abs(p.id()) <= 5 or p.id() == 21):
            partons.append((*_eta_phi(p), GLUON if p.id() == 21 else QUARK))
    return resonances, partons


def constituents(particles: dict[str, np.ndarray], spec: DetectorSpec, rng: np.random.Generator) -> dict:
    """Reconstructed constituents of an event: tracks, and a calorimeter object for every other
    visible particle in the calorimeter acceptance. `kind` is the ParticleClass."""
    cls = particle_class(particles["pid"], particles["charge"])
    tracks = reconstruct_tracks(particles, spec, rng)
    tracked = np.zeros(cls.size, dtype=bool)
    tracked[tracks["gen_index"]] = True
    track_kind = cls[tracks["gen_index"]]
    track_kind = np.where(np.isin(track_kind, (PC.ELECTRON, PC.MUON)), track_kind, PC.CHARGED_HADRON)
    pt, eta, phi = pt_eta_phi(particles["px"], particles["py"], particles["pz"])
    neutral = np.flatnonzero(
        ~tracked & (cls != PC.NONE) & (cls != PC.MUON) & (np.abs(np.tanh(eta)) < spec.ecal.cos_theta_max)
    )
    em = np.isin(cls[neutral], (PC.PHOTON, PC.ELECTRON))
    energy = particles["energy"][neutral]
    measured = np.where(
        em, smear_energy(spec.ecal, energy, rng), smear_energy(spec.hcal, energy, rng)
    )  # massless objects: pT = E / cosh(eta)
    keep = measured > 0
    neutral, em, measured = neutral[keep], em[keep], measured[keep]
    sin_t = 1.0 / np.cosh(tracks["eta"])
    ip_err = impact_resolution(spec, tracks["p"], sin_t)
    zeros = np.zeros(neutral.size)
    return {
        "pt": np.concatenate([tracks["pt"], measured / np.cosh(eta[neutral])]),
        "eta": np.concatenate([tracks["eta"], eta[neutral]]),
        "phi": np.concatenate([tracks["phi"], phi[neutral]]),
        "energy": np.concatenate([tracks["p"], measured]),  # tracks: massless at the measured p
        "charge": np.concatenate([tracks["charge"], zeros]),
        "kind": np.concatenate([track_kind, np.where(em, PC.PHOTON, PC.NEUTRAL_HADRON)]).astype(np.int32),
        "d0": np.concatenate([tracks["d0"], zeros]),
        "d0_err": np.concatenate([ip_err, zeros]),
        "dz": np.concatenate([tracks["z0"], zeros]),
        "dz_err": np.concatenate([ip_err, zeros]),
    }


def cluster(parts: dict[str, np.ndarray], radius: float, pt_min: float):
    """Anti-kt jets of the constituents: list of (fastjet jet, constituent indices)."""
    import fastjet

    px, py = parts["pt"] * np.cos(parts["phi"]), parts["pt"] * np.sin(parts["phi"])
    pz = parts["pt"] * np.sinh(parts["eta"])
    inputs = []
    for i, (a, b, c, e) in enumerate(zip(px, py, pz, parts["energy"], strict=True)):
        pj = fastjet.PseudoJet(float(a), float(b), float(c), float(e))
        pj.set_user_index(i)
        inputs.append(pj)
    sequence = fastjet.ClusterSequence(inputs, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    jets = fastjet.sorted_by_pt(sequence.inclusive_jets(pt_min))
    return [(j, np.array(sorted(c.user_index() for c in j.constituents()))) for j in jets], sequence


@dataclass
class Jet:
    label: str
    parton: int  # QUARK | GLUON for qcd, 0 otherwise
    pt: float
    eta: float
    phi: float
    mass: float
    energy: float
    constituents: dict[str, np.ndarray]
    partons_dr_max: float  # largest Delta R of a matched decay parton (0 for qcd)


def _matched(jet, resonances, partons, name: str, radius: float) -> tuple[int, float] | None:
    eta, phi = jet.eta(), jet.phi_std()
    if JET_CLASSES[name].resonance is None:
        if not partons:
            return None
        dr = [delta_r(eta, phi, e, p) for e, p, _ in partons]
        best = int(np.argmin(dr))
        return (partons[best][2], 0.0) if dr[best] < radius else None
    for parts in resonances:
        if parts:
            dr = delta_r(eta, phi, *np.array(parts).T)
            if dr.max() < radius:
                return 0, float(dr.max())
    return None


def generate_jets(
    name: str, n_jets: int, seed: int, spec: DetectorSpec, settings: JetSettings | None = None
) -> Iterator[tuple[int, Jet]]:
    """(event number, jet) of `n_jets` truth-matched jets of class `name` (at most one per
    labelled resonance; qcd: every matched jet of the event)."""
    s = settings or JetSettings()
    cls = JET_CLASSES[name]
    pythia = make_jet_pythia(name, seed, s.pthat_min)
    rng = np.random.default_rng(seed)
    produced = 0
    for tries, event in pythia_events(pythia, 100 * n_jets + 1000, f"jets of {name}"):
        if produced >= n_jets:
            return
        resonances, partons = truth(event, cls)
        if cls.resonance is not None and not resonances or cls.resonance is None and not partons:
            continue
        parts = constituents(particles_of(event), spec, rng)
        if parts["pt"].size == 0:
            continue
        jets, _ = cluster(parts, s.radius, s.pt_min)
        for jet, members in jets:
            if produced >= n_jets:
                break
            if not (s.pt_min <= jet.pt() <= s.pt_max and abs(jet.eta()) < s.eta_max):
                continue
            matched = _matched(jet, resonances, partons, name, s.radius)
            if matched is None:
                continue
            produced += 1
            yield (
                tries - 1,
                Jet(
                    label=name,
                    parton=matched[0],
                    pt=jet.pt(),
                    eta=jet.eta(),
                    phi=jet.phi_std(),
                    mass=max(jet.m(), 0.0),
                    energy=jet.e(),
                    constituents={k: v[members] for k, v in parts.items()},
                    partons_dr_max=matched[1],
                ),
            )
