"""Training throughput per MLPF configuration on CPU (measured, not asserted): events/s of a
plain training step (forward, loss, backward, AdamW step) on real simulated tt/qq/ZH events,
batch 8, one process, for the encoders and sizes a medium campaign's search covers. The
figures size the campaign: epochs x events / (events/s) is the training time of a trial.

    python benchmarks/mlpf_throughput.py [--events 96] [--steps 12] [--threads 1]

Prints a table and writes benchmarks/results/mlpf_throughput.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from results_file import save
from train import make_data

CONFIGS = {
    "gnn_lsh w64 d2": {"kind": "gnn_lsh", "width": 64, "depth": 2, "head_width": 64, "bin_size": 64},
    "gnn_lsh w128 d3": {"kind": "gnn_lsh", "width": 128, "depth": 3, "head_width": 128, "bin_size": 64},
    "gnn_lsh w256 d4": {"kind": "gnn_lsh", "width": 256, "depth": 4, "head_width": 256, "bin_size": 64},
    "kernel_transformer w64 d2": {"kind": "kernel_transformer", "width": 64, "depth": 2, "head_width": 64, "heads": 4},
    "kernel_transformer w128 d3": {
        "kind": "kernel_transformer",
        "width": 128,
        "depth": 3,
        "head_width": 128,
        "heads": 8,
    },
}


def events_per_second(manifest: Path, config: dict, steps: int, batch: int = 8) -> float:
    from models import build_model
    from models.mlpf.loss import mlpf_loss
    from pipeline.data.dataset import ShardDataset, collate_padded

    data = ShardDataset(manifest, "train")
    model = build_model({"input_dim": data.manifest["width"], **config})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = [collate_padded([data[(i * batch + j) % len(data)] for j in range(batch)]) for i in range(steps + 2)]
    elapsed = 0.0
    for i, b in enumerate(batches):
        began = time.perf_counter()
        loss, _ = mlpf_loss(model(b["X"], b["mask"], b["K"]), b["Y"], b["K"], b["mask"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if i >= 2:  # the first two steps warm up allocators and kernels
            elapsed += time.perf_counter() - began
    return steps * batch / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=96)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_data(Path(tmp), args.events)
        rates = {name: events_per_second(manifest, config, args.steps) for name, config in CONFIGS.items()}
    for name, rate in rates.items():
        print(f"{name:<28} {rate:7.1f} events/s")
    save("mlpf_throughput", {"threads": args.threads, "batch": 8, "configs": CONFIGS, "events_per_s": rates})


if __name__ == "__main__":
    main()
