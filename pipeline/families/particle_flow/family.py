"""The particle-flow family's work: generation through the detector simulation, element
staging, and the evaluation of every model against the rule-based baseline, the ideal
association and the per-element truth on the same test events (report/<stage>/)."""

from __future__ import annotations

import json
import time

import numpy as np

from .params import NAME

CALIBRATION_FILE = "baseline_calibration.json"


class ParticleFlowFamily:
    name = NAME

    def generate(self, stage, process: str, seed: int, out, meta_path) -> dict:
        """e+e- events through the detector simulation into ROOT (physics/rootio.py)."""
        from ...physics.generator import generate
        from ...physics.processes import process_names
        from ...physics.rootio import EventWriter
        from ...physics.schema import LEVEL_COLLECTIONS, SCHEMA_VERSION
        from ...physics.simulate import keep_freed_memory, simulate_event

        keep_freed_memory()
        p, ctx = stage.params, stage.ctx
        levels = tuple(p.input_levels)
        collections = LEVEL_COLLECTIONS["hits" if "hits" in levels else "clusters"]
        rng = np.random.default_rng(seed)
        process_id = process_names().index(process)

        def fill(writer) -> dict:
            counts = {name: 0 for name in collections}
            started = time.perf_counter()
            for i, particles in enumerate(generate(process, p.events_per_file, seed, p.sqrt_s, p.isr)):
                event = simulate_event(particles, p.detector, rng, levels)
                writer.add(event, {"event_id": i, "process_id": process_id, "seed": seed})
                for name in collections:
                    counts[name] += len(event[name]["gen_index"] if name != "gen" else event[name]["pid"])
                ctx.progress(i + 1, p.events_per_file, "events", file=out.name)
                if (i + 1) % max(1, p.events_per_file // 10) == 0:
                    rate = (i + 1) / (time.perf_counter() - started)
                    ctx.log(f"{process}: {i + 1}/{p.events_per_file} events ({rate:.1f}/s)")
            return counts

        record = {
            "process": process,
            "seed": seed,
            "levels": list(levels),
            "schema_version": SCHEMA_VERSION,
            "detector": p.detector.model_dump(mode="json"),
        }
        return stage.write_file(out, meta_path, EventWriter(out, collections, p.chunk_events), fill, record)

    def stage(self, stage, files) -> dict | None:
        from ...data.file_staging import array_share
        from ...data.staging import stage_files

        ctx = stage.ctx
        ctx.log(f"staging {len(files)} file(s) at the {stage.params.input_level} level")
        return stage_files(files, ctx.outputs_dir, stage.params, **array_share(ctx, stage.params.deadline_margin_s))

    def baseline(self, stage):
        """The baseline's settings, detector and neutral calibration (fitted on the training split
        once, kept in the stage's outputs so a rerun uses the same one)."""
        from ...evaluation import candidates, inference
        from ...evaluation.baseline_pf import BaselineConfig, NeutralCalibration, reconstruct
        from ...physics import detector_records

        p = stage.params
        cfg = BaselineConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in p.baseline.items()})
        manifest = json.loads(stage.manifest.read_text())
        source = f"the data ({stage.manifest})"
        detector = detector_records.resolve(p.detector, manifest.get("detector"), "params.detector", source)
        path = stage.ctx.outputs_dir / CALIBRATION_FILE
        if cfg.calibration_events == 0:
            return cfg, detector, None
        if path.is_file():
            return cfg, detector, NeutralCalibration.load(path)
        if not manifest["splits"]["train"]["events"]:
            stage.ctx.log("no training events to fit the baseline's neutral calibration on: left uncalibrated")
            return cfg, detector, None
        events = inference.load_events(stage.manifest, "train", cfg.calibration_events)
        features, level = events.manifest["features"], events.manifest["input_level"]
        raw = [reconstruct(x, k, features, level, detector, cfg) for x, k in zip(events.X, events.K, strict=True)]
        calibration = NeutralCalibration.fit(raw, [candidates.from_targets(y) for y in events.Y], cfg)
        calibration.save(path)
        stage.ctx.log(f"baseline neutral calibration fitted on {len(events)} training events -> {path}")
        return cfg, detector, calibration

    def sources(self, stage, events) -> tuple[dict[str, list[np.ndarray]], dict[str, dict]]:
        """Candidate tables of every source, and the time each took per event."""
        from ...evaluation import candidates, inference
        from ...evaluation.baseline_pf import reconstruct
        from ...training.accelerator import accelerator_for

        ctx, p = stage.ctx, stage.params
        features, level = events.manifest["features"], events.manifest["input_level"]
        cfg, detector, calibration = self.baseline(stage)
        sources: dict[str, list[np.ndarray]] = {}
        timing: dict[str, dict] = {}
        accelerator = accelerator_for(ctx.site.device)
        device = accelerator.device(0)
        models = stage.model_files()
        for done, (name, (weights, config)) in enumerate(models.items()):
            ctx.progress(done, len(models) + 1, "sources", force=True, events=len(events))
            model = inference.load_model(weights, config, device)
            outputs, ms = inference.infer(model, events, p.batch_size, p.precision, accelerator, device)
            sources[name] = [candidates.from_model(o, o["mask"])[0] for o in outputs]
            timing[name] = {"ms_per_event": ms, "weights": str(weights)}
            ctx.log(f"model {name}: {ms:.3f} ms/event ({p.precision}, {device})")
        ctx.progress(len(models), len(models) + 1, "sources", force=True, events=len(events))
        began = time.perf_counter()
        sources["baseline"] = [
            reconstruct(x, k, features, level, detector, cfg, calibration)
            for x, k in zip(events.X, events.K, strict=True)
        ]
        timing["baseline"] = {"ms_per_event": 1000 * (time.perf_counter() - began) / len(events)}
        sources["ideal"] = [candidates.from_ideal(g, k) for g, k in zip(events.gen, events.K, strict=True)]
        sources["element-truth"] = [candidates.from_targets(y) for y in events.Y]
        if calibration is not None:
            timing["baseline"]["calibration"] = calibration.to_json()
        return sources, timing

    def evaluate(self, stage) -> dict:
        from ...evaluation import comparison, data_scaling, inference, metrics, report

        ctx, p = stage.ctx, stage.params
        models = stage.model_files()
        if p.model_reference is not None and p.model_reference not in models:
            raise ValueError(
                f"params.model_reference: {p.model_reference!r} is not an evaluated model ({sorted(models)})"
            )
        events = inference.load_events(stage.manifest, p.split, p.max_events)
        ctx.log(f"evaluating {len(events)} events ({events.elements} elements) of {stage.manifest} [{p.split}]")
        sources, timing = self.sources(stage, events)
        settings = comparison.Settings(
            jets=metrics.JetConfig(**p.jets.model_dump()),
            binning=metrics.Binning(jet_pt=tuple(p.jet_pt_bins), met=tuple(p.met_bins)),
            bootstrap=p.bootstrap,
            seed=p.seed,
        )
        began = time.perf_counter()
        truth = sources["element-truth"]
        names = events.manifest.get("processes", [])
        info = {name: stage.training_info(name) for name in models}
        out, distributions = comparison.compare(
            sources, events.gen, truth, events.process_id, names, settings, p.model_reference, data_scaling.pairs(info)
        )
        scaling = data_scaling.study(out, info)
        if scaling is not None:
            out["data_scaling"] = scaling
        out |= {
            "family": NAME,
            "events": len(events),
            "split": p.split,
            "manifest": str(stage.manifest),
            "jets": p.jets.model_dump(),
            "bootstrap": p.bootstrap,
            "binning": {
                "jet_pt": list(p.jet_pt_bins),
                "met": list(p.met_bins),
                "particle_pt": list(settings.binning.particle_pt),
            },
            "timing": timing,
        }
        out["evaluation_events_per_second"] = len(events) * len(sources) / max(time.perf_counter() - began, 1e-9)
        report_dir = ctx.report_dir
        paths = report.write(report_dir, out, distributions, ctx.tensorboard_dir / "evaluate" / ctx.stage)
        ctx.log(f"report written to {report_dir} ({len(paths)} plots)\n{report.table_text(out)}")
        summary = {
            name: {
                "jet_pt_resolution": m["jets"]["pt_response"]["resolution"],
                "jet_pt_response": m["jets"]["pt_response"]["median"],
                "met_sigma_gev": m["met"]["sigma_gev"]["value"],
            }
            for name, m in out["sources"].items()
        }
        return {"events": len(events), "report": str(report_dir), "sources": summary, "timing": timing}
