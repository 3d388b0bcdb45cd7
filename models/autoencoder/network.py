"""Encoder of strided convolutions with normalisation and activation, decoder of transposed
convolutions mirroring it (each restoring its encoder layer's exact size); the input zero-padded
(centred) to the padded size and the output cropped back; a ReLU output (exact zeros where
nothing is reconstructed, which the Dice loss rewards)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import ConvAutoencoderConfig


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


def _activation(kind: str, channels: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(channels)
    if kind == "relu":
        return nn.ReLU()
    return nn.LeakyReLU(0.1)


class ConvAutoencoder(nn.Module):
    def __init__(self, cfg: ConvAutoencoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        build = self._staged if cfg.filters is None else self._per_layer
        self.encoder, self.decoder = build(cfg)
        self.latent_shape = cfg.latent_shape()

    @staticmethod
    def _staged(cfg: ConvAutoencoderConfig) -> tuple[nn.Sequential, nn.Sequential]:
        """width/depth: stride-2 stages, kernel k + 1 transposed convolutions doubling the size
        exactly (the first runs' network, unchanged so their weights still load)."""
        channels, k, pad = cfg.image_shape[0], cfg.kernel_size, cfg.kernel_size // 2
        widths = [w for w, _ in cfg.layers()]
        encoder, previous = [], channels
        for w in widths:
            encoder += [nn.Conv2d(previous, w, k, stride=2, padding=pad), _norm(cfg.norm, w),
                        _activation(cfg.activation, w)]  # fmt: skip
            previous = w
        decoder = []
        for w in reversed([channels, *widths[:-1]]):
            last = w == channels and len(decoder) == 3 * (cfg.depth - 1)
            decoder.append(nn.ConvTranspose2d(previous, w, k + 1, stride=2, padding=pad))
            decoder += [nn.ReLU()] if last else [_norm(cfg.norm, w), _activation(cfg.activation, w)]
            previous = w
        return nn.Sequential(*encoder), nn.Sequential(*decoder)

    @staticmethod
    def _per_layer(cfg: ConvAutoencoderConfig) -> tuple[nn.Sequential, nn.Sequential]:
        """filters/strides: one convolution per entry; each transposed convolution restores its
        encoder layer's input size exactly (output_padding)."""
        channels, k, pad = cfg.image_shape[0], cfg.kernel_size, cfg.kernel_size // 2
        layers, sizes = cfg.layers(), cfg.encoder_sizes()
        encoder, previous = [], channels
        for width, stride in layers:
            encoder += [nn.Conv2d(previous, width, k, stride=stride, padding=pad), _norm(cfg.norm, width),
                        _activation(cfg.activation, width)]  # fmt: skip
            previous = width
        decoder = []
        outputs = [channels, *(w for w, _ in layers[:-1])]
        for n in reversed(range(len(layers))):
            stride, target, source = layers[n][1], sizes[n], sizes[n + 1]
            extra = tuple(t - ((s - 1) * st - 2 * pad + k) for t, s, st in zip(target, source, stride, strict=True))
            if any(not 0 <= e < st for e, st in zip(extra, stride, strict=True)):
                raise ValueError(f"layer {n}: the transposed convolution cannot restore {target} from {source}")
            width = outputs[n]
            decoder.append(nn.ConvTranspose2d(previous, width, k, stride=stride, padding=pad, output_padding=extra))
            if n == 0:
                decoder += [_norm(cfg.norm, width) if cfg.output_norm else nn.Identity(), nn.ReLU()]
            else:
                decoder += [_norm(cfg.norm, width), _activation(cfg.activation, width)]
            previous = width
        return nn.Sequential(*encoder), nn.Sequential(*decoder)

    def describe(self) -> dict:
        """Latent size and compression (logged when the model is built)."""
        latent = math.prod(self.latent_shape)
        pixels = math.prod(self.cfg.image_shape)
        return {"latent_shape": list(self.latent_shape), "latent_floats": latent, "compression": pixels / latent,
                "parameters": sum(p.numel() for p in self.parameters())}  # fmt: skip

    def to_target(self, images: torch.Tensor) -> torch.Tensor:
        """What the network reconstructs (and the loss compares): log(1 + E), or E / input_scale."""
        if self.cfg.log_scale:
            return torch.log1p(images)
        return images / self.cfg.input_scale if self.cfg.input_scale != 1.0 else images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.to_target(images)
        height, width = x.shape[-2:]
        padded_h, padded_w = self.cfg.padded_size()
        centred = self.cfg.filters is not None  # the staged network pads at the bottom and right
        top, left = ((padded_h - height) // 2, (padded_w - width) // 2) if centred else (0, 0)
        x = nn.functional.pad(x, (left, padded_w - width - left, top, padded_h - height - top))
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.decoder(self.encoder(x))[..., top : top + height, left : left + width]


class AnomalyScorer(nn.Module):
    """What a trigger runs: raw images [B, C, H, W] (GeV) -> (score [B] = 1/D, reconstruction
    [B, C, H, W] in the network's target space). Exported to ONNX by the train stage."""

    def __init__(self, network: ConvAutoencoder, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.network, self.epsilon = network, epsilon

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from .loss import anomaly_score

        reco = self.network(images)
        return anomaly_score(self.network.to_target(images), reco, self.epsilon), reco
