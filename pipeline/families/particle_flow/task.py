"""The particle-flow task: padded events of elements (tracks, clusters or hits) with per-element
targets; the MLPF loss (classification + momentum regression)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.mlpf.loss import LossConfig, mlpf_loss

from ...data.dataset import ShardDataset, collate_padded
from ...tasks.protocol import TaskBase


class ParticleFlowTask(TaskBase):
    name = "particle_flow"
    validation_outputs = True

    def dataset(self, manifest_path: Path, split: str) -> ShardDataset:
        return ShardDataset(manifest_path, split)

    def model_config(self, manifest: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
        return {"input_dim": manifest["width"], **model}

    def loss_config(self, raw: dict[str, Any]) -> LossConfig:
        return LossConfig(**raw)

    def collate(self, items: list[dict[str, torch.Tensor]], dataset: ShardDataset) -> dict[str, torch.Tensor]:
        return collate_padded(items)

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return model(batch["X"], batch["mask"], batch["K"])

    def loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], config: LossConfig
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return mlpf_loss(out, batch["Y"], batch["K"], batch["mask"], config)

    def validation_metrics(self, kept: list[tuple[dict, dict]]) -> dict[str, float]:
        """Over this rank's validation events:
        - `loss_unweighted`: the default loss (focal classification, Huber regression, every head
          weighted 1). Unlike val_loss it does not move with the loss settings a search tries, so
          trials with different head weights compare;
        - physics proxies of the evaluation's jet and MET resolutions, event by event against
          the per-element targets (no jet clustering, so cheap at every validation):
          `sum_pt_resolution`, half the 16-84% width of the predicted over the true scalar sum
          of particle pT, and `met_resolution` (GeV), that width of predicted minus true
          missing pT (the magnitude of the vector sum)."""
        total = events = 0.0
        sum_pt_ratio: list[torch.Tensor] = []
        met_residual: list[torch.Tensor] = []
        for out, batch in kept:
            loss, _ = mlpf_loss(out, batch["Y"], batch["K"], batch["mask"], LossConfig())
            n = int(batch["X"].shape[0])
            total, events = total + float(loss) * n, events + n
            real = batch["mask"].bool()
            Y = batch["Y"].float()
            truth = (Y[..., 0].round() > 0) & real
            predicted = (out["cls"].argmax(-1) > 0) & real
            true_sum, true_met = _event_sums(Y[..., 2], torch.atan2(Y[..., 4], Y[..., 5]), truth)
            pred_phi = torch.atan2(out["sin_phi"], out["cos_phi"])
            pred_sum, pred_met = _event_sums(out["pt"].clamp(min=0), pred_phi, predicted)
            has = true_sum > 0
            sum_pt_ratio.append(pred_sum[has] / true_sum[has])
            met_residual.append(pred_met - true_met)
        metrics = {"loss_unweighted": total / max(events, 1)}
        for name, values in (("sum_pt_resolution", sum_pt_ratio), ("met_resolution", met_residual)):
            joined = torch.cat(values) if values else torch.empty(0)
            if joined.numel() >= 2:
                low, high = torch.quantile(joined.double(), torch.tensor([0.16, 0.84], dtype=torch.float64))
                metrics[name] = float(high - low) / 2
        return metrics

    def events(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["X"].shape[0])


def _event_sums(pt: torch.Tensor, phi: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per event of a padded batch: the scalar pT sum of the kept elements and the magnitude of
    their missing pT (minus the vector sum)."""
    pt = torch.where(keep, pt.float(), torch.zeros_like(pt, dtype=torch.float32))
    px, py = (pt * torch.cos(phi)).sum(-1), (pt * torch.sin(phi)).sum(-1)
    return pt.sum(-1), torch.hypot(px, py)
