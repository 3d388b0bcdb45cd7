"""Point-Edge Transformer: constituent embedding, local edge features from the k nearest
neighbours in (Delta eta, Delta phi), transformer layers with LayerScale, a class-attention head
for the jet class and a head regressing the jet features. Padded constituents (mask False)
change no output; the output does not depend on the constituents' order."""

from __future__ import annotations

import torch
from torch import nn

from .config import PETConfig


class LayerScale(nn.Module):
    def __init__(self, width: int, init: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((width,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


def mlp(width: int, ratio: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(width, ratio * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(ratio * width, width)
    )


def knn(coords: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices [B, N, k] of each constituent's k nearest others in (Delta eta, Delta phi) and
    whether each is a real constituent (a jet with <= k of them has padded neighbours)."""
    distance = torch.cdist(coords, coords)
    n = coords.shape[1]
    far = torch.finfo(distance.dtype).max
    distance = distance.masked_fill(~mask[:, None, :], far)
    distance = distance.masked_fill(torch.eye(n, dtype=torch.bool, device=coords.device)[None], far)
    k = min(k, max(n - 1, 1))
    index = distance.topk(k, dim=-1, largest=False).indices
    valid = torch.gather(mask[:, None, :].expand(-1, n, -1), 2, index)
    return index, valid & (n > 1)


class EdgeBlock(nn.Module):
    """h_i += mean over the k nearest j of MLP([h_i, h_j - h_i])."""

    def __init__(self, cfg: PETConfig) -> None:
        super().__init__()
        w = cfg.width
        self.k = cfg.k
        self.edge = nn.Sequential(nn.Linear(2 * w, w), nn.GELU(), nn.Linear(w, w))
        self.scale = LayerScale(w, cfg.layer_scale)

    def forward(self, h: torch.Tensor, coords: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        index, valid = knn(coords, mask, self.k)
        b, n, k = index.shape
        neighbours = torch.gather(h[:, None].expand(-1, n, -1, -1), 2, index[..., None].expand(-1, -1, -1, h.shape[-1]))
        centre = h[:, :, None].expand(-1, -1, k, -1)
        edges = self.edge(torch.cat([centre, neighbours - centre], dim=-1)) * valid[..., None]
        local = edges.sum(2) / valid.sum(2, keepdim=True).clamp(min=1)
        return h + self.scale(local)


class Block(nn.Module):
    def __init__(self, cfg: PETConfig) -> None:
        super().__init__()
        w = cfg.width
        self.norm1, self.norm2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.attention = nn.MultiheadAttention(w, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.mlp = mlp(w, cfg.mlp_ratio, cfg.dropout)
        self.scale1, self.scale2 = LayerScale(w, cfg.layer_scale), LayerScale(w, cfg.layer_scale)

    def forward(self, h: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = self.norm1(h)
        h = h + self.scale1(self.attention(x, x, x, key_padding_mask=padding, need_weights=False)[0])
        return h + self.scale2(self.mlp(self.norm2(h)))


class ClassAttention(Block):
    """The class token attends to itself and the constituents (CaiT-style); same parts as Block."""

    def forward(self, token: torch.Tensor, h: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        both = self.norm1(torch.cat([token, h], dim=1))
        keep = torch.cat([torch.zeros_like(padding[:, :1]), padding], dim=1)
        token = token + self.scale1(
            self.attention(both[:, :1], both, both, key_padding_mask=keep, need_weights=False)[0]
        )
        return token + self.scale2(self.mlp(self.norm2(token)))


class PET(nn.Module):
    def __init__(self, cfg: PETConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.embed = nn.Sequential(nn.Linear(cfg.num_features, w), nn.GELU(), nn.Linear(w, w))
        self.local = EdgeBlock(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.class_token = nn.Parameter(torch.zeros(1, 1, w))
        self.class_blocks = nn.ModuleList(ClassAttention(cfg) for _ in range(cfg.class_layers))
        self.norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, cfg.num_classes)  # replaced when fine-tuning on other classes
        self.jet_head = nn.Linear(w, cfg.num_jet_features)
        nn.init.trunc_normal_(self.class_token, std=0.02)

    def backbone(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The class token's representation [B, width]."""
        if self.training and self.cfg.feature_dropout > 0:
            keep = torch.rand(x.shape[0], 1, x.shape[2], device=x.device) >= self.cfg.feature_dropout
            keep[..., :2] = True  # the kNN coordinates always stay
            x = x * keep
        x = x * mask[..., None]
        h = self.embed(x) * mask[..., None]
        h = self.local(h, x[..., :2], mask)
        padding = ~mask
        for block in self.blocks:
            h = block(h, padding)
        token = self.class_token.expand(x.shape[0], -1, -1)
        for block in self.class_blocks:
            token = block(token, h, padding)
        return self.norm(token[:, 0])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.backbone(x, mask)
        return {"logits": self.head(z), "jet": self.jet_head(z)}
