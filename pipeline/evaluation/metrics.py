"""Physics metrics of candidate lists against the truth, every one with a paired per-event
bootstrap uncertainty (`paired.EventResampler`: the same resampled events for every source).

- jets: e+e- generalised-kt clustering with fastjet; the pT cut applies to generator jets
  only, reco jets are kept down to a low floor so that a low reco response is not cut away;
  reco-gen matching by Delta R; pT response (median of reco/gen) and resolution (IQR/median)
  overall and in bins of generator jet pT;
- missing transverse momentum: the spread (IQR/1.349) of the vector difference reco - gen,
  both components, in GeV, overall and in bins of generator MET;
- particles (element by element against the per-element truth): efficiency and fake rate per
  class (also in bins of pT and eta), the confusion matrix, pT and energy response per class;
- differences of every source to a reference source (the baseline), replicate by replicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .candidates import CLASS_NAMES, four_momenta
from .paired import Estimate, EventResampler, summary


@dataclass(frozen=True)
class JetConfig:
    algorithm: str = "ee_genkt"
    radius: float = 0.4
    p: float = -1.0  # -1 anti-kt, 0 Cambridge/Aachen, 1 kt
    min_pt: float = 5.0  # generator jets
    reco_min_pt: float = 1.0  # reco jets are matched down to this floor
    match_dr: float = 0.1


@dataclass(frozen=True)
class Binning:
    jet_pt: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0, 200.0)
    particle_pt: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 200.0)
    particle_eta: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    met: tuple[float, ...] = field(default=(0.0, 5.0, 10.0, 20.0, 40.0, 200.0))


# ---- jets -----------------------------------------------------------------------------------
def cluster_jets(events: list[np.ndarray], cfg: JetConfig, min_pt: float | None = None) -> list[np.ndarray]:
    """Jets (pt, eta, phi, E) per event with fastjet, above `min_pt` (default: the generator cut)."""
    import awkward as ak
    import fastjet
    import vector

    vector.register_awkward()
    p4 = [four_momenta(e) for e in events]
    array = ak.zip(
        {
            "px": ak.Array([m[:, 0] for m in p4]),
            "py": ak.Array([m[:, 1] for m in p4]),
            "pz": ak.Array([m[:, 2] for m in p4]),
            "E": ak.Array([m[:, 3] for m in p4]),
        },
        with_name="Momentum4D",
    )
    algorithm = getattr(fastjet, f"{cfg.algorithm}_algorithm")
    definition = fastjet.JetDefinition(algorithm, cfg.radius, cfg.p)
    jets = fastjet.ClusterSequence(array, definition).inclusive_jets(min_pt=cfg.min_pt if min_pt is None else min_pt)
    out = []
    for event in ak.to_list(jets):
        if not event:
            out.append(np.zeros((0, 4)))
            continue
        j = np.array([[v["px"], v["py"], v["pz"], v["E"]] for v in event])
        pt = np.hypot(j[:, 0], j[:, 1])
        eta = np.arcsinh(np.divide(j[:, 2], pt, out=np.zeros_like(pt), where=pt > 0))
        out.append(np.stack([pt, eta, np.arctan2(j[:, 1], j[:, 0]), j[:, 3]], axis=1))
    return out


def match_jets(reco: list[np.ndarray], gen: list[np.ndarray], max_dr: float) -> dict[str, np.ndarray]:
    """Pairs matched greedily by smallest Delta R below `max_dr`, per event: event index,
    generator pT, reco pT and response (reco/gen pT) of each pair."""
    event, gen_pt, reco_pt = [], [], []
    for e, (r, g) in enumerate(zip(reco, gen, strict=True)):
        if not len(r) or not len(g):
            continue
        dphi = np.mod(g[:, None, 2] - r[None, :, 2] + np.pi, 2 * np.pi) - np.pi
        dr = np.hypot(g[:, None, 1] - r[None, :, 1], dphi)
        used_g, used_r = set(), set()
        for flat in np.argsort(dr, axis=None):
            i, j = divmod(int(flat), dr.shape[1])
            if dr[i, j] >= max_dr:
                break
            if i in used_g or j in used_r:
                continue
            used_g.add(i)
            used_r.add(j)
            event.append(e)
            gen_pt.append(g[i, 0])
            reco_pt.append(r[j, 0])
    gen_pt, reco_pt = np.array(gen_pt), np.array(reco_pt)
    response = reco_pt / np.maximum(gen_pt, 1e-12)
    return {"event": np.array(event, dtype=np.int64), "gen_pt": gen_pt, "reco_pt": reco_pt, "response": response}


def _bins(edges) -> list[tuple[float, float]]:
    return list(zip(edges[:-1], edges[1:], strict=True))


def jet_metrics(
    pairs: dict[str, np.ndarray], gen_jets: list[np.ndarray], binning: Binning, rs: EventResampler
) -> tuple[dict, dict[str, Estimate]]:
    """Summary (JSON) and estimates (for paired differences) of the jet pT response of the
    matched pairs (`match_jets`)."""
    response = pairs["response"]
    n_gen = np.array([len(g) for g in gen_jets], dtype=np.float64)
    n_matched = np.bincount(pairs["event"], minlength=len(gen_jets)).astype(np.float64)
    overall = rs.response(response, pairs["event"])
    estimates = {f"jet_pt_{k}": e for k, e in overall.items()}
    per_bin = []
    for b, (lo, hi) in enumerate(_bins(binning.jet_pt)):
        inside = (pairs["gen_pt"] >= lo) & (pairs["gen_pt"] < hi)
        est = rs.response(response[inside], pairs["event"][inside])
        estimates |= {f"jet_pt_{k}[{b}]": e for k, e in est.items()}
        per_bin.append({"low": lo, "high": hi, **summary(est, inside.sum())})
    matching = rs.ratio_of_sums(n_matched, n_gen)
    out = {
        "gen_jets": int(n_gen.sum()),
        "matched": int(len(response)),
        "matching_efficiency": matching.value,
        "matching_efficiency_err": matching.error,
        "pt_response": summary(overall, len(response)),
        "pt_response_vs_gen_pt": per_bin,
    }
    return out, estimates


def transverse_sum(events: list[np.ndarray]) -> np.ndarray:
    """(events, 2): the summed px, py of each event's particles (minus the MET vector)."""
    out = np.zeros((len(events), 2))
    for i, e in enumerate(events):
        p4 = four_momenta(e)
        out[i] = p4[:, 0].sum(), p4[:, 1].sum()
    return out


