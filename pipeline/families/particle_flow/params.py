"""Parameters of the particle-flow family's stages (validated at submit time, without torch)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, PositiveFloat, field_validator, model_validator

from ...data.features import FeatureConfig
from ...data.links import LinkParams
from ...physics.detector_spec import DetectorSpec
from ...physics.processes import PROCESSES
from ...spec import Strict, dataclass_settings
from .. import base

NAME = "particle_flow"


class ParticleFlowGenerate(base.GenerateParams):
    PROCESSES: ClassVar[tuple[str, ...]] = tuple(sorted(PROCESSES))

    dataset: Literal["particle_flow"] = Field(
        NAME, description="The family: e+e- events at sqrt_s, tracks + clusters (+ hits) with targets."
    )
    sqrt_s: float = Field(380.0, gt=0, description="Centre-of-mass energy (GeV).")
    isr: bool = Field(False, description="Initial-state radiation from the lepton beams (Pythia PDF:lepton).")
    input_levels: list[Literal["clusters", "hits"]] = Field(
        ["clusters"], min_length=1, description="Write clusters, and also raw calorimeter hits if 'hits'."
    )
    detector: DetectorSpec = Field(default_factory=DetectorSpec, description="Detector geometry and response.")


class ParticleFlowStageData(base.StageDataParams):
    dataset: Literal["particle_flow"] = Field(NAME, description="The family: elements + per-element targets.")
    input_level: Literal["clusters", "hits"] = Field(
        "clusters", description="Elements: tracks + clusters, or tracks + calorimeter hits."
    )
    features: FeatureConfig = Field(
        default_factory=FeatureConfig, description="Fields per element type and their normalisation."
    )
    links: LinkParams = Field(
        default_factory=LinkParams,
        description="At the clusters level: track-cluster link features appended to every element row.",
    )
    tree: str = Field("events", description="TTree name in the input files.")

    @model_validator(mode="after")
    def _links_need_clusters(self) -> ParticleFlowStageData:
        if self.links.enabled and self.input_level != "clusters":
            raise ValueError("links.enabled needs input_level clusters")
        return self


class JetClustering(Strict):
    algorithm: Literal["ee_genkt", "ee_kt"] = Field("ee_genkt", description="fastjet e+e- algorithm.")
    radius: PositiveFloat = Field(0.4, description="Jet radius R.")
    p: float = Field(-1.0, description="Generalised-kt exponent: -1 anti-kt, 0 Cambridge/Aachen, 1 kt.")
    min_pt: float = Field(5.0, ge=0, description="Generator jets below this pT (GeV) are not evaluated.")
    reco_min_pt: float = Field(
        1.0, ge=0, description="Reco jets are kept down to this pT (GeV) for matching, so a low response is not cut."
    )
    match_dr: PositiveFloat = Field(0.1, description="Reco-gen jet matching: largest Delta R.")


class ParticleFlowEvaluate(base.EvaluateParams):
    dataset: Literal["particle_flow"] = Field(
        NAME, description="The family: particle, jet and MET metrics against the rule-based baseline."
    )
    model_reference: str | None = Field(
        None,
        description="A model source (e.g. train_default) the other models are also compared with, "
        "paired per event, besides the baseline.",
    )
    jets: JetClustering = Field(default_factory=JetClustering, description="Jet clustering and matching.")
    jet_pt_bins: list[float] = Field(
        [5.0, 10.0, 20.0, 40.0, 80.0, 200.0], min_length=2, description="Generator jet pT bin edges (GeV)."
    )
    met_bins: list[float] = Field(
        [0.0, 5.0, 10.0, 20.0, 40.0, 200.0], min_length=2, description="Generator MET bin edges (GeV)."
    )
    baseline: dict[str, Any] = Field(
        default_factory=dict, description="pipeline.evaluation.baseline_pf.BaselineConfig fields."
    )
    detector: dict[str, Any] = Field(
        default_factory=dict,
        description="The detector for the baseline's track extrapolation; left out, the one the "
        "data was generated with (its manifest); given, it must be that one.",
    )

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: dict[str, Any]) -> dict[str, Any]:
        from ...evaluation.baseline_pf import BaselineConfig

        return dataclass_settings(value, BaselineConfig, "baseline")

    @field_validator("detector")
    @classmethod
    def _detector(cls, value: dict[str, Any]) -> dict[str, Any]:
        DetectorSpec.model_validate(value)
        return value

    @field_validator("jet_pt_bins", "met_bins")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(value[:-1], value[1:], strict=True)):
            raise ValueError("bin edges must increase")
        return value
