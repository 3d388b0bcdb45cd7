"""Networks for colliderflow campaigns, usable from a notebook with torch alone.

Imports neither `pipeline` nor `slurm`. Models are built by name through the registry:

    from models import build_model
    net = build_model({"kind": "gnn_lsh", "width": 128, "depth": 2})
"""

from .registry import build_model, model_kinds, register_model

__all__ = ["build_model", "model_kinds", "register_model"]

from . import mlpf  # noqa: E402,F401  (registers the MLPF encoders)
