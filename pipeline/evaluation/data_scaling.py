"""Resolution against the number of training events: models fine-tuned from pretrained weights
against models trained from scratch, each trained on N events of the evaluated detector, all
judged on the same test events beside the rule-based baseline and the ideal floor.

A model "reaches the baseline" at N when its paired resolution difference to the baseline is
<= 0 (its point estimate no worse); the N where a curve reaches it is interpolated linearly in
log N between the largest N above the baseline and the first N at or below it (`reaches`), and
is None when no N reaches it (then only a lower bound, the largest N tried, is known). The
ratio of the two curves' N is what a pretrained model saves in events.
"""

from __future__ import annotations

import math

from ..training.params import initialisation

METRICS = {
    "jet_pt_resolution": ("jet pT resolution", lambda m: (m["jets"]["pt_response"]["resolution"],
                                                          m["jets"]["pt_response"]["resolution_err"])),
    "met_sigma_gev": ("MET resolution (GeV)", lambda m: (m["met"]["sigma_gev"]["value"],
                                                         m["met"]["sigma_gev"]["value_err"])),
}  # fmt: skip
GROUPS = ("fine-tuned", "scratch")


def members(info: dict[str, dict]) -> dict[str, list[tuple[int, str]]]:
    """group -> [(N, model)] sorted by N, of the train stages that say their N and how they began."""
    out: dict[str, list[tuple[int, str]]] = {g: [] for g in GROUPS}
    for name, i in info.items():
        group = initialisation(i)
        if group is not None and i.get("train_events"):
            out[group].append((int(i["train_events"]), name))
    return {g: sorted(v) for g, v in out.items()}


def pairs(info: dict[str, dict]) -> list[tuple[str, str]]:
    """(fine-tuned, scratch) at the same N: the models a paired difference is computed for."""
    groups = members(info)
    scratch = dict(groups["scratch"])
    return [(name, scratch[n]) for n, name in groups["fine-tuned"] if n in scratch]


def crossing(points: list[dict], metric: str) -> float | None:
    """The N at which the curve reaches the baseline (see the module's doc), None if it never does."""
    previous = None
    for point in points:
        diff = point[metric]["vs_baseline"]
        if diff is not None and diff["value"] <= 0:
            if previous is None:
                return float(point["n"])
            (n0, d0), (n1, d1) = previous, (point["n"], diff["value"])
            t = d0 / (d0 - d1) if d0 != d1 else 1.0
            return float(math.exp(math.log(n0) + t * (math.log(n1) - math.log(n0))))
        if diff is not None:
            previous = (point["n"], diff["value"])
    return None


def study(out: dict, info: dict[str, dict]) -> dict | None:
    """The data-scaling section of an evaluation's metrics, or None without both kinds of model."""
    groups = members({k: v for k, v in info.items() if k in out["sources"]})
    if not all(groups.values()):
        return None
    diffs = out.get("differences", {}).get("sources", {})
    curves = {}
    for group, entries in groups.items():
        curves[group] = []
        for n, name in entries:
            point = {"n": n, "model": name}
            for metric, (_, read) in METRICS.items():
                value, err = read(out["sources"][name])
                point[metric] = {"value": value, "err": err, "vs_baseline": diffs.get(name, {}).get(metric)}
            curves[group].append(point)
    floors = {
        source: {metric: dict(zip(("value", "err"), read(out["sources"][source]), strict=True))
                 for metric, (_, read) in METRICS.items()}
        for source in ("baseline", "ideal") if source in out["sources"]
    }  # fmt: skip
    reaches = {g: {m: crossing(curves[g], m) for m in METRICS} for g in GROUPS}
    largest = {g: curves[g][-1]["n"] for g in GROUPS}
    saving = {}
    for metric in METRICS:
        ft, sc = reaches["fine-tuned"][metric], reaches["scratch"][metric]
        if ft is None:
            saving[metric] = {"note": "the fine-tuned models never reached the baseline"}
        elif sc is None:
            note = f"from scratch never reached the baseline up to N = {largest['scratch']}"
            saving[metric] = {"at_least": largest["scratch"] / ft, "note": note}
        else:
            saving[metric] = {"ratio": sc / ft}
    return {
        "curves": curves,
        "references": floors,
        "reaches_baseline": reaches,
        "events_saved": saving,
        "pairs": out.get("pair_differences", {}),
        "rule": "reaches the baseline: paired resolution difference to the baseline <= 0; N interpolated in log N",
    }


