"""Anomaly-detection metrics on the test split: every source scores the same events (held-out
background and every signal point); a signal point's efficiency at a background mistag rate r is
the fraction of its events above the score the background exceeds with probability r.

Sources: the trained autoencoders (score 1/D) and two rule-based scores of the same events, the
track multiplicity (the tracks of the hard vertex, pileup removed, a file's `ntracks`; files
without it: non-zero pixels of the track channel) — a SUEP is a high-multiplicity spray of soft
tracks — and HT. Uncertainties are bootstrap standard deviations, resampling the background and
each signal point independently (they are different events) with the same resamples for every
source, so differences between sources are paired.

Weighted samples (a QCD sample biased in pT-hat carries Pythia's event weights): the threshold
at mistag r is the weighted (1 - r) quantile of the background, efficiencies and the AUC are
weighted sums, and a bootstrap replica carries each drawn event's weight. Unweighted samples
take the unweighted formulas, so earlier figures are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...evaluation.roc import auc

ROC_POINTS = 200


@dataclass
class ScoredEvents:
    process_id: np.ndarray  # [N]
    ht: np.ndarray  # [N] GeV
    processes: list[str]
    background: list[int]
    weight: np.ndarray | None = None  # [N] event weights; None: unweighted
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # source -> [N]; larger: more anomalous
    examples: dict[str, dict] = field(default_factory=dict)  # model source -> event index -> (input, reco)


def select(dataset, per_process: int | None) -> list[int]:
    """Indices of the dataset's events, at most `per_process` of each process (first ones)."""
    counts: dict[int, int] = {}
    keep = []
    for i, (arrays, e) in enumerate(dataset.rows):
        pid = int(arrays["process_id"][e])
        if per_process is None or counts.get(pid, 0) < per_process:
            counts[pid] = counts.get(pid, 0) + 1
            keep.append(i)
    return keep


def example_indices(process_id: np.ndarray, background: list[int]) -> list[int]:
    """One event of each process present (the first), background first."""
    order = sorted(set(process_id.tolist()), key=lambda p: (p not in background, p))
    return [int(np.flatnonzero(process_id == p)[0]) for p in order]


def rule_based(dataset, indices: list[int]) -> dict[str, np.ndarray]:
    multiplicity, ht = [], []
    for i in indices:
        arrays, e = dataset.rows[i]
        multiplicity.append(int(arrays["ntracks"][e]))
        ht.append(float(arrays["ht"][e]))
    return {"track_multiplicity": np.array(multiplicity, dtype=float), "ht": np.array(ht)}


def model_scores(model, dataset, indices: list[int], batch_size: int, device, examples: list[int]):
    """Scores (1/D) of the events in order, by the anomaly task's prediction, and (input,
    reconstruction) of the example events, both in the network's target space (numpy [C, H, W])."""
    import torch

    from ...tasks import load_task

    task = load_task("anomaly_detection")
    scores, kept = [], {}
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            batch = {k: v.to(device) for k, v in task.collate([dataset[i] for i in chunk], dataset).items()}
            out = task.predict(model, batch)
            scores.append(out["score"].float().cpu().numpy())
            for j, position in enumerate(range(start, start + len(chunk))):
                if position in examples:
                    kept[position] = (out["target"][j].float().cpu().numpy(), out["reco"][j].float().cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0), kept


def _uniform(w: np.ndarray | None) -> bool:
    """No weights, or all equal: the unweighted formulas apply."""
    return w is None or w.size == 0 or bool(np.all(w == w[0]))


def threshold_at(background: np.ndarray, mistag: float, weight: np.ndarray | None = None) -> float:
    """The score the background exceeds with (weighted) probability `mistag`."""
    if _uniform(weight):
        return float(np.quantile(background, 1.0 - mistag, method="higher"))
    order = np.argsort(background, kind="mergesort")
    cumulative = np.cumsum(weight[order]) / weight.sum()
    return float(background[order][min(np.searchsorted(cumulative, 1.0 - mistag), background.size - 1)])


def efficiency_at(background, signal, mistag, background_weight=None, signal_weight=None) -> float:
    threshold = threshold_at(background, mistag, background_weight)
    if _uniform(signal_weight):
        return float((signal > threshold).mean())
    return float(signal_weight[signal > threshold].sum() / signal_weight.sum())


def weighted_auc(background, signal, background_weight=None, signal_weight=None) -> float:
    """P(signal score > background score), ties half, each event counted with its weight."""
    if _uniform(background_weight) and _uniform(signal_weight):
        return auc(background, signal)
    bw = np.ones(background.size) if background_weight is None else background_weight
    sw = np.ones(signal.size) if signal_weight is None else signal_weight
    order = np.argsort(background, kind="mergesort")
    ordered, cumulative = background[order], np.concatenate([[0.0], np.cumsum(bw[order])])
    below = cumulative[np.searchsorted(ordered, signal, "left")]
    equal = cumulative[np.searchsorted(ordered, signal, "right")] - below
    return float((sw * (below + 0.5 * equal)).sum() / (sw.sum() * bw.sum()))


