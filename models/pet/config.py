"""Hyperparameters of the Point-Edge Transformer (torch-free). A preset sets the size; any
field given explicitly wins over it."""

from __future__ import annotations

from dataclasses import dataclass

PRESETS = {
    "small": {"width": 64, "depth": 4, "heads": 4, "class_layers": 2, "k": 8},
    "medium": {"width": 128, "depth": 8, "heads": 8, "class_layers": 2, "k": 10},
}


@dataclass
class PETConfig:
    num_features: int = 17  # per constituent; set from the data's manifest
    num_classes: int = 9  # set from the task's classes
    num_jet_features: int = 4  # the jet-feature regression head's outputs
    preset: str = "small"
    width: int | None = None
    depth: int | None = None  # transformer layers
    heads: int | None = None
    class_layers: int | None = None  # class-attention layers of the classification head
    k: int | None = None  # nearest neighbours in (Delta eta, Delta phi) for the edge features
    mlp_ratio: int = 2
    dropout: float = 0.1
    feature_dropout: float = 0.0  # training: each constituent feature column of a jet zeroed with this probability
    layer_scale: float = 0.1  # initial LayerScale of every residual branch

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset {self.preset!r} not in {sorted(PRESETS)}")
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be a multiple of heads {self.heads}")
        if min(self.width, self.depth, self.heads, self.class_layers, self.k, self.num_classes) < 1:
            raise ValueError("width, depth, heads, class_layers, k and num_classes must be >= 1")
        if self.num_features < 3:
            raise ValueError("num_features must be >= 3 (the first two are Delta eta, Delta phi)")
        if not (0 <= self.dropout < 1 and 0 <= self.feature_dropout < 1):
            raise ValueError("dropout and feature_dropout must lie in [0, 1)")
