"""State files of local jobs (one JSON per task id) and process identity checks."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text


def write_state(queue_dir: Path, job_id: str, **fields: Any) -> None:
    path = Path(queue_dir) / f"{job_id}.json"
    current = read_state(queue_dir, job_id) or {}
    current.update(fields, updated=time.time())
    atomic_write_text(path, json.dumps(current))


def read_state(queue_dir: Path, job_id: str) -> dict[str, Any] | None:
    try:
        return json.loads((Path(queue_dir) / f"{job_id}.json").read_text())
    except (OSError, ValueError):
        return None


def process_start_time(pid: int) -> str | None:
    """Kernel start time of a process (field 22 of /proc/PID/stat), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start is None:
        return True
    stat = process_start_time(pid)
    if stat is None:
        return False
    # A zombie (exited, not yet reaped) is not alive.
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        return False
    return stat == start
