"""The jets family's work: truth-matched boosted jets (generation), jet staging (generated or
JetClass files, split per class), and the evaluation of every trained classifier on the same
test jets (AUC, accuracy, background rejection with paired bootstrap errors, ROC) with the
convergence of each model's training (validation curves; the fine-tuned vs from-scratch
speed-up). Writes report/<stage>/ (a campaign may compare several downstream tasks)."""

from __future__ import annotations

import json

import numpy as np

from ...training.params import initialisation
from .params import NAME


class JetsFamily:
    name = NAME

    def generate(self, stage, process: str, seed: int, out, meta_path) -> dict:
        """Truth-matched boosted jets of one class with their constituents (physics/jet_io.py)."""
        from ...physics.jet_io import JetWriter
        from ...physics.jets import JetSettings, generate_jets

        p, ctx = stage.params, stage.ctx
        settings = JetSettings(**p.jets.model_dump())
        record = {
            "dataset": NAME,
            "unit": "jets",
            "process": process,
            "seed": seed,
            "jets": p.jets.model_dump(),
            "detector": p.detector.model_dump(mode="json"),
        }

        def fill(writer) -> dict:
            constituents = 0
            for i, (event, jet) in enumerate(generate_jets(process, p.events_per_file, seed, p.detector, settings)):
                writer.add(event, seed, jet)
                constituents += jet.constituents["pt"].size
                record["pythia_events"] = event + 1
                ctx.progress(i + 1, p.events_per_file, "jets", file=out.name)
            return {"constituents": constituents}

        return stage.write_file(out, meta_path, JetWriter(out, list(p.PROCESSES), p.chunk_events), fill, record)

    def stage(self, stage, files) -> dict | None:
        from ...data.file_staging import array_share
        from .data import stage_jets

        return stage_jets(
            files, stage.ctx.outputs_dir, stage.params, **array_share(stage.ctx, stage.params.deadline_margin_s)
        )

    def evaluate(self, stage) -> dict:
        return evaluate_jets(stage)


def evaluate_jets(stage) -> dict:
    import torch

    from ...evaluation import inference
    from ...tasks import load_task
    from ...training.accelerator import accelerator_for
    from . import metrics as jet_metrics
    from . import report as jet_report

    ctx, p = stage.ctx, stage.params
    models = stage.model_files()
    if not models:
        raise FileNotFoundError("no trained model among the stages in needs (or params.models) to evaluate")
    info = {name: stage.training_info(name) for name in models}
    settings = {json.dumps(i.get("task_settings", {}), sort_keys=True) for i in info.values()}
    if len(settings) != 1:
        raise ValueError(f"the models were trained on different classes or targets {sorted(settings)}: evaluate apart")
    task = load_task("jet_classification")
    task.configure(task.loss_config(json.loads(settings.pop())))
    dataset = task.dataset(stage.manifest, p.split)
    classes = dataset.classes
    n = len(dataset) if p.max_events is None else min(p.max_events, len(dataset))
    if n == 0:
        raise ValueError(f"split {p.split!r} of {stage.manifest} has no jets of {classes} to evaluate")
    label = np.array([dataset.rows[i][2] for i in range(n)])
    accelerator = accelerator_for(ctx.site.device)
    device = accelerator.device(0)
    probs = {}
    for done, (name, (weights, config)) in enumerate(models.items()):
        ctx.progress(done, len(models), "models", force=True, jets=n)
        model = inference.load_model(weights, config, device)
        chunks = []
        with torch.no_grad(), accelerator.autocast(p.precision):
            for start in range(0, n, p.batch_size):
                batch = task.collate([dataset[i] for i in range(start, min(start + p.batch_size, n))], dataset)
                batch = {k: v.to(device) for k, v in batch.items()}
                chunks.append(task.predict(model, batch)["prob"].float().cpu())
        probs[name] = torch.cat(chunks).numpy()
    ctx.progress(len(models), len(models), "models", force=True, jets=n)
    metrics = jet_metrics.compare(probs, label, classes, p.jet_tagging.signal_efficiencies, p.bootstrap, p.seed)
    if len(classes) == 2:
        metrics["roc"] = {name: jet_metrics.roc_points(prob, label) for name, prob in probs.items()}
    curves = {name: jet_metrics.validation_curve(ctx.upstream_outputs(name.removesuffix("-best"))) for name in models}
    finetuned = [n for n, i in info.items() if initialisation(i) == "fine-tuned"]
    scratch = [n for n, i in info.items() if initialisation(i) == "scratch"]
    metrics["convergence"] = {"curves": curves, "init_from": {n: i.get("init_from") for n, i in info.items()}}
    if finetuned and scratch:
        pair = jet_metrics.speed_up(curves[finetuned[0]], curves[scratch[0]])
        metrics["convergence"]["speed_up"] = {"finetuned": finetuned[0], "scratch": scratch[0], **pair}
    metrics |= {"family": NAME, "split": p.split, "manifest": str(stage.manifest)}
    report_dir = ctx.report_dir
    paths = jet_report.write(report_dir, metrics, ctx.tensorboard_dir / "evaluate" / ctx.stage)
    ctx.log(f"report written to {report_dir} ({len(paths)} plots)\n{jet_report.table_text(metrics)}")
    ctx.log(jet_report.speed_up_text(metrics))
    return {
        "jets": n,
        "report": str(report_dir),
        "models": {name: {k: v["value"] for k, v in m.items()} for name, m in metrics["models"].items()},
        "speed_up": metrics["convergence"].get("speed_up"),
    }
