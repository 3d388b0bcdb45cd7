"""Encoder of strided convolutions with normalisation, decoder of transposed convolutions;
input padded to a multiple of 2^depth, output cropped back; non-negative output (zero where
nothing is reconstructed)."""

from __future__ import annotations

import torch
from torch import nn

from .config import ConvAutoencoderConfig


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ConvAutoencoder(nn.Module):
    def __init__(self, cfg: ConvAutoencoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        channels, k, pad = cfg.image_shape[0], cfg.kernel_size, cfg.kernel_size // 2
        widths = [cfg.width * 2**i for i in range(cfg.depth)]
        encoder, previous = [], channels
        for w in widths:
            encoder += [nn.Conv2d(previous, w, k, stride=2, padding=pad), _norm(cfg.norm, w), nn.LeakyReLU(0.1)]
            previous = w
        self.encoder = nn.Sequential(*encoder)
        decoder = []
        for w in reversed([channels, *widths[:-1]]):
            last = w == channels and len(decoder) == 3 * (cfg.depth - 1)
            decoder.append(nn.ConvTranspose2d(previous, w, k + 1, stride=2, padding=pad))
            # ReLU out: exact zeros where the image is empty (most pixels), which Dice rewards
            decoder += [nn.ReLU()] if last else [_norm(cfg.norm, w), nn.LeakyReLU(0.1)]
            previous = w
        self.decoder = nn.Sequential(*decoder)

    def to_target(self, images: torch.Tensor) -> torch.Tensor:
        """What the network reconstructs (and the loss compares): log(1 + E) or E."""
        return torch.log1p(images) if self.cfg.log_scale else images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.to_target(images)
        height, width = x.shape[-2:]
        step = 2**self.cfg.depth
        x = nn.functional.pad(x, (0, (-width) % step, 0, (-height) % step))
        return self.decoder(self.encoder(x))[..., :height, :width]


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
