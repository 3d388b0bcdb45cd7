"""Writing simulated events to ROOT with uproot, in chunks, atomically (tmp file + rename)."""

from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from .schema import SCHEMA, TREE


class ChunkedTreeWriter:
    """Rows buffered and appended to one tree of one ROOT file chunk by chunk; the file is
    written under a hidden partial name and moved into place by close() (abort() removes it).
    A subclass turns its buffered rows into one chunk of branches (`_chunk`); awkward records
    become `<outer>_<inner>` branches with an `n<outer>` counter."""

    def __init__(self, path: Path, tree: str, chunk_events: int = 200, strings: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.partial")
        self.tree_name = tree
        self.chunk_events = chunk_events
        self.rows: list = []
        self.file = uproot.recreate(self.tmp)
        for key, text in (strings or {}).items():
            self.file[key] = text
        self.tree = None
        self.events = 0

    def _chunk(self, rows: list) -> dict:
        raise NotImplementedError

    def add_row(self, row) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk_events:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        data = self._chunk(self.rows)
        if self.tree is None:
            types = {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
            self.tree = self.file.mktree(
                self.tree_name,
                types,
                field_name=lambda outer, inner: f"{outer}_{inner}",
                counter_name=lambda c: f"n{c}",
            )
        self.tree.extend(data)
        self.events += len(self.rows)
        self.rows = []

    def close(self) -> int:
        """Finish the file and move it into place; returns the number of rows written."""
        self.flush()
        self.file.close()
        os.replace(self.tmp, self.path)
        return self.events

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def jagged(rows: list[dict[str, np.ndarray]], dtypes: dict[str, np.dtype]) -> ak.Array:
    """One awkward record array of per-row variable-length fields (same length within a row)."""
    counts = np.array([len(next(iter(r.values()))) for r in rows], dtype=np.int64)
    return ak.zip(
        {f: ak.unflatten(np.concatenate([np.asarray(r[f]) for r in rows]).astype(d), counts) for f, d in dtypes.items()}
    )


class EventWriter(ChunkedTreeWriter):
    """Simulated events (schema.py), one tree entry per event."""

    def __init__(self, path: Path, collections: tuple[str, ...], chunk_events: int = 200) -> None:
        super().__init__(path, TREE, chunk_events)
        self.collections = collections

    def add(self, event: dict[str, dict[str, np.ndarray]], info: dict[str, int]) -> None:
        self.add_row((event, info))

    def _chunk(self, rows: list[tuple[dict, dict]]) -> dict:
        data: dict = {}
        for name, (dtype, _, _) in SCHEMA["event"].items():
            data[name] = np.array([info[name] for _, info in rows], dtype=dtype)
        for collection in self.collections:
            present = rows[0][0][collection]
            dtypes = {f: dtype for f, (dtype, _, _) in SCHEMA[collection].items() if f in present}
            data[collection] = jagged([ev[collection] for ev, _ in rows], dtypes)
        return data
