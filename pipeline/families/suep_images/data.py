"""Sparse detector images (ROOT tree `images`) -> shards + manifest, and their PyTorch dataset.

The background (pp_qcd) files are split by file into train/val/test by the seed; every signal
file goes to the test split (an anomaly detector never trains on signal). Staged through the
engine (file_staging.py: chunked, bounded shards, resumable, bad files failed or quarantined).
A shard is an .npz (layout IMAGES):
  pixel_index (pixels,) int32, pixel_value (pixels,) float32, offsets (events+1,) int64,
  process_id, event_id (events,) int64, ht, weight (events,) float32, ntracks (events,) int32.
Files written before weight and ntracks existed stage with weight 1 and ntracks counted from the
track channel's pixels (what the multiplicity baseline counted then).
Images are densified per batch (collate), never on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...data.file_staging import DataError, assign_splits, open_root, stage_with
from ...data.shards import Layout
from ...physics.image_io import IMAGE_BRANCHES, IMAGE_TREE
from ...physics.pp import BACKGROUND, pp_processes
from ..registry import manifest_family

IMAGES = Layout(
    keys=("pixel_index", "pixel_value", "offsets", "process_id", "event_id", "ht", "weight", "ntracks"),
    per_event=("event_id", "process_id", "ht", "weight", "ntracks"),
    ragged=(("offsets", ("pixel_index", "pixel_value")),),
)
IMAGE_SHARD_KEYS = IMAGES.keys
REQUIRED = ["event_id", "process_id", "ht", "pixel_index", "pixel_value"]


def track_pixels(pixel_index: np.ndarray, offsets: np.ndarray, shape) -> np.ndarray:
    """Non-zero track-channel pixels per event (the multiplicity of files without ntracks)."""
    cumulative = np.concatenate([[0], np.cumsum(pixel_index < int(np.prod(shape[1:])))])
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]


def image_arrays(arrays, shape) -> dict[str, np.ndarray]:
    import awkward as ak

    counts = ak.to_numpy(ak.num(arrays["pixel_index"]))
    out = {
        "pixel_index": ak.to_numpy(ak.flatten(arrays["pixel_index"])).astype(np.int32),
        "pixel_value": ak.to_numpy(ak.flatten(arrays["pixel_value"])).astype(np.float32),
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "process_id": ak.to_numpy(arrays["process_id"]).astype(np.int64),
        "event_id": ak.to_numpy(arrays["event_id"]).astype(np.int64),
        "ht": ak.to_numpy(arrays["ht"]).astype(np.float32),
    }
    fields = set(arrays.fields)
    out["weight"] = (
        ak.to_numpy(arrays["weight"]).astype(np.float32) if "weight" in fields else np.ones(counts.size, np.float32)
    )
    if "ntracks" in fields and (ntracks := ak.to_numpy(arrays["ntracks"]).astype(np.int32)).min(initial=0) >= 0:
        out["ntracks"] = ntracks
    else:
        out["ntracks"] = track_pixels(out["pixel_index"], out["offsets"], shape).astype(np.int32)
    return out


class ImageReader:
    layout = IMAGES

    def __init__(self, tree: str = IMAGE_TREE, step_size: int = 500) -> None:
        self.tree, self.step_size = tree, step_size

    def open(self, source: Path):
        directory, tree = open_root(source, self.tree, REQUIRED)
        try:
            binning = json.loads(str(directory["binning"]))
        except Exception as exc:
            raise DataError(source, f"no readable image binning ({type(exc).__name__}: {exc})") from None
        return tree, binning

    def info(self, handle) -> dict:
        return {"shape": handle[1]["shape"], "definition": handle[1].get("definition", "cells")}

    def chunks(self, handle) -> Iterator[dict[str, np.ndarray]]:
        tree, binning = handle
        for chunk in tree.iterate([b for b in IMAGE_BRANCHES if b in tree], step_size=self.step_size, library="ak"):
            yield image_arrays(chunk, binning["shape"])


def read_image_file(source: Path) -> tuple[dict[str, np.ndarray], list[int]]:
    """A whole image file's arrays and its image shape (for scoring)."""
    reader = ImageReader()
    handle = reader.open(Path(source))
    tree, binning = handle
    return image_arrays(tree.arrays([b for b in IMAGE_BRANCHES if b in tree]), binning["shape"]), binning["shape"]


def stage_images(files: list[Path], out_dir: Path, params, **share: Any) -> dict | None:
    """Background files split by the seed, every signal file to test; see file_staging.stage_with."""
    processes = pp_processes()
    background = [f for f in files if f.name.startswith(BACKGROUND + "_")]
    splits = {f: "test" for f in files} | assign_splits(background, params.split, params.seed)

    def fields(good: list[dict]) -> dict:
        info = next((r["info"] for r in good), {})
        return {
            "shape": info.get("shape"),
            "definition": info.get("definition", "cells"),
            "processes": processes,
            "background": [processes.index(BACKGROUND)],
        }

    reader = ImageReader(params.tree, params.step_size)
    return stage_with(reader, files, splits, out_dir, params, fields, **share)


class ImageDataset:
    """Events of one split as sparse images (optionally only some processes). Item: dict with
    pixel_index, pixel_value (torch tensors), process_id, and `sizes` for the bucket sampler."""

    def __init__(self, manifest_path: Path, split: str, processes: list[int] | None = None) -> None:
        import torch

        self.torch = torch
        manifest_path = Path(manifest_path)
        self.manifest = json.loads(manifest_path.read_text())
        family = manifest_family(self.manifest)
        if family != "suep_images":
            raise ValueError(f"{manifest_path}: not a suep_images manifest (family {family!r})")
        self.shape = tuple(self.manifest["shape"])
        self.rows: list[tuple[dict[str, np.ndarray], int]] = []
        for shard in self.manifest["shards"]:
            if shard["split"] != split:
                continue
            with np.load(manifest_path.parent / shard["path"]) as data:
                arrays = {k: data[k] for k in IMAGE_SHARD_KEYS if k in data}
            events = arrays["offsets"].size - 1
            arrays.setdefault("weight", np.ones(events, np.float32))  # shards staged before weights existed
            if "ntracks" not in arrays:
                arrays["ntracks"] = track_pixels(arrays["pixel_index"], arrays["offsets"], self.shape)
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
            "weight": float(arrays["weight"][e]),
        }


def densify(items: list[dict], shape: tuple[int, int, int]):
    """[B, C, H, W] float32 images from sparse items."""
    import torch

    size = int(np.prod(shape))
    flat = torch.zeros(len(items), size)
    for b, item in enumerate(items):
        flat[b].index_add_(0, item["pixel_index"], item["pixel_value"])
    return flat.view(len(items), *shape)
