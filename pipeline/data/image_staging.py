"""Sparse detector images (ROOT tree `images`) -> shards + manifest, and their PyTorch dataset.

The background (pp_qcd) files are split by file into train/val/test by the seed; every signal
file goes to the test split (an anomaly detector never trains on signal). A shard is an .npz:
  pixel_index (pixels,) int32, pixel_value (pixels,) float32, offsets (events+1,) int64,
  process_id, event_id (events,) int64, ht (events,) float32.
Images are densified per batch (collate), never on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, atomic_write_json
from ..physics.image_io import IMAGE_BRANCHES, IMAGE_TREE
from ..physics.pp import BACKGROUND, pp_processes
from .shards import sha256_of
from .staging import SPLITS, DataError, assign_splits, record_name

IMAGE_SHARD_KEYS = ("pixel_index", "pixel_value", "offsets", "process_id", "event_id", "ht")


def read_image_file(source: Path) -> tuple[dict[str, np.ndarray], list[int]]:
    import awkward as ak
    import uproot

    try:
        handle = uproot.open(source)
        tree = handle[IMAGE_TREE]
        binning = json.loads(str(handle["binning"]))
    except Exception as exc:  # uproot raises many types for damaged files
        raise DataError(source, f"not a readable image file ({type(exc).__name__}: {exc})") from None
    missing = [b for b in ("event_id", "process_id", "ht", "pixel_index", "pixel_value") if b not in tree]
    if missing:
        raise DataError(source, f"tree {IMAGE_TREE!r} lacks branches: {', '.join(missing)}")
    arrays = tree.arrays([b for b in IMAGE_BRANCHES if b in tree])
    counts = ak.to_numpy(ak.num(arrays["pixel_index"]))
    return {
        "pixel_index": ak.to_numpy(ak.flatten(arrays["pixel_index"])).astype(np.int32),
        "pixel_value": ak.to_numpy(ak.flatten(arrays["pixel_value"])).astype(np.float32),
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "process_id": ak.to_numpy(arrays["process_id"]).astype(np.int64),
        "event_id": ak.to_numpy(arrays["event_id"]).astype(np.int64),
        "ht": ak.to_numpy(arrays["ht"]).astype(np.float32),
    }, binning["shape"]


def stage_images(
    files: list[Path],
    out_dir: Path,
    split: dict[str, float],
    seed: int,
    log: Callable[[str], None] = print,
) -> dict:
    """One shard per input file; the manifest lists them with split, events and sha256."""
    processes = pp_processes()
    background = [f for f in files if f.name.startswith(BACKGROUND + "_")]
    splits = assign_splits(background, split, seed)
    shards, shape = [], None
    for source in files:
        arrays, file_shape = read_image_file(source)
        if shape is not None and file_shape != shape:
            raise DataError(source, f"image shape {file_shape} differs from the other files' {shape}")
        shape = file_shape
        name = f"{record_name(source)}.npz"
        path = out_dir / "shards" / name
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **{k: arrays[k] for k in IMAGE_SHARD_KEYS})
        events = int(arrays["offsets"].size - 1)
        shards.append(
            {
                "path": f"shards/{name}",
                "split": splits.get(source, "test"),
                "source": str(source),
                "events": events,
                "pixels": int(arrays["offsets"][-1]),
                "sha256": sha256_of(path),
            }
        )
        log(f"{source.name}: {events} events -> {shards[-1]['split']}")
    manifest = {
        "kind": "images",
        "shape": shape,
        "processes": processes,
        "background": [processes.index(BACKGROUND)],
        "shards": shards,
        "splits": {s: {"events": sum(x["events"] for x in shards if x["split"] == s)} for s in SPLITS},
        "quarantined": [],
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest


class ImageDataset:
    """Events of one split as sparse images (optionally only some processes). Item: dict with
    pixel_index, pixel_value (torch tensors), process_id, and `sizes` for the bucket sampler."""

    def __init__(self, manifest_path: Path, split: str, processes: list[int] | None = None) -> None:
        import torch

        self.torch = torch
        manifest_path = Path(manifest_path)
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("kind") != "images":
            raise ValueError(f"{manifest_path}: not an image manifest (kind {self.manifest.get('kind')!r})")
        self.shape = tuple(self.manifest["shape"])
        self.rows: list[tuple[dict[str, np.ndarray], int]] = []
        for shard in self.manifest["shards"]:
            if shard["split"] != split:
                continue
            with np.load(manifest_path.parent / shard["path"]) as data:
                arrays = {k: data[k] for k in IMAGE_SHARD_KEYS}
            for e in range(arrays["offsets"].size - 1):
                if processes is None or arrays["process_id"][e] in processes:
                    self.rows.append((arrays, e))
        self.sizes = np.array([a["offsets"][e + 1] - a["offsets"][e] for a, e in self.rows], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        arrays, e = self.rows[i]
        lo, hi = arrays["offsets"][e], arrays["offsets"][e + 1]
        return {
            "pixel_index": self.torch.from_numpy(arrays["pixel_index"][lo:hi].astype(np.int64)),
            "pixel_value": self.torch.from_numpy(arrays["pixel_value"][lo:hi]),
            "process_id": int(arrays["process_id"][e]),
            "ht": float(arrays["ht"][e]),
        }


def densify(items: list[dict], shape: tuple[int, int, int]):
    """[B, C, H, W] float32 images from sparse items."""
    import torch

    size = int(np.prod(shape))
    flat = torch.zeros(len(items), size)
    for b, item in enumerate(items):
        flat[b].index_add_(0, item["pixel_index"], item["pixel_value"])
    return flat.view(len(items), *shape)
