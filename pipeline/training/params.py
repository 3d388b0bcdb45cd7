"""A train configuration: the parameters of the `train` stage kind and of every search trial
(validated at submit time, without torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from ..spec import Strict, dataclass_settings


class OptimizerParams(Strict):
    name: Literal["adamw", "adam"] = Field(
        "adamw", description="adamw (decoupled weight decay) or adam (weight decay as an L2 term; 0 for none)."
    )
    lr: PositiveFloat = Field(1e-3, description="Peak learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="Weight decay (decoupled for adamw, an L2 term for adam).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas.")


class PlateauParams(Strict):
    patience: PositiveInt = Field(2, description="Epochs in a row without improvement before the rate drops.")
    factor: float = Field(0.1, gt=0, lt=1, description="What the rate is multiplied by.")
    min_delta: float = Field(0.0, ge=0, description="An epoch improves when the loss drops by more than this.")


class ScheduleParams(Strict):
    warmup_steps: NonNegativeInt = Field(0, description="Linear warm-up, in optimizer steps.")
    decay: Literal["cosine", "constant"] = Field("cosine", description="After warm-up.")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Cosine floor as a fraction of the peak.")
    plateau: PlateauParams | None = Field(
        None, description="Also multiply the rate by `factor` when the validation loss stops improving (off: null)."
    )


class EarlyStopping(Strict):
    patience: PositiveInt = Field(10, description="Stop after this many epochs in a row without improvement.")
    min_delta: float = Field(0.0, ge=0, description="An epoch improves when the loss drops by more than this.")


class InitFrom(Strict):
    weights: str = Field(
        description="Weights to start from: an upstream train stage's name (its outputs/model.pt) or a model.pt path "
        "(e.g. another campaign's)."
    )
    replace: list[str] = Field(
        default_factory=list,
        description="Parameter-name prefixes initialised anew even where the weights have them (e.g. head).",
    )
    backbone_lr_scale: PositiveFloat = Field(
        1.0, description="Learning-rate factor of the parameters loaded from the weights (the others get the lr)."
    )


class TrainParams(Strict):
    task: str = Field(
        "particle_flow", description="What is learned: a registered task (batches, loss, metrics; pipeline.tasks)."
    )
    model: dict[str, Any] = Field(description="`kind` and hyperparameters of a registered model (models/).")
    data: str | None = Field(None, description="manifest.json to train on; default: the upstream stage_data's.")
    epochs: PositiveInt = Field(1, description="Passes over the training split.")
    train_events: PositiveInt | None = Field(
        None, description="Train on a seeded random subset of this many training events (default: all)."
    )
    val_events: PositiveInt | None = Field(
        None, description="Validate on a seeded random subset of this many validation events (default: all)."
    )
    max_steps: PositiveInt | None = Field(None, description="Stop after this many batches (whole run).")
    batch_size: PositiveInt | None = Field(8, description="Events per batch per rank (or set max_elements).")
    max_elements: PositiveInt | None = Field(None, description="Padded elements per batch per rank instead.")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="fp16 uses dynamic loss scaling.")
    zero_stage: Literal[0, 1, 2, 3] = Field(0, description="DeepSpeed ZeRO stage.")
    gradient_accumulation: PositiveInt = Field(1, description="Batches per optimizer step.")
    gradient_clipping: float = Field(1.0, ge=0, description="Global norm clip (0: off).")
    optimizer: OptimizerParams = Field(default_factory=OptimizerParams, description="Optimizer.")
    schedule: ScheduleParams = Field(default_factory=ScheduleParams, description="Learning-rate schedule.")
    loss: dict[str, Any] = Field(
        default_factory=dict, description="The task's loss settings (particle_flow: LossConfig)."
    )
    seed: int = Field(0, ge=0, description="Model init, data order and dropout.")
    checkpoint_every: PositiveInt = Field(100, description="Checkpoint every N batches (and at epoch end).")
    keep_checkpoints: PositiveInt = Field(3, description="Most recent checkpoints kept (plus the best).")
    log_every: PositiveInt = Field(10, description="TensorBoard scalars every N batches.")
    validation: bool = Field(True, description="Validation loss at every epoch end.")
    norm_recalibration: NonNegativeInt = Field(
        0,
        description="Batches of training events (the first ones, in order) that re-estimate the batch-norm "
        "statistics as an exact average before every validation and the export (0: keep the running averages).",
    )
    early_stopping: EarlyStopping | None = Field(
        None, description="End the run when the validation loss stops improving (off: null); needs validation."
    )
    select: Literal["last", "best"] = Field(
        "last",
        description="Which weights become model.pt: the last epoch's, or the epoch with the lowest validation loss "
        "(the validation split chooses the epoch, nothing else).",
    )
    deadline_margin_s: float = Field(
        60.0,
        ge=0,
        description="Checkpoint and requeue early when the next step (or validation) and a checkpoint would not "
        "end this many seconds before the job's time limit (measured step, validation and checkpoint times).",
    )
    nan_policy: Literal["fail", "skip"] = Field(
        "fail", description="A non-finite loss stops the run, or skips the batch."
    )
    local_copy: bool = Field(False, description="Copy the shards to node-local $TMPDIR first (sha256-checked).")
    init_from: Literal["scratch", "hpo_best"] | InitFrom = Field(
        "scratch",
        description="Start from random weights, the best weights of the hpo stage needed, or other weights "
        "(fine-tuning: loaded by parameter name, heads replaced, the backbone with its own lr).",
    )
    deepspeed: dict[str, Any] = Field(
        default_factory=dict, description="Raw DeepSpeed config merged over the generated one."
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: dict[str, Any]) -> dict[str, Any]:
        from models import model_config

        model_config(value)  # ModelConfigError is a ValueError: reported at params.model
        return value

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        from ..tasks import task_entry

        task_entry(value)  # UnknownTask (a ValueError) lists the available tasks
        return value

    @model_validator(mode="after")
    def _known_loss(self) -> TrainParams:
        from ..tasks import task_entry

        try:
            dataclass_settings(self.loss, task_entry(self.task).loss_config, "loss")
        except ValueError as exc:
            raise ValueError(f"loss: {exc}") from None
        return self

    @model_validator(mode="after")
    def _validation_decides(self) -> TrainParams:
        wants = [name for name, on in (("early_stopping", self.early_stopping), ("schedule.plateau",
                 self.schedule.plateau), ("select: best", self.select == "best")) if on]  # fmt: skip
        if wants and not self.validation:
            raise ValueError(f"{', '.join(wants)} need the validation loss (validation: true)")
        return self

    @model_validator(mode="after")
    def _one_batching(self) -> TrainParams:
        if self.max_elements is not None:
            self.batch_size = None
        return self


def initialisation(info: dict) -> str | None:
    """How a trained model began, from its train stage's result.json (`init_from`): "fine-tuned" (init_from weights),
    "scratch", or None (a source that is no train stage, or started from a search's best)."""
    init = info.get("init_from")
    if isinstance(init, dict):
        return "fine-tuned"
    return "scratch" if init == "scratch" else None
