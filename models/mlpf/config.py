"""Hyperparameters of the MLPF encoders (each field can be searched over)."""

from __future__ import annotations

from dataclasses import dataclass

ACTIVATIONS = ("gelu", "relu", "elu", "silu")
NORMS = ("layernorm", "none")


@dataclass
class MLPFBase:
    input_dim: int = 14  # width of an element row: type id + features
    num_element_types: int = 3  # type ids 1..n (0 = padding)
    width: int = 128
    depth: int = 2
    dropout: float = 0.0
    activation: str = "gelu"
    norm: str = "layernorm"
    num_classes: int = 6
    head_width: int = 128
    # Inference like rule-based particle flow: a track classified as a charged particle (charged
    # hadron, electron, muon) takes its track's measured momentum instead of the regressed one.
    charged_from_track: bool = False
    track_type: int = 1  # the type id of tracks in X[..., 0]

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r} not in {ACTIVATIONS}")
        if self.norm not in NORMS:
            raise ValueError(f"norm {self.norm!r} not in {NORMS}")
        for name in ("input_dim", "num_element_types", "width", "depth", "num_classes", "head_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")

    @property
    def encoder(self) -> str:
        raise NotImplementedError


@dataclass
class GNNLSHConfig(MLPFBase):
    bin_size: int = 100  # elements per LSH bin: the message-passing neighbourhood
    distance_dim: int = 128  # learned space in which elements are hashed and compared
    max_bins: int = 1024  # hash codes available (events of up to max_bins * bin_size elements)

    encoder = "gnn_lsh"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bin_size < 2 or self.distance_dim < 1 or self.max_bins < 2:
            raise ValueError("bin_size >= 2, distance_dim >= 1 and max_bins >= 2 are required")


@dataclass
class KernelTransformerConfig(MLPFBase):
    width: int = 256
    depth: int = 3
    heads: int = 16
    num_random_features: int = 64  # FAVOR+ positive random features per head

    encoder = "kernel_transformer"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be a multiple of heads {self.heads}")


@dataclass
class TransformerConfig(MLPFBase):
    width: int = 256
    depth: int = 3
    heads: int = 16

    encoder = "transformer"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be a multiple of heads {self.heads}")
