"""Paths from configuration that may name environment variables ($SCRATCH, ${PROJECT}/...):
expanded on the machine that reads them, and an error naming the variable when one is unset
(instead of a literal `$SCRATCH/...` folder in the current directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import SpecError

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def unset_variables(text: str, environ: dict[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    names = [m.group("braced") or m.group("plain") for m in _VARIABLE.finditer(text)]
    return [n for n in dict.fromkeys(names) if n not in environ]


def expand_path(text: str, source: str, field: str) -> Path:
    """`text` with ~ and $VARIABLES expanded; SpecError naming `field` and the unset variables."""
    missing = unset_variables(text)
    if missing:
        names = ", ".join(f"${n}" for n in missing)
        raise SpecError(source, field, f"{text!r} uses {names}, which is not set in this environment")
    return Path(os.path.expandvars(os.path.expanduser(text)))
