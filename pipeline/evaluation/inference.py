"""The test split as per-event arrays, and batched inference of a trained model on it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Events:
    X: list[np.ndarray]
    K: list[np.ndarray]
    Y: list[np.ndarray]
    gen: list[np.ndarray]
    process_id: list[int]
    manifest: dict

    def __len__(self) -> int:
        return len(self.X)

    @property
    def elements(self) -> int:
        return sum(len(x) for x in self.X)


def load_events(manifest_path: Path, split: str, max_events: int | None) -> Events:
    from ..data.dataset import ShardDataset

    dataset = ShardDataset(manifest_path, split)
    n = len(dataset) if max_events is None else min(max_events, len(dataset))
    if n == 0:
        raise ValueError(f"split {split!r} of {manifest_path} has no events to evaluate")
    items = [dataset[i] for i in range(n)]
    return Events(
        X=[item["X"].numpy() for item in items],
        K=[item["K"].numpy() for item in items],
        Y=[item["Y"].numpy() for item in items],
        gen=[item["gen"].numpy() for item in items],
        process_id=[item["process_id"] for item in items],
        manifest=json.loads(Path(manifest_path).read_text()),
    )


def load_model(weights: Path, config: Path, device):
    import torch

    from models import build_model

    model = build_model(json.loads(config.read_text()))
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def infer(
    model, events: Events, batch_size: int, precision: str, accelerator, device, task=None
) -> tuple[list[dict], float]:
    """Per-event model outputs (numpy) in event order, batched by the particle-flow task's own
    collate and prediction (or `task`'s), and the inference time per event (ms)."""
    import torch

    from ..tasks import load_task

    task = task or load_task("particle_flow")

    outputs: list[dict] = []
    order = np.argsort([len(x) for x in events.X])  # similar sizes together: less padding
    results: dict[int, dict] = {}
    elapsed = 0.0
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = task.collate(
                [
                    {
                        "X": torch.from_numpy(events.X[i]),
                        "Y": torch.from_numpy(events.Y[i]),
                        "K": torch.from_numpy(events.K[i]),
                        "index": int(i),
                    }
                    for i in chunk
                ],
                None,
            )
            batch = {k: v.to(device) for k, v in batch.items()}
            accelerator.synchronize()
            began = time.perf_counter()
            with accelerator.autocast(precision):
                out = task.predict(model, batch)
            accelerator.synchronize()
            elapsed += time.perf_counter() - began
            arrays = {k: v.float().cpu().numpy() for k, v in out.items()}
            mask = batch["mask"].cpu().numpy()
            for row, i in enumerate(chunk):
                results[int(i)] = {k: v[row : row + 1] for k, v in arrays.items()} | {"mask": mask[row : row + 1]}
    outputs = [results[i] for i in range(len(events))]
    return outputs, 1000.0 * elapsed / max(len(events), 1)
