"""The toy task: batches of (x, y), a squared-error (or Huber) loss, the mean absolute error."""

import json
from pathlib import Path

import numpy as np
import torch

from pipeline.tasks.protocol import TaskBase


class ToyDataset:
    """Events of one split of a staged toy manifest (its shards, in order)."""

    def __init__(self, manifest: Path, split: str) -> None:
        manifest = Path(manifest)
        staged = json.loads(manifest.read_text())
        arrays = [np.load(manifest.parent / s["path"]) for s in staged["shards"] if s["split"] == split]
        width = staged["width"]
        self.x = np.concatenate([a["x"] for a in arrays]) if arrays else np.zeros((0, width), np.float32)
        self.y = np.concatenate([a["y"] for a in arrays]) if arrays else np.zeros(0, np.float32)
        self.truth = np.concatenate([a["truth"] for a in arrays]) if arrays else np.zeros(0, np.float32)
        self.sizes = np.ones(len(self.x), dtype=np.int64)  # one element per event, for the batcher

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": torch.from_numpy(self.x[i]), "y": torch.tensor(self.y[i])}


class ToyRegression(TaskBase):
    name = "toy_regression"
    validation_outputs = True

    def dataset(self, manifest_path: Path, split: str) -> ToyDataset:
        return ToyDataset(manifest_path, split)

    def model_config(self, manifest: dict, model: dict) -> dict:
        return {"input_dim": manifest["width"], **model}

    def loss_config(self, raw: dict):
        from colliderflow_toy import ToyLoss

        return ToyLoss(**raw)

    def collate(self, items: list[dict], dataset: ToyDataset) -> dict:
        return {"x": torch.stack([i["x"] for i in items]), "y": torch.stack([i["y"] for i in items])}

    def forward(self, model, batch: dict) -> dict:
        return {"y": model(batch["x"]).squeeze(-1)}

    def loss(self, out: dict, batch: dict, config) -> tuple:
        error = out["y"].float() - batch["y"]
        squared = (error**2).mean()
        loss = torch.nn.functional.huber_loss(out["y"].float(), batch["y"]) if config.huber else squared
        return loss, {"mse": squared.detach()}

    def events(self, batch: dict) -> int:
        return int(batch["x"].shape[0])

    def validation_metrics(self, kept: list) -> dict:
        errors = torch.cat([(out["y"] - batch["y"]).abs() for out, batch in kept])
        return {"mae": float(errors.mean())}
