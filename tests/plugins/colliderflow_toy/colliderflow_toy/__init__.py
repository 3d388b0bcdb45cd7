"""What the entry points name: light descriptions that import no torch (validating a workflow
that uses them stays cheap); the implementations are imported when a stage runs."""

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from models import ModelPlugin
from pipeline.families import FamilyPlugin
from pipeline.families.base import EvaluateParams, GenerateParams, StageDataParams
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


class ToyGenerate(GenerateParams):
    PROCESSES: ClassVar[tuple[str, ...]] = ("sines",)

    dataset: Literal["toy"] = Field("toy", description="The toy family: y = sum(sin(x)) + noise.")
    features: int = Field(4, ge=1, description="Inputs per event.")
    noise: float = Field(0.05, ge=0, description="Gaussian noise on the target.")


class ToyStageData(StageDataParams):
    dataset: Literal["toy"] = Field("toy", description="The toy family.")
    tree: str = Field("toy", description="TTree name in the input files.")


class ToyEvaluate(EvaluateParams):
    dataset: Literal["toy"] = Field("toy", description="The toy family: mean absolute error against references.")


class ToyCheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    report: str = Field("evaluate", description="The evaluate stage whose report is checked.")


TOY_MLP = ModelPlugin(config=ToyMLPConfig, builder="colliderflow_toy.network:build")
TOY_REGRESSION = TaskPlugin(
    loss_config=ToyLoss,
    implementation="colliderflow_toy.task:ToyRegression",
    description="regress the sum of sin(x) of each event's inputs",
    report_summary="colliderflow_toy.family:summary_lines",
)
TOY_FAMILY = FamilyPlugin(
    description="toy events whose target is the sum of sin(x) of their inputs, with noise",
    implementation="colliderflow_toy.family:ToyFamily",
    generate_params=ToyGenerate,
    stage_params=ToyStageData,
    evaluate_params=ToyEvaluate,
    tasks=("toy_regression",),
)
TOY_CHECK = StageKind(
    name="toy_check",
    params=ToyCheckParams,
    impl="colliderflow_toy.check:ToyCheckStage",
    summary="Reads a toy evaluation's report and says whether every model beats the mean prediction.",
)