def met_metrics(
    reco_sum: np.ndarray, gen_sum: np.ndarray, binning: Binning, rs: EventResampler
) -> tuple[dict, dict[str, Estimate]]:
    """Spread of the MET vector difference (both components pooled), in GeV, overall and in
    bins of generator MET; and the median difference of the MET magnitudes."""
    delta = reco_sum - gen_sum
    gen_met = np.hypot(gen_sum[:, 0], gen_sum[:, 1])
    events = np.arange(len(delta))
    values, owners = np.concatenate([delta[:, 0], delta[:, 1]]), np.concatenate([events, events])
    overall = rs.spread(values, owners)
    magnitude = rs.spread(np.hypot(reco_sum[:, 0], reco_sum[:, 1]) - gen_met, events)
    estimates = {"met_sigma_gev": overall["sigma"], "met_magnitude_bias_gev": magnitude["median"]}
    per_bin = []
    for b, (lo, hi) in enumerate(_bins(binning.met)):
        inside = np.concatenate([(gen_met >= lo) & (gen_met < hi)] * 2)
        est = rs.spread(values[inside], owners[inside])
        estimates[f"met_sigma_gev[{b}]"] = est["sigma"]
        per_bin.append({"low": lo, "high": hi, **summary({"sigma_gev": est["sigma"]}, inside.sum() // 2)})
    out = {
        "events": int(len(delta)),
        "mean_gen_met": float(gen_met.mean()) if len(gen_met) else float("nan"),
        "sigma_gev": summary({"value": overall["sigma"]}, len(delta)),
        "magnitude_bias_gev": summary({"value": magnitude["median"]}, len(delta)),
        "sigma_vs_gen_met": per_bin,
    }
    return out, estimates


def particle_metrics(
    reco: list[np.ndarray], truth: list[np.ndarray], binning: Binning, rs: EventResampler
) -> tuple[dict, dict[str, Estimate]]:
    """Element by element against the per-element truth, per class."""
    owner = np.concatenate([np.full(len(t), i) for i, t in enumerate(truth)]).astype(np.int64)
    r, t = np.concatenate(reco), np.concatenate(truth)
    r_cls, t_cls = r[:, 0].astype(int), t[:, 0].astype(int)
    n_classes = max(CLASS_NAMES) + 1
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (t_cls, r_cls), 1)
    out: dict = {"confusion": confusion.tolist(), "classes": {}}
    estimates: dict[str, Estimate] = {}

    def per_event(selected: np.ndarray) -> np.ndarray:
        return np.bincount(owner[selected], minlength=len(truth)).astype(np.float64)

    def rate(numerator, denominator, x, edges):
        total = np.histogram(x[denominator], edges)[0]
        passed = np.histogram(x[numerator & denominator], edges)[0]
        return [float(p / n) if n else float("nan") for p, n in zip(passed, total, strict=True)]

    for c, name in CLASS_NAMES.items():
        true_c, reco_c = t_cls == c, r_cls == c
        matched = true_c & reco_c
        fake = reco_c & (t_cls == 0)
        efficiency = rs.ratio_of_sums(per_event(matched), per_event(true_c))
        fake_rate = rs.ratio_of_sums(per_event(fake), per_event(reco_c))
        ok = matched & (t[:, 2] > 0)
        pt = rs.response(r[ok, 2] / t[ok, 2], owner[ok])
        ok_e = matched & (t[:, 5] > 0)
        energy = rs.response(r[ok_e, 5] / t[ok_e, 5], owner[ok_e])
        estimates |= {f"efficiency/{name}": efficiency, f"fake_rate/{name}": fake_rate}
        estimates[f"pt_resolution/{name}"] = pt["resolution"]
        out["classes"][name] = {
            "true": int(true_c.sum()),
            "reco": int(reco_c.sum()),
            "efficiency": efficiency.value,
            "efficiency_err": efficiency.error,
            "fake_rate": fake_rate.value,
            "fake_rate_err": fake_rate.error,
            "efficiency_vs_pt": rate(reco_c, true_c, t[:, 2], binning.particle_pt),
            "efficiency_vs_eta": rate(reco_c, true_c, t[:, 3], binning.particle_eta),
            "fake_rate_vs_pt": rate(t_cls == 0, reco_c, r[:, 2], binning.particle_pt),
            "fake_rate_vs_eta": rate(t_cls == 0, reco_c, r[:, 3], binning.particle_eta),
            "pt_response": summary(pt, ok.sum()),
            "energy_response": summary(energy, ok_e.sum()),
        }
    return out, estimates


def paired_differences(estimates: dict[str, dict[str, Estimate]], reference: str) -> dict[str, dict[str, dict]]:
    """source -> metric -> difference to the reference source (value, err, interval, significant)."""
    ref = estimates[reference]
    return {
        source: {key: est.minus(ref[key]).difference_summary() for key, est in mine.items() if key in ref}
        for source, mine in estimates.items()
        if source != reference
    }
