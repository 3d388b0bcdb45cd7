"""The staging engine every family uses: ROOT files -> bounded shards + manifest.

Chunked (bounded memory: a reader yields `step_size` events at a time), split by whole file
(the family decides which file goes where, deterministically from the seed), resumable (a file
with a complete record is skipped), shared out over array tasks (task i stages files i, i+n,
...; the last to finish writes the manifest), and strict about bad input: a file that cannot be
read fails the stage naming it, or with `on_error: skip` is quarantined and listed in the
manifest. A family brings a `FileReader` (how to open, check and read its files, and its shard
`Layout`) and the manifest fields of its own.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..atomic import atomic_write_json
from .shards import Layout, ShardBuffer, write_shard

SPLITS = ("train", "val", "test")


class DataError(Exception):
    """A source file is missing, truncated, corrupt or lacks what the staging needs."""

    def __init__(self, source: Path, problem: str) -> None:
        self.source = Path(source)
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class FileReader(Protocol):
    layout: Layout

    def open(self, source: Path) -> Any:
        """A handle on the file's tree, checked (raises DataError naming what is missing)."""

    def info(self, handle: Any) -> dict[str, Any]:
        """File-level facts every file must share (an image shape, the jet classes): the manifest's."""

    def chunks(self, handle: Any) -> Iterator[dict[str, np.ndarray]]:
        """The file's events, a chunk at a time, as arrays of the reader's layout."""


def array_share(ctx: Any, margin_s: float | None = None) -> dict[str, Any]:
    """stage_with's keywords for a stage's context: its array task's share, its log and progress,
    and with `margin_s` the job's deadline timer."""
    from ..deadline import stage_timer

    return {
        "task_index": ctx.array_index or 0,
        "task_count": ctx.array_size or 1,
        "log": ctx.log,
        "progress": ctx.progress,
        "timer": None if margin_s is None else stage_timer(ctx, margin_s),
    }


def assign_splits(files: list[Path], fractions: dict[str, float], seed: int) -> dict[Path, str]:
    """Whole files go to one split; which file goes where depends only on the names and seed."""
    ordered = sorted(files, key=lambda p: p.name)
    perm = np.random.default_rng(seed).permutation(len(ordered))
    bounds = np.round(np.cumsum([fractions[s] for s in SPLITS]) * len(ordered)).astype(int)
    out = {}
    for rank, index in enumerate(perm):
        split = SPLITS[int(np.searchsorted(bounds, rank, side="right"))] if rank < bounds[-1] else SPLITS[-1]
        out[ordered[index]] = split
    return out


def record_name(source: Path) -> str:
    tag = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:8]
    return f"{source.stem}-{tag}"


def open_root(source: Path, tree: str, required: list[str]):
    """(the file's directory, its checked tree) (DataError: missing file, unreadable, no tree, a
    branch missing, each naming the file)."""
    import uproot

    if not source.is_file():
        raise DataError(source, "file not found")
    try:
        handle = uproot.open(source)
    except Exception as exc:  # uproot raises many types for damaged files
        raise DataError(source, f"not a readable ROOT file ({type(exc).__name__}: {exc})") from None
    if tree not in handle:
        raise DataError(source, f"no tree {tree!r} (found: {', '.join(handle.keys()) or 'nothing'})")
    found = handle[tree]
    missing = [b for b in required if b not in found]
    if missing:
        raise DataError(source, f"tree {tree!r} lacks branches: {', '.join(missing)}")
    return handle, found


def stage_one(reader: FileReader, source: Path, split: str, out_dir: Path, max_events: int, max_mb: float) -> dict:
    """Write the shards of one file; return its record. On error, remove what it wrote."""
    handle = reader.open(source)
    written: list[dict] = []
    buffer = ShardBuffer(max_events, int(max_mb * 1e6), reader.layout)
    stem = record_name(source)

    def emit(arrays: dict) -> None:
        path = out_dir / "shards" / split / f"{stem}-{len(written):04d}.npz"
        written.append(write_shard(path, arrays, reader.layout))

    entries = 0
    try:
        info = reader.info(handle)
        for chunk in reader.chunks(handle):
            entries += reader.layout.events(chunk)
            buffer.add(chunk)
            while buffer.full():
                emit(buffer.take(buffer.fitting()))
        if buffer.events:
            emit(buffer.take())
    except Exception as exc:
        for shard in written:
            (out_dir / "shards" / split / shard["file"]).unlink(missing_ok=True)
        if isinstance(exc, DataError):
            raise
        raise DataError(source, f"cannot read the data ({type(exc).__name__}: {exc})") from None
    return {
        "source": str(source.resolve()),
        "source_bytes": source.stat().st_size,
        "split": split,
        "entries": entries,
        "info": info,
        "shards": [{**s, "path": f"shards/{split}/{s['file']}"} for s in written],
    }


