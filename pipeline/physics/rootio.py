"""Writing simulated events to ROOT with uproot, in chunks, atomically (tmp file + rename)."""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from .schema import SCHEMA, TREE


class EventWriter:
    """Buffer events and append them to one ROOT file chunk by chunk."""

    def __init__(self, path: Path, collections: tuple[str, ...], chunk_events: int = 200) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial")
        self.collections = collections
        self.chunk_events = chunk_events
        self.buffer: list[tuple[dict, dict]] = []
        self.file = uproot.recreate(self.tmp)
        self.tree = None
        self.events = 0

    def add(self, event: dict[str, dict[str, np.ndarray]], info: dict[str, int]) -> None:
        self.buffer.append((event, info))
        if len(self.buffer) >= self.chunk_events:
            self.flush()

    def _chunk(self) -> dict:
        data: dict = {}
        for name, (dtype, _, _) in SCHEMA["event"].items():
            data[name] = np.array([info[name] for _, info in self.buffer], dtype=dtype)
        for collection in self.collections:
            fields = {}
            counts = np.array([len(next(iter(ev[collection].values()))) for ev, _ in self.buffer], dtype=np.int64)
            for field, (dtype, _, _) in SCHEMA[collection].items():
                if field not in self.buffer[0][0][collection]:
                    continue
                flat = np.concatenate([np.asarray(ev[collection][field]) for ev, _ in self.buffer]).astype(dtype)
                fields[field] = ak.unflatten(flat, counts)
            data[collection] = ak.zip(fields)
        return data

    def flush(self) -> None:
        if not self.buffer:
            return
        data = self._chunk()
        if self.tree is None:
            types = {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
            self.tree = self.file.mktree(
                TREE,
                types,
                field_name=lambda outer, inner: f"{outer}_{inner}",
                counter_name=lambda c: f"n{c}",
            )
        self.tree.extend(data)
        self.events += len(self.buffer)
        self.buffer = []

    def close(self) -> int:
        """Finish the file and move it into place; returns the number of events."""
        self.flush()
        self.file.close()
        os.replace(self.tmp, self.path)
        return self.events

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)
