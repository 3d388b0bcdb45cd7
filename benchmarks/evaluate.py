"""Evaluation speed (measured, not asserted), on a finished quickstart campaign:

- evaluation events/s: the baseline particle flow alone, and the whole metric computation
  (baseline, jets, MET, particles) per source;
- inference ms per event for each encoder (gnn_lsh, kernel_transformer, transformer) at the
  quickstart's model size and event sizes, fp32 (and bf16 with --dtype bf16 on a GPU);
- the quickstart's wall time per stage (first start to last end of its attempts).

    python benchmarks/evaluate.py CAMPAIGN [--device cpu|cuda] [--dtype fp32|bf16] [--events 200]

Prints the figures and writes benchmarks/results/evaluate_<device>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
from results_file import save

ENCODERS = {
    "gnn_lsh": {"kind": "gnn_lsh", "width": 64, "depth": 2, "head_width": 64, "bin_size": 64, "distance_dim": 16},
    "kernel_transformer": {"kind": "kernel_transformer", "width": 64, "depth": 2, "head_width": 64, "heads": 4},
    "transformer": {"kind": "transformer", "width": 64, "depth": 2, "head_width": 64, "heads": 4},
}


def stage_times(campaign: Path) -> dict[str, float]:
    out = {}
    for stage_dir in sorted((campaign / "stages").iterdir()):
        records = [json.loads(p.read_text()) for p in (stage_dir / "attempts").glob("*.json")]
        starts = [dt.datetime.fromisoformat(r["started"]) for r in records if r.get("started")]
        ends = [dt.datetime.fromisoformat(r["ended"]) for r in records if r.get("ended")]
        if starts and ends:
            out[stage_dir.name] = round((max(ends) - min(starts)).total_seconds(), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("campaign", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()

    import torch

    from models import build_model
    from pipeline.evaluation import candidates, comparison, inference, metrics
    from pipeline.evaluation.baseline_pf import BaselineConfig, reconstruct
    from pipeline.physics.detector_spec import DetectorSpec
    from pipeline.training.accelerator import accelerator_for

    manifest = next((args.campaign / "stages").glob("*/outputs/manifest.json"))
    events = inference.load_events(manifest, "test", args.events)
    sizes = [len(x) for x in events.X]
    figures: dict = {
        "campaign": str(args.campaign),
        "events": len(events),
        "elements_per_event": {"mean": float(np.mean(sizes)), "max": int(np.max(sizes))},
        "device": args.device,
        "dtype": args.dtype,
    }
    features, level = events.manifest["features"], events.manifest["input_level"]
    began = time.perf_counter()
    baseline = [
        reconstruct(x, k, features, level, DetectorSpec(), BaselineConfig())
        for x, k in zip(events.X, events.K, strict=True)
    ]
    figures["baseline_events_per_s"] = len(events) / (time.perf_counter() - began)

    target = [candidates.from_targets(y) for y in events.Y]
    began = time.perf_counter()
    settings = comparison.Settings(metrics.JetConfig(), metrics.Binning(), bootstrap=50, seed=0)
    processes = events.manifest.get("processes", [])
    comparison.compare({"baseline": baseline}, events.gen, target, events.process_id, processes, settings)
    figures["metrics_events_per_s_per_source"] = len(events) / (time.perf_counter() - began)

    accelerator = accelerator_for(args.device)
    device = accelerator.device(0)
    figures["inference_ms_per_event"] = {}
    for name, config in ENCODERS.items():
        model = build_model({"input_dim": events.manifest["width"], **config}).to(device).eval()
        inference.infer(model, events, 16, args.dtype, accelerator, device)  # warm-up
        _, ms = inference.infer(model, events, 16, args.dtype, accelerator, device)
        figures["inference_ms_per_event"][name] = ms
        del model
        if args.device == "cuda":
            torch.cuda.empty_cache()
    figures["quickstart_stage_wall_s"] = stage_times(args.campaign)
    print(json.dumps(figures, indent=2))
    save(f"evaluate_{args.device}", figures)


if __name__ == "__main__":
    main()
