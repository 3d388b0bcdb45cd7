"""Everything a lent GPU should measure, in one short call (measured, not asserted).

On a CUDA or ROCm device (PyTorch's ROCm build reports as cuda), in about 8 minutes:
- MLPF training events/s (forward, loss, backward, AdamW step) for GNN-LSH and the kernel
  transformer, fp32 and bf16 autocast, at the clusters level (batch 32 x 512 elements) and the
  hits level (batch 2 x 20,000 elements), with the peak allocator memory;
- PyTorch's fused attention (scaled_dot_product_attention, the kernel torch picks) against the
  kernel transformer at 4k-32k elements: time and peak memory of a training step, each case in
  its own process (benchmarks/mlpf_scaling.py's worker), so an out-of-memory case is recorded
  and the rest goes on;
- the jet foundation model (PET, medium preset): training jets/s in bf16;
- the SUEP reference autoencoder: training images/s (batch 128) and the latency of one image;
- the quickstart campaign through the local site on the GPU (sites/local-gpu.yaml), its wall
  time per stage, within what is left of the budget.

On a CPU (no device), `--smoke` (what CI runs) takes the same code paths at toy sizes in under
a minute and writes benchmarks/results/gpu-smoke.json; the quickstart is then only planned
(`submit --dry-run` with the GPU site). Every section is timed and recorded on its own: one that
fails is written down with its error and the others still run.

    python benchmarks/gpu.py [--smoke] [--budget-s 480] [--skip quickstart]

Writes benchmarks/results/gpu.json (on a device) and prints each figure as it is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import save

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
INPUT_DIM = 17
MLPF = {
    "gnn_lsh": {"kind": "gnn_lsh", "width": 256, "depth": 3, "head_width": 256, "bin_size": 128, "distance_dim": 128},
    "kernel_transformer": {"kind": "kernel_transformer", "width": 256, "depth": 3, "head_width": 256, "heads": 16},
}
SMOKE_MLPF = {
    "gnn_lsh": {"kind": "gnn_lsh", "width": 16, "depth": 1, "head_width": 16, "bin_size": 32, "distance_dim": 8},
    "kernel_transformer": {"kind": "kernel_transformer", "width": 16, "depth": 1, "head_width": 16, "heads": 2},
}


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def peak_mb(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def mlpf_batch(batch: int, elements: int, device: str) -> dict:
    """A padded batch of the shape the MLPF models train on (values as in mlpf_scaling.py)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(batch, elements, INPUT_DIM, generator=generator)
    X[..., 0] = torch.randint(1, 3, (batch, elements), generator=generator).float()  # element type
    K = torch.rand(batch, elements, 5, generator=generator) + 0.1
    Y = torch.rand(batch, elements, 7, generator=generator) + 0.1
    Y[..., 0] = torch.randint(0, 6, (batch, elements), generator=generator).float()
    mask = torch.ones(batch, elements, dtype=torch.bool)
    return {k: v.to(device) for k, v in {"X": X, "K": K, "Y": Y, "mask": mask}.items()}


