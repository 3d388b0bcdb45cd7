"""The campaign report: metrics.json, report.md with the summary table, PNG plots in one style
(matplotlib + mplhep), and the same scalars and figures in TensorBoard."""

from __future__ import annotations

import math
from pathlib import Path

from ..atomic import atomic_write_json, atomic_write_text
from . import data_scaling
from .candidates import CLASS_NAMES
from .comparison import ordered
from .reports import REPORT_FILE


def _fmt(value, error=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if error is None or (isinstance(error, float) and math.isnan(error)):
        return f"{value:.3f}"
    return f"{value:.3f} ± {error:.3f}"


def _bin_label(b: dict, unit: str = "GeV") -> str:
    return f"{b['low']:g}-{b['high']:g} {unit}"


def summary_rows(metrics: dict) -> list[tuple[str, dict[str, str]]]:
    """(metric, {source: 'value ± error'}) for the terminal and report.md."""
    sources = metrics["sources"]

    def row(label, getter):
        def safe(m):
            try:
                return getter(m)
            except KeyError:  # a metric this source has no counterpart for (particles of `ideal`)
                return "-"

        return label, {s: safe(m) for s, m in sources.items()}

    def stat(d: dict, key: str) -> str:
        return _fmt(d[key], d.get(f"{key}_err"))

    rows = [
        row("jet pT response (median)", lambda m: stat(m["jets"]["pt_response"], "median")),
        row("jet pT resolution (IQR/median)", lambda m: stat(m["jets"]["pt_response"], "resolution")),
    ]
    first = next(iter(sources.values()))
    for i, b in enumerate(first["jets"]["pt_response_vs_gen_pt"]):
        label = _bin_label(b)
        rows.append(
            row(f"  response, gen jet pT {label}", lambda m, i=i: stat(m["jets"]["pt_response_vs_gen_pt"][i], "median"))
        )
        rows.append(
            row(
                f"  resolution, gen jet pT {label}",
                lambda m, i=i: stat(m["jets"]["pt_response_vs_gen_pt"][i], "resolution"),
            )
        )
    rows.append(row("gen jets matched", lambda m: stat(m["jets"], "matching_efficiency")))
    rows.append(row("MET resolution (GeV, sigma of reco-gen px, py)", lambda m: stat(m["met"]["sigma_gev"], "value")))
    for i, b in enumerate(first["met"]["sigma_vs_gen_met"]):
        rows.append(
            row(f"  gen MET {_bin_label(b)}", lambda m, i=i: stat(m["met"]["sigma_vs_gen_met"][i], "sigma_gev"))
        )
    rows.append(row("MET magnitude bias (GeV, median)", lambda m: stat(m["met"]["magnitude_bias_gev"], "value")))
    for name in CLASS_NAMES.values():
        rows.append(row(f"efficiency: {name}", lambda m, n=name: stat(m["particles"]["classes"][n], "efficiency")))
        rows.append(row(f"fake rate: {name}", lambda m, n=name: stat(m["particles"]["classes"][n], "fake_rate")))
    for name in ("charged hadron", "neutral hadron", "photon"):
        rows.append(
            row(
                f"pT resolution: {name}",
                lambda m, n=name: stat(m["particles"]["classes"][n]["pt_response"], "resolution"),
            )
        )
    return rows


DIFFERENCE_ROWS = (
    ("jet pT resolution", "jet_pt_resolution"),
    ("jet pT response", "jet_pt_median"),
    ("MET resolution (GeV)", "met_sigma_gev"),
)


def difference_rows(metrics: dict, key: str = "differences") -> list[tuple[str, dict[str, str]]]:
    """Paired differences source - reference (`differences`: to the baseline; `model_differences`:
    to a model); '*' marks those whose 95% interval excludes zero."""
    diffs = metrics.get(key)
    if not diffs:
        return []
    sources = diffs["sources"]
    first = next(iter(metrics["sources"].values()))

    def cell(d: dict | None) -> str:
        if d is None:
            return "-"
        return _fmt(d["value"], d["err"]) + (" *" if d["significant"] else "")

    rows = [(label, {s: cell(sources[s].get(key)) for s in sources}) for label, key in DIFFERENCE_ROWS]
    for i, b in enumerate(first["jets"]["pt_response_vs_gen_pt"]):
        rows.append(
            (
                f"  jet pT resolution, {_bin_label(b)}",
                {s: cell(sources[s].get(f"jet_pt_resolution[{i}]")) for s in sources},
            )
        )
    for i, b in enumerate(first["met"]["sigma_vs_gen_met"]):
        rows.append(
            (
                f"  MET resolution, gen MET {_bin_label(b)}",
                {s: cell(sources[s].get(f"met_sigma_gev[{i}]")) for s in sources},
            )
        )
    return rows


def _table(rows: list[tuple[str, dict[str, str]]], sources: list[str]) -> str:
    width = max(len(label) for label, _ in rows)
    cols = [max(len(s), *(len(values[s]) for _, values in rows)) for s in sources]
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{s:>{c}}" for s, c in zip(sources, cols, strict=True))]
    for label, values in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{values[s]:>{c}}" for s, c in zip(sources, cols, strict=True)))
    return "\n".join(lines)


def table_text(metrics: dict) -> str:
    text = _table(summary_rows(metrics), ordered(metrics["sources"]))
    for key in ("differences", "model_differences"):
        rows = difference_rows(metrics, key)
        if rows:
            reference = metrics[key]["reference"]
            text += f"\n\nPaired differences to {reference} (per-event bootstrap; * = 95% interval excludes 0):\n"
            text += _table(rows, ordered(metrics[key]["sources"]))
    if metrics.get("data_scaling"):
        text += "\n\nResolution against training events N (fine-tuned vs from scratch):\n"
        text += "\n".join(data_scaling.text(metrics["data_scaling"]))
    return text


def _markdown_table(rows, sources) -> list[str]:
    lines = ["| metric | " + " | ".join(sources) + " |", "|---|" + "---|" * len(sources)]
    return lines + [f"| {label.strip()} | " + " | ".join(values[s] for s in sources) + " |" for label, values in rows]


def processes_label(metrics: dict) -> str:
    return ", ".join(f"{name} ({n})" for name, n in metrics.get("processes", {}).items()) or "unknown"


def markdown(metrics: dict, plots: list[Path]) -> str:
    sources = ordered(metrics["sources"])
    jets = metrics["jets"]
    lines = [
        "# Evaluation report",
        "",
        f"{metrics['events']} events of the {metrics['split']} split ({metrics['manifest']}); processes: "
        f"{processes_label(metrics)}. Every source is evaluated on the same events.",
        "",
        f"Jets: {jets['algorithm']} R={jets['radius']} p={jets['p']}; generator jets with pT > {jets['min_pt']} GeV, "
        f"reco jets down to {jets['reco_min_pt']} GeV, matched within Delta R < {jets['match_dr']}. "
        "Jet resolution is IQR/median of reco/gen pT. MET resolution is the spread (IQR/1.349) of the "
        "vector difference reco - generator (px and py pooled), in GeV, over all events of the processes "
        "above (generator MET from the neutrinos). Uncertainties and differences come from "
        f"{metrics['bootstrap']} paired per-event bootstrap resamples: every replicate resamples the same "
        "events for every source.",
        "",
    ]
    lines += [f"- `{name}`: {text}" for name, text in metrics.get("descriptions", {}).items()]
    lines += [""] + _markdown_table(summary_rows(metrics), sources)
    for key in ("differences", "model_differences"):
        rows = difference_rows(metrics, key)
        if rows:
            reference = metrics[key]["reference"]
            lines += [
                "",
                f"## Paired differences to `{reference}`",
                "",
                "Source minus reference, per-event bootstrap error; `*`: the 95% interval excludes zero "
                "(a significant difference). Negative resolution differences are improvements.",
                "",
                *_markdown_table(rows, ordered(metrics[key]["sources"])),
            ]
    if metrics.get("data_scaling"):
        lines += [
            "",
            "## Resolution against training events",
            "",
            "Fine-tuned from pretrained weights and from scratch, each on N training events of this "
            f"detector; {metrics['data_scaling']['rule']}.",
            "",
            *data_scaling.text(metrics["data_scaling"]),
        ]
    lines += ["", "## Timing", ""]
    for source, t in metrics["timing"].items():
        lines.append(f"- {source}: {t['ms_per_event']:.3f} ms/event")
    lines += ["", "## Plots", ""]
    lines += [f"![{p.stem}](plots/{p.name})" for p in plots]
    return "\n".join(lines) + "\n"


TRIVIAL_CLASSIFICATION = ("element-truth",)  # the truth against itself: nothing to plot


def _hist(ax, distributions: dict, key: str, bins) -> None:
    import numpy as np

    for source, d in distributions.items():
        if len(d[key]):
            ax.hist(np.clip(d[key], bins[0], bins[-1]), bins=bins, histtype="step", lw=2, label=source, density=True)
    ax.set_ylabel("density")
    ax.legend(fontsize=12)


def plot_jet_response(plt, metrics, distributions) -> dict:
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 6))
    _hist(ax, distributions, "jet", np.linspace(0.0, 2.0, 81))
    ax.set_xlabel("jet $p_T^{reco}/p_T^{gen}$")
    return {"jet_response": fig}