def _fmt(value: float | None) -> str:
    return "never" if value is None else f"{value:,.0f}"


def text(scaling: dict) -> list[str]:
    """Lines for the report: the two curves, where each reaches the baseline, the saving, pairs."""
    lines = ["| N | " + " | ".join(f"{g}: {label}" for g in GROUPS for label, _ in METRICS.values()) + " |"]
    lines.append("|---|" + "---|" * (len(GROUPS) * len(METRICS)))
    by_n: dict[int, dict] = {}
    for group in GROUPS:
        for point in scaling["curves"][group]:
            by_n.setdefault(point["n"], {})[group] = point
    for n in sorted(by_n):
        cells = []
        for group in GROUPS:
            for metric in METRICS:
                p = by_n[n].get(group)
                if p is None:
                    cells.append("-")
                    continue
                d = p[metric]["vs_baseline"]
                mark = "" if d is None else f" ({d['value']:+.4f}{' *' if d['significant'] else ''})"
                cells.append(f"{p[metric]['value']:.4f} ± {p[metric]['err']:.4f}{mark}")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    for source, values in scaling["references"].items():
        lines.append(
            f"| {source} | "
            + " | ".join(f"{values[m]['value']:.4f} ± {values[m]['err']:.4f}" for _ in GROUPS for m in METRICS)
            + " |"
        )
    lines += ["", "In brackets: the paired difference to the baseline (* = 95% interval excludes 0).", ""]
    for metric, (label, _) in METRICS.items():
        ft, sc = (scaling["reaches_baseline"][g][metric] for g in GROUPS)
        saved = scaling["events_saved"][metric]
        how = (
            f"{saved['ratio']:.1f}x fewer events fine-tuned"
            if "ratio" in saved
            else f"at least {saved['at_least']:.1f}x fewer events fine-tuned ({saved['note']})"
            if "at_least" in saved
            else saved["note"]
        )
        lines.append(f"- {label}: baseline reached at N = {_fmt(ft)} fine-tuned, {_fmt(sc)} from scratch: {how}.")
    for pair, diffs in scaling["pairs"].items():
        cells = [
            f"{label} {diffs[m]['value']:+.4f} ± {diffs[m]['err']:.4f}{' *' if diffs[m]['significant'] else ''}"
            for m, (label, _) in METRICS.items()
            if m in diffs
        ]
        lines.append(f"- `{pair}` (paired): " + ", ".join(cells))
    return lines


def plot(plt, scaling: dict) -> dict:
    """One figure per metric: resolution against N for both curves, baseline and ideal as bands."""
    figures = {}
    for metric, (label, _) in METRICS.items():
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for group, style in zip(GROUPS, ("o-", "s--"), strict=True):
            points = scaling["curves"][group]
            ax.errorbar([p["n"] for p in points], [p[metric]["value"] for p in points],
                        yerr=[p[metric]["err"] for p in points], fmt=style, capsize=3, label=group)  # fmt: skip
        for (source, values), colour in zip(scaling["references"].items(), ("black", "grey"), strict=False):
            v, e = values[metric]["value"], values[metric]["err"]
            ax.axhline(v, color=colour, lw=1.5, label=source)
            ax.axhspan(v - e, v + e, color=colour, alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("training events of the evaluated detector (N)")
        ax.set_ylabel(label)
        ax.legend(fontsize=10)
        figures[f"scaling_{metric}"] = fig
    return figures
