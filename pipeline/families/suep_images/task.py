"""The anomaly-detection task: an autoencoder learns to reconstruct background images only
(the manifest's background processes, in train and val); the loss is the inverse Dice loss and
the anomaly score 1/D (models/autoencoder/loss.py). The deployable form is `model.onnx`: raw
images in, (score, reconstruction) out, checked against PyTorch (scored by `colliderflow score`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from models.autoencoder.config import DiceLossConfig
from models.autoencoder.loss import inverse_dice_loss

from ...tasks.protocol import TaskBase
from .data import ImageDataset, densify


class AnomalyDetectionTask(TaskBase):
    name = "anomaly_detection"
    deployable = True

    def dataset(self, manifest_path: Path, split: str) -> ImageDataset:
        manifest = json.loads(Path(manifest_path).read_text())
        return ImageDataset(manifest_path, split, processes=manifest["background"])

    def model_config(self, manifest: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
        return {**model, "image_shape": list(manifest["shape"])}

    def loss_config(self, raw: dict[str, Any]) -> DiceLossConfig:
        return DiceLossConfig(**raw)

    def collate(self, items: list[dict], dataset: ImageDataset) -> dict[str, torch.Tensor]:
        return {"images": densify(items, dataset.shape)}

    def forward(self, model: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        network = getattr(model, "module", model)  # a DeepSpeed engine wraps the network
        return {"reco": model(batch["images"]), "target": network.to_target(batch["images"])}

    def predict(self, model: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The anomaly score (1/D) with the target-space input and reconstruction."""
        from models.autoencoder.loss import anomaly_score

        out = self.forward(model, batch)
        return {**out, "score": anomaly_score(out["target"], out["reco"])}

    def loss(
        self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], config: DiceLossConfig
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return inverse_dice_loss(out["target"], out["reco"], config)

    def events(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["images"].shape[0])

    def describe(self, network: Any) -> dict[str, Any]:
        """Latent shape, its size in floats and the compression it forces (the bottleneck)."""
        return network.describe()

    def export_deployable(self, network: Any, batch: dict[str, torch.Tensor], outputs_dir: Path) -> dict[str, Any]:
        from models.autoencoder.network import AnomalyScorer

        from ...onnx_export import export_checked

        return export_checked(
            AnomalyScorer(network),
            batch["images"].cpu(),
            Path(outputs_dir) / "model.onnx",
            input_name="images",
            output_names=["score", "reconstruction"],
            metadata={"score": "1/D (inverse Dice coefficient of the reconstruction); larger is more anomalous"},
        )
