"""Models by name: a config dataclass per kind (its fields are the hyperparameters a search
can touch) and the dotted path of its builder. Unknown kinds and unknown hyperparameters are
refused with the valid choices, so a typo in a workflow never trains a default model.

Torch-free on import: a workflow's model section is validated on a login node without torch;
the builder's module is imported by `build_model` only. Installed packages add kinds through the
entry-point group `colliderflow.models` (models/plugins.py), each a `ModelPlugin`, loaded the
first time a kind is looked up.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_MODELS: dict[str, tuple[type, str]] = {}
PLUGIN_GROUP = "colliderflow.models"


@dataclasses.dataclass(frozen=True)
class ModelPlugin:
    """What a package's `colliderflow.models` entry point names: the kind's config dataclass
    (its fields are the hyperparameters; a `__post_init__` may refuse bad values with a
    ValueError) and 'package.module:callable', called with the config to build the network."""

    config: type
    builder: str


def load_plugins() -> None:
    """Add the installed packages' kinds (once)."""
    from .plugins import load_into

    load_into(
        _MODELS,
        PLUGIN_GROUP,
        ModelPlugin,
        "model kind",
        check=lambda kind, plugin: None if dataclasses.is_dataclass(plugin.config) else "config must be a dataclass",
        convert=lambda kind, plugin: (plugin.config, plugin.builder),
    )


class ModelConfigError(ValueError):
    """A model config names an unknown kind or hyperparameter, or a value out of range."""


def register_model(kind: str, config_class: type, builder: str) -> None:
    """Register `kind`: `builder` is 'package.module:callable', called with the config object."""
    if kind in _MODELS:
        raise ValueError(f"model kind {kind!r} is registered twice")
    _MODELS[kind] = (config_class, builder)


def model_kinds() -> list[str]:
    load_plugins()
    return sorted(_MODELS)


def model_config_class(kind: str) -> type:
    """The config dataclass of a registered kind."""
    load_plugins()
    if kind not in _MODELS:
        raise ModelConfigError(f"unknown model kind {kind!r} (valid: {', '.join(model_kinds())})")
    return _MODELS[kind][0]


def model_hyperparameters(kind: str) -> list[str]:
    """The hyperparameters (config fields) of a registered kind."""
    return [f.name for f in dataclasses.fields(model_config_class(kind))]


def model_config(config: dict[str, Any]) -> Any:
    """Validate {'kind': ..., hyperparameters...} into the kind's config dataclass."""
    load_plugins()
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
    module_name, _, attr = _MODELS[config["kind"]][1].partition(":")
    return getattr(importlib.import_module(module_name), attr)(cfg)
