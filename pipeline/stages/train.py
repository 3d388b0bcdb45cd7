"""The `train` stage kind: any registered model on staged data with DeepSpeed."""

from __future__ import annotations

from ..stage import Stage


class TrainStage(Stage):
    def run(self) -> dict:
        from ..training.trainer import Trainer

        summary = Trainer(self.ctx, self.params).fit()
        self.ctx.log(f"training done: {summary['steps']} steps, best validation loss {summary['best_val_loss']}")
        return summary
