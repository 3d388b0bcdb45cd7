"""Hyperparameters of the convolutional autoencoder (torch-free).

Two ways to give the encoder: `width` and `depth` (stride-2 stages whose channels double from
`width`: the first runs' network), or `filters` and `strides`, one entry per layer (the SUEP
reference's encoder is filters [128, 64, 32, 16, 8] with strides [[3, 3], [2, 2], [2, 2],
[2, 2], [2, 3]]: a 288 x 360 input becomes an 8 x 6 x 5 latent of 240 floats). The decoder
mirrors the encoder with transposed convolutions and ends in normalisation + ReLU."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ConvAutoencoderConfig:
    image_shape: tuple[int, int, int] = (3, 286, 360)  # set from the data's manifest
    width: int = 16  # channels after the first stage; doubled at each further stage
    depth: int = 3  # strided stages (each halves height and width)
    filters: list[int] | None = None  # per-layer channels (instead of width/depth)
    strides: list[list[int]] | None = None  # per-layer (height, width) strides, with filters
    kernel_size: int = 3
    norm: str = "batch"  # batch | group | none
    activation: str = "leaky_relu"  # leaky_relu (0.1) | prelu | relu
    output_norm: bool = False  # normalisation before the output ReLU (the reference's last layer)
    pad_to: list[int] | None = None  # zero-pad the input (centred) to this (height, width); default: to fit the strides
    log_scale: bool = True  # learn log(1 + E) images: GeV deposits span four decades
    input_scale: float = 1.0  # the target is E / input_scale (linear; the reference divides by 2000)
    channels_last: bool = False  # NHWC activations (faster convolutions on CPUs; the same numbers, the same weights)

    def __post_init__(self) -> None:
        self.image_shape = tuple(int(v) for v in self.image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape {self.image_shape} must be (channels, height, width)")
        if self.filters is None:
            if not 1 <= self.depth <= 6:
                raise ValueError("depth must be in 1..6")
            if self.width < 1:
                raise ValueError("width >= 1 is required")
        else:
            if not self.filters or min(self.filters) < 1:
                raise ValueError("filters must list at least one positive channel count")
            strides = self.strides or [[2, 2]] * len(self.filters)
            if len(strides) != len(self.filters) or any(len(s) != 2 or min(s) < 1 for s in strides):
                raise ValueError("strides must give one [height, width] stride (>= 1) per entry of filters")
            self.strides = [[int(a), int(b)] for a, b in strides]
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError("an odd kernel_size is required")
        if self.norm not in ("batch", "group", "none"):
            raise ValueError(f"norm {self.norm!r} not in (batch, group, none)")
        if self.activation not in ("leaky_relu", "prelu", "relu"):
            raise ValueError(f"activation {self.activation!r} not in (leaky_relu, prelu, relu)")
        if self.input_scale <= 0:
            raise ValueError("input_scale must be > 0")
        if self.log_scale and self.input_scale != 1.0:
            raise ValueError("input_scale is for linear targets (log_scale: false)")
        pad = self.pad_to
        if pad is not None and (len(pad) != 2 or pad[0] < self.image_shape[1] or pad[1] < self.image_shape[2]):
            raise ValueError(f"pad_to {pad} must be [height, width] at least the image's")

    def layers(self) -> list[tuple[int, tuple[int, int]]]:
        """(channels, (stride_h, stride_w)) of each encoder layer."""
        if self.filters is None:
            return [(self.width * 2**i, (2, 2)) for i in range(self.depth)]
        return [(c, (s[0], s[1])) for c, s in zip(self.filters, self.strides, strict=True)]

    def padded_size(self) -> tuple[int, int]:
        """The (height, width) the encoder sees: pad_to, or the image rounded up to a multiple
        of the product of the strides."""
        if self.pad_to is not None:
            return int(self.pad_to[0]), int(self.pad_to[1])
        step_h = math.prod(s[0] for _, s in self.layers())
        step_w = math.prod(s[1] for _, s in self.layers())
        h, w = self.image_shape[1:]
        return h + (-h) % step_h, w + (-w) % step_w

    def encoder_sizes(self) -> list[tuple[int, int]]:
        """(height, width) at the input and after each encoder layer (padding kernel // 2)."""
        k, pad = self.kernel_size, self.kernel_size // 2
        sizes = [self.padded_size()]
        for _, (sh, sw) in self.layers():
            h, w = sizes[-1]
            sizes.append(((h + 2 * pad - k) // sh + 1, (w + 2 * pad - k) // sw + 1))
        return sizes

    def latent_shape(self) -> tuple[int, int, int]:
        h, w = self.encoder_sizes()[-1]
        return (self.layers()[-1][0], h, w)


@dataclass
class DiceLossConfig:
    epsilon: float = 1e-6  # keeps D defined for empty images

    def __post_init__(self) -> None:
        if self.epsilon <= 0:
            raise ValueError("epsilon must be > 0")
