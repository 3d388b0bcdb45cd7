"""Parameters of the `generate` stage kind (light: validated at submit time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, ValidationInfo, field_validator, model_validator

from ...physics.detector_spec import DetectorSpec
from ...physics.jets import JET_CLASSES
from ...physics.processes import PROCESSES
from ...physics.suep import POINTS
from ...spec import Strict

DATASETS = {
    "particle_flow": sorted(PROCESSES),  # e+e- at sqrt_s, tracks + clusters (+ hits) with targets
    "suep_images": ["pp_qcd", *sorted(POINTS)],  # pp at 13 TeV, sparse 3-channel eta-phi images
    "jets": list(JET_CLASSES),  # pp at 13 TeV, boosted R = 0.8 jets with their constituents
}
PP_DATASETS = ("suep_images", "jets")  # the detector's CMS-like configuration is their base


class ImageParams(Strict):
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


class JetParams(Strict):
    pt_min: PositiveFloat = Field(500.0, description="Jets below this pT are not kept (GeV).")
    pt_max: PositiveFloat = Field(1000.0, description="Jets above this pT are not kept (GeV).")
    eta_max: PositiveFloat = Field(2.0, description="Jets need |eta| below this.")
    radius: PositiveFloat = Field(0.8, description="Anti-kt radius; also the truth-matching Delta R.")
    pthat_min: PositiveFloat = Field(450.0, description="Pythia PhaseSpace:pTHatMin (GeV).")

    @model_validator(mode="after")
    def _window(self) -> JetParams:
        if self.pt_max <= self.pt_min:
            raise ValueError("pt_max must exceed pt_min")
        return self


class GenerateParams(Strict):
    dataset: Literal["particle_flow", "suep_images", "jets"] = Field(
        "particle_flow",
        description="What is made: e+e- particle-flow events, pp detector images (SUEP search) or pp jets "
        "(jet classification); events_per_file counts jets for jets.",
    )
    processes: list[str] = Field(
        min_length=1, description="Processes of the dataset; array task i makes one file of processes[i % len]."
    )
    events_per_file: PositiveInt = Field(description="Events in each ROOT file (one file per array task).")
    seed: int = Field(1, ge=0, description="Base seed; file i uses seed + i (Pythia and detector).")
    sqrt_s: float = Field(380.0, gt=0, description="Centre-of-mass energy (GeV).")
    isr: bool = Field(False, description="Initial-state radiation from the lepton beams (Pythia PDF:lepton).")
    input_levels: list[Literal["clusters", "hits"]] = Field(
        ["clusters"], min_length=1, description="Write clusters, and also raw calorimeter hits if 'hits'."
    )
    chunk_events: PositiveInt = Field(200, description="Events buffered per ROOT basket write.")
    detector: DetectorSpec = Field(default_factory=DetectorSpec, description="Detector geometry and response.")
    images: ImageParams = Field(default_factory=ImageParams, description="suep_images: binning and trigger.")
    jets: JetParams = Field(default_factory=JetParams, description="jets: kinematic window and radius.")

    @field_validator("processes")
    @classmethod
    def _processes_of_the_dataset(cls, value: list[str], info: ValidationInfo) -> list[str]:
        dataset = info.data.get("dataset", "particle_flow")
        valid = DATASETS[dataset]
        unknown = [p for p in value if p not in valid]
        if unknown:
            raise ValueError(f"{unknown} not in dataset {dataset!r} (valid: {', '.join(map(repr, valid))})")
        return value

    @model_validator(mode="before")
    @classmethod
    def _pp_detector(cls, data: dict) -> dict:
        """pp datasets start from the detector's CMS-like configuration; `detector` overrides it
        field by field (e.g. a downstream task on a coarser detector)."""
        if isinstance(data, dict) and data.get("dataset") in PP_DATASETS:
            from ...overrides import deep_merge
            from ...physics.pp import cms_like_detector

            base = cms_like_detector().model_dump(mode="json")
            data = {**data, "detector": deep_merge(base, data.get("detector") or {})}
        return data
