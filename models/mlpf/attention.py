"""Self-attention over the elements of an event: softmax (through torch's
scaled_dot_product_attention, flash / memory-efficient kernels where available) and the
FAVOR+ kernel approximation with positive orthogonal random features (linear in N)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SoftmaxAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # x: [B, N, W], mask: [B, N]
        b, n, w = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)  # 3 x [B, H, N, d]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None, None, :], dropout_p=self.dropout if self.training else 0.0
        )
        return self.out(out.transpose(1, 2).reshape(b, n, w))


def orthogonal_gaussian(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """rows x cols matrix of orthogonal blocks with Gaussian-distributed row norms (FAVOR+)."""
    blocks, remaining = [], rows
    while remaining > 0:
        q, _ = torch.linalg.qr(torch.randn(cols, cols, generator=generator))
        blocks.append(q.T[: min(remaining, cols)])
        remaining -= cols
    norms = torch.randn(rows, cols, generator=generator).norm(dim=1, keepdim=True)
    return torch.cat(blocks) * norms


class FavorAttention(nn.Module):
    """softmax(QK^T)V ~ phi(Q) (phi(K)^T V) / (phi(Q) phi(K)^T 1), phi positive random features."""

    def __init__(self, width: int, heads: int, num_features: int, dropout: float, seed: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("omega", orthogonal_gaussian(num_features, width // heads, generator))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        with torch.autocast(device_type=x.device.type, enabled=False):  # exp needs fp32 range
            q, k, v = q.float(), k.float(), v.float()
            scale = q.shape[-1] ** -0.25
            q, k = q * scale, k * scale
            keep = mask[:, None, :, None]
            q_proj = q @ self.omega.T - q.pow(2).sum(-1, keepdim=True) / 2
            k_proj = (k @ self.omega.T - k.pow(2).sum(-1, keepdim=True) / 2).masked_fill(~keep, -torch.inf)
            # Stabilisers cancel between numerator and denominator: per query, and per (event, head) for keys.
            q_phi = torch.exp(q_proj - q_proj.amax(-1, keepdim=True))
            k_max = k_proj.amax(dim=(-2, -1), keepdim=True).clamp_min(-1e30)
            k_phi = torch.exp(k_proj - k_max)  # padded keys -> exactly 0
            kv = torch.einsum("bhnm,bhnd->bhmd", k_phi, v)
            normaliser = torch.einsum("bhnm,bhm->bhn", q_phi, k_phi.sum(2)).clamp_min(1e-30)
            out = torch.einsum("bhnm,bhmd->bhnd", q_phi, kv) / normaliser.unsqueeze(-1)
        out = self.drop(out.to(x.dtype))
        return self.out(out.transpose(1, 2).reshape(b, n, w))
