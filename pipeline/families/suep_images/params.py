"""Parameters of the SUEP-images family's stages (validated at submit time, without torch)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from ...physics.suep import POINTS
from ...spec import Strict
from .. import base

NAME = "suep_images"
BACKGROUND = "pp_qcd"


class ImageBinning(Strict):
    eta_bins: PositiveInt = Field(286, description="Image rows over |eta| < eta_max.")
    phi_bins: PositiveInt = Field(360, description="Image columns over the full phi range.")
    eta_max: PositiveFloat = Field(2.5, description="Image (and tracker) acceptance in |eta|.")
    trigger_ht: float = Field(
        500.0, ge=0, description="Background (pp_qcd) events need HT >= this (GeV); the signal is kept whatever its HT."
    )
    pthat_min: PositiveFloat = Field(250.0, description="Pythia PhaseSpace:pTHatMin of the QCD background (GeV).")
    pileup: float = Field(
        0.0,
        ge=0,
        le=200,
        description="Mean number of minimum-bias pp interactions (Poisson) overlaid on each event, at the vertex.",
    )


class SuepGenerate(base.PPGenerateParams):
    PROCESSES: ClassVar[tuple[str, ...]] = (BACKGROUND, *sorted(POINTS))

    dataset: Literal["suep_images"] = Field(NAME, description="The family: pp at 13 TeV as sparse detector images.")
    images: ImageBinning = Field(default_factory=ImageBinning, description="Binning, trigger and pileup.")


class SuepStageData(base.StageDataParams):
    dataset: Literal["suep_images"] = Field(
        NAME, description="The family: sparse images; background files split by the seed, every signal file to test."
    )
    tree: str = Field("images", description="TTree name in the input files.")


class AnomalyParams(Strict):
    mistag_rates: list[float] = Field(
        [0.01, 0.02, 0.05], min_length=1, description="Background mistag rates at which signal efficiency is reported."
    )
    trigger_ht: float | None = Field(
        None, ge=0, description="Also report signal passing HT >= this (GeV): the threshold the background passed."
    )
    latency_events: NonNegativeInt = Field(
        300, description="Test events scored one at a time with the exported ONNX model for the latency (0: none)."
    )
    threads: NonNegativeInt = Field(0, description="ONNX Runtime threads for the latency (0: the job's CPUs).")

    @field_validator("mistag_rates")
    @classmethod
    def _rates(cls, value: list[float]) -> list[float]:
        if any(not 0 < r < 1 for r in value):
            raise ValueError("mistag rates must lie in (0, 1)")
        return sorted(value)


class SuepEvaluate(base.EvaluateParams):
    dataset: Literal["suep_images"] = Field(
        NAME, description="The family: signal efficiency at fixed background mistag rates, ONNX latency."
    )
    anomaly: AnomalyParams = Field(default_factory=AnomalyParams, description="Mistag rates, trigger, latency.")
