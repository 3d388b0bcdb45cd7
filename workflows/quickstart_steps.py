"""Steps of the quickstart campaign (kind `python`): imported from beside the workflow file."""

from __future__ import annotations

import json

import numpy as np


def sample(events_per_task: int, seed: int, ctx) -> dict:
    """One array task: draw toy 'event energies' with a per-task seed and save them."""
    rng = np.random.default_rng([seed, ctx.array_index or 0])
    energies = rng.exponential(scale=45.0, size=events_per_task)
    path = ctx.outputs_dir / f"energies_{ctx.array_index or 0}.npy"
    np.save(path, energies)
    ctx.log(f"wrote {events_per_task} values to {path.name}")
    return {"task": ctx.array_index, "events": events_per_task, "mean": float(energies.mean())}


def summarise(ctx) -> dict:
    """Reduce the outputs of every `sample` task."""
    files = sorted(ctx.upstream_outputs("sample").glob("energies_*.npy"))
    values = np.concatenate([np.load(p) for p in files])
    summary = {
        "files": len(files),
        "events": int(values.size),
        "mean": float(values.mean()),
        "p90": float(np.quantile(values, 0.9)),
    }
    (ctx.outputs_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    ctx.log(f"summary: {summary}")
    return summary
