"""The `train` stage kind: any registered model on staged data with DeepSpeed.

When the stage needs an `hpo` stage, the searched keys of the best trial's configuration are
set on this stage's parameters (everything else — epochs, batching, data — stays as written
here), and with `init_from: hpo_best` training starts from that trial's best weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..stage import Stage


class TrainStage(Stage):
    def hpo_best(self) -> dict | None:
        found = [
            self.ctx.upstream_outputs(name) / "best.json"
            for name in self.ctx.upstream
            if (self.ctx.upstream_outputs(name) / "best.json").is_file()
        ]
        if len(found) > 1:
            raise ValueError(f"stage {self.ctx.stage!r} needs more than one hpo stage: {[str(p) for p in found]}")
        return json.loads(found[0].read_text()) if found else None

    def pretrained(self, weights: str) -> Path:
        """init_from.weights: an upstream stage's outputs/model.pt, or a file."""
        if weights in self.ctx.upstream:
            path = self.ctx.upstream_outputs(weights) / "model.pt"
        else:
            path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"params.init_from.weights: {weights!r} names no stage in needs and no file ({path})"
            )
        return path

    def run(self) -> dict:
        from ..hpo.search_space import apply
        from ..training.trainer import Trainer
        from .params.train import TrainParams

        params, init = self.params, None
        best = self.hpo_best()
        if best is not None:
            params = TrainParams.model_validate(apply(best["config"], params.model_dump(mode="json")))
            self.ctx.log(f"configuration of hpo trial {best['trial_id']}: {best['config']}")
            if params.init_from == "hpo_best":
                if not best.get("weights"):
                    raise FileNotFoundError(f"hpo trial {best['trial_id']} exported no weights to start from")
                init = Path(best["weights"])
        elif params.init_from == "hpo_best":
            raise ValueError(f"stage {self.ctx.stage!r}: init_from: hpo_best needs an hpo stage in `needs`")
        if not isinstance(params.init_from, str):
            init = self.pretrained(params.init_from.weights)
        summary = Trainer(self.ctx, params, init_weights=init).fit()
        self.ctx.log(f"training done: {summary['steps']} steps, best validation loss {summary['best_val_loss']}")
        summary["task"] = params.task
        summary["task_settings"] = params.loss
        summary["init_from"] = params.init_from if isinstance(params.init_from, str) else params.init_from.model_dump()
        if best is not None:
            summary["hpo_trial"] = best["trial_id"]
            summary["hpo_config"] = best["config"]
        return summary
