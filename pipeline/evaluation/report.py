"""The campaign report: metrics.json, report.md with the summary table, PNG plots in one style
(matplotlib + mplhep), and the same scalars and figures in TensorBoard."""

from __future__ import annotations

import math
from pathlib import Path

from ..atomic import atomic_write_json, atomic_write_text
from .candidates import CLASS_NAMES


def summary_rows(metrics: dict) -> list[tuple[str, dict[str, str]]]:
    """(metric, {source: 'value ± error'}) for the terminal and report.md."""
    sources = metrics["sources"]

    def fmt(value, error=None) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if error is None or (isinstance(error, float) and math.isnan(error)):
            return f"{value:.3f}"
        return f"{value:.3f} ± {error:.3f}"

    def row(label, getter):
        return label, {s: getter(m) for s, m in sources.items()}

    rows = [
        row(
            "jet pT response (median)",
            lambda m: fmt(m["jets"]["pt_response"]["median"], m["jets"]["pt_response"]["median_err"]),
        ),
        row(
            "jet pT resolution (IQR/median)",
            lambda m: fmt(m["jets"]["pt_response"]["resolution"], m["jets"]["pt_response"]["resolution_err"]),
        ),
        row("jets matched to gen jets", lambda m: fmt(m["jets"]["matching_efficiency"])),
        row("MET response (median)", lambda m: fmt(m["met"]["response"]["median"], m["met"]["response"]["median_err"])),
        row(
            "MET resolution (IQR/median)",
            lambda m: fmt(m["met"]["response"]["resolution"], m["met"]["response"]["resolution_err"]),
        ),
        row("MET reco-gen IQR (GeV)", lambda m: fmt(m["met"]["difference_iqr_gev"])),
    ]
    for name in CLASS_NAMES.values():
        rows.append(row(f"efficiency: {name}", lambda m, n=name: fmt(m["particles"]["classes"][n]["efficiency"])))
        rows.append(row(f"fake rate: {name}", lambda m, n=name: fmt(m["particles"]["classes"][n]["fake_rate"])))
    for name in ("charged hadron", "neutral hadron", "photon"):
        rows.append(
            row(
                f"pT resolution: {name}",
                lambda m, n=name: fmt(m["particles"]["classes"][n]["pt_response"]["resolution"]),
            )
        )
    return rows


def table_text(metrics: dict) -> str:
    sources = list(metrics["sources"])
    rows = summary_rows(metrics)
    width = max(len(label) for label, _ in rows)
    cols = [max(len(s), *(len(values[s]) for _, values in rows)) for s in sources]
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{s:>{c}}" for s, c in zip(sources, cols, strict=True))]
    for label, values in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{values[s]:>{c}}" for s, c in zip(sources, cols, strict=True)))
    return "\n".join(lines)


