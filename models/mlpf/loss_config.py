"""Loss settings of the MLPF heads (torch-free, validated with the workflow)."""

from __future__ import annotations

from dataclasses import dataclass, field

HEADS = ("is_particle", "cls", "charge", "pt", "eta", "sin_phi", "cos_phi", "energy")


@dataclass
class LossConfig:
    classification: str = "focal"  # focal | weighted_ce
    focal_gamma: float = 2.0
    class_weights: list[float] | None = None  # one per class, for weighted_ce (and focal alpha)
    regression: str = "huber"  # huber | l1 | mse
    huber_delta: float = 0.1
    weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(HEADS, 1.0))

    def __post_init__(self) -> None:
        if self.classification not in ("focal", "weighted_ce"):
            raise ValueError(f"classification {self.classification!r} not in ('focal', 'weighted_ce')")
        if self.regression not in ("huber", "l1", "mse"):
            raise ValueError(f"regression {self.regression!r} not in ('huber', 'l1', 'mse')")
        unknown = set(self.weights) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown head(s) {sorted(unknown)} in weights (valid: {', '.join(HEADS)})")
        self.weights = {**dict.fromkeys(HEADS, 1.0), **self.weights}
