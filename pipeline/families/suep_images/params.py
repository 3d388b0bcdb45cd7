"""Parameters of the SUEP-images family's stages (validated at submit time, without torch)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from ...physics.suep import POINT_ORDER
from ...spec import Strict
from .. import base

NAME = "suep_images"
BACKGROUND = "pp_qcd"


class ImageBinning(Strict):
    """The images, the samples and the trigger. Two definitions: `cells` (the first runs'
    images: calorimeter cells of the parametric detector, tracks at their vertex direction,
    pileup at the nominal vertex, the HT cut on the background's generator-level jets) and
    `reference` (the SUEP reference study's: tracks from the hard vertex at their calorimeter-face
    position, Delphes-style CMS towers, pileup over a luminous region with charged pileup removed,
    the same pileup-corrected HT cut on background and signal; physics/reference_images.py)."""

    definition: Literal["cells", "reference"] = Field(
        "cells", description="Image definition: cells (the first runs') or reference (the reference study's)."
    )
    eta_bins: PositiveInt = Field(286, description="Image rows over |eta| < eta_max.")
    phi_bins: PositiveInt = Field(360, description="Image columns over the full phi range.")
    eta_max: PositiveFloat = Field(2.5, description="Image (and tracker) acceptance in |eta|.")
    trigger_ht: float = Field(
        500.0,
        ge=0,
        description="Events need HT >= this (GeV): cells: the background only (generator-level jets); reference: "
        "background and signal alike (pileup-corrected reconstructed jets).",
    )
    pthat_min: PositiveFloat = Field(250.0, description="Pythia PhaseSpace:pTHatMin of the QCD background (GeV).")
    pthat_bias_power: PositiveFloat | None = Field(
        None,
        description="Bias the QCD sample towards high pT-hat (Pythia bias2Selection, weights carried into every "
        "efficiency and ROC); null: unweighted.",
    )
    signal_production: Literal["inclusive", "hjet"] = Field(
        "inclusive",
        description="The scalar by gluon fusion (gg -> S) or with a hard gluon (gg -> S g, top loop), the latter "
        "above signal_pthat_min: the events a HT trigger keeps, at a fraction of the cost.",
    )
    signal_pthat_min: PositiveFloat = Field(150.0, description="pT-hat floor of hjet signal production (GeV).")
    pileup: float = Field(
        0.0,
        ge=0,
        le=200,
        description="Mean number of minimum-bias pp interactions (Poisson) per crossing; cells: at the nominal "
        "vertex, reference: each at its own vertex.",
    )
    pileup_z_spread: float = Field(0.05, ge=0, description="reference: sigma of the vertices' z (m).")
    pileup_dz_max: PositiveFloat = Field(
        1e-3, description="reference: a track is from the hard vertex when |z0 - z_hard| < this (m)."
    )
    pileup_pool: PositiveInt = Field(
        1000, description="reference: minimum-bias events generated per file before draws reuse them (rotated)."
    )
    preselect_ht: float = Field(
        400.0,
        ge=0,
        description="reference: the hard interaction's own HT (no detector) must reach this before pileup and "
        "images are made (0: off); keep it well below trigger_ht.",
    )

    @model_validator(mode="after")
    def _reference_only(self) -> ImageBinning:
        if self.definition == "cells":
            defaults = type(self).model_fields
            reference = ("pileup_z_spread", "pileup_dz_max", "pileup_pool", "preselect_ht", "pthat_bias_power",
                         "signal_production", "signal_pthat_min")  # fmt: skip
            changed = [n for n in reference if getattr(self, n) != defaults[n].default]
            if changed:
                raise ValueError(f"{', '.join(changed)}: only for definition: reference")
        return self


class SuepGenerate(base.PPGenerateParams):
    PROCESSES: ClassVar[tuple[str, ...]] = (BACKGROUND, *POINT_ORDER)

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
