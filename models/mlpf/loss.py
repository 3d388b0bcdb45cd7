"""The MLPF loss: per-head terms reported separately, weighted into one total.

Targets Y [B,N,7] = (cls, charge, pT, eta, sin phi, cos phi, E); K [B,N,5] the element's own
(pT, eta, sin phi, cos phi, E). Classification: focal loss or class-weighted cross entropy
over real elements; is-particle: binary focal/CE; charge and regression only where the
target is a particle; regression of log(pT/pT_elem), eta - eta_elem, sin/cos differences,
log(E/E_elem) with a robust loss (Huber by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .loss_config import HEADS, LossConfig

__all__ = ["HEADS", "LossConfig", "mlpf_loss", "regression_targets"]


def _classification(logits: torch.Tensor, target: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    weight = None
    if cfg.class_weights is not None:
        weight = torch.tensor(cfg.class_weights, dtype=logits.dtype, device=logits.device)
    ce = F.cross_entropy(logits, target, weight=weight, reduction="none")
    if cfg.classification == "weighted_ce":
        return ce
    p_true = torch.exp(-F.cross_entropy(logits, target, reduction="none"))
    return (1 - p_true).pow(cfg.focal_gamma) * ce


def _regression(pred: torch.Tensor, target: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    if cfg.regression == "huber":
        return F.huber_loss(pred, target, delta=cfg.huber_delta, reduction="none")
    if cfg.regression == "l1":
        return F.l1_loss(pred, target, reduction="none")
    return F.mse_loss(pred, target, reduction="none")


def _mean(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    return (values * where).sum() / where.sum().clamp_min(1)


def regression_targets(Y: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """[B,N,5] targets in the space the network regresses (relative to the element)."""
    eps = 1e-3
    return torch.stack(
        [
            torch.log(Y[..., 2].clamp_min(eps) / K[..., 0].clamp_min(eps)),
            Y[..., 3] - K[..., 1],
            Y[..., 4] - K[..., 2],
            Y[..., 5] - K[..., 3],
            torch.log(Y[..., 6].clamp_min(eps) / K[..., 4].clamp_min(eps)),
        ],
        dim=-1,
    )


def mlpf_loss(
    out: dict[str, torch.Tensor], Y: torch.Tensor, K: torch.Tensor, mask: torch.Tensor, cfg: LossConfig | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    cfg = cfg or LossConfig()
    real = mask.float()
    cls_target = Y[..., 0].round().long()
    particle = (cls_target > 0).float() * real
    terms: dict[str, torch.Tensor] = {}
    flat_logits = out["cls"].float().reshape(-1, out["cls"].shape[-1])
    terms["cls"] = _mean(_classification(flat_logits, cls_target.reshape(-1), cfg).view_as(real), real)
    binary = torch.stack([-out["is_particle"].float(), out["is_particle"].float()], dim=-1) / 2
    binary_cfg = LossConfig(cfg.classification, cfg.focal_gamma, None)
    terms["is_particle"] = _mean(
        _classification(binary.reshape(-1, 2), (cls_target > 0).long().reshape(-1), binary_cfg).view_as(real), real
    )
    charge_target = (Y[..., 1].round().clamp(-1, 1) + 1).long()
    charge_ce = F.cross_entropy(out["charge"].float().reshape(-1, 3), charge_target.reshape(-1), reduction="none")
    terms["charge"] = _mean(charge_ce.view_as(real), particle)
    residual = _regression(out["regression"].float(), regression_targets(Y, K), cfg)
    for i, name in enumerate(("pt", "eta", "sin_phi", "cos_phi", "energy")):
        terms[name] = _mean(residual[..., i], particle)
    total = sum(cfg.weights[name] * value for name, value in terms.items())
    return total, terms