def plot_met_difference(plt, metrics, distributions) -> dict:
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 6))
    _hist(ax, distributions, "met", np.linspace(-40.0, 40.0, 81))
    ax.set_xlabel("$p_{x,y}^{miss,reco} - p_{x,y}^{miss,gen}$ [GeV]")
    ax.set_title(processes_label(metrics), fontsize=12)
    return {"met_difference": fig}


def plot_binned(plt, metrics, distributions) -> dict:
    figures = {}
    for name, key, stats, xlabel in (
        (
            "jet_response_vs_pt",
            lambda m: m["jets"]["pt_response_vs_gen_pt"],
            ("median", "resolution"),
            "generator jet $p_T$ [GeV]",
        ),
        ("met_resolution_vs_met", lambda m: m["met"]["sigma_vs_gen_met"], ("sigma_gev",), "generator MET [GeV]"),
    ):
        fig, axes = plt.subplots(len(stats), 1, figsize=(8, 4.5 * len(stats)), sharex=True, squeeze=False)
        for source, m in metrics["sources"].items():
            bins = key(m)
            x = [(b["low"] + b["high"]) / 2 for b in bins]
            for ax, stat in zip(axes[:, 0], stats, strict=True):
                ax.errorbar(x, [b[stat] for b in bins], yerr=[b[f"{stat}_err"] for b in bins], marker="o", label=source)
                ax.set_ylabel(
                    {"median": "median response", "resolution": "IQR / median", "sigma_gev": "MET resolution [GeV]"}[
                        stat
                    ]
                )
        axes[-1, 0].set_xlabel(xlabel)
        axes[0, 0].legend(fontsize=12)
        figures[name] = fig
    return figures


