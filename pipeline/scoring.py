"""`colliderflow score`: an exported anomaly model (model.onnx of a train stage) scores the events
of image files one at a time, as a trigger would: each event is densified from its sparse pixels
and run at batch 1 in ONNX Runtime. Writes one row per event (CSV) and states the latency.

Latency is timed per event with a monotonic clock around the runtime call alone ("model") and
around densification plus the call ("event"); the first `warmup` events are scored but not timed.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError

CSV_FIELDS = ("file", "event_id", "process", "ht", "score", "model_ms", "event_ms")


@dataclass
class ScoreRun:
    rows: list[dict] = field(default_factory=list)
    model_seconds: list[float] = field(default_factory=list)
    event_seconds: list[float] = field(default_factory=list)

    def latency(self) -> dict:
        return {"model": latency_summary(self.model_seconds), "event": latency_summary(self.event_seconds)}


def latency_summary(seconds: list[float]) -> dict:
    ms = 1000 * np.asarray(seconds, dtype=float)
    if ms.size == 0:
        return {"events": 0}
    return {
        "events": int(ms.size),
        "median_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
    }


def open_model(path: Path, threads: int):
    """The ONNX Runtime session and its (channels, height, width); exit 2 naming the file."""
    from .onnx_export import session

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file (a train stage of the anomaly task writes outputs/model.onnx)")
    try:
        sess = session(path, threads)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        raise UserError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None
    inputs = sess.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or "score" not in [o.name for o in sess.get_outputs()]:
        raise UserError(f"{path}: inputs/outputs: expected one [batch, C, H, W] image input and a 'score' output")
    return sess, tuple(int(v) for v in inputs[0].shape[1:])


def score_one(sess, input_name: str, image: np.ndarray) -> float:
    """The score of one event ([1, C, H, W] float32)."""
    return float(sess.run(["score"], {input_name: image})[0][0])


def time_dense(sess, images, warmup: int = 10) -> tuple[list[float], list[float]]:
    """Scores of dense events ([C, H, W] each) one at a time, and the seconds of each call after
    the first `warmup` (which are scored, not timed)."""
    input_name = sess.get_inputs()[0].name
    scores, seconds = [], []
    for n, image in enumerate(images):
        batch = np.ascontiguousarray(image[None], dtype=np.float32)
        began = time.perf_counter()
        scores.append(score_one(sess, input_name, batch))
        if n >= warmup:
            seconds.append(time.perf_counter() - began)
    return scores, seconds


def score_files(
    model: Path, files: list[Path], threads: int = 0, max_events: int | None = None, warmup: int = 10
) -> ScoreRun:
    from .data.staging import DataError
    from .families.suep_images.data import read_image_file
    from .physics.pp import pp_processes

    sess, shape = open_model(model, threads)
    input_name = sess.get_inputs()[0].name
    processes = pp_processes()
    run, seen = ScoreRun(), 0
    image = np.zeros((1, *shape), dtype=np.float32)
    flat = image.reshape(-1)
    read = []
    for path in files:  # every file is checked before any is scored
        try:
            arrays, file_shape = read_image_file(Path(path))
        except DataError as exc:
            raise UserError(str(exc)) from None
        if tuple(file_shape) != shape:
            raise UserError(f"{path}: binning.shape {list(file_shape)} differs from the model's input {list(shape)}")
        read.append((path, arrays))
    for path, arrays in read:
        offsets = arrays["offsets"]
        for e in range(offsets.size - 1):
            if max_events is not None and seen >= max_events:
                return run
            began = time.perf_counter()
            flat[:] = 0.0
            lo, hi = offsets[e], offsets[e + 1]
            np.add.at(flat, arrays["pixel_index"][lo:hi], arrays["pixel_value"][lo:hi])
            called = time.perf_counter()
            score = score_one(sess, input_name, image)
            ended = time.perf_counter()
            if seen >= warmup:
                run.model_seconds.append(ended - called)
                run.event_seconds.append(ended - began)
            pid = int(arrays["process_id"][e])
            run.rows.append(
                {
                    "file": str(path),
                    "event_id": int(arrays["event_id"][e]),
                    "process": processes[pid] if 0 <= pid < len(processes) else str(pid),
                    "ht": float(arrays["ht"][e]),
                    "score": score,
                    "model_ms": 1000 * (ended - called),
                    "event_ms": 1000 * (ended - began),
                }
            )
            seen += 1
    return run


def write_csv(rows: list[dict], path: Path) -> None:
    from .atomic import atomic_path

    with atomic_path(Path(path)) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def summary_text(run: ScoreRun, threads: int) -> str:
    lat = run.latency()
    by_process: dict[str, list[float]] = {}
    for row in run.rows:
        by_process.setdefault(row["process"], []).append(row["score"])
    lines = [f"scored {len(run.rows)} events at batch 1 ({threads or 'default'} intra-op threads)"]
    for what in ("model", "event"):
        m = lat[what]
        if m["events"]:
            label = "model call" if what == "model" else "densify + model call"
            lines.append(
                f"  latency ({label}, {m['events']} timed): median {m['median_ms']:.2f} ms, p99 {m['p99_ms']:.2f} ms"
            )
    for name, scores in sorted(by_process.items()):
        lines.append(f"  {name}: {len(scores)} events, median score {np.median(scores):.4g}")
    return "\n".join(lines)


def latency_json(run: ScoreRun, model: Path, threads: int) -> str:
    return json.dumps({"model": str(model), "threads": threads, "events": len(run.rows), **run.latency()})
