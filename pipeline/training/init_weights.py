"""Starting weights by parameter name (fine-tuning): every parameter and buffer the weights hold
with the model's shape is loaded, except those under a `replace` prefix (a new head); what the
weights hold that the model lacks is skipped; what the model has and was not loaded keeps its
fresh initialisation. A shape mismatch outside `replace` means the backbones differ: an error."""

from __future__ import annotations

from pathlib import Path

import torch


class BackboneMismatch(ValueError):
    """The weights do not fit the model's backbone."""


def load_by_name(model: torch.nn.Module, state: dict[str, torch.Tensor], replace: list[str], source: Path) -> dict:
    own = model.state_dict()
    replaced = [name for name in own if any(name == r or name.startswith(r + ".") for r in replace)]
    mismatched = [
        f"{name}: {tuple(state[name].shape)} in the weights, {tuple(tensor.shape)} in the model"
        for name, tensor in own.items()
        if name in state and name not in replaced and state[name].shape != tensor.shape
    ]
    if mismatched:
        raise BackboneMismatch(
            f"params.init_from: {source} does not fit the model ({len(mismatched)} parameter(s) differ: "
            f"{'; '.join(mismatched[:3])}{' ...' if len(mismatched) > 3 else ''}); give the same backbone "
            "hyperparameters, or list a head under init_from.replace"
        )
    loaded = [name for name in own if name in state and name not in replaced]
    if not loaded:
        raise BackboneMismatch(f"params.init_from: {source} holds none of the model's parameters")
    model.load_state_dict({name: state[name] for name in loaded}, strict=False)
    return {
        "source": str(source),
        "loaded": loaded,
        "skipped": sorted(name for name in state if name not in own or name in replaced),
        "initialised": [name for name in own if name not in loaded],
    }
