"""Jet-tagging metrics on the test split and the convergence comparison of fine-tuned and
from-scratch training.

Every model scores the same jets. Two classes (background first, signal second, as the task's
`classes` order them): AUC, accuracy, and background rejection 1/eps_B at signal efficiencies
eps_S (the signal score's (1 - eps_S) quantile is the threshold). More classes: accuracy and the
mean one-vs-rest AUC. Uncertainties are bootstrap standard deviations over jets, the same
resamples for every model, so the differences between models are paired.

Convergence: each model's validation records (its train stage's validation.jsonl). The speed-up
of a fine-tuned model over one trained from scratch is the number of steps the scratch model
needed to first reach its own final validation AUC, divided by the steps the fine-tuned model
needed to reach that AUC (not reached: no speed-up, stated as such).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...evaluation.roc import auc


def rejection_at(background: np.ndarray, signal: np.ndarray, efficiency: float) -> float:
    """1/eps_B at signal efficiency `efficiency` (inf when no background passes)."""
    threshold = np.quantile(signal, 1.0 - efficiency)
    passed = float((background >= threshold).mean())
    return float("inf") if passed == 0 else 1.0 / passed


def _values(prob: np.ndarray, label: np.ndarray, efficiencies: list[float]) -> np.ndarray:
    accuracy = float((prob.argmax(1) == label).mean())
    if prob.shape[1] == 2:
        bkg, sig = prob[label == 0, 1], prob[label == 1, 1]
        return np.array([auc(bkg, sig), accuracy, *(rejection_at(bkg, sig, e) for e in efficiencies)])
    aucs = [auc(prob[label != c, c], prob[label == c, c]) for c in range(prob.shape[1]) if (label == c).any()]
    return np.array([float(np.mean(aucs)), accuracy])


def compare(
    probs: dict[str, np.ndarray],
    label: np.ndarray,
    classes: list[str],
    efficiencies: list[float],
    bootstrap: int,
    seed: int,
) -> dict:
    binary = len(classes) == 2
    keys = ["auc", "accuracy", *(f"rejection_at_{e:g}" for e in efficiencies)] if binary else ["auc", "accuracy"]
    rng = np.random.default_rng(seed)
    resamples = [rng.integers(0, label.size, label.size) for _ in range(bootstrap)]
    values, replicas = {}, {}
    for name, prob in probs.items():
        values[name] = _values(prob, label, efficiencies)
        replicas[name] = np.array([_values(prob[r], label[r], efficiencies) for r in resamples]).reshape(-1, len(keys))

    def spread(rows: np.ndarray) -> np.ndarray:
        if bootstrap < 2:
            return np.full(len(keys), np.nan)
        finite = np.where(np.isfinite(rows), rows, np.nan)
        return np.nanstd(finite, axis=0, ddof=1)

    out = {
        "classes": classes,
        "jets": int(label.size),
        "per_class": {c: int((label == i).sum()) for i, c in enumerate(classes)},
        "signal_efficiencies": efficiencies if binary else [],
        "bootstrap": bootstrap,
        "models": {
            name: {
                k: {"value": float(v), "error": float(e)}
                for k, v, e in zip(keys, values[name], spread(replicas[name]), strict=True)
            }
            for name in probs
        },
        "differences": {},
    }
    names = list(probs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = values[a] - values[b]
            errors = spread(replicas[a] - replicas[b])
            out["differences"][f"{a} - {b}"] = {
                k: {"value": float(d), "error": float(e), "significant": bool(np.isfinite(d) and abs(d) > 2 * e)}
                for k, d, e in zip(keys, diff, errors, strict=True)
            }
    return out


def roc_points(prob: np.ndarray, label: np.ndarray, points: int = 100) -> dict[str, list[float]]:
    bkg, sig = prob[label == 0, 1], prob[label == 1, 1]
    efficiencies = np.linspace(0.05, 0.99, points)
    return {
        "signal_efficiency": efficiencies.tolist(),
        "rejection": [min(rejection_at(bkg, sig, e), float(bkg.size)) for e in efficiencies],
    }


def validation_curve(stage_outputs: Path) -> list[dict]:
    path = stage_outputs / "validation.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def first_step(curve: list[dict], key: str, target: float) -> int | None:
    for record in curve:
        if record.get(key) is not None and record[key] >= target:
            return int(record["step"])
    return None


def speed_up(finetuned: list[dict], scratch: list[dict], key: str = "auc") -> dict:
    if not finetuned or not scratch or key not in scratch[-1]:
        return {"note": f"no validation {key} records to compare"}
    target = float(scratch[-1][key])
    steps_scratch = first_step(scratch, key, target)
    steps_finetuned = first_step(finetuned, key, target)
    out = {
        "metric": f"val_{key}",
        "target": target,
        "scratch_steps": steps_scratch,
        "finetuned_steps": steps_finetuned,
        "finetuned_final": float(finetuned[-1][key]),
    }
    if steps_finetuned is None:
        out["note"] = "the fine-tuned model never reached the from-scratch model's final validation value"
    else:
        out["speed_up"] = steps_scratch / steps_finetuned
    return out
