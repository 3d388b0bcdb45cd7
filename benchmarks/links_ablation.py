"""The development runs behind the link features (docs/results/clic-mlpf-medium/): one-epoch
trainings of MLPF configurations with and without the track-cluster link features on a staged
dataset, each evaluated beside the baseline on validation events (never the test split).

    python benchmarks/links_ablation.py STAGED_DIR OUT_DIR      # writes OUT_DIR/links/ + workflows
    cd OUT_DIR && for w in workflows/*.yaml; do colliderflow submit $w --wait; done
    colliderflow report campaigns/<name>

STAGED_DIR is a stage_data output without links (its manifest.json); OUT_DIR/links/ gets a copy
with the link columns appended by the same function staging uses (pipeline/data/links.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml

GNN = {"kind": "gnn_lsh", "width": 64, "depth": 2, "head_width": 64, "bin_size": 64, "distance_dim": 32}
RUNS = {  # name: (links?, model overrides, training overrides)
    "nolinks": (False, {}, {"train_events": 6000}),
    "links": (True, {}, {"train_events": 6000}),
    "links-w128-d3": (True, {"width": 128, "depth": 3, "head_width": 128}, {"train_events": 12000}),
    "links-24k": (True, {}, {"train_events": 24000}),
    "links-kt": (
        True,
        {"kind": "kernel_transformer", "heads": 4, "bin_size": None, "distance_dim": None},
        {"train_events": 12000},
    ),
    "links-24k-weights3": (True, {}, {"train_events": 24000, "loss": {"weights": {"pt": 3.0, "energy": 3.0}}}),
}


def add_links(source: Path, target: Path) -> Path:
    from pipeline.data.links import LINK_COLUMNS, LinkParams, link_features
    from pipeline.data.shards import read_shard, write_shard
    from pipeline.physics.detector_spec import DetectorSpec

    manifest = json.loads((source / "manifest.json").read_text())
    if manifest.get("links", {}).get("enabled"):
        raise SystemExit(f"{source}: already staged with links")
    params = LinkParams(enabled=True)
    detector = DetectorSpec.model_validate(params.detector)
    shards = []
    for shard in manifest["shards"]:
        arrays = read_shard(source / shard["path"])
        offsets = arrays["offsets"]
        extra = [
            link_features(arrays["X"][a:b], arrays["K"][a:b], manifest["features"], detector, params.link_distance_m)
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
        arrays["X"] = np.concatenate([arrays["X"], np.concatenate(extra)], axis=1)
        shards.append({**shard, **write_shard(target / shard["path"], arrays), "path": shard["path"]})
    manifest |= {"shards": shards, "width": manifest["width"] + len(LINK_COLUMNS)}
    manifest["links"] = params.model_dump(mode="json")
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return target / "manifest.json"


def workflow(name: str, data: Path, model: dict, training: dict) -> dict:
    model = {k: v for k, v in {**GNN, "charged_from_track": True, **model}.items() if v is not None}
    train = {"model": model, "data": str(data), "epochs": 1, "val_events": 500, "batch_size": 8}
    train |= {"schedule": {"warmup_steps": 50}, "checkpoint_every": 500, **training}
    evaluate = {
        "data": str(data),
        "split": "val",
        "max_events": 1000,
        "bootstrap": 50,
        "baseline": {"calibration_events": 500},
    }
    return {
        "name": name,
        "stages": {
            "train": {"kind": "train", "params": train, "resources": {"time": "01:00:00"}},
            "evaluate": {"kind": "evaluate", "needs": ["train"], "params": evaluate, "resources": {"time": "00:30:00"}},
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("staged", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    linked = add_links(args.staged.resolve(), (args.out / "links").resolve())
    plain = args.staged.resolve() / "manifest.json"
    (args.out / "workflows").mkdir(parents=True, exist_ok=True)
    for name, (links, model, training) in RUNS.items():
        data = linked if links else plain
        path = args.out / "workflows" / f"{name}.yaml"
        path.write_text(yaml.safe_dump(workflow(name, data, model, training), sort_keys=False))
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