def record_is_complete(record: dict, out_dir: Path) -> bool:
    return all(
        (out_dir / s["path"]).is_file() and (out_dir / s["path"]).stat().st_size == s["bytes"]
        for s in record.get("shards", [])
    )


def stage_with(
    reader: FileReader,
    files: list[Path],
    splits: dict[Path, str],
    out_dir: Path,
    params: Any,
    manifest_fields: Callable[[list[dict]], dict[str, Any]],
    task_index: int = 0,
    task_count: int = 1,
    log: Callable[[str], None] = print,
    progress: Callable[..., None] | None = None,
    timer: Any = None,
) -> dict | None:
    """Stage this array task's share of `files` (each to splits[file]); write the manifest once
    every file has a record. `params` gives max_events_per_shard, max_shard_mb and on_error;
    `manifest_fields(good records)` the family's own manifest fields. Returns the manifest if this
    call completed it; `progress(done, total, unit, **fields)` hears of every file. With `timer`
    (deadline.UnitTimer), a file that could not be staged before the job's time limit is not
    started: the job is requeued (StageInterrupted) and the next attempt goes on from it."""
    records_dir = out_dir / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(files, key=lambda p: p.name)
    mine = [source for i, source in enumerate(ordered) if i % task_count == task_index]
    if timer is not None:
        _learn_speed(timer, records_dir)
    staged_events = 0
    for done, source in enumerate(mine):
        if progress:
            progress(done, len(mine), "files", force=True, events=staged_events)
        record_path = records_dir / f"{record_name(source)}.json"
        if record_path.is_file():
            record = json.loads(record_path.read_text())
            if "error" in record or record_is_complete(record, out_dir):
                log(f"{source.name}: already staged, skipped")
                continue
        if timer is not None:
            _check_time(timer, source, log)
        started = time.perf_counter()
        try:
            record = stage_one(
                reader, source, splits[source], out_dir, params.max_events_per_shard, params.max_shard_mb
            )
        except DataError as exc:
            if params.on_error == "fail":
                raise
            record = {"source": str(source.resolve()), "split": splits[source], "error": exc.problem}
            log(f"QUARANTINED {exc}")
        else:
            seconds = time.perf_counter() - started
            record["seconds"] = round(seconds, 3)
            if timer is not None:
                timer.record("MB", seconds / max(source.stat().st_size / 1e6, 1e-6))
            events = sum(s["events"] for s in record["shards"])
            staged_events += events
            shards = len(record["shards"])
            log(f"{source.name}: {events} events -> {shards} shard(s) ({splits[source]}) in {seconds:.1f} s")
        atomic_write_json(record_path, record)
    if progress:
        progress(len(mine), len(mine), "files", force=True, events=staged_events)
    return write_manifest_if_complete(ordered, out_dir, params, manifest_fields)


def _learn_speed(timer: Any, records_dir: Path) -> None:
    """Seconds per MB from the files already staged (by any task, in any attempt)."""
    for path in sorted(records_dir.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        if record.get("seconds") and record.get("source_bytes"):
            timer.record("MB", record["seconds"] / max(record["source_bytes"] / 1e6, 1e-6))


def _check_time(timer: Any, source: Path, log: Callable[[str], None]) -> None:
    from ..deadline import start_or_requeue

    if "MB" in timer.mean:  # nothing measured yet: the first file shows the speed
        expected = timer.estimate("MB") * source.stat().st_size / 1e6
        start_or_requeue(timer, expected, f"staging {source.name}", "raise resources.time", log)


def write_manifest_if_complete(
    files: list[Path], out_dir: Path, params: Any, manifest_fields: Callable[[list[dict]], dict[str, Any]]
) -> dict | None:
    records = []
    for source in files:
        path = out_dir / "records" / f"{record_name(source)}.json"
        if not path.is_file():
            return None
        records.append(json.loads(path.read_text()))
    good = [r for r in records if "error" not in r]
    first = next((r for r in good if "info" in r), None)
    for r in good:
        if first is not None and r.get("info", first["info"]) != first["info"]:
            raise DataError(Path(r["source"]), f"{r['info']} differs from {first['source']}'s {first['info']}")
    shards = [{**s, "split": r["split"], "source": r["source"]} for r in good for s in r["shards"]]
    manifest = {
        "family": params.dataset,
        **manifest_fields(good),
        "seed": params.seed,
        "split_fractions": params.split,
        "splits": {
            split: {
                "files": sorted(r["source"] for r in good if r["split"] == split),
                "events": sum(s["events"] for s in shards if s["split"] == split),
                "shards": sum(1 for s in shards if s["split"] == split),
            }
            for split in SPLITS
        },
        "shards": shards,
        "quarantined": [{"source": r["source"], "error": r["error"]} for r in records if "error" in r],
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest
