"""The toy stage kind: a verdict on a toy evaluation's report."""

import json

from pipeline.stage import Stage


class ToyCheckStage(Stage):
    def run(self) -> dict:
        metrics = json.loads((self.ctx.report_dir.parent / self.params.report / "metrics.json").read_text())
        mean = metrics["sources"]["mean"]["mae"]
        models = {n: s["mae"] for n, s in metrics["sources"].items() if n not in ("mean", "ideal")}
        return {"beat_the_mean": all(v < mean for v in models.values()), "mae": models, "mean_mae": mean}