def mlpf_training(device: str, config: dict, batch: int, elements: int, precision: str, steps: int) -> dict:
    import torch

    from models import build_model
    from models.mlpf.loss import mlpf_loss

    torch.manual_seed(0)
    model = build_model({**config, "input_dim": INPUT_DIM}).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    b = mlpf_batch(batch, elements, device)

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss, _ = mlpf_loss(model(b["X"], b["mask"], b["K"]), b["Y"], b["K"], b["mask"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocator, kernels
    synchronize(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    seconds = time.perf_counter() - began
    return {"events_per_second": round(steps * batch / seconds, 2), "peak_mb": peak_mb(device)}


def attention_scaling(device: str, sizes: list[int], dtype: str) -> dict:
    """The fused softmax attention against the kernel transformer, one process per case."""
    out: dict = {}
    for name in ("transformer_fused", "kernel_transformer"):
        for n in sizes:
            command = [sys.executable, str(HERE / "mlpf_scaling.py"), "--worker", name, str(n), "--device",
                       device, "--dtype", dtype, "--threads", "2", "--repeats", "2"]  # fmt: skip
            run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, env=_env())
            if run.returncode != 0:
                out[f"{name} {n}"] = {"failed": (run.stderr.strip().splitlines() or ["killed"])[-1][:300]}
            else:
                result = json.loads(run.stdout.strip().splitlines()[-1])
                out[f"{name} {n}"] = {"ms": round(1e3 * result["seconds"], 2), "peak_mb": round(result["peak_mb"], 1)}
            print(f"  attention {name:<19} N={n:>6}: {out[f'{name} {n}']}", flush=True)
    return out


def pet_training(device: str, smoke: bool) -> dict:
    from jets import training

    if smoke:
        return training("small", device, batch=4, constituents=16, steps=2)
    return training("medium", device, batch=256, constituents=128, steps=20)


def suep_figures(device: str, smoke: bool) -> dict:
    import torch
    from suep import REFERENCE_MODEL

    from models import build_model
    from models.autoencoder.network import AnomalyScorer

    torch.manual_seed(0)
    model = build_model(REFERENCE_MODEL).to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    batch, steps = (2, 1) if smoke else (128, 10)
    images = (torch.relu(torch.randn(batch, 3, 286, 360)) * (torch.rand(batch, 3, 286, 360) < 0.01)).to(device)

    def step() -> None:
        loss = ((model(images) - images / 2000.0) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    synchronize(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    rate = steps * batch / (time.perf_counter() - began)
    scorer = AnomalyScorer(model).eval()
    one = images[:1]
    latencies = []
    with torch.no_grad():
        for i in range(3 if smoke else 60):
            began = time.perf_counter()
            scorer(one)
            synchronize(device)
            if i >= 2 or smoke:
                latencies.append(time.perf_counter() - began)
    latencies.sort()
    return {
        "training_images_per_second": round(rate, 2),
        "batch": batch,
        "latency_batch1_ms_median": round(1e3 * latencies[len(latencies) // 2], 3),
    }


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    return env


def quickstart(smoke: bool, seconds_left: float) -> dict:
    """The quickstart through the local site on the GPU (a dry run on a CPU)."""
    command = [sys.executable, "-m", "pipeline.cli", "submit", str(REPO / "workflows" / "quickstart.yaml"),
               "--site", str(REPO / "sites" / "local-gpu.yaml")]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if smoke:
            run = subprocess.run([*command, "--dry-run"], cwd=tmp, capture_output=True, text=True, env=_env())
            return {"dry_run_exit": run.returncode, "jobs": run.stdout.count("# ===== stage")}
        began = time.perf_counter()
        try:
            run = subprocess.run([*command, "--wait"], cwd=tmp, capture_output=True, text=True, env=_env(),
                                 timeout=max(seconds_left, 30))  # fmt: skip
            code = run.returncode
        except subprocess.TimeoutExpired:
            code = None  # out of the budget: what finished is still reported
        wall = time.perf_counter() - began
        status = subprocess.run([sys.executable, "-m", "pipeline.cli", "status", "campaigns/quickstart", "--json"],
                                cwd=tmp, capture_output=True, text=True, env=_env())  # fmt: skip
        stages = {}
        if status.stdout.strip():
            for name, stage in json.loads(status.stdout)["stages"].items():
                stages[name] = {"state": stage["state"], "wall_s": round(stage["usage"]["wall_seconds"], 1)}
        return {"exit": code, "wall_s": round(wall, 1), "stages": stages}


def device_name() -> tuple[str, dict]:
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        build = {"cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None)}
        return "cuda", {"name": props.name, "memory_gb": round(props.total_memory / 1e9, 1), "torch": torch.__version__,
                        **build}  # fmt: skip
    return "cpu", {"name": "cpu", "torch": torch.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes (on a CPU: what CI runs)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="wall-time budget of the whole run")
    parser.add_argument("--skip", nargs="*", default=[], help="sections to leave out")
    args = parser.parse_args()
    started = time.perf_counter()
    device, about = device_name()
    smoke = args.smoke or device == "cpu"
    if device == "cpu" and not args.smoke:
        print("no CUDA/ROCm device: running the CPU smoke test (--smoke)")
    figures: dict = {"device": about, "smoke": smoke, "sections": {}}
    name = "gpu-smoke" if smoke else "gpu"
    configs = SMOKE_MLPF if smoke else MLPF
    levels = {"clusters": (4, 64), "hits": (1, 512)} if smoke else {"clusters": (32, 512), "hits": (2, 20000)}
    steps = 2 if smoke else 10

    def mlpf() -> dict:
        out = {}
        for model, config in configs.items():
            for level, (batch, elements) in levels.items():
                for precision in ("fp32", "bf16"):
                    key = f"{model} {level} {precision}"
                    out[key] = mlpf_training(device, config, batch, elements, precision, steps)
                    print(f"  mlpf {key:<36} {out[key]}", flush=True)
        return out

    sections = {
        "mlpf_training": mlpf,
        "attention_scaling": lambda: attention_scaling(
            device, [256, 512] if smoke else [4096, 8192, 16384, 32768], "fp32" if smoke else "bf16"
        ),
        "pet_training": lambda: pet_training(device, smoke),
        "suep_autoencoder": lambda: suep_figures(device, smoke),
        "quickstart": lambda: quickstart(smoke, args.budget_s - (time.perf_counter() - started)),
    }
    for section, run in sections.items():
        if section in args.skip:
            continue
        began = time.perf_counter()
        print(f"{section}:", flush=True)
        try:
            result = run()
        except Exception as exc:  # noqa: BLE001 - one section's failure must not lose the others
            result = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        result["section_seconds"] = round(time.perf_counter() - began, 1)
        figures["sections"][section] = result
        print(f"  {section} done in {result['section_seconds']} s", flush=True)
        save(name, figures)  # after every section: a run cut short keeps what it measured
    figures["total_seconds"] = round(time.perf_counter() - started, 1)
    save(name, figures)
    failed = [s for s, r in figures["sections"].items() if "error" in r]
    print(f"total {figures['total_seconds']} s; sections with an error: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
