"""Element features as declared in the workflow: which fields per element type, and how each
is normalised (x' = (transform(x) - offset) * scale). Nothing here is hard-coded per model."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..physics.schema import SCHEMA
from ..spec import Strict

ELEMENT_TYPES = {"track": 1, "cluster": 2, "hit": 3}
DERIVED = {"sin_phi": "phi", "cos_phi": "phi"}
TARGET_COLUMNS = ("cls", "charge", "pt", "eta", "sin_phi", "cos_phi", "energy")
# Generator particles; the last four are what the detector measured of each (the ideal source).
GEN_COLUMNS = ("pid", "charge", "px", "py", "pz", "energy", "track_index", "calo_energy", "calo_eta", "calo_phi")
LEVEL_TYPES = {"clusters": ("track", "cluster"), "hits": ("track", "hit")}
# Each element's own kinematics, unnormalised: models regress pT and E relative to these.
KINEMATIC_COLUMNS = ("pt", "eta", "sin_phi", "cos_phi", "energy")
KINEMATIC_BRANCHES = {
    "track": ("pt", "eta", "phi", "p"),
    "cluster": ("energy", "eta", "phi"),
    "hit": ("energy", "eta", "phi"),
}


def element_kinematics(columns: dict[str, np.ndarray], element: str) -> np.ndarray:
    """Rows (pt, eta, sin phi, cos phi, E) of flat arrays of one element type (massless)."""
    eta = np.asarray(columns["eta"], dtype=np.float64)
    phi = np.asarray(columns["phi"], dtype=np.float64)
    if element == "track":
        pt, energy = np.asarray(columns["pt"], dtype=np.float64), np.asarray(columns["p"], dtype=np.float64)
    else:
        energy = np.asarray(columns["energy"], dtype=np.float64)
        pt = energy / np.cosh(eta)
    return np.stack([pt, eta, np.sin(phi), np.cos(phi), energy], axis=1).astype(np.float32)


class FeatureSpec(Strict):
    name: str = Field(description="A field of the element collection (see docs/data-schema.md), or sin_phi/cos_phi.")
    transform: Literal["none", "log1p", "signed_log1p"] = Field("none", description="Applied first.")
    offset: float = Field(0.0, description="Subtracted after the transform.")
    scale: float = Field(1.0, description="Multiplied last.")


def _f(name: str, transform: str = "none", scale: float = 1.0) -> FeatureSpec:
    return FeatureSpec(name=name, transform=transform, scale=scale)


def default_features() -> dict[str, list[FeatureSpec]]:
    angles = [_f("eta"), _f("sin_phi"), _f("cos_phi")]
    return {
        "track": [
            _f("pt", "log1p"),
            *angles,
            _f("p", "log1p"),
            _f("charge"),
            _f("chi2", "log1p"),
            _f("nhits", scale=0.1),
            _f("d0", "signed_log1p", 100.0),
            _f("z0", "signed_log1p", 100.0),
            _f("tanlambda"),
            _f("radius_innermost", scale=10.0),
        ],
        "cluster": [
            _f("energy", "log1p"),
            *angles,
            _f("energy_ecal", "log1p"),
            _f("energy_hcal", "log1p"),
            _f("nhits", "log1p"),
            _f("x", scale=0.5),
            _f("y", scale=0.5),
            _f("z", scale=0.5),
            _f("sigma_x", scale=10.0),
            _f("sigma_y", scale=10.0),
            _f("sigma_z", scale=10.0),
        ],
        "hit": [
            _f("energy", "log1p", 10.0),
            *angles,
            _f("x", scale=0.5),
            _f("y", scale=0.5),
            _f("z", scale=0.5),
            _f("layer", scale=0.02),
            _f("subdetector"),
        ],
    }


class FeatureConfig(Strict):
    track: list[FeatureSpec] = Field(default_factory=lambda: default_features()["track"])
    cluster: list[FeatureSpec] = Field(default_factory=lambda: default_features()["cluster"])
    hit: list[FeatureSpec] = Field(default_factory=lambda: default_features()["hit"])

    @model_validator(mode="after")
    def _known_fields(self) -> FeatureConfig:
        for element in ELEMENT_TYPES:
            valid = [f for f in SCHEMA[element] if not f.startswith("target_") and f != "gen_index"]
            for i, feature in enumerate(getattr(self, element)):
                if feature.name not in valid and feature.name not in DERIVED:
                    raise ValueError(
                        f"{element}[{i}]: unknown feature {feature.name!r} "
                        f"(valid: {', '.join(valid + sorted(DERIVED))})"
                    )
        return self

    def width(self, level: str) -> int:
        """Columns of an element row: the type id, then the widest type's features."""
        return 1 + max(len(getattr(self, t)) for t in LEVEL_TYPES[level])

    def branches(self, element: str) -> list[str]:
        """Branches read for one element type: its features and its kinematics."""
        names = {DERIVED.get(f.name, f.name) for f in getattr(self, element)} | set(KINEMATIC_BRANCHES[element])
        return sorted(names)


def _transform(values: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    if spec.transform == "log1p":
        values = np.log1p(np.maximum(values, 0))
    elif spec.transform == "signed_log1p":
        values = np.sign(values) * np.log1p(np.abs(values))
    return (values - spec.offset) * spec.scale


def element_matrix(columns: dict[str, np.ndarray], element: str, config: FeatureConfig, width: int) -> np.ndarray:
    """Rows [type id, features...] for flat arrays of one element type."""
    specs = getattr(config, element)
    n = len(next(iter(columns.values()))) if columns else 0
    out = np.zeros((n, width), dtype=np.float32)
    out[:, 0] = ELEMENT_TYPES[element]
    for i, spec in enumerate(specs):
        if spec.name == "sin_phi":
            raw = np.sin(columns["phi"])
        elif spec.name == "cos_phi":
            raw = np.cos(columns["phi"])
        else:
            raw = columns[spec.name]
        out[:, 1 + i] = _transform(np.asarray(raw, dtype=np.float64), spec)
    return out
