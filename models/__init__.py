"""Networks for colliderflow campaigns, usable from a notebook with torch alone.

Imports neither `pipeline` nor `slurm`, and no torch until a model is built:

    from models import build_model
    net = build_model({"kind": "gnn_lsh", "width": 128, "depth": 2})
"""

from . import catalog  # noqa: F401  (registers the model kinds)
from .plugins import PluginError
from .registry import (
    ModelConfigError,
    ModelPlugin,
    build_model,
    model_config,
    model_hyperparameters,
    model_kinds,
    register_model,
)

__all__ = [
    "ModelConfigError",
    "ModelPlugin",
    "PluginError",
    "build_model",
    "model_config",
    "model_hyperparameters",
    "model_kinds",
    "register_model",
]
