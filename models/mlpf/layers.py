"""Small building blocks shared by the encoders."""

from __future__ import annotations

import torch
from torch import nn

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}


def activation(name: str) -> nn.Module:
    return _ACTIVATIONS[name]()


def norm(name: str, width: int) -> nn.Module:
    return nn.LayerNorm(width) if name == "layernorm" else nn.Identity()


def mlp(d_in: int, d_hidden: int, d_out: int, act: str, dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), activation(act), nn.Dropout(dropout), nn.Linear(d_hidden, d_out))


class TypeEmbedding(nn.Module):
    """One MLP per element type (tracks, clusters, hits share no weights); padding -> 0."""

    def __init__(self, input_dim: int, num_types: int, width: int, act: str) -> None:
        super().__init__()
        self.per_type = nn.ModuleList(mlp(input_dim - 1, width, width, act) for _ in range(num_types))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, N, input_dim] -> [B, N, width]
        types = x[..., 0].round().long()
        features = x[..., 1:]
        out = None
        for index, embed in enumerate(self.per_type, start=1):
            part = embed(features) * (types == index).unsqueeze(-1)
            out = part if out is None else out + part
        return out