def markdown(metrics: dict, plots: list[Path]) -> str:
    sources = list(metrics["sources"])
    lines = [
        "# Evaluation report",
        "",
        f"{metrics['events']} events of the {metrics['split']} split ({metrics['manifest']}); jets: "
        f"{metrics['jets']['algorithm']} R={metrics['jets']['radius']} p={metrics['jets']['p']}, "
        f"pT > {metrics['jets']['min_pt']} GeV, matched within Delta R < {metrics['jets']['match_dr']}. "
        f"MET ratios for events with generator MET >= {metrics['met_min_gev']} GeV. "
        "Resolutions are IQR/median of reco/gen; uncertainties from "
        f"{metrics['bootstrap']} bootstrap resamples. `target` is the per-element truth the models learn "
        "(the best a particle flow on these elements could do); `baseline` the rule-based particle flow.",
        "",
        "| metric | " + " | ".join(sources) + " |",
        "|---|" + "---|" * len(sources),
    ]
    for label, values in summary_rows(metrics):
        lines.append(f"| {label} | " + " | ".join(values[s] for s in sources) + " |")
    lines += ["", "## Timing", ""]
    for source, t in metrics["timing"].items():
        lines.append(f"- {source}: {t['ms_per_event']:.3f} ms/event")
    lines += ["", "## Plots", ""]
    lines += [f"![{p.stem}](plots/{p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def plots(metrics: dict, responses: dict, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep
    import numpy as np

    plt.style.use(mplhep.style.CMS)
    directory.mkdir(parents=True, exist_ok=True)
    sources = list(metrics["sources"])
    written = []

    def save(fig, name):
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    for key, label, bins in (
        ("jet", "jet $p_T^{reco}/p_T^{gen}$", np.linspace(0.0, 2.0, 41)),
        ("met", "$p_T^{miss,reco}/p_T^{miss,gen}$", np.linspace(0.0, 3.0, 31)),
    ):
        fig, ax = plt.subplots(figsize=(8, 6))
        for source in sources:
            values = responses[source][key]
            if len(values):
                ax.hist(
                    np.clip(values, bins[0], bins[-1]), bins=bins, histtype="step", lw=2, label=source, density=True
                )
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        ax.legend()
        save(fig, f"{key}_response")

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 9), sharex=True)
    for source in sources:
        bins_ = metrics["sources"][source]["jets"]["pt_response_vs_gen_pt"]
        x = [(b["low"] + b["high"]) / 2 for b in bins_]
        top.errorbar(x, [b["median"] for b in bins_], yerr=[b["median_err"] for b in bins_], marker="o", label=source)
        bottom.errorbar(
            x, [b["resolution"] for b in bins_], yerr=[b["resolution_err"] for b in bins_], marker="o", label=source
        )
    top.set_ylabel("median response")
    bottom.set_ylabel("IQR / median")
    bottom.set_xlabel("generator jet $p_T$ [GeV]")
    bottom.set_xscale("log")
    top.legend()
    save(fig, "jet_response_vs_pt")

    edges = metrics["binning"]["particle_pt"]
    x = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    for quantity in ("efficiency", "fake_rate"):
        fig, axes = plt.subplots(1, len(CLASS_NAMES), figsize=(5 * len(CLASS_NAMES), 5), sharey=True)
        for ax, name in zip(axes, CLASS_NAMES.values(), strict=True):
            for source in sources:
                if source == "target":
                    continue
                ax.plot(
                    x, metrics["sources"][source]["particles"]["classes"][name][f"{quantity}_vs_pt"], "o-", label=source
                )
            ax.set_title(name, fontsize=16)
            ax.set_xscale("log")
            ax.set_xlabel("$p_T$ [GeV]")
        axes[0].set_ylabel(quantity.replace("_", " "))
        axes[0].legend(fontsize=12)
        save(fig, f"{quantity}_vs_pt")

    for source in sources:
        if source == "target":
            continue
        confusion = np.array(metrics["sources"][source]["particles"]["confusion"], dtype=float)
        norm = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(7, 6))
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        names = ["none", *CLASS_NAMES.values()]
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=11)
        ax.set_yticks(range(len(names)), names, fontsize=11)
        ax.set_xlabel("reconstructed")
        ax.set_ylabel("target")
        for (i, j), v in np.ndenumerate(norm):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9)
        save(fig, f"confusion_{source}")
    return written


def write(report_dir: Path, metrics: dict, responses: dict, tensorboard_dir: Path) -> list[Path]:
    paths = plots(metrics, responses, report_dir / "plots")
    atomic_write_json(report_dir / "metrics.json", metrics)
    atomic_write_text(report_dir / "report.md", markdown(metrics, paths))
    tensorboard(metrics, paths, tensorboard_dir)
    return paths


def tensorboard(metrics: dict, paths: list[Path], tensorboard_dir: Path) -> None:
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    for source, m in metrics["sources"].items():
        logdir = tensorboard_dir / "evaluate" / source
        logdir.mkdir(parents=True, exist_ok=True)
        for old in logdir.glob("events.out.tfevents.*"):
            old.unlink()  # a rerun replaces the scalars instead of adding a second set
        writer = SummaryWriter(str(logdir))
        scalars = {
            "jets/pt_response": m["jets"]["pt_response"]["median"],
            "jets/pt_resolution": m["jets"]["pt_response"]["resolution"],
            "met/response": m["met"]["response"]["median"],
            "met/resolution": m["met"]["response"]["resolution"],
            **{f"efficiency/{n}": c["efficiency"] for n, c in m["particles"]["classes"].items()},
            **{f"fake_rate/{n}": c["fake_rate"] for n, c in m["particles"]["classes"].items()},
        }
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, 0)
        writer.close()
    import matplotlib.pyplot as plt

    logdir = tensorboard_dir / "evaluate" / "plots"
    logdir.mkdir(parents=True, exist_ok=True)
    for old in logdir.glob("events.out.tfevents.*"):
        old.unlink()
    writer = SummaryWriter(str(logdir))
    for path in paths:
        image = plt.imread(path)
        writer.add_image(path.stem, np.transpose(image[..., :3], (2, 0, 1)), 0)
    writer.close()
