"""The `evaluate` stage kind: every trained model (train stages, the best trial of hpo stages)
on the staged data's split, by the family its `dataset` names (pipeline/families/), which
compares them with its reference points on the same events and writes report/<stage>/."""

from __future__ import annotations

import json
from pathlib import Path

from ..families import get_family, manifest_family
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

    def training_info(self, name: str) -> dict:
        """The train stage's result (its classes, how it was initialised, its training events)
        for a model source; {} for a source that is no train stage."""
        result = self.ctx.upstream_outputs(name.removesuffix("-best")).parent / "result.json"
        return json.loads(result.read_text()) if result.is_file() else {}

    def run(self) -> dict:
        p = self.params
        self.manifest = self.ctx.manifest(p.data, "to evaluate")
        staged = manifest_family(json.loads(self.manifest.read_text()))
        if staged != p.dataset:
            raise ValueError(f"{self.manifest} holds {staged!r} data; this stage's params.dataset is {p.dataset!r}")
        return get_family(p.dataset).load().evaluate(self)
