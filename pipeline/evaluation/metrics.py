"""Physics metrics of candidate lists against the truth.

- particles (element by element against the targets): efficiency and fake rate per class in
  bins of pT and eta, the confusion matrix, pT and energy resolution per class;
- jets: e+e- generalised-kt clustering with fastjet, reco-gen matching by Delta R, pT
  response (median of reco/gen) and resolution (IQR/median) in bins of generator jet pT;
- missing transverse momentum: response and resolution against the generator's;
- bootstrap uncertainties on every median and resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .candidates import CLASS_NAMES, four_momenta


@dataclass(frozen=True)
class JetConfig:
    algorithm: str = "ee_genkt"
    radius: float = 0.4
    p: float = -1.0  # -1 anti-kt, 0 Cambridge/Aachen, 1 kt
    min_pt: float = 5.0
    match_dr: float = 0.1


@dataclass(frozen=True)
class Binning:
    jet_pt: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 80.0, 200.0)
    particle_pt: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0, 200.0)
    particle_eta: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    met: tuple[float, ...] = field(default=(5.0, 10.0, 20.0, 40.0, 200.0))  # below the first: no ratio


# ---- robust statistics ----------------------------------------------------------------------
def median_iqr(values: np.ndarray) -> tuple[float, float]:
    """Median, and resolution = IQR / median (nan when empty)."""
    if len(values) == 0:
        return float("nan"), float("nan")
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return float(q50), float((q75 - q25) / q50) if q50 != 0 else float("nan")


def bootstrap(values: np.ndarray, samples: int, rng: np.random.Generator) -> tuple[float, float]:
    """Standard deviation of the median and of IQR/median over bootstrap resamples."""
    if len(values) < 2 or samples <= 0:
        return float("nan"), float("nan")
    stats = np.array([median_iqr(values[rng.integers(0, len(values), len(values))]) for _ in range(samples)])
    return float(np.nanstd(stats[:, 0])), float(np.nanstd(stats[:, 1]))


def summarize(values: np.ndarray, samples: int, rng: np.random.Generator) -> dict:
    median, resolution = median_iqr(values)
    median_err, resolution_err = bootstrap(values, samples, rng)
    return {
        "n": int(len(values)),
        "median": median,
        "median_err": median_err,
        "resolution": resolution,
        "resolution_err": resolution_err,
    }


def binned(x: np.ndarray, values: np.ndarray, edges, samples: int, rng) -> list[dict]:
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (x >= lo) & (x < hi)
        out.append({"low": lo, "high": hi, **summarize(values[inside], samples, rng)})
    return out


# ---- particles ------------------------------------------------------------------------------
def particle_metrics(reco: list[np.ndarray], target: list[np.ndarray], binning: Binning, samples: int, rng) -> dict:
    r, t = np.concatenate(reco), np.concatenate(target)
    r_cls, t_cls = r[:, 0].astype(int), t[:, 0].astype(int)
    n_classes = max(CLASS_NAMES) + 1
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (t_cls, r_cls), 1)
    out: dict = {"confusion": confusion.tolist(), "classes": {}}
    for c, name in CLASS_NAMES.items():
        true_c, reco_c = t_cls == c, r_cls == c
        matched = true_c & reco_c
        fake = reco_c & (t_cls == 0)

        def rate(numerator, denominator, x, edges):
            total = np.histogram(x[denominator], edges)[0]
            passed = np.histogram(x[numerator & denominator], edges)[0]
            return [float(p / n) if n else float("nan") for p, n in zip(passed, total, strict=True)]

        out["classes"][name] = {
            "true": int(true_c.sum()),
            "reco": int(reco_c.sum()),
            "efficiency": float(matched.sum() / true_c.sum()) if true_c.any() else float("nan"),
            "fake_rate": float(fake.sum() / reco_c.sum()) if reco_c.any() else float("nan"),
            "efficiency_vs_pt": rate(reco_c, true_c, t[:, 2], binning.particle_pt),
            "efficiency_vs_eta": rate(reco_c, true_c, t[:, 3], binning.particle_eta),
            "fake_rate_vs_pt": rate(t_cls == 0, reco_c, r[:, 2], binning.particle_pt),
            "fake_rate_vs_eta": rate(t_cls == 0, reco_c, r[:, 3], binning.particle_eta),
            "pt_response": summarize(_ratio(r[matched, 2], t[matched, 2]), samples, rng),
            "energy_response": summarize(_ratio(r[matched, 5], t[matched, 5]), samples, rng),
        }
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ok = b > 0
    return a[ok] / b[ok]


# ---- jets -----------------------------------------------------------------------------------
def cluster_jets(events: list[np.ndarray], cfg: JetConfig) -> list[np.ndarray]:
    """Jets (pt, eta, phi, E) per event with fastjet."""
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
    jets = fastjet.ClusterSequence(array, definition).inclusive_jets(min_pt=cfg.min_pt)
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


def match_jets(reco: list[np.ndarray], gen: list[np.ndarray], max_dr: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (gen pt, reco pt) matched greedily by smallest Delta R below `max_dr`, per event."""
    gen_pt, reco_pt = [], []
    for r, g in zip(reco, gen, strict=True):
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
            gen_pt.append(g[i, 0])
            reco_pt.append(r[j, 0])
    return np.array(gen_pt), np.array(reco_pt)


