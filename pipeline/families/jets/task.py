"""The jet-classification task: jets (constituent features, physics/jet_io.py) of the chosen
classes; cross-entropy on the class, plus an optional regression of the jet features (the
pretraining's second head). Validation metrics: accuracy and AUC (two classes: of the second
class against the first; more: the mean one-vs-rest AUC)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.pet.loss_config import JetClassificationConfig

from ...evaluation.roc import auc
from ...tasks.protocol import TaskBase
from .data import JetDataset, collate_jets


class JetClassificationTask(TaskBase):
    name = "jet_classification"
    validation_outputs = True

    def __init__(self) -> None:
        self.config = JetClassificationConfig()

    def classes(self, manifest: dict[str, Any]) -> list[str]:
        """The output classes: the jet classes learned, or quark and gluon."""
        if self.config.target == "parton":
            return list(JetDataset.PARTONS)
        return list(self.config.classes or manifest["present"])

    def dataset(self, manifest_path: Path, split: str) -> JetDataset:
        manifest = json.loads(Path(manifest_path).read_text())
        # parton target: the classes whose jets carry a parton label (default: qcd)
        chosen = (self.config.classes or None) if self.config.target == "parton" else self.classes(manifest)
        return JetDataset(manifest_path, split, chosen, self.config.target)

    def model_config(self, manifest: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
        return {
            **model,
            "num_features": len(manifest["features"]),
            "num_classes": len(self.classes(manifest)),
            "num_jet_features": len(manifest["jet_features"]),
        }

    def loss_config(self, raw: dict[str, Any]) -> JetClassificationConfig:
        return JetClassificationConfig(**raw)

    def collate(self, items: list[dict], dataset: JetDataset) -> dict[str, torch.Tensor]:
        return collate_jets(items)

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return model(batch["x"], batch["mask"])

    def predict(self, model: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Class probabilities."""
        return {"prob": model(batch["x"], batch["mask"])["logits"].float().softmax(1)}

    def loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], config: JetClassificationConfig
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = out["logits"].float()
        ce = torch.nn.functional.cross_entropy(logits, batch["label"], label_smoothing=config.label_smoothing)
        jet = torch.nn.functional.mse_loss(out["jet"].float(), batch["jet"])
        accuracy = (logits.argmax(1) == batch["label"]).float().mean()
        total = ce + config.jet_weight * jet if config.jet_weight else ce
        return total, {"cross_entropy": ce.detach(), "jet_mse": jet.detach(), "accuracy": accuracy.detach()}

    def validation_metrics(self, kept: list[tuple[dict, dict]]) -> dict[str, float]:
        prob = torch.cat([out["logits"] for out, _ in kept]).softmax(1).numpy()
        y = torch.cat([batch["label"] for _, batch in kept]).numpy()
        metrics = {"accuracy": float((prob.argmax(1) == y).mean())}
        present = [c for c in range(prob.shape[1]) if (y == c).any() and (y != c).any()]
        if prob.shape[1] == 2 and present:
            metrics["auc"] = auc(prob[y == 0, 1], prob[y == 1, 1])
        elif present:
            metrics["auc"] = float(np.mean([auc(prob[y != c, c], prob[y == c, c]) for c in present]))
        return metrics

    def events(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["x"].shape[0])
