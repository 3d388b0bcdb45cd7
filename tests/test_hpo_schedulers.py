"""The hpo stage's schedulers in a real Ray Tune run: the epochs a resumed trial reports again
(work done before a kill, which Tune's saved state had not caught up with) are no decision
points. HyperBandForBOHB would otherwise pause such a trial at its bracket's first rung and cut
it there, and the table would show fewer epochs than the trial trained."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.hpo import searchers
from pipeline.hpo.searchers import REPLAYED_UNTIL

MAX_T = 3


def _trainable(config: dict) -> None:
    """Reports epochs 1..MAX_T with checkpoints; the `replay` trial's epochs are all replayed
    (reported again, none trained) and the worst of the search."""
    from ray import tune

    start, checkpoint = 0, tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            start = json.loads((Path(directory) / "state.json").read_text())["epoch"]
    for epoch in range(start + 1, MAX_T + 1):
        metrics = {"val_loss": 1.0 + config["x"] / epoch, "epoch": epoch}
        if config["replay"] == "yes":
            metrics |= {"val_loss": 100.0, REPLAYED_UNTIL: MAX_T}
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / "state.json").write_text(json.dumps({"epoch": epoch}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("algorithm", ["bohb", "asha"])
def test_replayed_epochs_are_not_decision_points(ray_local, tmp_path, algorithm):
    from ray import tune

    points = [{"replay": "yes", "x": 0.5}, {"replay": "no", "x": 0.1}, {"replay": "no", "x": 0.2}]
    params = SimpleNamespace(
        algorithm=algorithm,
        search_space={"replay": {"choice": ["yes", "no"]}, "x": {"uniform": [0.0, 1.0]}},
        points=points,
        seed=1,
        metric="val_loss",
        mode="min",
        max_t=MAX_T,
        grace_period=1,
        reduction_factor=2,
    )
    searcher, scheduler = searchers.make(params)
    tuner = tune.Tuner(
        tune.with_resources(_trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=len(points)),
        run_config=tune.RunConfig(name="replay", storage_path=str(tmp_path), verbose=0),
    )
    grid = tuner.fit()
    assert grid.num_errors == 0
    iterations = {result.config["x"]: result.metrics["training_iteration"] for result in grid}
    assert iterations[0.5] == MAX_T, iterations  # the replayed trial: every epoch it had trained
    if algorithm == "bohb":  # yet the bracket does cut budgets: the other two stop early
        assert iterations[0.1] < MAX_T and iterations[0.2] < MAX_T, iterations
