"""ROOT files -> shards + manifest. Chunked (bounded memory), split by file (deterministic from
the seed), resumable (a file with a complete record is skipped), and strict about bad input:
a file that cannot be read fails the stage naming it, or is quarantined with `on_error: skip`."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np

from ..atomic import atomic_write_json
from ..physics.processes import process_names
from ..physics.schema import SCHEMA_VERSION, branch
from .features import (
    GEN_COLUMNS,
    KINEMATIC_COLUMNS,
    LEVEL_TYPES,
    TARGET_COLUMNS,
    FeatureConfig,
    element_kinematics,
    element_matrix,
)
from .links import LINK_COLUMNS, LinkParams, link_features
from .shards import ShardBuffer, write_shard

SPLITS = ("train", "val", "test")


class DataError(Exception):
    """A source file is missing, truncated, corrupt or lacks what the staging needs."""

    def __init__(self, source: Path, problem: str) -> None:
        self.source = Path(source)
        self.problem = problem
        super().__init__(f"{source}: {problem}")


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


class FileStager:
    """Stages one ROOT file into shards of one split."""

    def __init__(
        self,
        config: FeatureConfig,
        level: str,
        tree: str,
        step_size: int,
        max_events: int,
        max_mb: float = 256.0,
        links: LinkParams | None = None,
    ) -> None:
        self.config = config
        self.level = level
        self.tree = tree
        self.step_size = step_size
        self.max_events = max_events
        self.max_bytes = int(max_mb * 1e6)
        self.width = config.width(level)
        self.links = links if links is not None and links.enabled else None
        if self.links is not None:
            from ..physics.detector_spec import DetectorSpec

            self.detector = DetectorSpec.model_validate(self.links.detector)
            self.feature_dict = config.model_dump(mode="json")

    def _with_links(self, X: np.ndarray, K: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """X with the link features of every event appended (pipeline/data/links.py)."""
        if self.links is None:
            return X
        extra = [
            link_features(X[a:b], K[a:b], self.feature_dict, self.detector, self.links.link_distance_m)
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
        columns = np.concatenate(extra) if extra else np.zeros((0, len(LINK_COLUMNS)), dtype=np.float32)
        return np.concatenate([X, columns], axis=1)

    def required_branches(self) -> list[str]:
        names = ["event_id", "process_id"] + [branch("gen", f) for f in GEN_COLUMNS]
        for element in LEVEL_TYPES[self.level]:
            names += [branch(element, f) for f in self.config.branches(element)]
            names += [branch(element, f"target_{t}") for t in TARGET_COLUMNS]
        return sorted(set(names))

    def _open(self, source: Path):
        import uproot

        if not source.is_file():
            raise DataError(source, "file not found")
        try:
            handle = uproot.open(source)
        except Exception as exc:  # uproot raises many types for damaged files
            raise DataError(source, f"not a readable ROOT file ({type(exc).__name__}: {exc})") from None
        if self.tree not in handle:
            raise DataError(source, f"no tree {self.tree!r} (found: {', '.join(handle.keys()) or 'nothing'})")
        tree = handle[self.tree]
        missing = [b for b in self.required_branches() if b not in tree]
        if missing:
            raise DataError(source, f"tree {self.tree!r} lacks branches: {', '.join(missing)}")
        return tree

    def _chunk_arrays(self, chunk: ak.Array) -> dict[str, np.ndarray]:
        n_events = len(chunk)
        rows, kinematics, targets, owners = [], [], [], []
        for element in LEVEL_TYPES[self.level]:
            counts = ak.to_numpy(ak.num(chunk[branch(element, "target_cls")]))
            columns = {f: ak.to_numpy(ak.flatten(chunk[branch(element, f)])) for f in self.config.branches(element)}
            rows.append(element_matrix(columns, element, self.config, self.width))
            kinematics.append(element_kinematics(columns, element))
            targets.append(
                np.stack(
                    [
                        ak.to_numpy(ak.flatten(chunk[branch(element, f"target_{t}")])).astype(np.float32)
                        for t in TARGET_COLUMNS
                    ],
                    axis=1,
                )
            )
            owners.append(np.repeat(np.arange(n_events), counts))
        owner = np.concatenate(owners)
        order = np.argsort(owner, kind="stable")  # per event: tracks first, then calorimeter elements
        counts = np.bincount(owner, minlength=n_events)
        gen_counts = ak.to_numpy(ak.num(chunk[branch("gen", "pid")]))
        gen = np.stack(
            [ak.to_numpy(ak.flatten(chunk[branch("gen", f)])).astype(np.float32) for f in GEN_COLUMNS], axis=1
        )
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        K = np.concatenate(kinematics)[order]
        return {
            "X": self._with_links(np.concatenate(rows)[order], K, offsets),
            "Y": np.concatenate(targets)[order],
            "K": K,
            "offsets": offsets,
            "gen": gen,
            "gen_offsets": np.concatenate([[0], np.cumsum(gen_counts)]).astype(np.int64),
            "event_id": ak.to_numpy(chunk["event_id"]).astype(np.int64),
            "process_id": ak.to_numpy(chunk["process_id"]).astype(np.int64),
        }

    def stage(self, source: Path, split: str, out_dir: Path) -> dict:
        """Write the shards of one file; return its record. On error, remove what it wrote."""
        tree = self._open(source)
        written: list[dict] = []
        buffer = ShardBuffer(self.max_events, self.max_bytes)
        stem = record_name(source)

        def emit(arrays: dict) -> None:
            path = out_dir / "shards" / split / f"{stem}-{len(written):04d}.npz"
            written.append(write_shard(path, arrays))

        try:
            for chunk in tree.iterate(self.required_branches(), step_size=self.step_size, library="ak"):
                buffer.add(self._chunk_arrays(chunk))
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
            "entries": int(tree.num_entries),
            "shards": [{**s, "path": f"shards/{split}/{s['file']}"} for s in written],
        }


def record_is_complete(record: dict, out_dir: Path) -> bool:
    return all(
        (out_dir / s["path"]).is_file() and (out_dir / s["path"]).stat().st_size == s["bytes"]
        for s in record.get("shards", [])
    )


def stage_files(
    files: list[Path],
    out_dir: Path,
    params,
    task_index: int = 0,
    task_count: int = 1,
    log: Callable[[str], None] = print,
    progress: Callable[..., None] | None = None,
) -> dict | None:
    """Stage this task's share of `files`; write the manifest once every file has a record.
    Returns the manifest if this call completed it. `progress(done, total, unit, **fields)` hears
    of every file."""
    config = params.features
    splits = assign_splits(files, params.split, params.seed)
    stager = FileStager(
        config,
        params.input_level,
        params.tree,
        params.step_size,
        params.max_events_per_shard,
        params.max_shard_mb,
        params.links,
    )
    records_dir = out_dir / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    ordered = sorted(files, key=lambda p: p.name)
    mine = [source for i, source in enumerate(ordered) if i % task_count == task_index]
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
        started = time.perf_counter()
        try:
            record = stager.stage(source, splits[source], out_dir)
        except DataError as exc:
            if params.on_error == "fail":
                raise
            record = {"source": str(source.resolve()), "split": splits[source], "error": exc.problem}
            log(f"QUARANTINED {exc}")
        else:
            seconds = time.perf_counter() - started
            events = sum(s["events"] for s in record["shards"])
            staged_events += events
            shards = len(record["shards"])
            log(f"{source.name}: {events} events -> {shards} shard(s) ({splits[source]}) in {seconds:.1f} s")
        atomic_write_json(record_path, record)
    if progress:
        progress(len(mine), len(mine), "files", force=True, events=staged_events)
    return write_manifest_if_complete(ordered, out_dir, params)


def write_manifest_if_complete(files: list[Path], out_dir: Path, params) -> dict | None:
    records = []
    for source in files:
        path = out_dir / "records" / f"{record_name(source)}.json"
        if not path.is_file():
            return None
        records.append(json.loads(path.read_text()))
    good = [r for r in records if "error" not in r]
    shards = [{**s, "split": r["split"], "source": r["source"]} for r in good for s in r["shards"]]
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "input_level": params.input_level,
        "width": params.features.width(params.input_level) + params.links.columns(),
        "features": params.features.model_dump(mode="json"),
        "links": params.links.model_dump(mode="json"),
        "targets": list(TARGET_COLUMNS),
        "kinematics": list(KINEMATIC_COLUMNS),
        "gen_columns": list(GEN_COLUMNS),
        "processes": process_names(),  # process_id of an event indexes this list
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
