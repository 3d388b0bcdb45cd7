"""What a finished search leaves behind: the trials table (CSV and JSON), the best trial's
configuration and weights for a downstream `train` stage, and one HParams session per trial
under tensorboard/hpo/ so the dashboard lists every trial side by side."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

from ..atomic import atomic_path, atomic_write_json, atomic_write_text
from .trial import FAILURE


def _status(result: Any, epochs: int, max_t: int) -> str:
    if result.error is not None:
        return "errored"
    return "completed" if epochs >= max_t else "stopped"


def _reason(result: Any, trial_dir: Path) -> str:
    failure = trial_dir / FAILURE
    if failure.exists():
        return json.loads(failure.read_text())["reason"]
    if result.error is None:
        return ""
    lines = [line for line in str(result.error).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(result.error).__name__


def trial_records(
    results: Any, stage_dir: Path, metric: str, mode: str, max_t: int, accelerators: int, cpus: int = 1
) -> list[dict]:
    """One record per trial; its own usage is its training time (Tune's time_total_s) times what
    it held (accelerators and CPUs per trial)."""
    better = min if mode == "min" else max
    records = []
    for result in results:
        frame = result.metrics_dataframe
        rows = [] if frame is None or frame.empty else frame.to_dict("records")
        history = [
            {
                "epoch": int(row["training_iteration"]),
                **{
                    k: v
                    for k, v in row.items()
                    if (k in ("train_loss", "step", "reported_at") or k.startswith("val_")) and _finite(v)
                },
            }
            for row in rows
        ]
        last = rows[-1] if rows else {}
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name
        epochs = int(last.get("training_iteration", 0) or 0)
        values = [(h["epoch"], h[metric]) for h in history if metric in h]
        best_epoch, best_value = better(values, key=lambda v: v[1]) if values else (None, None)
        wall = float(last.get("time_total_s", 0.0) or 0.0)
        saved = stage_dir / "trials" / trial_id / "config.json"
        config = json.loads(saved.read_text()) if saved.exists() else dict(result.config or {})
        records.append(
            {
                "trial_id": trial_id,
                "status": _status(result, epochs, max_t),
                "reason": _reason(result, stage_dir / "trials" / trial_id),
                "epochs": epochs,
                f"{metric}_final": values[-1][1] if values else None,
                f"{metric}_best": best_value,
                "best_epoch": best_epoch,
                "wall_s": round(wall, 3),
                "accelerator_hours": round(wall * accelerators / 3600.0, 6),
                "cpu_hours": round(wall * cpus / 3600.0, 6),
                "node_id": last.get("node_id", ""),
                "hostname": last.get("hostname", ""),
                "config": config,
                "history": history,
            }
        )
    records.sort(key=lambda r: r["trial_id"])
    return records


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def set_aside_orphans(records: list[dict], stage_dir: Path, tensorboard_dir: Path) -> list[str]:
    """Trials a killed search had started after its last saved state are unknown to the resumed
    one (it drew their replacements anew): move their files out of the table's way."""
    known = {r["trial_id"] for r in records}
    moved = []
    for trial_dir in sorted((stage_dir / "trials").iterdir()) if (stage_dir / "trials").is_dir() else []:
        if trial_dir.name in known or trial_dir.name == "orphaned":
            continue
        for source, target in (
            (trial_dir, stage_dir / "trials" / "orphaned" / trial_dir.name),
            (tensorboard_dir / "hpo" / trial_dir.name, tensorboard_dir / "hpo-orphaned" / trial_dir.name),
        ):
            if source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(target, ignore_errors=True)
                source.rename(target)
        moved.append(trial_dir.name)
    return moved


def write_table(records: list[dict], outputs: Path, metric: str, max_t: int) -> None:
    atomic_write_json(outputs / "trials.json", records)
    keys = sorted({k for r in records for k in r["config"]})
    fixed = ["trial_id", "status", "reason", "epochs", f"{metric}_final", f"{metric}_best", "best_epoch", "wall_s"]
    fixed += ["accelerator_hours", "cpu_hours", "node_id", "hostname"]
    per_epoch = [f"{metric}@{e}" for e in range(1, max_t + 1)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fixed + keys + per_epoch)
    for r in records:
        by_epoch = {h["epoch"]: h.get(metric) for h in r["history"]}
        epochs = [by_epoch.get(e, "") for e in range(1, max_t + 1)]
        writer.writerow([r[k] for k in fixed] + [r["config"].get(k, "") for k in keys] + epochs)
    atomic_write_text(outputs / "trials.csv", buffer.getvalue())


def write_best(records: list[dict], stage_dir: Path, setup: Any, metric: str, mode: str) -> dict | None:
    """The trial with the best metric at any epoch; its weights at that epoch go to outputs/best/."""
    from .trial import trial_params

    candidates = [r for r in records if r[f"{metric}_best"] is not None]
    if not candidates:
        return None
    pick = min if mode == "min" else max
    best = pick(candidates, key=lambda r: r[f"{metric}_best"])
    trial_dir = stage_dir / "trials" / best["trial_id"]
    params = trial_params(setup, best["config"]).model_dump(mode="json")
    record = {
        "trial_id": best["trial_id"],
        "epoch": best["best_epoch"],
        metric: best[f"{metric}_best"],
        "search_metric": metric,  # what the search decided on, and which way
        "mode": mode,
        "config": best["config"],
        "params": params,
        "checkpoints": str(trial_dir / "checkpoints"),
        "weights": None,
    }
    source = trial_dir / "outputs" / "best_model.pt"
    if source.exists():  # a trial exports its best weights by the search's metric
        target = stage_dir / "outputs" / "best"
        target.mkdir(parents=True, exist_ok=True)
        with atomic_path(target / "model.pt") as tmp:
            shutil.copyfile(source, tmp)
        shutil.copyfile(trial_dir / "outputs" / "best_model.json", target / "model.json")
        record["weights"] = str(target / "model.pt")
    atomic_write_json(stage_dir / "outputs" / "best.json", record)
    return record


def write_hparams(
    records: list[dict],
    ctx: Any,
    setup: Any,
    metric: str,
    mode: str,
    searched: dict[str, list | None],
) -> dict:
    """One HParams session per trial, in the trial's own run (tensorboard/hpo/<trial_id>), with
    the trial's whole resolved configuration; the search's part of the experiment (what it
    searched, its metrics with `metric` first) in outputs/hparams.json."""
    from ..hparams import flat_hparams, row_name, session_metrics, write_part, write_session
    from .trial import trial_params

    sessions, metrics = [], [metric, f"{metric}_final"]
    for number, r in enumerate(sorted(records, key=_first_report), start=1):
        values = flat_hparams(trial_params(setup, r["config"]), ctx.campaign_dir.name)
        scores = session_metrics(r["history"], metric, mode)
        # what the trial cost beside what it reached, for the dashboard's table and plots
        scores.update(usage_cpu_hours=r["cpu_hours"], usage_accelerator_hours=r["accelerator_hours"])
        write_session(
            ctx.tensorboard_dir / "hpo" / r["trial_id"],
            values,
            scores,
            group=row_name(ctx.campaign_dir.name, ctx.stage, number, r["trial_id"]),
            failed=r["status"] == "errored",
            step=r["epochs"],
        )
        sessions.append(values)
        metrics += [m for m in scores if m not in metrics]
    return write_part(ctx.outputs_dir, sessions, metrics, searched)


def _first_report(record: dict) -> tuple[float, str]:
    """Trials in the order they first reported (unreported ones last), for their numbers."""
    times = [h["reported_at"] for h in record["history"] if "reported_at" in h]
    return (min(times) if times else math.inf, record["trial_id"])
