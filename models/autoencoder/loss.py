"""The inverse Dice loss of one image reconstruction per event, vectorised over the batch:
D = (2 sum(y yhat) + eps) / (sum(y^2) + sum(yhat^2) + eps), loss = 1/D - 1 (0 when yhat = y);
the anomaly score is 1/D."""

from __future__ import annotations

import torch

from .config import DiceLossConfig


def dice_coefficient(target: torch.Tensor, reco: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """D per event ([B]) over all channels and pixels."""
    y, yhat = target.flatten(1).float(), reco.flatten(1).float()
    return (2 * (y * yhat).sum(1) + epsilon) / ((y * y).sum(1) + (yhat * yhat).sum(1) + epsilon)


def anomaly_score(target: torch.Tensor, reco: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    return 1.0 / dice_coefficient(target, reco, epsilon)


def inverse_dice_loss(
    target: torch.Tensor, reco: torch.Tensor, cfg: DiceLossConfig | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    cfg = cfg or DiceLossConfig()
    dice = dice_coefficient(target, reco, cfg.epsilon)
    loss = (1.0 / dice - 1.0).mean()
    return loss, {"inverse_dice": loss.detach(), "dice": dice.mean().detach()}
