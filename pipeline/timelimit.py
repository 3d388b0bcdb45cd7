"""Slurm time-limit strings, parsed without asking Slurm."""

from __future__ import annotations

import re

_FORMS = "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"
_DAYS = re.compile(r"^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?$")
_CLOCK = re.compile(r"^(\d+)(?::(\d+))?(?::(\d+))?$")


def time_to_minutes(value: str) -> int:
    """Minutes (rounded up, at least 1) of a Slurm time limit; ValueError names the valid forms."""
    text = str(value).strip()
    days_match = _DAYS.match(text)
    if days_match:
        days, hours, minutes, seconds = (int(g) if g else 0 for g in days_match.groups())
        total_s = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    else:
        clock = _CLOCK.match(text)
        if not clock:
            raise ValueError(f"malformed time limit {value!r} (expected {_FORMS})")
        parts = [int(g) for g in clock.groups() if g is not None]
        if len(parts) == 1:
            total_s = parts[0] * 60
        elif len(parts) == 2:
            total_s = parts[0] * 60 + parts[1]
        else:
            total_s = (parts[0] * 60 + parts[1]) * 60 + parts[2]
        if len(parts) >= 2 and parts[-1] >= 60 or len(parts) == 3 and parts[1] >= 60:
            raise ValueError(f"malformed time limit {value!r}: minutes and seconds must be < 60")
    if total_s <= 0:
        raise ValueError(f"time limit {value!r} must be positive")
    return max(1, -(-total_s // 60))
