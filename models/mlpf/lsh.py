"""Message passing inside locality-sensitive-hashing bins (the MLPF GNN encoder).

Each layer maps elements to a learned distance space, hashes them with a fixed random
rotation (argmax over [xR, -xR]) into as many codes as the event needs for bins of
`bin_size`, sorts by code and cuts the sorted sequence into bins. Inside a bin, messages
are weighted by a Gaussian kernel of the learned distances. Cost: N/bin_size bins of
bin_size^2 pairs, linear in N. The sort key is a function of the element alone, so the
layer is permutation-equivariant, and padding (sorted last, masked) changes nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .layers import mlp, norm


class LSHMessagePassing(nn.Module):
    def __init__(
        self,
        width: int,
        distance_dim: int,
        bin_size: int,
        max_bins: int,
        act: str,
        norm_name: str,
        dropout: float,
        seed: int,
    ) -> None:
        super().__init__()
        self.bin_size = bin_size
        self.norm1 = norm(norm_name, width)
        self.norm2 = norm(norm_name, width)
        self.to_distance = nn.Linear(width, distance_dim)
        self.value = nn.Linear(width, width)
        self.update = mlp(width, width, width, act, dropout)
        self.ffn = mlp(width, 2 * width, width, act, dropout)
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("rotation", torch.randn(distance_dim, max_bins // 2, generator=generator))

    @torch.no_grad()
    def bin_order(self, distance: torch.Tensor, mask: torch.Tensor, columns: int | None = None) -> torch.Tensor:
        """Permutation [B, N] that sorts elements by hash code (padding last).

        Only the rotation's first `columns` columns are projected on: by default as many as an
        event of the batch's padded length N can use (ceil(ceil(N / bin_size) / 2), a shape: no
        device sync); the others are never usable, and leaving them out changes no code's order
        (positive codes stay below negative ones), so the permutation is the one of the full
        rotation at a cost of N x codes rather than N x max_bins."""
        half_max = self.rotation.shape[1]
        codes_needed = torch.ceil(mask.sum(1) / self.bin_size).clamp(1, 2 * half_max)  # per event
        if columns is None and (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            columns = half_max  # a traced graph must serve events of every size
        elif columns is None:
            columns = min(half_max, max(1, math.ceil(math.ceil(mask.shape[1] / self.bin_size) / 2)))
        projection = distance.float() @ self.rotation[:, :columns]  # [B, N, R]
        half = projection.shape[-1]
        usable = torch.arange(half, device=mask.device)[None, :] < torch.ceil(codes_needed / 2)[:, None]  # [B, R]
        scores = torch.cat([projection, -projection], dim=-1)
        scores = scores.masked_fill(~torch.cat([usable, usable], dim=-1)[:, None, :], -torch.inf)
        code = scores.argmax(-1).masked_fill(~mask, scores.shape[-1])  # padding sorts last
        # Order inside a code by a feature of the element (never by its position): sort by the
        # first projection, then stably by code.
        by_feature = torch.argsort(projection[..., 0], dim=1, stable=True)
        by_code = torch.argsort(torch.take_along_dim(code, by_feature, dim=1), dim=1, stable=True)
        return torch.take_along_dim(by_feature, by_code, dim=1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # h: [B, N, W], mask: [B, N]
        b, n, w = h.shape
        x = self.norm1(h)
        distance = self.to_distance(x)  # [B, N, D]
        order = self.bin_order(distance, mask)
        pad = (-n) % self.bin_size
        bins = (n + pad) // self.bin_size

        def sort(t: torch.Tensor) -> torch.Tensor:
            t = torch.take_along_dim(t, order.view(b, n, *([1] * (t.dim() - 2))), dim=1)
            return F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) if pad else t

        xs = sort(self.value(x)).view(b, bins, self.bin_size, w)
        ds = sort(distance).float().view(b, bins, self.bin_size, -1)
        ms = sort(mask.unsqueeze(-1)).view(b, bins, self.bin_size)
        squared = ds.pow(2).sum(-1)
        dist2 = squared.unsqueeze(-1) + squared.unsqueeze(-2) - 2 * ds @ ds.transpose(-1, -2)  # [B, bins, k, k]
        logits = (-dist2.clamp_min(0)).masked_fill(~ms[:, :, None, :], -torch.inf)
        weights = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # a bin of padding only: no messages
        messages = (weights.to(xs.dtype) @ xs).view(b, bins * self.bin_size, w)[:, :n]
        unsorted = torch.empty_like(messages).scatter_(1, order.unsqueeze(-1).expand(-1, -1, w), messages)
        h = h + self.update(unsorted)
        return h + self.ffn(self.norm2(h))
