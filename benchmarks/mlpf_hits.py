"""Where time and memory go at the hits level (measured, not asserted): tracks + calorimeter hits
of real simulated e+e- -> tt, qq, ZH events at 380 GeV, ~10^4 elements an event, through a plain
training step (forward, loss, backward, AdamW step) of GNN-LSH and the kernel transformer at the
widths a hits campaign would use. Each configuration runs in a fresh process, so its peak
resident memory (above the process after the data are loaded) is its own.

Per configuration: elements per event, training events/s, the split of a step between forward,
loss, backward and optimizer, peak memory, and (with --profile) the five operators with the most
self CPU time. The figures size workflows/clic-mlpf-hits-medium.yaml.

    python benchmarks/mlpf_hits.py [--events 12] [--steps 6] [--batch 1] [--threads 1] [--precision fp32 bf16]

Prints a table and writes benchmarks/results/mlpf_hits.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from results_file import save

HERE = Path(__file__).resolve().parent
GNN = {"kind": "gnn_lsh", "depth": 2, "bin_size": 64, "distance_dim": 32}
KT = {"kind": "kernel_transformer", "depth": 2, "heads": 4}
CONFIGS = {
    "gnn_lsh w32 d2": {**GNN, "width": 32, "head_width": 32, "distance_dim": 16},
    "gnn_lsh w64 d2": {**GNN, "width": 64, "head_width": 64},
    "gnn_lsh w64 d2 bin128": {**GNN, "width": 64, "head_width": 64, "bin_size": 128},
    "gnn_lsh w128 d3": {**GNN, "width": 128, "head_width": 128, "depth": 3},
    "kernel_transformer w32 d2": {**KT, "width": 32, "head_width": 32},
    "kernel_transformer w64 d2": {**KT, "width": 64, "head_width": 64},
    "kernel_transformer w128 d3": {**KT, "width": 128, "head_width": 128, "depth": 3, "heads": 8},
}


def make_hits_data(directory: Path, events: int) -> Path:
    """`events` tt/qq/ZH events at the hits level, staged (the stage's own code)."""
    from pipeline.data.staging import stage_files
    from pipeline.families.particle_flow.params import ParticleFlowStageData
    from pipeline.physics.detector_spec import DetectorSpec
    from pipeline.physics.generator import generate
    from pipeline.physics.rootio import EventWriter
    from pipeline.physics.schema import LEVEL_COLLECTIONS
    from pipeline.physics.simulate import simulate_event

    files = []
    for index, process in enumerate(["ee_tt", "ee_qq", "ee_zh"]):
        rng = np.random.default_rng(index)
        path = directory / f"{process}.root"
        writer = EventWriter(path, LEVEL_COLLECTIONS["hits"])
        for i, particles in enumerate(generate(process, max(1, events // 3), 20 + index)):
            event = simulate_event(particles, DetectorSpec(), rng, ("clusters", "hits"))
            writer.add(event, {"event_id": i, "process_id": 0, "seed": index})
        writer.close()
        files.append(path)
    params = ParticleFlowStageData(input_level="hits", split={"train": 1.0, "val": 0.0, "test": 0.0})
    stage_files(files, directory / "staged", params, log=lambda m: None)
    return directory / "staged" / "manifest.json"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def measure(manifest: Path, config: dict, steps: int, batch: int, precision: str, profile: bool) -> dict:
    """One configuration, in this process: the figures of the module's doc."""
    import torch

    from models import build_model
    from models.mlpf.loss import mlpf_loss
    from pipeline.data.dataset import ShardDataset, collate_padded

    data = ShardDataset(manifest, "train")
    batches = [collate_padded([data[(i * batch + j) % len(data)] for j in range(batch)]) for i in range(steps + 1)]
    elements = [int(b["mask"].sum()) / batch for b in batches]
    before = rss_mb()
    model = build_model({"input_dim": data.manifest["width"], **config})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dtype = torch.bfloat16 if precision == "bf16" else None
    phases = dict.fromkeys(("forward", "loss", "backward", "optimizer"), 0.0)

    def step(b: dict, timed: bool) -> None:
        marks = [time.perf_counter()]
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            out = model(b["X"], b["mask"], b["K"])
            marks.append(time.perf_counter())
            loss, _ = mlpf_loss(out, b["Y"], b["K"], b["mask"])
        marks.append(time.perf_counter())
        optimizer.zero_grad()
        loss.backward()
        marks.append(time.perf_counter())
        optimizer.step()
        marks.append(time.perf_counter())
        if timed:
            for name, a, z in zip(phases, marks[:-1], marks[1:], strict=True):
                phases[name] += z - a

    step(batches[0], timed=False)  # warm-up: allocators, LSH buffers
    for b in batches[1:]:
        step(b, timed=True)
    total = sum(phases.values())
    result = {
        "elements_per_event": float(np.mean(elements)),
        "events_per_s": steps * batch / total,
        "step_share": {k: v / total for k, v in phases.items()},
        "peak_mb_above_data": rss_mb() - before,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            step(batches[1], timed=False)
        top = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:5]
        total_us = sum(e.self_cpu_time_total for e in prof.key_averages())
        result["top_ops"] = [{"op": e.key, "self_share": e.self_cpu_time_total / max(total_us, 1)} for e in top]
    return result


def one(args) -> int:
    """The child process: one configuration, its figures as one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    config = json.loads(args.one)
    print(json.dumps(measure(Path(args.manifest), config, args.steps, args.batch, args.precision_one, args.profile)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--configs", nargs="*", help="names from CONFIGS (default: all)")
    parser.add_argument("--profile", action="store_true", help="the top operators of one step")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--precision-one", default="fp32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one(args)
    names = args.configs or list(CONFIGS)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        manifest = make_hits_data(Path(tmp), args.events)
        print(f"{args.events} hits-level events generated and staged in {time.perf_counter() - began:.0f} s")
        print(f"{'config':<28} {'prec':<5} {'elem/ev':>8} {'ev/s':>7} {'fwd':>5} {'bwd':>5} {'opt':>5} {'MB':>7}")
        for name in names:
            for precision in args.precision:
                command = [sys.executable, str(Path(__file__).resolve()), "--one", json.dumps(CONFIGS[name]),
                           "--manifest", str(manifest), "--steps", str(args.steps), "--batch", str(args.batch),
                           "--threads", str(args.threads), "--precision-one", precision]  # fmt: skip
                if args.profile:
                    command.append("--profile")
                run = subprocess.run(command, capture_output=True, text=True, cwd=HERE)
                if run.returncode:
                    print(f"{name} {precision}: failed\n{run.stderr[-2000:]}")
                    results[f"{name} {precision}"] = {"error": run.stderr[-2000:]}
                    continue
                r = json.loads(run.stdout.strip().splitlines()[-1])
                results[f"{name} {precision}"] = {"config": CONFIGS[name], "precision": precision, **r}
                share = r["step_share"]
                print(
                    f"{name:<28} {precision:<5} {r['elements_per_event']:8.0f} {r['events_per_s']:7.2f} "
                    f"{share['forward']:5.0%} {share['backward']:5.0%} {share['optimizer']:5.0%} "
                    f"{r['peak_mb_above_data']:7.0f}"
                )
                for op in r.get("top_ops", []):
                    print(f"    {op['op']:<40} {op['self_share']:5.1%}")
    save("mlpf_hits", {"events": args.events, "steps": args.steps, "batch": args.batch, "threads": args.threads,
                       "results": results})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
