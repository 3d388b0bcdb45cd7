"""Live progress of running stages. Each task of a stage writes `progress/task-<i>.json` in the
stage dir (rank 0 only, atomically, at most every `interval_s`): how much of its work is done,
of how much, in which unit, its rate, and stage-specific fields (epoch and loss, trials and
best metric). `status` and `--wait` read these files; no scheduler is asked."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json

PROGRESS_DIR = "progress"


class ProgressReporter:
    """Throttled writer of one task's progress record."""

    def __init__(self, path: Path, interval_s: float = 2.0) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self.first: tuple[float, float] | None = None  # (time, done) of the first report: the rate's origin
        self.last_write = -math.inf

    def update(self, done: float, total: float | None, unit: str, force: bool = False, **fields: Any) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, done)
        if not force and now - self.last_write < self.interval_s:
            return
        self.last_write = now
        elapsed = now - self.first[0]
        rate = (done - self.first[1]) / elapsed if elapsed > 0 and done > self.first[1] else None
        record = {"done": done, "total": total, "unit": unit, "rate": rate, "updated": time.time(), **fields}
        atomic_write_json(self.path, record, sort_keys=False)


def read_progress(stage_dir: Path) -> dict[int, dict]:
    """Task index -> its latest progress record (unreadable ones skipped)."""
    records = {}
    for path in (Path(stage_dir) / PROGRESS_DIR).glob("task-*.json"):
        try:
            records[int(path.stem.removeprefix("task-"))] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return dict(sorted(records.items()))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3g}"


def summarize(records: list[dict], tasks_total: int | None, tasks_done: int) -> dict[str, Any]:
    """One stage's progress: fraction done, text, ETA (seconds or None). For an array: the records
    of its unfinished tasks (a finished task's last record may predate its end) and the count of
    finished tasks."""
    if not records and not tasks_total:
        return {}
    unit = records[0]["unit"] if records else "tasks"
    if tasks_total:  # an array: finished tasks, plus the running ones' share
        running = [r for r in records if r.get("total")]
        rate = sum(r["rate"] for r in running if r.get("rate")) or None
        per_task = max((r["total"] for r in records if r.get("total")), default=None)
        fraction = (tasks_done + sum(r["done"] / r["total"] for r in running)) / tasks_total
        text = f"tasks {tasks_done}/{tasks_total}"
        remaining = None
        if per_task and rate:
            waiting = max(tasks_total - tasks_done - len(running), 0)
            remaining = (sum(r["total"] - r["done"] for r in running) + waiting * per_task) / rate
    else:
        record = records[-1]
        total, rate = record.get("total"), record.get("rate")
        fraction = record["done"] / total if total else None
        text = f"{_number(record['done'])}/{_number(total)} {unit}" if total else f"{_number(record['done'])} {unit}"
        remaining = (total - record["done"]) / rate if total and rate else None
        skip = ("done", "total", "unit", "rate", "updated")
        text += "".join(
            f", {k} {_number(v) if isinstance(v, (int, float)) else v}" for k, v in record.items() if k not in skip
        )
    if rate:
        text += f", {_number(rate)} {unit}/s"
    if remaining is not None:
        text += f", ETA {_duration(remaining)}"
    return {"fraction": fraction, "text": text, "eta_s": remaining, "rate": rate, "unit": unit}


def bar(fraction: float | None, width: int = 20) -> str:
    if fraction is None:
        return "[" + "?" * width + "]"
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "." * (width - filled) + f"] {100 * fraction:3.0f}%"
