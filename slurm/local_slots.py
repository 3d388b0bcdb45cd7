"""The local site as one machine: CPU slots shared by every local job of every campaign in a
campaigns directory. A slot is a lock file (`<campaigns>/.local-slots/slot-<k>`) held with
flock while a task runs; a task takes all the slots it needs at once or none (no deadlock
between tasks holding part of what they need), and the kernel frees them when the holder
exits, however it exits."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class MachineSlots:
    def __init__(self, directory: Path, total: int | None) -> None:
        self.directory = Path(directory)
        self.total = max(1, total or os.cpu_count() or 1)

    def try_take(self, wanted: int) -> list[int] | None:
        """File descriptors of `wanted` free slots (at most all of them), or None if there are
        not that many free now."""
        wanted = min(max(1, wanted), self.total)
        self.directory.mkdir(parents=True, exist_ok=True)
        held: list[int] = []
        for k in range(self.total):
            fd = os.open(self.directory / f"slot-{k}", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            held.append(fd)
            if len(held) == wanted:
                return held
        self.release(held)
        return None

    @staticmethod
    def release(held: list[int]) -> None:
        for fd in held:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
