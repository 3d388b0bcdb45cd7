"""Parameters of the `hpo` stage kind (validated at submit time, without torch or Ray)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from ...spec import Strict
from .train import TrainParams


class RaySettings(Strict):
    start_deadline_s: PositiveFloat = Field(
        180.0, description="Seconds for the head to come up and every node of the allocation to join."
    )
    state_every_s: PositiveFloat = Field(
        2.0,
        description="How often Tune saves the search's state. Trials' epochs are never lost to a kill "
        "(each trial keeps its own record); a trial started after the last save is set aside and drawn anew.",
    )
    reuse_actors: bool | Literal["auto"] = Field(
        "auto",
        description="Run the next trial in the worker process of one that ended (no new process, no imports "
        "again). auto: for single-rank trials (a multi-rank trial's worker holds its ranks' process group).",
    )


class HpoParams(Strict):
    algorithm: Literal["asha", "bohb"] = Field(
        description="asha: ASHAScheduler with random (or given) search; bohb: TuneBOHB with HyperBandForBOHB."
    )
    train: dict[str, Any] = Field(
        description="Parameters of a `train` stage: the base every trial starts from (epochs is set to max_t)."
    )
    search_space: dict[str, Any] = Field(
        description="Dotted keys into `train` -> {choice|uniform|loguniform|quniform|randint: args}; "
        "a choice may map each option to its own sub-space."
    )
    points: list[dict[str, Any]] = Field(
        default_factory=list, description="Given configurations (dotted keys) evaluated before sampling."
    )
    metric: str = Field(
        "val_loss",
        pattern=r"^(val_loss|train_loss|val_[a-z0-9_]+)$",
        description="Metric the search decides on: val_loss, train_loss, or val_<name> for a validation metric "
        "of the task (particle_flow: val_loss_unweighted; jet_classification: val_accuracy, val_auc).",
    )
    mode: Literal["min", "max"] = Field("min", description="Whether the metric is minimised or maximised.")
    num_samples: PositiveInt = Field(8, description="Trials in total.")
    max_t: PositiveInt = Field(8, description="Epochs of a trial that is never stopped (the full budget).")
    grace_period: PositiveInt = Field(1, description="ASHA: epochs before a trial may be stopped.")
    reduction_factor: float = Field(3.0, gt=1, description="Fraction 1/eta of trials promoted at each rung.")
    max_concurrent_trials: PositiveInt | None = Field(None, description="Trials at once (default: as resources allow).")
    cpus_per_trial: PositiveInt | None = Field(None, description="CPUs per trial (default: the site's hpo setting).")
    gpus_per_trial: NonNegativeInt | None = Field(
        None, description="Accelerators per trial (default: the site's); more than one runs a trial on that many ranks."
    )
    ranks_per_trial: PositiveInt | None = Field(
        None, description="Processes per trial (default: gpus_per_trial, at least 1); CPU sites may use > 1."
    )
    restart_errored: bool = Field(
        False, description="On resume, rerun trials that errored from scratch (default: keep their result)."
    )
    seed: NonNegativeInt = Field(0, description="Seed of the random search / BOHB sampler.")
    deadline_margin_s: float = Field(
        60.0,
        ge=0,
        description="Near the job's time limit no trial starts an epoch (or a new trial starts) that its measured "
        "epoch time says would not end this many seconds before it: trials pause at their last reported epoch, "
        "the search saves its state and the job is requeued, so no epoch is cut off.",
    )
    ray: RaySettings = Field(default_factory=RaySettings, description="The Ray cluster in the allocation.")

    @field_validator("train")
    @classmethod
    def _train(cls, value: dict[str, Any]) -> dict[str, Any]:
        TrainParams.model_validate(value)
        return value

    @model_validator(mode="after")
    def _space(self) -> HpoParams:
        from ...hpo import search_space as ss

        try:
            space = ss.parse(self.search_space)
            ss.check_keys(space, set(TrainParams.model_fields), self.train.get("model", {}).get("kind"))
            keys = {dim.key for dim in ss.walk(space)}
            for i, point in enumerate(self.points):
                unknown = sorted(set(point) - keys)
                if unknown:
                    raise ss.SearchSpaceError(f"points[{i}]", f"keys {unknown} are not in the search space")
                TrainParams.model_validate(ss.apply(point, self.train))
        except ss.SearchSpaceError as exc:
            raise ValueError(f"search_space: {exc}") from None
        return self
