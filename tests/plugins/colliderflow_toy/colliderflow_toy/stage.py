"""The toy data stage: seeded events into .npy files and a manifest that the task reads."""

import json

import numpy as np

from pipeline.stage import Stage


class ToyDataStage(Stage):
    def run(self) -> dict:
        p = self.params
        rng = np.random.default_rng(p.seed)
        x = rng.uniform(-2, 2, size=(p.events, p.features)).astype(np.float32)
        y = (np.sin(x).sum(1) + rng.normal(0, p.noise, p.events)).astype(np.float32)
        bounds = {"train": (0, int(0.6 * p.events)), "val": (int(0.6 * p.events), int(0.8 * p.events))}
        bounds["test"] = (bounds["val"][1], p.events)
        out = self.ctx.outputs_dir
        splits = {}
        for split, (lo, hi) in bounds.items():
            np.save(out / f"{split}_x.npy", x[lo:hi])
            np.save(out / f"{split}_y.npy", y[lo:hi])
            splits[split] = hi - lo
        manifest = out / "manifest.json"
        manifest.write_text(json.dumps({"kind": "toy", "width": p.features, "splits": splits}))
        return {"manifest": str(manifest), "events": splits}
