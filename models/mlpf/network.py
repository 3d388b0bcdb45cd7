"""The MLPF network: per-type embedding -> encoder layers -> per-element heads."""

from __future__ import annotations

import torch
from torch import nn

from .attention import FavorAttention, SoftmaxAttention
from .config import MLPFBase
from .layers import TypeEmbedding, mlp, norm
from .lsh import LSHMessagePassing

CHARGES = (-1.0, 0.0, 1.0)
CHARGED_CLASSES = (1, 4, 5)  # charged hadron, electron, muon (class ids of the targets)


class AttentionBlock(nn.Module):
    """Pre-norm residual block: attention, then a feed-forward layer."""

    def __init__(self, attention: nn.Module, cfg: MLPFBase) -> None:
        super().__init__()
        self.attention = attention
        self.norm1, self.norm2 = norm(cfg.norm, cfg.width), norm(cfg.norm, cfg.width)
        self.ffn = mlp(cfg.width, 2 * cfg.width, cfg.width, cfg.activation, cfg.dropout)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = h + self.drop(self.attention(self.norm1(h), mask))
        return h + self.ffn(self.norm2(h))


ENCODER_LAYERS = {
    "gnn_lsh": lambda cfg, i: LSHMessagePassing(
        cfg.width, cfg.distance_dim, cfg.bin_size, cfg.max_bins, cfg.activation, cfg.norm, cfg.dropout, seed=i
    ),
    "kernel_transformer": lambda cfg, i: AttentionBlock(
        FavorAttention(cfg.width, cfg.heads, cfg.num_random_features, cfg.dropout, seed=i), cfg
    ),
    "transformer": lambda cfg, i: AttentionBlock(SoftmaxAttention(cfg.width, cfg.heads, cfg.dropout), cfg),
}


class MLPF(nn.Module):
    """forward(X [B,N,input_dim], mask [B,N] bool, K [B,N,5] element kinematics) -> dict:
    is_particle [B,N] logit, cls [B,N,classes] logits, charge [B,N,3] logits (-1, 0, +1),
    regression [B,N,5] (log pT ratio, d eta, d sin phi, d cos phi, log E ratio), and, given K,
    pt, eta, sin_phi, cos_phi, energy in physical units."""

    def __init__(self, cfg: MLPFBase) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = TypeEmbedding(cfg.input_dim, cfg.num_element_types, cfg.width, cfg.activation)
        self.layers = nn.ModuleList(ENCODER_LAYERS[cfg.encoder](cfg, i) for i in range(cfg.depth))
        self.final_norm = norm(cfg.norm, cfg.width)
        head_in = 2 * cfg.width  # encoder output and the element's own embedding
        self.is_particle = mlp(head_in, cfg.head_width, 1, cfg.activation, cfg.dropout)
        self.cls = mlp(head_in, cfg.head_width, cfg.num_classes, cfg.activation, cfg.dropout)
        self.charge = mlp(head_in, cfg.head_width, len(CHARGES), cfg.activation, cfg.dropout)
        self.regression = mlp(head_in + cfg.num_classes, cfg.head_width, 5, cfg.activation, cfg.dropout)

    def forward(self, X: torch.Tensor, mask: torch.Tensor, K: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        embedded = self.embed(X)
        h = embedded
        for layer in self.layers:
            h = layer(h, mask)
        features = torch.cat([self.final_norm(h), embedded], dim=-1)
        cls = self.cls(features)
        regression = self.regression(torch.cat([features, cls.detach().softmax(-1).to(features.dtype)], dim=-1))
        out = {
            "is_particle": self.is_particle(features).squeeze(-1),
            "cls": cls,
            "charge": self.charge(features),
            "regression": regression,
        }
        if K is not None:
            out.update(self.physical(X, K, cls, regression))
        return out

    def physical(self, X, K, cls, regression) -> dict[str, torch.Tensor]:
        """pT, eta, sin phi, cos phi, E from the regression relative to each element [B,N]; with
        charged_from_track, a track classified charged keeps its own measured kinematics."""
        reg = regression.float()
        out = {
            "pt": K[..., 0] * torch.exp(reg[..., 0].clamp(-10, 10)),
            "eta": K[..., 1] + reg[..., 1],
            "sin_phi": K[..., 2] + reg[..., 2],
            "cos_phi": K[..., 3] + reg[..., 3],
            "energy": K[..., 4] * torch.exp(reg[..., 4].clamp(-10, 10)),
        }
        if self.cfg.charged_from_track:
            charged = torch.isin(cls.argmax(-1), torch.tensor(CHARGED_CLASSES, device=cls.device))
            use_track = charged & (X[..., 0].round() == self.cfg.track_type)
            for i, name in enumerate(("pt", "eta", "sin_phi", "cos_phi", "energy")):
                out[name] = torch.where(use_track, K[..., i].float(), out[name])
        return out
