"""Hyperparameters of the convolutional autoencoder (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ConvAutoencoderConfig:
    image_shape: tuple[int, int, int] = (3, 286, 360)  # set from the data's manifest
    width: int = 16  # channels after the first stage; doubled at each further stage
    depth: int = 3  # strided stages (each halves height and width)
    kernel_size: int = 3
    norm: str = "batch"  # batch | group | none
    log_scale: bool = True  # learn log(1 + E) images: GeV deposits span four decades

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(v) for v in self.image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape {self.image_shape} must be (channels, height, width)")
        if not 1 <= self.depth <= 6:
            raise ValueError("depth must be in 1..6")
        if self.width < 1 or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError("width >= 1 and an odd kernel_size are required")
        if self.norm not in ("batch", "group", "none"):
            raise ValueError(f"norm {self.norm!r} not in (batch, group, none)")


@dataclass
class DiceLossConfig:
    epsilon: float = 1e-6  # keeps D defined for empty images

    def __post_init__(self) -> None:
        if self.epsilon <= 0:
            raise ValueError("epsilon must be > 0")
