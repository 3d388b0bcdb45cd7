"""Sparse detector images in ROOT (uproot), written in chunks and atomically.

Tree `images`, one entry per event:
  event_id (int64), process_id (int32, index into the file's process list), seed (int64),
  ht (float32, GeV: scalar sum of jet pT), npixel (counter),
  pixel_index (int32[npixel]: (channel * eta_bins + eta_bin) * phi_bins + phi_bin),
  pixel_value (float32[npixel]: GeV; channel 0 track pT, 1 ECAL E_T, 2 HCAL E_T).
The binning is stored in the file's `binning` string (JSON) and in the stage's JSON record.
"""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

IMAGE_TREE = "images"
IMAGE_BRANCHES = ("event_id", "process_id", "seed", "ht", "pixel_index", "pixel_value")


class ImageWriter:
    def __init__(self, path: Path, binning_json: str, chunk_events: int = 200) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial")
        self.chunk_events = chunk_events
        self.rows: list[tuple[int, int, int, float, np.ndarray, np.ndarray]] = []
        self.file = uproot.recreate(self.tmp)
        self.file["binning"] = binning_json
        self.tree = None
        self.events = 0

    def add(self, event_id: int, process_id: int, seed: int, ht: float, index: np.ndarray, value: np.ndarray) -> None:
        self.rows.append((event_id, process_id, seed, ht, index, value))
        if len(self.rows) >= self.chunk_events:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        counts = np.array([len(r[4]) for r in self.rows], dtype=np.int64)
        data = {
            "event_id": np.array([r[0] for r in self.rows], dtype=np.int64),
            "process_id": np.array([r[1] for r in self.rows], dtype=np.int32),
            "seed": np.array([r[2] for r in self.rows], dtype=np.int64),
            "ht": np.array([r[3] for r in self.rows], dtype=np.float32),
            "pixel": ak.zip(
                {
                    "index": ak.unflatten(np.concatenate([r[4] for r in self.rows]).astype(np.int32), counts),
                    "value": ak.unflatten(np.concatenate([r[5] for r in self.rows]).astype(np.float32), counts),
                }
            ),
        }
        if self.tree is None:
            types = {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
            self.tree = self.file.mktree(
                IMAGE_TREE, types, field_name=lambda outer, inner: f"{outer}_{inner}", counter_name=lambda c: f"n{c}"
            )
        self.tree.extend(data)
        self.events += len(self.rows)
        self.rows = []

    def close(self) -> int:
        self.flush()
        self.file.close()
        os.replace(self.tmp, self.path)
        return self.events

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)
