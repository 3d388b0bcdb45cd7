"""Settings of the jet-classification task (torch-free): which classes, and the loss."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class JetClassificationConfig:
    # the jet classes learned, in label order (default: every class the data has)
    classes: list[str] = field(default_factory=list)
    # "class": the jet's class; "parton": quark (0) or gluon (1) of the chosen classes' jets (default: qcd)
    target: str = "class"
    label_smoothing: float = 0.0
    jet_weight: float = 0.0  # weight of the jet-feature regression term (pretraining)

    def __post_init__(self) -> None:
        if len(set(self.classes)) != len(self.classes) or len(self.classes) == 1:
            raise ValueError("classes must be distinct, and at least two when given")
        if self.target not in ("class", "parton"):
            raise ValueError(f"target {self.target!r} not in (class, parton)")
        if not 0 <= self.label_smoothing < 1 or self.jet_weight < 0:
            raise ValueError("label_smoothing must lie in [0, 1) and jet_weight be >= 0")
