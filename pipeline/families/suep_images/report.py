"""The anomaly-detection report: anomaly.json, report.md, ROC curves, score distributions and
example images (input vs reconstruction) as PNG, and the same in TensorBoard."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...atomic import atomic_path, atomic_write_json, atomic_write_text
from ...evaluation.reports import REPORT_FILE
from .anomaly import RULE_BASED, ScoredEvents

REPORT_TASK = "anomaly_detection"


def summary_lines(stage: str, metrics: dict) -> list[str]:
    """`colliderflow report`'s summary of this stage's report: the table and the latencies."""
    background = f"{metrics['background_events']} background events of {metrics['split']}"
    lines = [f"Anomaly detection, {stage} ({background}):", table_text(metrics)]
    for source, lat in metrics.get("latency", {}).items():
        m, d = lat["model"], lat.get("with_densification")
        lines.append(
            f"  {source} exported model at batch 1: median {m['median_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms"
            + (f"; with densification median {d['median_ms']:.2f} ms" if d and d.get("events") else "")
            + f" ({lat['threads']} thread(s), {m['events']} events)"
        )
    return lines


CHANNELS = ("track pT", "ECAL ET", "HCAL ET")
DISPLAY_POOL = 4  # example images are max-pooled 4 x 4 for display: single pixels vanish at print size


def pooled(image: np.ndarray, k: int = DISPLAY_POOL) -> np.ndarray:
    h, w = image.shape[0] // k * k, image.shape[1] // k * k
    return image[:h, :w].reshape(h // k, k, w // k, k).max(axis=(1, 3))


def _cell(m: dict) -> str:
    return f"{m['value']:.3f} ± {m['error']:.3f}" if np.isfinite(m["error"]) else f"{m['value']:.3f}"


def table_rows(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows: per point and selection, each source's efficiency at each mistag rate."""
    rates = [f"{r:g}" for r in metrics["mistag_rates"]]
    header = ["signal", "selection", "source", "AUC", *(f"eff @ {float(r) * 100:g}% mistag" for r in rates)]
    rows = []
    for point, p in metrics["points"].items():
        for label, sel in p["selections"].items():
            selection = f"{label} ({sel['events']} ev, acc {sel['acceptance']:.2f})"
            for source, s in sel["sources"].items():
                rows.append([point, selection, source, _cell(s["auc"]), *(_cell(s["efficiency"][r]) for r in rates)])
    return header, rows


def table_text(metrics: dict) -> str:
    header, rows = table_rows(metrics)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows])


def difference_lines(metrics: dict) -> list[str]:
    lines = []
    for point, p in metrics["points"].items():
        for label, sel in p["selections"].items():
            for pair, d in sel["differences"].items():
                cells = [
                    f"{key}: {v['value']:+.3f} ± {v['error']:.3f}{' *' if v['significant'] else ''}"
                    for key, v in d.items()
                ]
                lines.append(f"- {point} [{label}] {pair}: " + "; ".join(cells))
    return lines


def selection_lines(metrics: dict) -> list[str]:
    """How each model was chosen, from its train stage's records."""
    lines = ["", "## Selection", ""]
    lines.append(
        "Fixed before any signal was seen: the architecture and the score (1/D, larger is more anomalous) are"
        " the workflow's; the background-only validation split chooses at most the epoch (`select: best`) and"
        " when the learning rate drops (plateau schedule); no signal event enters any choice; this stage scores"
        " the test split once."
        + (" The background carries event weights: thresholds, efficiencies and AUCs are weighted."
           if metrics.get("weighted") else "")
    )  # fmt: skip
    for source, record in metrics.get("selection", {}).items():
        sel, model = record.get("selection"), record.get("model_summary", {})
        if not sel:
            lines.append(f"- {source}: no selection record (trained before selection.json existed): the last epoch")
            continue
        chosen = sel.get("selected") or {}
        latent = (
            f", latent {model['latent_shape']} = {model['latent_floats']} floats" if "latent_shape" in model else ""
        )
        lines.append(
            f"- {source}: select {sel['select']}"
            + (f" -> {chosen['tag']} (validation loss {chosen['metric']:.5g})" if chosen else "")
            + f"; {sel['epochs_run']} of at most {sel['epochs_max']} epochs"
            + (", stopped early" if sel["stopped_early"] else "")
            + f"; {sel['lr_reductions']} learning-rate reduction(s){latent}"
        )
    return lines


