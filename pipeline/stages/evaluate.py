"""The `evaluate` stage kind: every trained model (train stages, the best trial of hpo stages)
and the rule-based baseline on the test split, judged by particle-, jet- and missing-pT
metrics against the truth; writes the campaign's report/."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..stage import Stage


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

    def run(self) -> dict:
        from ..evaluation import candidates, inference, metrics, report
        from ..evaluation.baseline_pf import BaselineConfig, reconstruct
        from ..physics.detector_spec import DetectorSpec
        from ..training.accelerator import accelerator_for

        ctx, p = self.ctx, self.params
        manifest = ctx.manifest(p.data, "to evaluate")
        events = inference.load_events(manifest, p.split, p.max_events)
        ctx.log(f"evaluating {len(events)} events ({events.elements} elements) of {manifest} [{p.split}]")
        features, level = events.manifest["features"], events.manifest["input_level"]

        sources: dict[str, list[np.ndarray]] = {"target": [candidates.from_targets(y) for y in events.Y]}
        timing: dict[str, dict] = {}
        cfg = BaselineConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in p.baseline.items()})
        detector = DetectorSpec.model_validate(p.detector)
        began = time.perf_counter()
        sources["baseline"] = [
            reconstruct(x, k, features, level, detector, cfg) for x, k in zip(events.X, events.K, strict=True)
        ]
        timing["baseline"] = {"ms_per_event": 1000 * (time.perf_counter() - began) / len(events)}

        accelerator = accelerator_for(ctx.site.device)
        device = accelerator.device(0)
        for name, (weights, config) in self.model_files().items():
            model = inference.load_model(weights, config, device)
            outputs, ms = inference.infer(model, events, p.batch_size, p.precision, accelerator, device)
            sources[name] = [candidates.from_model(o, o["mask"])[0] for o in outputs]
            timing[name] = {"ms_per_event": ms, "weights": str(weights)}
            ctx.log(f"model {name}: {ms:.3f} ms/event ({p.precision}, {device})")

        rng = np.random.default_rng(p.seed)
        jet_cfg = metrics.JetConfig(**p.jets.model_dump())
        binning = metrics.Binning(jet_pt=tuple(p.jet_pt_bins))
        gen = [candidates.from_gen(g) for g in events.gen]
        began = time.perf_counter()
        gen_jets = metrics.cluster_jets(gen, jet_cfg)
        out: dict = {
            "events": len(events),
            "split": p.split,
            "manifest": str(manifest),
            "jets": p.jets.model_dump(),
            "bootstrap": p.bootstrap,
            "met_min_gev": binning.met[0],
            "binning": {"jet_pt": list(binning.jet_pt), "particle_pt": list(binning.particle_pt)},
            "timing": timing,
            "sources": {},
        }
        n_gen_jets, gen_met = sum(len(j) for j in gen_jets), metrics.met(gen)
        responses = {}
        for name, tables in sources.items():
            gen_pt, jet_response = metrics.jet_response(metrics.cluster_jets(tables, jet_cfg), gen_jets, jet_cfg)
            reco_met = metrics.met(tables)
            responses[name] = {"jet": jet_response, "met": metrics.met_ratio(reco_met, gen_met, binning)[1]}
            out["sources"][name] = {
                "particles": metrics.particle_metrics(tables, sources["target"], binning, p.bootstrap, rng),
                "jets": metrics.jet_summary(gen_pt, jet_response, n_gen_jets, binning, p.bootstrap, rng),
                "met": metrics.met_summary(reco_met, gen_met, binning, p.bootstrap, rng),
            }
        out["evaluation_events_per_second"] = len(events) * len(sources) / max(time.perf_counter() - began, 1e-9)
        report_dir = ctx.campaign_dir / "report"
        paths = report.write(report_dir, out, responses, ctx.tensorboard_dir)
        ctx.log(f"report written to {report_dir} ({len(paths)} plots)\n{report.table_text(out)}")
        summary = {
            name: {
                "jet_pt_resolution": m["jets"]["pt_response"]["resolution"],
                "jet_pt_response": m["jets"]["pt_response"]["median"],
                "met_resolution": m["met"]["response"]["resolution"],
            }
            for name, m in out["sources"].items()
        }
        return {"events": len(events), "report": str(report_dir), "sources": summary, "timing": timing}
