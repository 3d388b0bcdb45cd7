"""Parameters of the jets family's stages (validated at submit time, without torch)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from ...physics.jets import JET_CLASSES
from ...spec import Strict
from .. import base

NAME = "jets"


class JetWindow(Strict):
    pt_min: PositiveFloat = Field(500.0, description="Jets below this pT are not kept (GeV).")
    pt_max: PositiveFloat = Field(1000.0, description="Jets above this pT are not kept (GeV).")
    eta_max: PositiveFloat = Field(2.0, description="Jets need |eta| below this.")
    radius: PositiveFloat = Field(0.8, description="Anti-kt radius; also the truth-matching Delta R.")
    pthat_min: PositiveFloat = Field(450.0, description="Pythia PhaseSpace:pTHatMin (GeV).")

    @model_validator(mode="after")
    def _window(self) -> JetWindow:
        if self.pt_max <= self.pt_min:
            raise ValueError("pt_max must exceed pt_min")
        return self


class JetsGenerate(base.PPGenerateParams):
    PROCESSES: ClassVar[tuple[str, ...]] = tuple(JET_CLASSES)

    dataset: Literal["jets"] = Field(
        NAME, description="The family: pp at 13 TeV, boosted jets; events_per_file counts jets."
    )
    jets: JetWindow = Field(default_factory=JetWindow, description="Kinematic window and radius.")


class JetsStageData(base.StageDataParams):
    dataset: Literal["jets"] = Field(NAME, description="The family: constituent features, files split per class.")
    format: Literal["generated", "jetclass"] = Field(
        "generated",
        description="generated: the generate stage's files (tree `jets`); jetclass: JetClass ROOT files as "
        "published (tree `tree`, part_*/jet_*/label_* branches), one class per file.",
    )
    max_constituents: PositiveInt = Field(128, description="The hardest constituents kept per jet.")
    tree: str | None = Field(None, description="TTree name (default: `jets`, or `tree` for jetclass).")

    @property
    def tree_name(self) -> str:
        return self.tree or ("tree" if self.format == "jetclass" else "jets")


class JetTagging(Strict):
    signal_efficiencies: list[float] = Field(
        [0.5, 0.3], min_length=1, description="Signal efficiencies at which background rejection 1/eps_B is reported."
    )

    @field_validator("signal_efficiencies")
    @classmethod
    def _efficiencies(cls, value: list[float]) -> list[float]:
        if any(not 0 < e < 1 for e in value):
            raise ValueError("signal efficiencies must lie in (0, 1)")
        return value


class JetsEvaluate(base.EvaluateParams):
    dataset: Literal["jets"] = Field(NAME, description="The family: AUC, accuracy, rejection; convergence speed-up.")
    jet_tagging: JetTagging = Field(default_factory=JetTagging, description="Working points.")