def jet_response(reco_jets, gen_jets, cfg: JetConfig) -> tuple[np.ndarray, np.ndarray]:
    """Generator pT and reco/gen pT of the matched jet pairs."""
    gen_pt, reco_pt = match_jets(reco_jets, gen_jets, cfg.match_dr)
    return gen_pt, reco_pt / np.maximum(gen_pt, 1e-12)


def jet_summary(gen_pt: np.ndarray, response: np.ndarray, n_gen: int, binning: Binning, samples: int, rng) -> dict:
    return {
        "gen_jets": int(n_gen),
        "matched": int(len(gen_pt)),
        "matching_efficiency": float(len(gen_pt) / n_gen) if n_gen else float("nan"),
        "pt_response": summarize(response, samples, rng),
        "pt_response_vs_gen_pt": binned(gen_pt, response, binning.jet_pt, samples, rng),
    }


def jet_metrics(reco_jets, gen_jets, cfg: JetConfig, binning: Binning, samples: int, rng) -> dict:
    gen_pt, response = jet_response(reco_jets, gen_jets, cfg)
    return jet_summary(gen_pt, response, sum(len(g) for g in gen_jets), binning, samples, rng)


# ---- missing transverse momentum ------------------------------------------------------------
def met(events: list[np.ndarray]) -> np.ndarray:
    out = []
    for e in events:
        p4 = four_momenta(e)
        out.append(np.hypot(p4[:, 0].sum(), p4[:, 1].sum()))
    return np.array(out)


def met_ratio(reco_met: np.ndarray, gen_met: np.ndarray, binning: Binning) -> tuple[np.ndarray, np.ndarray]:
    """Generator MET and reco/gen MET of the events whose generator MET reaches binning.met[0]."""
    keep = gen_met >= binning.met[0]
    return gen_met[keep], reco_met[keep] / gen_met[keep]


def met_summary(reco_met: np.ndarray, gen_met: np.ndarray, binning: Binning, samples: int, rng) -> dict:
    gen_kept, response = met_ratio(reco_met, gen_met, binning)
    difference = reco_met - gen_met
    q25, q75 = np.percentile(difference, [25, 75]) if len(difference) else (float("nan"), float("nan"))
    return {
        "events": int(len(gen_met)),
        "events_above_min": int(len(gen_kept)),
        "min_gen_met": binning.met[0],
        "response": summarize(response, samples, rng),
        "difference_iqr_gev": float(q75 - q25),
        "response_vs_gen_met": binned(gen_kept, response, binning.met, samples, rng),
        "mean_gen_met": float(gen_met.mean()) if len(gen_met) else float("nan"),
    }


def met_metrics(reco: list[np.ndarray], gen: list[np.ndarray], binning: Binning, samples: int, rng) -> dict:
    return met_summary(met(reco), met(gen), binning, samples, rng)
