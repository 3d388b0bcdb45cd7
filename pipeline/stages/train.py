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
        if self.ctx.rank == 0:
            self.write_session(params, best)
        return summary

    def write_session(self, params, best: dict | None) -> None:
        """This training's HParams session (tensorboard/train/<stage>/hparams), with its whole
        configuration and its validation metrics scored as the search it follows scored its
        trials (else by val_loss), so it lines up with them in one table."""
        from ..hparams import flat_hparams, row_name, session_metrics, write_part, write_session
        from ..training.trainer import searchable

        best = best or {}
        metric, mode = best.get("search_metric", "val_loss"), best.get("mode", "min")
        path = self.ctx.outputs_dir / "validation.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        history = [
            {"epoch": r["epoch"]}
            | searchable(r["val_loss"], {k: v for k, v in r.items() if k not in ("epoch", "step", "val_loss")})
            for r in rows
        ]
        campaign = self.ctx.campaign_dir.name
        values, scores = flat_hparams(params, campaign), session_metrics(history, metric, mode)
        write_session(
            self.ctx.tensorboard_dir / "train" / self.ctx.stage / "hparams",
            values,
            scores,
            group=row_name(campaign, self.ctx.stage),
            step=int(scores["epochs"]),
        )
        write_part(self.ctx.outputs_dir, [values], list(scores))