def roc_curve(background, signal, background_weight=None, signal_weight=None) -> dict[str, list[float]]:
    """Signal efficiency against background mistag at ROC_POINTS log-spaced mistag rates."""
    floor = 1.0 / max(background.size, 1)
    mistags = np.geomspace(floor, 1.0, ROC_POINTS)
    return {
        "mistag": mistags.tolist(),
        "efficiency": [efficiency_at(background, signal, m, background_weight, signal_weight) for m in mistags],
    }


def _metric(background, signal, mistags, background_weight=None, signal_weight=None) -> np.ndarray:
    return np.array([
        weighted_auc(background, signal, background_weight, signal_weight),
        *(efficiency_at(background, signal, m, background_weight, signal_weight) for m in mistags),
    ])  # fmt: skip


def compare(events: ScoredEvents, mistags: list[float], trigger_ht: float | None, bootstrap: int, seed: int) -> dict:
    """Per signal point and selection: each source's AUC and efficiencies at `mistags` with
    errors, and each model's paired difference to each rule-based score."""
    names = [f"{m:g}" for m in mistags]
    is_background = np.isin(events.process_id, events.background)
    background_idx = np.flatnonzero(is_background)
    if background_idx.size == 0:
        raise ValueError("the evaluated split has no background events to set the mistag thresholds on")
    points = {}
    for pid in sorted(set(events.process_id.tolist()) - set(events.background)):
        point_idx = np.flatnonzero(events.process_id == pid)
        selections = {"all": point_idx}
        if trigger_ht is not None:
            selections[f"ht>={trigger_ht:g}"] = point_idx[events.ht[point_idx] >= trigger_ht]
        point: dict = {"events": int(point_idx.size), "selections": {}}
        for label, signal_idx in selections.items():
            point["selections"][label] = _compare_selection(
                events, background_idx, signal_idx, mistags, names, bootstrap, seed + pid
            )
            point["selections"][label]["acceptance"] = float(signal_idx.size / max(point_idx.size, 1))
        points[events.processes[pid]] = point
    return {
        "background_events": int(background_idx.size),
        "background": [events.processes[p] for p in events.background],
        "mistag_rates": mistags,
        "trigger_ht": trigger_ht,
        "bootstrap": bootstrap,
        "points": points,
    }


def _compare_selection(events, background_idx, signal_idx, mistags, names, bootstrap, seed) -> dict:
    out: dict = {"events": int(signal_idx.size), "sources": {}, "differences": {}}
    if signal_idx.size == 0:
        return out
    rng = np.random.default_rng(seed)
    resamples = [
        (rng.integers(0, background_idx.size, background_idx.size), rng.integers(0, signal_idx.size, signal_idx.size))
        for _ in range(bootstrap)
    ]
    values, replicas = {}, {}
    weight = events.weight
    bw = None if weight is None else weight[background_idx]
    sw = None if weight is None else weight[signal_idx]
    pick = lambda w, i: None if w is None else w[i]  # noqa: E731
    for source, scores in events.scores.items():
        bkg, sig = scores[background_idx], scores[signal_idx]
        values[source] = _metric(bkg, sig, mistags, bw, sw)
        replicas[source] = np.array(
            [_metric(bkg[b], sig[s], mistags, pick(bw, b), pick(sw, s)) for b, s in resamples]
        ).reshape(-1, len(values[source]))
        errors = replicas[source].std(axis=0, ddof=1) if bootstrap > 1 else np.full(values[source].size, np.nan)
        out["sources"][source] = {
            "auc": {"value": float(values[source][0]), "error": float(errors[0])},
            "efficiency": {
                n: {"value": float(v), "error": float(e)}
                for n, v, e in zip(names, values[source][1:], errors[1:], strict=True)
            },
            "roc": roc_curve(bkg, sig, bw, sw),
        }
    rules = [s for s in events.scores if s in RULE_BASED]
    for model in (s for s in events.scores if s not in RULE_BASED):
        for rule in rules:
            diff = values[model] - values[rule]
            spread = (
                (replicas[model] - replicas[rule]).std(axis=0, ddof=1) if bootstrap > 1 else np.full(diff.size, np.nan)
            )
            out["differences"][f"{model} - {rule}"] = {
                key: {"value": float(d), "error": float(e), "significant": bool(abs(d) > 2 * e)}
                for key, d, e in zip(["auc", *names], diff, spread, strict=True)
            }
    return out


RULE_BASED = ("track_multiplicity", "ht")
