"""What the entry points name: light descriptions that import no torch (validating a workflow
that uses them stays cheap); the implementations are imported when a stage runs."""

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from models import ModelPlugin
from pipeline.stages import StageKind
from pipeline.tasks import TaskPlugin


@dataclass
class ToyMLPConfig:
    input_dim: int = 4
    width: int = 16
    depth: int = 1

    def __post_init__(self) -> None:
        if self.width < 1 or self.depth < 0:
            raise ValueError("width must be >= 1 and depth >= 0")


@dataclass
class ToyLoss:
    huber: bool = False  # Huber instead of squared error


class ToyDataParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: int = Field(300, ge=10, description="Events to draw, split 60/20/20 into train/val/test.")
    features: int = Field(4, ge=1, description="Inputs per event.")
    noise: float = Field(0.05, ge=0, description="Gaussian noise on the target.")
    seed: int = Field(0, description="Seed of the draw.")


TOY_MLP = ModelPlugin(config=ToyMLPConfig, builder="colliderflow_toy.network:build")
TOY_REGRESSION = TaskPlugin(
    loss_config=ToyLoss,
    implementation="colliderflow_toy.task:ToyRegression",
    description="regress the sum of sin(x) of each event's inputs",
)
TOY_DATA = StageKind(
    name="toy_data",
    params=ToyDataParams,
    impl="colliderflow_toy.stage:ToyDataStage",
    summary="Toy events (inputs and a target) into outputs/ with a manifest.json, for the toy task.",
)
