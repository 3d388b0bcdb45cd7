"""MLPF encoder scaling (measured, not asserted): forward+backward time and peak memory per
event for N = 1k..32k elements (batch 1), for gnn_lsh, kernel_transformer and the softmax
transformer (math path = the quadratic reference; default path = the fused kernel torch
picks), with the sizes of the public MLPF CLIC models. Each case runs in its own process;
memory is the peak RSS over the post-construction baseline (the kernel's VmHWM, reset with
/proc/self/clear_refs after the model is built), or on CUDA the allocator's peak.

    python benchmarks/mlpf_scaling.py [--device cpu|cuda] [--dtype fp32|bf16] [--threads 2]

Prints a table and the memory ratios, and writes benchmarks/results/mlpf_scaling_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_file import save

SIZES = (1024, 2048, 4096, 8192, 16384, 32768)
CONFIGS = {
    "gnn_lsh": {"kind": "gnn_lsh", "width": 128, "depth": 2, "bin_size": 100, "distance_dim": 128},
    "kernel_transformer": {"kind": "kernel_transformer", "width": 256, "depth": 3, "heads": 16},
    "transformer_math": {"kind": "transformer", "width": 256, "depth": 3, "heads": 16},
    "transformer_fused": {"kind": "transformer", "width": 256, "depth": 3, "heads": 16},
}
INPUT_DIM = 17
MEMORY_LIMIT_GB = 14.0  # skip math-path cases whose attention matrices alone would exceed this


def vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def worker(name: str, n: int, device: str, dtype: str, threads: int, repeats: int) -> dict:
    import torch

    from models import build_model
    from models.mlpf.loss import mlpf_loss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model({**CONFIGS[name], "input_dim": INPUT_DIM}).to(device).train()
    X = torch.randn(1, n, INPUT_DIM, device=device)
    X[..., 0] = torch.randint(1, 3, (1, n), device=device).float()
    mask = torch.ones(1, n, dtype=torch.bool, device=device)
    K = torch.rand(1, n, 5, device=device) + 0.1
    Y = torch.rand(1, n, 7, device=device) + 0.1
    Y[..., 0] = torch.randint(0, 6, (1, n), device=device).float()
    Y[..., 1] = 0.0
    import contextlib

    from torch.nn.attention import SDPBackend, sdpa_kernel

    def backend():  # a fresh context per step: these managers are single-use
        return sdpa_kernel(SDPBackend.MATH) if name == "transformer_math" else contextlib.nullcontext()

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == "bf16"), backend():
            loss, _ = mlpf_loss(model(X, mask, K), Y, K, mask)
        loss.backward()
        model.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter
        base = vm_kb("VmRSS") * 1024
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else vm_kb("VmHWM") * 1024
    return {"seconds": statistics.median(times[1:]), "peak_mb": max(0, peak - base) / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--encoders", nargs="+", default=list(CONFIGS))
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(
            json.dumps(worker(args.worker[0], int(args.worker[1]), args.device, args.dtype, args.threads, args.repeats))
        )
        return 0

    results: dict[str, dict[str, dict]] = {}
    for name in args.encoders:
        results[name] = {}
        for n in args.sizes:
            attention_gb = 3 * 16 * n * n * 4 / 1e9
            if name == "transformer_math" and args.device == "cpu" and attention_gb > MEMORY_LIMIT_GB:
                results[name][str(n)] = {"skipped": f"attention matrices alone need ~{attention_gb:.0f} GB"}
                print(f"{name:<20} N={n:>6}: skipped (~{attention_gb:.0f} GB of attention matrices)", flush=True)
                continue
            command = [
                sys.executable,
                __file__,
                "--worker",
                name,
                str(n),
                "--device",
                args.device,
                "--dtype",
                args.dtype,
                "--threads",
                str(args.threads),
                "--repeats",
                str(args.repeats),
            ]
            run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
            if run.returncode != 0:
                reason = (run.stderr.strip().splitlines() or ["killed"])[-1]
                results[name][str(n)] = {"failed": reason}
                print(f"{name:<20} N={n:>6}: failed ({reason})", flush=True)
                continue
            result = json.loads(run.stdout.strip().splitlines()[-1])
            results[name][str(n)] = result
            print(f"{name:<20} N={n:>6}: {1e3 * result['seconds']:>9.1f} ms  {result['peak_mb']:>9.1f} MB", flush=True)
    ratios = {}
    for name, per_n in results.items():
        small, large = per_n.get("4096", {}), per_n.get("32768", {})
        if "peak_mb" in small and "peak_mb" in large and small["peak_mb"] > 0:
            ratios[name] = large["peak_mb"] / small["peak_mb"]
    print("memory(32k) / memory(4k): " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    save(
        f"mlpf_scaling_{args.device}",
        {
            "device": args.device,
            "dtype": args.dtype,
            "threads": args.threads,
            "configs": CONFIGS,
            "results": results,
            "memory_ratio_32k_over_4k": ratios,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
