"""The detector a data set was made with, as its generate stage recorded it (the JSON record beside
each ROOT file, then the staged manifest), so that the stages after it (link features at staging,
the baseline's track extrapolation at evaluation) use that detector without being told again, and
a detector given to them that differs from the data's is an error rather than a silent mismatch."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .detector_spec import DetectorSpec

LABELS = ("preset", "name")  # what names a detector without changing it


def differences(given: DetectorSpec, data: DetectorSpec) -> list[str]:
    """`field: given vs data` for every value that differs (labels aside)."""
    return _diff(given.model_dump(mode="json"), data.model_dump(mode="json"), "")


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str) -> list[str]:
    values, nested = [], []  # a section's own values first (magnetic_field before ecal.*)
    for key in sorted(set(a) | set(b)):
        if not prefix and key in LABELS:
            continue
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            nested += _diff(x, y, f"{prefix}{key}.")
        elif x != y:
            values.append(f"{prefix}{key}: {x} given, {y} in the data")
    return values + nested


def recorded(files: Iterable[Path]) -> dict[str, Any] | None:
    """The detector of the generate records beside `files` (None when no record holds one, as for
    files not made by colliderflow); several different detectors among them are an error."""
    first: tuple[Path, dict[str, Any], DetectorSpec] | None = None
    for path in files:
        record_path = Path(path).with_suffix(".json")
        if not record_path.is_file():
            continue
        detector = json.loads(record_path.read_text()).get("detector")
        if detector is None:
            continue
        if first is None:
            first = (record_path, detector, DetectorSpec.model_validate(detector))
            continue
        diff = differences(DetectorSpec.model_validate(detector), first[2])
        if diff:
            raise ValueError(
                f"{record_path}: field detector differs from {first[0]}'s ({'; '.join(diff[:3])}): "
                "one staged data set holds one detector; stage the two separately"
            )
    return None if first is None else first[1]


def resolve(given: dict[str, Any], data: dict[str, Any] | None, field: str, source: str) -> DetectorSpec:
    """The detector to use: the data's when `given` is empty; `given` must agree with it otherwise."""
    if data is None:
        return DetectorSpec.model_validate(given)
    spec = DetectorSpec.model_validate(data)
    if given:
        diff = differences(DetectorSpec.model_validate(given), spec)
        if diff:
            raise ValueError(
                f"{field}: differs from the detector of {source} ({'; '.join(diff[:4])}"
                f"{' ...' if len(diff) > 4 else ''}); leave it out to use the data's"
            )
    return spec
