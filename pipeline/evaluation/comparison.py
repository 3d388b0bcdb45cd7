"""All sources judged on the same events: jets, MET and particles of each, the paired
differences of every source to the baseline, and what the figures cover (processes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import candidates, metrics
from .paired import EventResampler

REFERENCE = "baseline"
# Fixed source order in every table and plot: models first, then the reference points.
REFERENCE_SOURCES = ("baseline", "ideal", "element-truth")
PER_PARTICLE_SOURCES = ("ideal",)  # one row per particle, not per element: no element-by-element metrics
SOURCE_DESCRIPTIONS = {
    "baseline": "the rule-based particle flow (track-cluster links along the shower path, E/p balance, "
    "neutral calibration fitted on the training split)",
    "ideal": "perfect association with measured quantities: each tracked particle with its track's "
    "momentum, each untracked one with the calorimeter energy it deposited — the floor a particle "
    "flow on these elements could reach",
    "element-truth": "generator truth per element (the targets the models learn): exact generator "
    "momenta of every particle that left a track or a deposit; differs from generator jets only "
    "by what the detector never saw",
}


def ordered(names) -> list[str]:
    """Models in their given order, then baseline, ideal, element-truth."""
    names = list(names)
    return [n for n in names if n not in REFERENCE_SOURCES] + [n for n in REFERENCE_SOURCES if n in names]


@dataclass(frozen=True)
class Settings:
    jets: metrics.JetConfig
    binning: metrics.Binning
    bootstrap: int
    seed: int


def compare(
    sources: dict[str, list[np.ndarray]],
    gen: list[np.ndarray],
    truth: list[np.ndarray],
    process_ids: list[int],
    process_names: list[str],
    settings: Settings,
    model_reference: str | None = None,
    model_pairs: list[tuple[str, str]] = (),
) -> tuple[dict, dict]:
    """(metrics JSON, per-source distributions for the plots) of every source on the same events.
    With `model_reference` (one of the models), the other models' paired differences to it too
    (`model_differences`): a searched configuration against the default one, with one error.
    `model_pairs` (a, b): the paired difference a - b of each pair (`pair_differences`), e.g. a
    fine-tuned model against the one from scratch on the same training events."""
    rs = EventResampler(len(gen), settings.bootstrap, np.random.default_rng(settings.seed))
    gen_tables = [candidates.from_gen(g) for g in gen]
    gen_jets = metrics.cluster_jets(gen_tables, settings.jets)
    gen_sum = metrics.transverse_sum(gen_tables)
    counts = np.bincount(np.asarray(process_ids, dtype=np.int64), minlength=len(process_names))
    names = [*process_names, *(f"process {i}" for i in range(len(process_names), counts.size))]  # older manifests
    out: dict = {"sources": {}, "processes": {names[i]: int(n) for i, n in enumerate(counts) if n}}
    estimates, distributions = {}, {}
    for name in ordered(sources):
        tables = sources[name]
        reco_jets = metrics.cluster_jets(tables, settings.jets, settings.jets.reco_min_pt)
        pairs = metrics.match_jets(reco_jets, gen_jets, settings.jets.match_dr)
        jets, jet_est = metrics.jet_metrics(pairs, gen_jets, settings.binning, rs)
        reco_sum = metrics.transverse_sum(tables)
        met, met_est = metrics.met_metrics(reco_sum, gen_sum, settings.binning, rs)
        out["sources"][name] = {"jets": jets, "met": met}
        estimates[name] = jet_est | met_est
        if name not in PER_PARTICLE_SOURCES:
            particles, particle_est = metrics.particle_metrics(tables, truth, settings.binning, rs)
            out["sources"][name]["particles"] = particles
            estimates[name] |= particle_est
        distributions[name] = {
            "jet": pairs["response"],
            "met": (reco_sum - gen_sum).ravel(),
        }
    if REFERENCE in estimates:
        out["differences"] = {"reference": REFERENCE, "sources": metrics.paired_differences(estimates, REFERENCE)}
    if model_reference is not None:
        models = {k: v for k, v in estimates.items() if k not in REFERENCE_SOURCES}
        out["model_differences"] = {
            "reference": model_reference,
            "sources": metrics.paired_differences(models, model_reference),
        }
    if model_pairs:
        out["pair_differences"] = {
            f"{a} - {b}": metrics.paired_differences({a: estimates[a], b: estimates[b]}, b)[a] for a, b in model_pairs
        }
    out["descriptions"] = {k: v for k, v in SOURCE_DESCRIPTIONS.items() if k in sources}
    return out, distributions
