"""PyTorch access to staged shards: a map-style dataset, optional node-local copy verified by
hash, and a collate that pads a batch to its largest event with a mask."""

from __future__ import annotations

import json
import shutil
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path, atomic_write_json
from .shards import read_shard, sha256_of


def copy_to_local(manifest_path: Path, local_dir: Path, split: str | None = None) -> Path:
    """Copy the shards (of one split, or all) to node-local storage, verifying each by sha256;
    shards already there with the right hash are not copied again. Returns the local manifest."""
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    source_root = manifest_path.parent
    local_dir = Path(local_dir)
    for shard in manifest["shards"]:
        if split and shard["split"] != split:
            continue
        target = local_dir / shard["path"]
        if target.is_file() and sha256_of(target) == shard["sha256"]:
            continue
        with atomic_path(target) as tmp:  # a bad copy raises and never takes the shard's place
            shutil.copyfile(source_root / shard["path"], tmp)
            digest = sha256_of(tmp)
            if digest != shard["sha256"]:
                raise OSError(f"{source_root / shard['path']}: sha256 {digest} does not match the manifest")
    local_manifest = local_dir / "manifest.json"
    atomic_write_json(local_manifest, manifest)
    return local_manifest


class ShardDataset(torch.utils.data.Dataset):
    """Events of one split. Item: X (elements, width), Y (elements, 7), K (elements, 5), gen (n, 10)
    (see shards), process_id."""

    def __init__(self, manifest_path: Path, split: str, cache_shards: int = 2) -> None:
        self.manifest_path = Path(manifest_path)
        self.manifest = json.loads(self.manifest_path.read_text())
        self.root = self.manifest_path.parent
        self.shards = [s for s in self.manifest["shards"] if s["split"] == split]
        counts = [s["events"] for s in self.shards]
        self.first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self.cache_shards = cache_shards
        sizes = [np.diff(read_shard(self.root / s["path"], ("offsets",))["offsets"]) for s in self.shards]
        self.sizes = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)

    def _shard(self, i: int) -> dict[str, np.ndarray]:
        if i in self.cache:
            self.cache.move_to_end(i)
            return self.cache[i]
        data = read_shard(self.root / self.shards[i]["path"])
        self.cache[i] = data
        while len(self.cache) > self.cache_shards:
            self.cache.popitem(last=False)
        return data

    def __len__(self) -> int:
        return int(self.first[-1])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        shard = int(np.searchsorted(self.first, index, side="right") - 1)
        data = self._shard(shard)
        local = index - self.first[shard]
        a, b = data["offsets"][local], data["offsets"][local + 1]
        g0, g1 = data["gen_offsets"][local], data["gen_offsets"][local + 1]
        return {
            "X": torch.from_numpy(data["X"][a:b]),
            "Y": torch.from_numpy(data["Y"][a:b]),
            "K": torch.from_numpy(data["K"][a:b]),
            "gen": torch.from_numpy(data["gen"][g0:g1]),
            "process_id": int(data["process_id"][local]),
            "index": index,
        }


class EventSubset(torch.utils.data.Dataset):
    """A seeded random subset of a dataset's events (in shard order, so shards are read in turn):
    what a search trains its trials on when the whole split does not fit the time."""

    def __init__(self, dataset, events: int, seed: int) -> None:
        self.source = dataset  # the task's dataset (what its collate is given)
        n = min(events, len(dataset))
        self.indices = np.sort(np.random.default_rng(seed).choice(len(dataset), size=n, replace=False))
        self.sizes = dataset.sizes[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.source[int(self.indices[index])]


def collate_padded(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad X, Y and K to the largest event of the batch; mask marks the real elements."""
    longest = max(item["X"].shape[0] for item in batch)
    out = {key: torch.zeros(len(batch), longest, batch[0][key].shape[1]) for key in ("X", "Y", "K")}
    mask = torch.zeros(len(batch), longest, dtype=torch.bool)
    for i, item in enumerate(batch):
        n = item["X"].shape[0]
        for key in ("X", "Y", "K"):
            out[key][i, :n] = item[key]
        mask[i, :n] = True
    return {**out, "mask": mask, "index": torch.tensor([item["index"] for item in batch])}
