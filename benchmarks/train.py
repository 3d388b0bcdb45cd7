"""Training throughput (measured, not asserted): events/s of the `train` stage against a plain
PyTorch loop on the same model, data, batches and loss in the same run (CPU), and the stage
with 1 vs 2 ranks on the devcluster (gloo across n1 and n2).

    python benchmarks/train.py [--events 60] [--epochs 3] [--no-devcluster]

Prints the figures and writes benchmarks/results/train.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from results_file import save

MODEL = {"kind": "gnn_lsh", "width": 64, "depth": 2, "head_width": 64, "bin_size": 32, "distance_dim": 32}
BATCH = 4


def make_data(directory: Path, events: int, split: dict | None = None) -> Path:
    from pipeline.data.staging import stage_files
    from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams
    from pipeline.physics.detector_spec import DetectorSpec
    from pipeline.physics.generator import generate
    from pipeline.physics.rootio import EventWriter
    from pipeline.physics.schema import LEVEL_COLLECTIONS
    from pipeline.physics.simulate import simulate_event

    files = []
    for index, process in enumerate(["ee_tt", "ee_qq", "ee_zh"]):
        rng = np.random.default_rng(index)
        path = directory / f"{process}.root"
        writer = EventWriter(path, LEVEL_COLLECTIONS["clusters"])
        for i, particles in enumerate(generate(process, events // 3, 10 + index)):
            writer.add(simulate_event(particles, DetectorSpec(), rng), {"event_id": i, "process_id": 0, "seed": index})
        writer.close()
        files.append(path)
    params = StageDataParams(split=split or {"train": 1.0, "val": 0.0, "test": 0.0})
    stage_files(files, directory / "staged", params, log=lambda m: None)
    return directory / "staged" / "manifest.json"


def plain_loop(manifest: Path, epochs: int) -> float:
    """The same work without the stage: no DeepSpeed, no checkpoints, no logging."""
    from models import build_model
    from models.mlpf.loss import mlpf_loss
    from pipeline.data.dataset import ShardDataset, collate_padded
    from pipeline.data.sampler import BucketBatchSampler

    torch.set_num_threads(1)
    dataset = ShardDataset(manifest, "train")
    torch.manual_seed(0)
    model = build_model({**MODEL, "input_dim": json.loads(manifest.read_text())["width"]})
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sampler = BucketBatchSampler(dataset.sizes, batch_size=BATCH, seed=0)
    events, started = 0, time.perf_counter()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for indices in sampler:
            batch = collate_padded([dataset[i] for i in indices])
            loss, _ = mlpf_loss(model(batch["X"], batch["mask"], batch["K"]), batch["Y"], batch["K"], batch["mask"])
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            events += len(indices)
    return events / (time.perf_counter() - started)


def stage_run(manifest: Path, epochs: int, site: str, nodes: int, workdir: Path) -> float:
    workflow = {
        "name": f"bench-{site}-{nodes}",
        "stages": {
            "train": {
                "kind": "train",
                "params": {
                    "model": MODEL,
                    "data": str(manifest),
                    "epochs": epochs,
                    "batch_size": BATCH,
                    "checkpoint_every": 10**6,
                    "validation": False,
                    "seed": 0,
                },
                "resources": {"nodes": nodes, "time": "00:30:00"},
                "env": {"OMP_NUM_THREADS": "1"},
            }
        },
    }
    path = workdir / f"{site}-{nodes}.yaml"
    path.write_text(yaml.safe_dump(workflow))
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "submit", str(path), "--site", site, "--wait", "--poll", "1"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    result = workdir / "campaigns" / workflow["name"] / "stages" / "train" / "result.json"
    return json.loads(result.read_text())["events_per_second"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-devcluster", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = make_data(tmp, args.events)
        plain = plain_loop(manifest, args.epochs)
        stage = stage_run(manifest, args.epochs, "local", 1, tmp)
        figures = {
            "model": MODEL,
            "batch_size": BATCH,
            "epochs": args.epochs,
            "events": args.events,
            "plain_events_per_s": plain,
            "stage_local_events_per_s": stage,
            "overhead_ratio_plain_over_stage": plain / stage,
        }
        print(
            f"plain PyTorch loop: {plain:.1f} ev/s; train stage (local, 1 rank): {stage:.1f} ev/s; "
            f"ratio {plain / stage:.3f}"
        )
        if not args.no_devcluster:
            subprocess.run([sys.executable, "-m", "pipeline.cli", "devcluster", "up"], check=True, capture_output=True)
            for nodes in (1, 2):
                rate = stage_run(manifest, args.epochs, "devcluster", nodes, tmp)
                figures[f"stage_devcluster_{nodes}_rank_events_per_s"] = rate
                print(f"train stage on the devcluster, {nodes} rank(s): {rate:.1f} ev/s")
    save("train", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
