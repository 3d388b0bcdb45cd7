"""Sparse detector images in ROOT (uproot), written in chunks and atomically.

Tree `images`, one entry per event:
  event_id (int64), process_id (int32, index into the file's process list), seed (int64),
  ht (float32, GeV: scalar sum of jet pT), weight (float32: the generator's event weight, 1 for
  unweighted samples), ntracks (int32: tracks in the track channel, from the hard vertex),
  npixel (counter),
  pixel_index (int32[npixel]: (channel * eta_bins + eta_bin) * phi_bins + phi_bin),
  pixel_value (float32[npixel]: GeV; channel 0 track pT, 1 ECAL E_T, 2 HCAL E_T).
The binning is stored in the file's `binning` string (JSON) and in the stage's JSON record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .rootio import ChunkedTreeWriter, jagged

IMAGE_TREE = "images"
IMAGE_BRANCHES = ("event_id", "process_id", "seed", "ht", "weight", "ntracks", "pixel_index", "pixel_value")


class ImageWriter(ChunkedTreeWriter):
    def __init__(self, path: Path, binning_json: str, chunk_events: int = 200) -> None:
        super().__init__(path, IMAGE_TREE, chunk_events, strings={"binning": binning_json})

    def add(
        self, event_id: int, process_id: int, seed: int, ht: float, index: np.ndarray, value: np.ndarray,
        weight: float = 1.0, ntracks: int = -1,
    ) -> None:  # fmt: skip
        self.add_row((event_id, process_id, seed, ht, index, value, weight, ntracks))

    def _chunk(self, rows: list) -> dict:
        return {
            "event_id": np.array([r[0] for r in rows], dtype=np.int64),
            "process_id": np.array([r[1] for r in rows], dtype=np.int32),
            "seed": np.array([r[2] for r in rows], dtype=np.int64),
            "ht": np.array([r[3] for r in rows], dtype=np.float32),
            "weight": np.array([r[6] for r in rows], dtype=np.float32),
            "ntracks": np.array([r[7] for r in rows], dtype=np.int32),
            "pixel": jagged([{"index": r[4], "value": r[5]} for r in rows], {"index": np.int32, "value": np.float32}),
        }