def plot_particle_rates(plt, metrics, distributions) -> dict:
    edges = metrics["binning"]["particle_pt"]
    x = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    figures = {}
    for quantity in ("efficiency", "fake_rate"):
        fig, axes = plt.subplots(1, len(CLASS_NAMES), figsize=(5 * len(CLASS_NAMES), 5), sharey=True)
        for ax, name in zip(axes, CLASS_NAMES.values(), strict=True):
            for source, m in metrics["sources"].items():
                if "particles" in m and source not in TRIVIAL_CLASSIFICATION:
                    ax.plot(x, m["particles"]["classes"][name][f"{quantity}_vs_pt"], "o-", label=source)
            ax.set_title(name, fontsize=16)
            ax.set_xscale("log")
            ax.set_xlabel("$p_T$ [GeV]")
        axes[0].set_ylabel(quantity.replace("_", " "))
        axes[0].legend(fontsize=12)
        figures[f"{quantity}_vs_pt"] = fig
    return figures


def plot_confusion(plt, metrics, distributions) -> dict:
    import numpy as np

    figures = {}
    names = ["none", *CLASS_NAMES.values()]
    for source, m in metrics["sources"].items():
        if "particles" not in m or source in TRIVIAL_CLASSIFICATION:
            continue
        confusion = np.array(m["particles"]["confusion"], dtype=float)
        norm = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(7, 6))
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=11)
        ax.set_yticks(range(len(names)), names, fontsize=11)
        ax.set_xlabel("reconstructed")
        ax.set_ylabel("target")
        for (i, j), v in np.ndenumerate(norm):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9)
        figures[f"confusion_{source}"] = fig
    return figures


def plot_data_scaling(plt, metrics, distributions) -> dict:
    scaling = metrics.get("data_scaling")
    return data_scaling.plot(plt, scaling) if scaling else {}


PLOTS = (plot_jet_response, plot_met_difference, plot_binned, plot_particle_rates, plot_confusion, plot_data_scaling)


def plots(metrics: dict, distributions: dict, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for plot in PLOTS:
        for name, fig in plot(plt, metrics, distributions).items():
            path = directory / f"{name}.png"
            fig.savefig(path, dpi=80, bbox_inches="tight")
            plt.close(fig)
            written.append(path)
    return written


REPORT_TASK = "particle_flow"


def summary_lines(stage: str, metrics: dict) -> list[str]:
    """`colliderflow report`'s summary of this stage's report."""
    return [f"Physics performance, {stage} ({metrics['events']} {metrics['split']} events):", table_text(metrics)]


def write(report_dir: Path, metrics: dict, responses: dict, logdir: Path) -> list[Path]:
    """report_dir: the stage's report/<stage>/; logdir: its TensorBoard tensorboard/evaluate/<stage>."""
    paths = plots(metrics, responses, report_dir / "plots")
    metrics = {"task": REPORT_TASK, **metrics}
    atomic_write_json(report_dir / REPORT_FILE, metrics, sort_keys=False)
    atomic_write_text(report_dir / "report.md", markdown(metrics, paths))
    tensorboard(metrics, paths, logdir)
    return paths


def tensorboard(metrics: dict, paths: list[Path], logdir: Path) -> None:

    from ..tb_writer import plot_images, scalar_writer

    for source, m in metrics["sources"].items():
        scalars = {
            "jets/pt_response": m["jets"]["pt_response"]["median"],
            "jets/pt_resolution": m["jets"]["pt_response"]["resolution"],
            "met/resolution_gev": m["met"]["sigma_gev"]["value"],
            **{f"efficiency/{n}": c["efficiency"] for n, c in m.get("particles", {}).get("classes", {}).items()},
            **{f"fake_rate/{n}": c["fake_rate"] for n, c in m.get("particles", {}).get("classes", {}).items()},
        }
        with scalar_writer(logdir / source, replace=True) as writer:
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, 0)
    plot_images(logdir / "plots", paths)
