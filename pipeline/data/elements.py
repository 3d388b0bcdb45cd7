"""Raw element fields back from a staged element matrix, by inverting the normalisation the
manifest records (x = (transform(raw) - offset) * scale)."""

from __future__ import annotations

import numpy as np

from .features import ELEMENT_TYPES


class MissingFeature(KeyError):
    pass


def _inverse(values: np.ndarray, spec: dict) -> np.ndarray:
    raw = values / spec["scale"] + spec["offset"]
    if spec["transform"] == "log1p":
        return np.expm1(raw)
    if spec["transform"] == "signed_log1p":
        return np.sign(raw) * np.expm1(np.abs(raw))
    return raw


def raw_columns(X: np.ndarray, features: dict[str, list[dict]], element: str) -> dict[str, np.ndarray]:
    """Fields of the rows of one element type, plus `index` (their row numbers in X)."""
    rows = np.flatnonzero(np.round(X[:, 0]) == ELEMENT_TYPES[element])
    out = {"index": rows}
    for i, spec in enumerate(features.get(element, [])):
        out[spec["name"]] = _inverse(X[rows, 1 + i].astype(np.float64), spec)
    if "sin_phi" in out and "cos_phi" in out:
        out["phi"] = np.arctan2(out["sin_phi"], out["cos_phi"])
    return out


def require(columns: dict[str, np.ndarray], element: str, names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        raise MissingFeature(
            f"the baseline particle flow needs {element} features {missing}; add them to stage_data's features"
        )
