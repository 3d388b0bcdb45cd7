"""The `evaluate` stage on jet data: every trained classifier on the same test jets (AUC,
accuracy, background rejection with paired bootstrap errors, ROC) and the convergence of each
model's training (validation curves; the fine-tuned vs from-scratch speed-up). Writes
report/<stage>/ (one per evaluate stage: a campaign may compare several downstream tasks)."""

from __future__ import annotations

import json

import numpy as np


def training_info(stage, name: str) -> dict:
    """The train stage's result (its classes and how it was initialised) for a model source."""
    stage_name = name.removesuffix("-best")
    result = stage.ctx.upstream_outputs(stage_name).parent / "result.json"
    return json.loads(result.read_text()) if result.is_file() else {}


def evaluate_jets(stage) -> dict:
    import torch

    from ..data.jet_staging import collate_jets
    from ..evaluation import inference, jet_metrics, jet_report
    from ..tasks.jet_classification import JetClassificationTask
    from ..training.accelerator import accelerator_for

    ctx, p = stage.ctx, stage.params
    models = stage.model_files()
    if not models:
        raise FileNotFoundError("no trained model among the stages in needs (or params.models) to evaluate")
    info = {name: training_info(stage, name) for name in models}
    settings = {json.dumps(i.get("task_settings", {}), sort_keys=True) for i in info.values()}
    if len(settings) != 1:
        raise ValueError(f"the models were trained on different classes or targets {sorted(settings)}: evaluate apart")
    task = JetClassificationTask()
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
                batch = collate_jets([dataset[i] for i in range(start, min(start + p.batch_size, n))])
                logits = model(batch["x"].to(device), batch["mask"].to(device))["logits"]
                chunks.append(logits.float().softmax(1).cpu())
        probs[name] = torch.cat(chunks).numpy()
    ctx.progress(len(models), len(models), "models", force=True, jets=n)
    metrics = jet_metrics.compare(probs, label, classes, p.jet_tagging.signal_efficiencies, p.bootstrap, p.seed)
    if len(classes) == 2:
        metrics["roc"] = {name: jet_metrics.roc_points(prob, label) for name, prob in probs.items()}
    curves = {name: jet_metrics.validation_curve(ctx.upstream_outputs(name.removesuffix("-best"))) for name in models}
    finetuned = [n for n, i in info.items() if isinstance(i.get("init_from"), dict)]
    scratch = [n for n, i in info.items() if i.get("init_from") == "scratch"]
    metrics["convergence"] = {"curves": curves, "init_from": {n: i.get("init_from") for n, i in info.items()}}
    if finetuned and scratch:
        pair = jet_metrics.speed_up(curves[finetuned[0]], curves[scratch[0]])
        metrics["convergence"]["speed_up"] = {"finetuned": finetuned[0], "scratch": scratch[0], **pair}
    metrics |= {"split": p.split, "manifest": str(stage.manifest)}
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
