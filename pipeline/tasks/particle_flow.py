"""The particle-flow task: padded events of elements (tracks, clusters or hits) with per-element
targets; the MLPF loss (classification + momentum regression)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.mlpf.loss import LossConfig, mlpf_loss

from ..data.dataset import ShardDataset, collate_padded


class ParticleFlowTask:
    name = "particle_flow"

    def dataset(self, manifest_path: Path, split: str) -> ShardDataset:
        return ShardDataset(manifest_path, split)

    def model_config(self, manifest: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
        return {"input_dim": manifest["width"], **model}

    def loss_config(self, raw: dict[str, Any]) -> LossConfig:
        return LossConfig(**raw)

    def collate(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return collate_padded(items)

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return model(batch["X"], batch["mask"], batch["K"])

    def loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], config: LossConfig
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return mlpf_loss(out, batch["Y"], batch["K"], batch["mask"], config)

    @staticmethod
    def validation_metrics(kept: list[tuple[dict, dict]]) -> dict[str, float]:
        """`loss_unweighted`: the default loss (focal classification, Huber regression, every
        head weighted 1) over this rank's validation events. Unlike val_loss it does not move
        with the loss settings a search tries, so trials with different head weights compare."""
        total = events = 0.0
        for out, batch in kept:
            loss, _ = mlpf_loss(out, batch["Y"], batch["K"], batch["mask"], LossConfig())
            n = int(batch["X"].shape[0])
            total, events = total + float(loss) * n, events + n
        return {"loss_unweighted": total / max(events, 1)}

    @staticmethod
    def events(batch: dict[str, torch.Tensor]) -> int:
        return int(batch["X"].shape[0])
