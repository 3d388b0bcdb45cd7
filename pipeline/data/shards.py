"""Shard files (ragged element tensors of whole events) and their hashes.

A shard is an uncompressed .npz with arrays:
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
from pathlib import Path

import numpy as np

from ..atomic import atomic_path

SHARD_KEYS = ("X", "Y", "K", "offsets", "gen", "gen_offsets", "event_id", "process_id")
PER_EVENT_KEYS = ("event_id", "process_id")


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_shard(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    """Write atomically; return {file, events, elements, bytes, sha256}."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **{k: arrays[k] for k in SHARD_KEYS})
        digest = sha256_of(tmp)
    return {
        "file": path.name,
        "events": int(len(arrays["event_id"])),
        "elements": int(arrays["offsets"][-1]),
        "bytes": path.stat().st_size,
        "sha256": digest,
    }


def read_shard(path: Path, keys: tuple[str, ...] = SHARD_KEYS) -> dict[str, np.ndarray]:
    """The shard's arrays (only `keys`: an npz member is read only when asked for)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in keys}


def _event_bytes(part: dict[str, np.ndarray]) -> np.ndarray:
    row = (part["X"].shape[1] + part["Y"].shape[1] + part["K"].shape[1]) * 4
    return np.diff(part["offsets"]) * row + np.diff(part["gen_offsets"]) * part["gen"].shape[1] * 4 + 24


class ShardBuffer:
    """Collects events chunk by chunk and cuts shards of at most `max_events` events and
    about `max_bytes` bytes (a single larger event still makes a shard of its own)."""

    def __init__(self, max_events: int, max_bytes: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.parts: list[dict[str, np.ndarray]] = []
        self.sizes: list[np.ndarray] = []
        self.events = 0

    def add(self, part: dict[str, np.ndarray]) -> None:
        if len(part["event_id"]):
            self.parts.append(part)
            self.sizes.append(_event_bytes(part))
            self.events += len(part["event_id"])

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
        merged = _concat(self.parts)
        n = merged["event_id"].size if n is None else min(n, merged["event_id"].size)
        head, tail = _split(merged, n)
        self.parts = [tail] if tail["event_id"].size else []
        self.sizes = [_event_bytes(tail)] if tail["event_id"].size else []
        self.events = tail["event_id"].size
        return head


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("X", "Y", "K", "gen", *PER_EVENT_KEYS)}
    for key, ref in (("offsets", "X"), ("gen_offsets", "gen")):
        counts = np.concatenate([np.diff(p[key]) for p in parts])
        out[key] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        assert out[key][-1] == len(out[ref])
    return out


def _split(arrays: dict[str, np.ndarray], n: int) -> tuple[dict, dict]:
    """(first n events, the rest)."""
    e, g = arrays["offsets"][n], arrays["gen_offsets"][n]
    head = {k: arrays[k][:e] for k in ("X", "Y", "K")}
    tail = {k: arrays[k][e:] for k in ("X", "Y", "K")}
    head.update(gen=arrays["gen"][:g], **{k: arrays[k][:n] for k in PER_EVENT_KEYS})
    tail.update(gen=arrays["gen"][g:], **{k: arrays[k][n:] for k in PER_EVENT_KEYS})
    head.update(offsets=arrays["offsets"][: n + 1], gen_offsets=arrays["gen_offsets"][: n + 1])
    tail.update(offsets=arrays["offsets"][n:] - e, gen_offsets=arrays["gen_offsets"][n:] - g)
    return head, tail
