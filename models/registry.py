"""Models by name: a config dataclass per kind (its fields are the hyperparameters a search
can touch) and a builder. Unknown kinds and unknown hyperparameters are refused with the
valid choices, so a typo in a workflow never trains a default model silently."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

_MODELS: dict[str, tuple[type, Callable[[Any], torch.nn.Module]]] = {}


class ModelConfigError(ValueError):
    """A model config names an unknown kind or hyperparameter, or a value out of range."""


def register_model(kind: str, config_class: type, builder: Callable[[Any], torch.nn.Module]) -> None:
    if kind in _MODELS:
        raise ValueError(f"model kind {kind!r} is registered twice")
    _MODELS[kind] = (config_class, builder)


def model_kinds() -> list[str]:
    return sorted(_MODELS)


def model_config(config: dict[str, Any]) -> Any:
    """Validate {'kind': ..., hyperparameters...} into the kind's config dataclass."""
    values = dict(config)
    kind = values.pop("kind", None)
    if kind not in _MODELS:
        raise ModelConfigError(f"unknown model kind {kind!r} (valid: {', '.join(model_kinds())})")
    config_class = _MODELS[kind][0]
    fields = [f.name for f in dataclasses.fields(config_class)]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ModelConfigError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for {kind} (valid: {', '.join(fields)})"
        )
    try:
        return config_class(**values)
    except (TypeError, ValueError) as exc:
        raise ModelConfigError(f"{kind}: {exc}") from None


def build_model(config: dict[str, Any]) -> torch.nn.Module:
    cfg = model_config(config)
    kind = config["kind"]
    return _MODELS[kind][1](cfg)
