"""Jet foundation model figures (measured, not asserted):
- jets/s generated per core for each class (Pythia 8, detector, anti-kt R = 0.8, truth matching);
- training jets/s of `pet` (forward + backward + AdamW) at the small and medium presets on this
  machine's CPU (and `--device cuda` on a GPU, bf16 there);
- with --campaign, the top-vs-QCD (and quark/gluon) AUC and 1/eps_B at eps_S = 0.5, 0.3 of the
  fine-tuned and from-scratch models and the fine-tune speed-up, from the campaign's reports,
  with the sizes they ran at.

    python benchmarks/jets.py [--jets 30] [--campaign campaigns/jet-foundation-small] [--device cuda]

Prints a table and writes benchmarks/results/jets.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from results_file import save

from pipeline.evaluation.reports import stage_reports

CLASSES = ("qcd", "z_qq", "w_qq", "t_bqq", "t_blv", "h_bb", "h_cc", "h_gg", "h_4q")


def generation(name: str, jets: int) -> dict:
    from pipeline.physics.jets import generate_jets
    from pipeline.physics.pp import cms_like_detector

    generated = generate_jets(name, jets + 1, 5, cms_like_detector())
    next(generated)  # Pythia's initialisation: not timed
    began = time.perf_counter()
    constituents = [jet.constituents["pt"].size for _, jet in generated]
    seconds = time.perf_counter() - began
    return {"jets": len(constituents), "jets_per_second": len(constituents) / seconds,
            "constituents_per_jet": float(np.mean(constituents))}  # fmt: skip


def training(preset: str, device: str, batch: int, constituents: int, steps: int) -> dict:
    import torch

    from models import build_model

    torch.manual_seed(0)
    model = build_model({"kind": "pet", "preset": preset, "num_features": 17, "num_classes": 9}).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, constituents, 17, device=device)
    mask = torch.rand(batch, constituents, device=device) < 0.6
    mask[:, 0] = True
    label = torch.randint(0, 9, (batch,), device=device)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32

    def step():
        with torch.autocast(device, dtype=dtype, enabled=device == "cuda"):
            loss = torch.nn.functional.cross_entropy(model(x, mask)["logits"].float(), label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - began
    return {
        "preset": preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": batch,
        "constituents": constituents,
        "jets_per_second": steps * batch / seconds,
        "precision": "bf16" if device == "cuda" else "fp32",
    }


def campaign_figures(campaign: Path) -> dict:
    out = {}
    for stage_name, metrics in stage_reports(campaign / "report"):
        if metrics.get("task") != "jet_classification":
            continue
        sizes = {}
        for name in metrics["models"]:
            stage = campaign / "stages" / name.removesuffix("-best")
            result = json.loads((stage / "result.json").read_text())
            sizes[name] = {"steps": result["steps"], "epochs": result["epochs"], "init_from": result.get("init_from")}
        manifest = json.loads(Path(metrics["manifest"]).read_text())
        out[stage_name] = {
            "classes": metrics["classes"],
            "test_jets": metrics["jets"],
            "train_jets": manifest["splits"]["train"]["events"],
            "models": metrics["models"],
            "differences": metrics["differences"],
            "speed_up": metrics["convergence"].get("speed_up"),
            "training": sizes,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jets", type=int, default=30, help="jets generated per class")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--campaign", type=Path, default=None)
    args = parser.parse_args()

    figures: dict = {"generation": {}, "training": []}
    for name in CLASSES:
        g = figures["generation"][name] = generation(name, args.jets)
        print(
            f"{name:6s} {g['jets_per_second']:6.1f} jets/s per core, {g['constituents_per_jet']:.0f} constituents/jet"
        )
    for preset in ("small", "medium"):
        t = training(preset, args.device, 64, 128, args.steps)
        figures["training"].append({"device": args.device, **t})
        print(f"pet {preset:6s} ({t['parameters'] / 1e6:.2f} M parameters) {args.device} {t['precision']}:"
              f" {t['jets_per_second']:.1f} jets/s (batch 64, 128 constituents)")  # fmt: skip
    if args.campaign:
        figures["campaign"] = {"path": str(args.campaign), **campaign_figures(args.campaign)}
        for task, f in figures["campaign"].items():
            if task == "path":
                continue
            print(f"{task}: {f['classes']}, {f['train_jets']} training jets, {f['test_jets']} test jets")
            for name, m in f["models"].items():
                cells = ", ".join(f"{k} {v['value']:.3f} ± {v['error']:.3f}" for k, v in m.items())
                print(f"  {name}: {cells}")
            print(f"  speed-up: {f['speed_up']}")
    save("jets", figures)


if __name__ == "__main__":
    main()
