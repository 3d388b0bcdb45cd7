"""The SUEP-images family's work: pp events as sparse detector images (generation), image
staging (background split by the seed, signal to test), and the evaluation of every trained
autoencoder and the rule-based scores on the same test events (held-out background and every
signal point) with the exported ONNX model's latency at batch 1 and its agreement with PyTorch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .params import NAME


class SuepImagesFamily:
    name = NAME

    def generate(self, stage, process: str, seed: int, out, meta_path) -> dict:
        """pp events (QCD or a SUEP point) as sparse detector images in ROOT (physics/image_io.py),
        by the workflow's image definition (cells or reference)."""
        from ...physics.image_io import ImageWriter

        p = stage.params
        shape = [3, p.images.eta_bins, p.images.phi_bins]
        binning_json = json.dumps({"shape": shape, "eta_max": p.images.eta_max, "definition": p.images.definition})
        fill, details = FILLERS[p.images.definition](stage, process, seed, out)
        record = {
            "dataset": NAME,
            "process": process,
            "seed": seed,
            "image_shape": shape,
            "definition": p.images.definition,
            "pileup": p.images.pileup,
            "detector": p.detector.model_dump(mode="json"),
        }
        writer = ImageWriter(out, binning_json, p.chunk_events)
        return stage.write_file(out, meta_path, writer, fill, record, details)

    def stage(self, stage, files) -> dict | None:
        from ...data.file_staging import array_share
        from .data import stage_images

        return stage_images(
            files, stage.ctx.outputs_dir, stage.params, **array_share(stage.ctx, stage.params.deadline_margin_s)
        )

    def evaluate(self, stage) -> dict:
        return evaluate_images(stage)


def _cells(stage, process: str, seed: int, out):
    """The first runs' images (physics/pp.py image_event): the HT cut on the background only."""
    from ...physics.pp import ImageBinning, generate_pp, image_event

    p, ctx = stage.params, stage.ctx
    binning = ImageBinning(p.images.eta_bins, p.images.phi_bins, p.images.eta_max)
    rng = np.random.default_rng(seed)
    process_id = p.PROCESSES.index(process)
    track_pixels = int(np.prod(binning.shape[1:]))

    def fill(writer) -> dict:
        pixels = 0
        events = generate_pp(process, p.events_per_file, seed, p.images.trigger_ht, p.images.pthat_min, p.images.pileup)
        for i, (particles, ht) in enumerate(events):
            index, value = image_event(particles, p.detector, binning, rng)
            writer.add(i, process_id, seed, ht, index, value, 1.0, int((index < track_pixels).sum()))
            pixels += index.size
            ctx.progress(i + 1, p.events_per_file, "events", file=out.name)
        return {"pixels": pixels}

    return fill, None


def _reference(stage, process: str, seed: int, out):
    """The reference study's images (physics/crossings.py): vertices, pileup, towers, the
    pileup-corrected HT cut on every sample; the acceptance counts go into the record."""
    from ...physics.crossings import CrossingSample
    from ...physics.pileup import PileupConfig
    from ...physics.pp import Production
    from ...physics.reference_images import ImageBinning, ReferenceConfig
    from ...physics.towers import FaceGeometry

    p, ctx = stage.params, stage.ctx
    img, spec = p.images, p.detector
    grid = ImageBinning(img.eta_bins, img.phi_bins, img.eta_max)
    config = ReferenceConfig(
        face=FaceGeometry(spec.ecal.barrel_radius, spec.ecal.endcap_z, spec.magnetic_field),
        pileup=PileupConfig(img.pileup, img.pileup_z_spread, img.pileup_pool, img.pileup_dz_max),
    )
    production = Production(img.pthat_min, img.pthat_bias_power, img.signal_production, img.signal_pthat_min)
    sample = CrossingSample(process, seed, img.trigger_ht, img.preselect_ht, production, config)
    process_id = p.PROCESSES.index(process)

    def fill(writer) -> dict:
        pixels = 0
        events = sample.events(p.events_per_file, spec, grid, np.random.default_rng(seed))
        for i, (image, weight) in enumerate(events):
            writer.add(i, process_id, seed, image.ht, image.index, image.value, weight, image.ntracks)
            pixels += image.index.size
            ctx.progress(i + 1, p.events_per_file, "events", file=out.name)
        return {"pixels": pixels}

    return fill, sample.record


FILLERS = {"cells": _cells, "reference": _reference}


