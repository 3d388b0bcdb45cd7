"""The `evaluate` stage kind: every trained model (train stages, the best trial of hpo stages),
the rule-based baseline, the ideal association and the per-element truth on the same events of
the test split, judged by jet, missing-pT and particle metrics against the generator; the
baseline's neutral calibration is fitted on the training split first. Writes report/.
Image data (anomaly detection) is evaluated by evaluate_images.py, jets by evaluate_jets.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..stage import Stage

CALIBRATION_FILE = "baseline_calibration.json"


class EvaluateStage(Stage):
    def model_files(self) -> dict[str, tuple[Path, Path]]:
        """source name -> (weights, model config) of every model to evaluate."""
        ctx = self.ctx
        names = self.params.models or list(ctx.upstream)
        found = {}
        for name in names:
            outputs = ctx.upstream_outputs(name)
            for weights, label in ((outputs / "model.pt", name), (outputs / "best" / "model.pt", f"{name}-best")):
                if weights.is_file():
                    found[label] = (weights, weights.with_suffix(".json"))
            if self.params.models and not any(k in found for k in (name, f"{name}-best")):
                raise FileNotFoundError(f"stage {name!r} has no trained model ({outputs}/model.pt or best/model.pt)")
        return found

    def baseline(self):
        """The baseline's settings, detector and neutral calibration (fitted on the training split
        once, kept in the stage's outputs so a rerun uses the same one)."""
        from ..evaluation.baseline_pf import BaselineConfig, NeutralCalibration
        from ..physics.detector_spec import DetectorSpec

        p = self.params
        cfg = BaselineConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in p.baseline.items()})
        detector = DetectorSpec.model_validate(p.detector)
        path = self.ctx.outputs_dir / CALIBRATION_FILE
        if cfg.calibration_events == 0:
            return cfg, detector, None
        if path.is_file():
            return cfg, detector, NeutralCalibration.load(path)
        from ..evaluation import candidates, inference
        from ..evaluation.baseline_pf import reconstruct

        if not json.loads(self.manifest.read_text())["splits"]["train"]["events"]:
            self.ctx.log("no training events to fit the baseline's neutral calibration on: left uncalibrated")
            return cfg, detector, None
        events = inference.load_events(self.manifest, "train", cfg.calibration_events)
        features, level = events.manifest["features"], events.manifest["input_level"]
        raw = [reconstruct(x, k, features, level, detector, cfg) for x, k in zip(events.X, events.K, strict=True)]
        calibration = NeutralCalibration.fit(raw, [candidates.from_targets(y) for y in events.Y], cfg)
        calibration.save(path)
        self.ctx.log(f"baseline neutral calibration fitted on {len(events)} training events -> {path}")
        return cfg, detector, calibration

    def sources(self, events) -> tuple[dict[str, list[np.ndarray]], dict[str, dict]]:
        """Candidate tables of every source, and the time each took per event."""
        from ..evaluation import candidates, inference
        from ..evaluation.baseline_pf import reconstruct
        from ..training.accelerator import accelerator_for

        p = self.params
        features, level = events.manifest["features"], events.manifest["input_level"]
        cfg, detector, calibration = self.baseline()
        sources: dict[str, list[np.ndarray]] = {}
        timing: dict[str, dict] = {}
        accelerator = accelerator_for(self.ctx.site.device)
        device = accelerator.device(0)
        models = self.model_files()
        for done, (name, (weights, config)) in enumerate(models.items()):
            self.ctx.progress(done, len(models) + 1, "sources", force=True, events=len(events))
            model = inference.load_model(weights, config, device)
            outputs, ms = inference.infer(model, events, p.batch_size, p.precision, accelerator, device)
            sources[name] = [candidates.from_model(o, o["mask"])[0] for o in outputs]
            timing[name] = {"ms_per_event": ms, "weights": str(weights)}
            self.ctx.log(f"model {name}: {ms:.3f} ms/event ({p.precision}, {device})")
        self.ctx.progress(len(models), len(models) + 1, "sources", force=True, events=len(events))
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

    def run(self) -> dict:
        from ..evaluation import comparison, inference, metrics, report

        ctx, p = self.ctx, self.params
        self.manifest = ctx.manifest(p.data, "to evaluate")
        kind = json.loads(self.manifest.read_text()).get("kind")
        if kind == "images":
            from .evaluate_images import evaluate_images

            return evaluate_images(self)
        if kind == "jets":
            from .evaluate_jets import evaluate_jets

            return evaluate_jets(self)
        if p.model_reference is not None and p.model_reference not in self.model_files():
            models = sorted(self.model_files())
            raise ValueError(f"params.model_reference: {p.model_reference!r} is not an evaluated model ({models})")
        events = inference.load_events(self.manifest, p.split, p.max_events)
        ctx.log(f"evaluating {len(events)} events ({events.elements} elements) of {self.manifest} [{p.split}]")
        sources, timing = self.sources(events)
        settings = comparison.Settings(
            jets=metrics.JetConfig(**p.jets.model_dump()),
            binning=metrics.Binning(jet_pt=tuple(p.jet_pt_bins), met=tuple(p.met_bins)),
            bootstrap=p.bootstrap,
            seed=p.seed,
        )
        began = time.perf_counter()
        truth = sources["element-truth"]
        names = events.manifest.get("processes", [])
        out, distributions = comparison.compare(
            sources, events.gen, truth, events.process_id, names, settings, p.model_reference
        )
        out |= {
            "events": len(events),
            "split": p.split,
            "manifest": str(self.manifest),
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
