"""The campaign journal: an append-only JSON-lines record of submissions and state changes."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Any

from .atomic import append_line


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        record = {
            "t": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "event": event,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            **fields,
        }
        append_line(self.path, json.dumps(record, sort_keys=True, default=str))
        return record

    def entries(self) -> list[dict[str, Any]]:
        """All records; a torn last line (a writer killed mid-write) is skipped."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        records = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records