def onnx_latency(onnx_file: Path, dataset, indices: list[int], torch_scores: np.ndarray, params) -> dict:
    """Score the first `latency_events` events one at a time with the exported model: the
    model call alone on dense images, and with the densification of the stored sparse event
    (what a trigger receiving sparse hits pays) inside the timed call."""
    import time

    from ...onnx_export import session
    from ...physics.pp import dense_image
    from ...scoring import latency_summary, score_one, time_dense
    from .data import densify

    threads = params.threads or len(os.sched_getaffinity(0))
    chosen = indices[: params.latency_events]
    warmup = min(10, len(chosen) // 10)
    sess = session(onnx_file, threads)
    images = (densify([dataset[i]], dataset.shape)[0].numpy() for i in chosen)
    scores, seconds = time_dense(sess, images, warmup=warmup)
    input_name, with_densify = sess.get_inputs()[0].name, []
    for n, i in enumerate(chosen):
        item = dataset[i]
        index, value = item["pixel_index"].numpy(), item["pixel_value"].numpy()
        began = time.perf_counter()
        score_one(sess, input_name, dense_image(index, value, dataset.shape)[None])
        if n >= warmup:
            with_densify.append(time.perf_counter() - began)
    return {
        "file": str(onnx_file),
        "threads": threads,
        "model": latency_summary(seconds),
        "with_densification": latency_summary(with_densify),
        "max_abs_score_diff": float(np.abs(np.array(scores) - torch_scores[: len(scores)]).max()) if scores else None,
    }


def _selection_record(weights: Path) -> dict:
    """How a model was chosen and what it is (the train stage's selection.json and
    model_summary.json beside its weights; empty for weights trained before they existed)."""
    out = {}
    for name in ("selection", "model_summary"):
        path = weights.with_name(f"{name}.json")
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


def evaluate_images(stage) -> dict:
    """Every autoencoder and the rule-based scores on the same test events; report/<stage>/."""
    from ...evaluation import inference
    from ...training.accelerator import accelerator_for
    from . import anomaly
    from . import report as anomaly_report
    from .data import ImageDataset

    ctx, p = stage.ctx, stage.params
    dataset = ImageDataset(stage.manifest, p.split)
    indices = anomaly.select(dataset, p.max_events)
    if not indices:
        raise ValueError(f"split {p.split!r} of {stage.manifest} has no events to evaluate")
    column = lambda key: np.array([dataset.rows[i][0][key][dataset.rows[i][1]] for i in indices])  # noqa: E731
    event_id = column("event_id")
    events = anomaly.ScoredEvents(
        process_id=column("process_id"),
        ht=column("ht").astype(float),
        weight=column("weight").astype(float),
        processes=dataset.manifest["processes"],
        background=dataset.manifest["background"],
    )
    ctx.log(f"evaluating {len(indices)} image events of {stage.manifest} [{p.split}]")
    examples = anomaly.example_indices(events.process_id, events.background)
    device = accelerator_for(ctx.site.device).device(0)
    latency, timing, selection = {}, {}, {}
    models = stage.model_files()
    for done, (name, (weights, config)) in enumerate(models.items()):
        ctx.progress(done, len(models), "models", force=True, events=len(indices))
        model = inference.load_model(weights, config, device)
        scores, kept = anomaly.model_scores(model, dataset, indices, p.batch_size, device, examples)
        events.scores[name], events.examples[name] = scores, kept
        timing[name] = {"weights": str(weights)}
        selection[name] = _selection_record(weights)
        onnx_file = weights.with_name("model.onnx")
        if p.anomaly.latency_events and onnx_file.is_file() and weights.name == "model.pt":
            latency[name] = onnx_latency(onnx_file, dataset, indices, scores, p.anomaly)
            ctx.log(f"model {name}: ONNX latency at batch 1 {latency[name]['model']}")
    ctx.progress(len(models), len(models), "models", force=True, events=len(indices))
    events.scores.update(anomaly.rule_based(dataset, indices))
    metrics = anomaly.compare(events, p.anomaly.mistag_rates, p.anomaly.trigger_ht, p.bootstrap, p.seed)
    metrics |= {
        "family": NAME, "split": p.split, "manifest": str(stage.manifest), "latency": latency, "timing": timing,
        "selection": selection, "weighted": bool(np.any(events.weight != 1.0)),
        "definition": dataset.manifest.get("definition", "cells"),
    }  # fmt: skip
    report_dir = ctx.report_dir
    paths = anomaly_report.write(report_dir, metrics, events, ctx.tensorboard_dir / "evaluate" / ctx.stage)
    anomaly_report.write_scores(report_dir / "anomaly_scores.npz", events, event_id)
    ctx.log(f"report written to {report_dir} ({len(paths)} plots)\n{anomaly_report.table_text(metrics)}")
    two = "0.02" if 0.02 in p.anomaly.mistag_rates else f"{p.anomaly.mistag_rates[0]:g}"
    summary = {
        point: {
            label: {s: v["efficiency"][two]["value"] for s, v in sel["sources"].items()}
            for label, sel in m["selections"].items()
        }
        for point, m in metrics["points"].items()
    }
    return {
        "events": len(indices),
        "report": str(report_dir),
        f"efficiency_at_{two}_mistag": summary,
        "latency": latency,
    }
