"""The toy family's work: a generator writing ROOT files with uproot, a reader for the staging
engine, and an evaluation that scores each model beside two references on the same test events:
the training mean (what a model must beat) and the noise-free truth (the floor)."""

import os
from pathlib import Path

import numpy as np

from pipeline.atomic import atomic_write_json, atomic_write_text
from pipeline.data.file_staging import assign_splits, open_root, stage_with
from pipeline.data.shards import Layout

TOY = Layout(keys=("x", "y", "truth", "event_id"), per_event=("event_id", "x", "y", "truth"), ragged=())


class ToyWriter:
    """Collects events; close() writes the ROOT file atomically and returns the event count."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows = Path(path), []

    def add(self, event_id: int, x: np.ndarray, y: float, truth: float) -> None:
        self.rows.append((event_id, x, y, truth))

    def close(self) -> int:
        import uproot

        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        x = np.stack([r[1] for r in self.rows]).astype(np.float32)
        with uproot.recreate(tmp) as handle:
            types = {"event_id": np.int64, "x": np.dtype((np.float32, x.shape[1:])), "y": np.float32}
            tree = handle.mktree("toy", {**types, "truth": np.float32})  # a TTree (not an RNTuple)
            tree.extend(
                {
                    "event_id": np.array([r[0] for r in self.rows], dtype=np.int64),
                    "x": x,
                    "y": np.array([r[2] for r in self.rows], dtype=np.float32),
                    "truth": np.array([r[3] for r in self.rows], dtype=np.float32),
                }
            )
        os.replace(tmp, self.path)
        return len(self.rows)

    def abort(self) -> None:
        self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp").unlink(missing_ok=True)


class ToyReader:
    layout = TOY

    def __init__(self, tree: str, step_size: int) -> None:
        self.tree, self.step_size = tree, step_size

    def open(self, source: Path):
        return open_root(source, self.tree, ["event_id", "x", "y", "truth"])[1]

    def info(self, tree) -> dict:
        return {"features": int(tree["x"].interpretation.inner_shape[0])}

    def chunks(self, tree):
        for a in tree.iterate(["event_id", "x", "y", "truth"], step_size=self.step_size, library="np"):
            yield {k: a[k] for k in TOY.keys}


class ToyFamily:
    def generate(self, stage, process: str, seed: int, out: Path, meta_path: Path) -> dict:
        p = stage.params

        def fill(writer: ToyWriter) -> dict:
            rng = np.random.default_rng(seed)
            for i in range(p.events_per_file):
                x = rng.uniform(-2, 2, size=p.features).astype(np.float32)
                truth = float(np.sin(x).sum())
                writer.add(i, x, truth + float(rng.normal(0, p.noise)), truth)
            return {}

        return stage.write_file(out, meta_path, ToyWriter(out), fill, {"process": process, "seed": seed})

    def stage(self, stage, files: list[Path]) -> dict | None:
        p, ctx = stage.params, stage.ctx
        splits = assign_splits(files, p.split, p.seed)

        def fields(good: list[dict]) -> dict:
            return {"width": next((r["info"]["features"] for r in good), 0)}

        reader = ToyReader(p.tree, p.step_size)
        return stage_with(
            reader, files, splits, ctx.outputs_dir, p, fields, ctx.array_index or 0, ctx.array_size or 1, ctx.log
        )

    def evaluate(self, stage) -> dict:
        import torch

        from pipeline.evaluation import inference
        from pipeline.tasks import load_task

        ctx, p = stage.ctx, stage.params
        task = load_task("toy_regression")
        data = task.dataset(stage.manifest, p.split)
        train = task.dataset(stage.manifest, "train")
        n = len(data) if p.max_events is None else min(p.max_events, len(data))
        y, truth = data.y[:n], data.truth[:n]
        predictions = {}
        for name, (weights, config) in stage.model_files().items():
            model = inference.load_model(weights, config, "cpu")
            with torch.no_grad():
                chunks = [
                    task.predict(model, task.collate([data[i] for i in range(s, min(s + p.batch_size, n))], data))["y"]
                    for s in range(0, n, p.batch_size)
                ]
            predictions[name] = torch.cat(chunks).numpy()
        predictions["mean"] = np.full(n, float(train.y.mean()) if len(train) else 0.0)
        predictions["ideal"] = truth
        rng = np.random.default_rng(p.seed)
        resamples = [rng.integers(0, n, n) for _ in range(p.bootstrap)]
        sources = {}
        for name, pred in predictions.items():
            error = np.abs(pred - y)
            gain = np.abs(predictions["mean"] - y) - error  # paired, per event
            sources[name] = {
                "mae": float(error.mean()),
                "mae_err": float(np.std([error[r].mean() for r in resamples])) if resamples else None,
                "gain_over_mean": float(gain.mean()),
                "gain_over_mean_err": float(np.std([gain[r].mean() for r in resamples])) if resamples else None,
            }
        metrics = {"task": "toy_regression", "family": "toy", "events": n, "split": p.split, "sources": sources}
        report = ctx.report_dir
        atomic_write_json(report / "metrics.json", metrics)
        lines = ["| source | MAE | gain over the mean |", "|---|---|---|"]
        lines += [f"| {k} | {v['mae']:.4f} | {v['gain_over_mean']:+.4f} |" for k, v in sources.items()]
        atomic_write_text(report / "report.md", "# Toy regression\n\n" + "\n".join(lines) + "\n")
        plot(report / "plots" / "residuals.png", predictions, y)
        return {"events": n, "report": str(report), "mae": {k: v["mae"] for k, v in sources.items()}}


def plot(path: Path, predictions: dict, y: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, pred in predictions.items():
        ax.hist(pred - y, bins=30, histtype="step", label=name)
    ax.set_xlabel("prediction - target")
    ax.legend()
    fig.savefig(path)
    plt.close(fig)


def summary_lines(stage: str, metrics: dict) -> list[str]:
    return [f"{stage}: " + ", ".join(f"{k} MAE {v['mae']:.4f}" for k, v in metrics["sources"].items())]