def markdown(metrics: dict, plots: list[Path]) -> str:
    header, rows = table_rows(metrics)
    lines = [
        "# Anomaly detection",
        "",
        f"{metrics['background_events']} held-out background events ({', '.join(metrics['background'])}) of the"
        f" `{metrics['split']}` split set the thresholds; every source scores the same events. Errors: bootstrap"
        f" standard deviation ({metrics['bootstrap']} resamples)."
        + (
            " Images of the reference definition: every event, background and signal, passed the same"
            " pileup-corrected HT cut when it was generated, so `all` is after the trigger."
            if metrics.get("definition") == "reference"
            else ""
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        "Paired differences, model minus rule-based score (efficiency at a mistag rate, and AUC);"
        " `*`: beyond twice the paired bootstrap deviation:",
        "",
        *difference_lines(metrics),
    ]
    lines += selection_lines(metrics)
    if metrics.get("latency"):
        lines += ["", "## Trigger-style inference (exported ONNX model, batch 1)", ""]
        for source, lat in metrics["latency"].items():
            d = lat.get("with_densification") or {}
            lines.append(
                f"- {source}: {lat['file']}, {lat['threads']} thread(s), {lat['model']['events']} events:"
                f" median {lat['model']['median_ms']:.2f} ms, p99 {lat['model']['p99_ms']:.2f} ms per event"
                f" on dense images"
                + (f"; from the sparse event, densification included: median {d['median_ms']:.2f} ms,"
                   f" p99 {d['p99_ms']:.2f} ms" if d.get("events") else "")
                + f"; largest |score(ONNX) - score(PyTorch)| {lat['max_abs_score_diff']:.2g}"
            )  # fmt: skip
    lines += ["", "## Plots", "", *(f"![{p.stem}](plots/{p.name})" for p in plots), ""]
    return "\n".join(lines)


def plot_roc(plt, metrics: dict, events: ScoredEvents) -> dict:
    figures = {}
    for source in events.scores:
        fig, ax = plt.subplots(figsize=(8, 6))
        for point, p in metrics["points"].items():
            for label, sel in p["selections"].items():
                if source in sel["sources"]:
                    roc = sel["sources"][source]["roc"]
                    style = "-" if label == "all" else "--"
                    ax.plot(roc["mistag"], roc["efficiency"], style, label=f"{point} [{label}]")
        for rate in metrics["mistag_rates"]:
            ax.axvline(rate, color="grey", lw=0.5)
        ax.set(xscale="log", xlabel="background mistag rate", ylabel="signal efficiency", title=source, ylim=(0, 1))
        ax.legend(fontsize=10)
        figures[f"roc_{source}"] = fig
    return figures


def plot_scores(plt, metrics: dict, events: ScoredEvents) -> dict:
    figures = {}
    for source, scores in events.scores.items():
        fig, ax = plt.subplots(figsize=(8, 6))
        finite = scores[np.isfinite(scores)]
        bins = np.histogram_bin_edges(finite, bins=50) if finite.size else 10
        for pid in sorted(set(events.process_id.tolist()), key=lambda p: (p not in events.background, p)):
            values = scores[events.process_id == pid]
            ax.hist(values, bins=bins, histtype="step", density=True, lw=2, label=events.processes[pid])
        ax.set(yscale="log", xlabel=f"{source} score", ylabel="density", title=source)
        ax.legend(fontsize=10)
        figures[f"scores_{source}"] = fig
    return figures


def plot_examples(plt, metrics: dict, events: ScoredEvents) -> dict:
    figures = {}
    for source, examples in events.examples.items():
        if not examples:
            continue
        fig, axes = plt.subplots(2 * len(examples), 3, figsize=(12, 3.2 * 2 * len(examples)), squeeze=False)
        for row, (index, (target, reco)) in enumerate(sorted(examples.items())):
            name = events.processes[int(events.process_id[index])]
            for c in range(3):
                vmax = max(float(target[c].max()), float(reco[c].max()), 1e-6)
                for k, (image, what) in enumerate(((target, "input"), (reco, "reco"))):
                    ax = axes[2 * row + k, c]
                    ax.imshow(pooled(image[c]), origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=vmax)
                    ax.set_title(f"{name} {what}: {CHANNELS[c]} (log(1+E))", fontsize=10)
                    ax.set_xticks([]), ax.set_yticks([])
        fig.tight_layout()
        figures[f"examples_{source}"] = fig
    return figures


def write(report_dir: Path, metrics: dict, events: ScoredEvents, logdir: Path) -> list[Path]:
    """report_dir: the stage's report/<stage>/; logdir: its TensorBoard tensorboard/evaluate/<stage>."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = report_dir / "plots"
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for plot in (plot_roc, plot_scores, plot_examples):
        for name, fig in plot(plt, metrics, events).items():
            path = directory / f"{name}.png"
            fig.savefig(path, dpi=70, bbox_inches="tight")
            plt.close(fig)
            paths.append(path)
    atomic_write_json(report_dir / REPORT_FILE, {"task": REPORT_TASK, **metrics}, sort_keys=False)
    atomic_write_text(report_dir / "report.md", markdown(metrics, paths))
    tensorboard(metrics, paths, logdir)
    return paths


def write_scores(path: Path, events: ScoredEvents, event_id: np.ndarray) -> None:
    """Every evaluated event's scores, one array per source (score_<source>), with event_id,
    process_id (index into `processes`) and ht: for cuts and plots of one's own."""
    columns = {f"score_{name}": values for name, values in events.scores.items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            event_id=event_id,
            process_id=events.process_id,
            ht=events.ht,
            processes=np.array(events.processes),
            **columns,
        )


def tensorboard(metrics: dict, paths: list[Path], logdir: Path) -> None:
    from ...tb_writer import plot_images, scalar_writer

    sources = {s for p in metrics["points"].values() for sel in p["selections"].values() for s in sel["sources"]}
    for source in sorted(sources):
        with scalar_writer(logdir / source, replace=True) as writer:
            for point, p in metrics["points"].items():
                for label, sel in p["selections"].items():
                    if source not in sel["sources"]:
                        continue
                    s = sel["sources"][source]
                    tag = f"{point}/{label}".replace(">=", "_ht")
                    writer.add_scalar(f"auc/{tag}", s["auc"]["value"], 0)
                    for rate, e in s["efficiency"].items():
                        writer.add_scalar(f"efficiency_at_{rate}_mistag/{tag}", e["value"], 0)
    plot_images(logdir / "plots", paths)


__all__ = ["REPORT_TASK", "RULE_BASED", "table_text", "write", "write_scores"]
