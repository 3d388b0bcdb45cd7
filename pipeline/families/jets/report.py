"""The jet-tagging report: jets.json, report.md, ROC (rejection vs signal efficiency) and the
validation curves of every model, also in TensorBoard."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...atomic import atomic_write_json, atomic_write_text
from ...evaluation.reports import REPORT_FILE

REPORT_TASK = "jet_classification"


def summary_lines(stage: str, metrics: dict) -> list[str]:
    """`colliderflow report`'s summary of this stage's report."""
    jets = f"{metrics['jets']} {metrics['split']} jets of {metrics['classes']}"
    return [f"Jet tagging, {stage} ({jets}):", table_text(metrics), f"Convergence: {speed_up_text(metrics)}"]


def _cell(m: dict) -> str:
    if not np.isfinite(m["value"]):
        return "inf"
    return f"{m['value']:.3f} ± {m['error']:.3f}" if np.isfinite(m["error"]) else f"{m['value']:.3f}"


def table_text(metrics: dict) -> str:
    rows = [["model", *next(iter(metrics["models"].values())).keys()]]
    rows += [[name, *(_cell(v) for v in m.values())] for name, m in metrics["models"].items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def speed_up_text(metrics: dict) -> str:
    s = metrics.get("convergence", {}).get("speed_up")
    if not s:
        return "no fine-tuned / from-scratch pair to compare"
    if "speed_up" not in s:
        return s.get("note", "")
    return (
        f"{s['finetuned']} reached {s['scratch']}'s final {s['metric']} ({s['target']:.4f}) after"
        f" {s['finetuned_steps']} steps, {s['scratch']} after {s['scratch_steps']}: speed-up {s['speed_up']:.2f}x"
    )


def markdown(metrics: dict, plots: list[Path]) -> str:
    header = ["model", *next(iter(metrics["models"].values())).keys()]
    lines = [
        "# Jet tagging",
        "",
        f"{metrics['jets']} `{metrics['split']}` jets of {metrics['per_class']} ({metrics['manifest']});"
        f" every model scores the same jets. Errors: bootstrap ({metrics['bootstrap']} resamples over jets).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *(f"| {name} | " + " | ".join(_cell(v) for v in m.values()) + " |" for name, m in metrics["models"].items()),
        "",
        "Paired differences (`*`: beyond twice the paired bootstrap deviation):",
        "",
    ]
    for pair, d in metrics["differences"].items():
        cells = [f"{k}: {v['value']:+.3f} ± {v['error']:.3f}{' *' if v['significant'] else ''}" for k, v in d.items()]
        lines.append(f"- {pair}: " + "; ".join(cells))
    lines += ["", "## Convergence", "", speed_up_text(metrics), ""]
    lines += ["## Plots", "", *(f"![{p.stem}](plots/{p.name})" for p in plots), ""]
    return "\n".join(lines)


def plots(metrics: dict, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    figures = {}
    if metrics.get("roc"):
        fig, ax = plt.subplots(figsize=(7, 5))
        for name, roc in metrics["roc"].items():
            ax.plot(roc["signal_efficiency"], roc["rejection"], label=name)
        ax.set(yscale="log", xlabel="signal efficiency", ylabel="background rejection 1/eps_B", title="ROC")
        ax.legend()
        figures["roc"] = fig
    curves = metrics.get("convergence", {}).get("curves", {})
    for key in ("val_loss", "auc"):
        if any(any(key in r for r in c) for c in curves.values()):
            fig, ax = plt.subplots(figsize=(7, 5))
            for name, curve in curves.items():
                points = [(r["step"], r[key]) for r in curve if key in r]
                ax.plot(*zip(*points, strict=True), marker="o", label=name)
            ax.set(xlabel="optimizer step", ylabel=f"validation {key.removeprefix('val_')}", title="convergence")
            ax.legend()
            figures[f"convergence_{key}"] = fig
    paths = []
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=70, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def write(report_dir: Path, metrics: dict, tensorboard_dir: Path) -> list[Path]:
    """report_dir: the stage's report folder; tensorboard_dir: the stage's evaluate logdir."""
    from ...tb_writer import plot_images, scalar_writer

    paths = plots(metrics, report_dir / "plots")
    atomic_write_json(report_dir / REPORT_FILE, {"task": REPORT_TASK, **metrics}, sort_keys=False)
    atomic_write_text(report_dir / "report.md", markdown(metrics, paths))
    for name, m in metrics["models"].items():
        with scalar_writer(tensorboard_dir / name, replace=True) as writer:
            for key, v in m.items():
                if np.isfinite(v["value"]):
                    writer.add_scalar(f"jets/{key}", v["value"], 0)
    plot_images(tensorboard_dir / "plots", paths)
    return paths
