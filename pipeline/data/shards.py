"""Shard files (ragged tensors of whole events) and their hashes.

A shard is an uncompressed .npz whose arrays a `Layout` describes: per-event arrays (first
axis: events) and ragged groups (an offsets array, events+1, and the value arrays whose rows
it owns). Every family's staging cuts its shards with the same `ShardBuffer`, by events and by
bytes. The particle-flow layout (ELEMENTS):
  X (elements, width) float32      element rows [type id, normalised features...]
  Y (elements, 7) float32          targets: cls, charge, pt, eta, sin_phi, cos_phi, energy
  K (elements, 5) float32          the element's own pt, eta, sin_phi, cos_phi, energy
  offsets (events+1) int64         event e owns rows offsets[e]:offsets[e+1]
  gen (particles, 10) float32      generator particles: pid, charge, px, py, pz, energy, and what the
                                   detector measured of each: track_index, calo_energy, calo_eta, calo_phi
  gen_offsets (events+1) int64
  event_id (events,) int64        entry in the source file
  process_id (events,) int64      index into the manifest's `processes`
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path


@dataclass(frozen=True)
class Layout:
    keys: tuple[str, ...]  # every array, in the order written
    per_event: tuple[str, ...]  # arrays with one row per event; the first counts the events
    ragged: tuple[tuple[str, tuple[str, ...]], ...]  # (offsets array, the arrays whose rows it owns)

    def events(self, arrays: dict[str, np.ndarray]) -> int:
        return int(len(arrays[self.per_event[0]]))


ELEMENTS = Layout(
    keys=("X", "Y", "K", "offsets", "gen", "gen_offsets", "event_id", "process_id"),
    per_event=("event_id", "process_id"),
    ragged=(("offsets", ("X", "Y", "K")), ("gen_offsets", ("gen",))),
)
SHARD_KEYS = ELEMENTS.keys


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_shard(path: Path, arrays: dict[str, np.ndarray], layout: Layout = ELEMENTS) -> dict:
    """Write atomically; return {file, events, elements, bytes, sha256} (elements: the rows of
    the first ragged group, or the events of a layout without one)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: arrays[k] for k in layout.keys})
        digest = sha256_of(tmp)
    return {
        "file": path.name,
        "events": layout.events(arrays),
        "elements": int(arrays[layout.ragged[0][0]][-1]) if layout.ragged else layout.events(arrays),
        "bytes": path.stat().st_size,
        "sha256": digest,
    }


def read_shard(path: Path, keys: tuple[str, ...] = SHARD_KEYS) -> dict[str, np.ndarray]:
    """The shard's arrays (only `keys`: an npz member is read only when asked for)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in keys}


def _event_bytes(part: dict[str, np.ndarray], layout: Layout) -> np.ndarray:
    """Bytes each event takes: its rows of every ragged group, its per-event rows, one offset."""
    size = np.full(layout.events(part), 8, dtype=np.int64)
    for offsets, values in layout.ragged:
        row = sum(part[v].itemsize * int(np.prod(part[v].shape[1:])) for v in values)
        size += np.diff(part[offsets]) * row
    for key in layout.per_event:
        size += part[key].itemsize * int(np.prod(part[key].shape[1:]))
    return size


class ShardBuffer:
    """Collects events chunk by chunk and cuts shards of at most `max_events` events and
    about `max_bytes` bytes (a single larger event still makes a shard of its own)."""

    def __init__(self, max_events: int, max_bytes: int, layout: Layout = ELEMENTS) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.layout = layout
        self.parts: list[dict[str, np.ndarray]] = []
        self.sizes: list[np.ndarray] = []
        self.events = 0

    def add(self, part: dict[str, np.ndarray]) -> None:
        if self.layout.events(part):
            self.parts.append(part)
            self.sizes.append(_event_bytes(part, self.layout))
            self.events += self.layout.events(part)

    @property
    def nbytes(self) -> int:
        return int(sum(s.sum() for s in self.sizes))

    def full(self) -> bool:
        return self.events >= self.max_events or self.nbytes >= self.max_bytes

    def fitting(self) -> int:
        """Events from the front that fit one shard."""
        cumulative = np.cumsum(np.concatenate(self.sizes))
        by_bytes = int(np.searchsorted(cumulative, self.max_bytes, side="right"))
        return max(1, min(self.max_events, by_bytes))

    def take(self, n: int | None = None) -> dict[str, np.ndarray]:
        """Remove and return the first n events (default: all) as one shard's arrays."""
        merged = _concat(self.parts, self.layout)
        total = self.layout.events(merged)
        n = total if n is None else min(n, total)
        head, tail = _split(merged, n, self.layout)
        left = self.layout.events(tail)
        self.parts = [tail] if left else []
        self.sizes = [_event_bytes(tail, self.layout)] if left else []
        self.events = left
        return head


def _concat(parts: list[dict[str, np.ndarray]], layout: Layout) -> dict[str, np.ndarray]:
    out = {k: np.concatenate([p[k] for p in parts]) for k in layout.per_event}
    for offsets, values in layout.ragged:
        for v in values:
            out[v] = np.concatenate([p[v] for p in parts])
        counts = np.concatenate([np.diff(p[offsets]) for p in parts])
        out[offsets] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        assert out[offsets][-1] == len(out[values[0]])
    return out


def _split(arrays: dict[str, np.ndarray], n: int, layout: Layout) -> tuple[dict, dict]:
    """(first n events, the rest)."""
    head = {k: arrays[k][:n] for k in layout.per_event}
    tail = {k: arrays[k][n:] for k in layout.per_event}
    for offsets, values in layout.ragged:
        cut = arrays[offsets][n]
        head.update({v: arrays[v][:cut] for v in values})
        tail.update({v: arrays[v][cut:] for v in values})
        head[offsets], tail[offsets] = arrays[offsets][: n + 1], arrays[offsets][n:] - cut
    return head, tail
