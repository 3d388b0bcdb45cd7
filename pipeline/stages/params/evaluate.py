"""Parameters of the `evaluate` stage kind (validated at submit time, without torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from ...spec import Strict, dataclass_settings


class JetParams(Strict):
    algorithm: Literal["ee_genkt", "ee_kt"] = Field("ee_genkt", description="fastjet e+e- algorithm.")
    radius: PositiveFloat = Field(0.4, description="Jet radius R.")
    p: float = Field(-1.0, description="Generalised-kt exponent: -1 anti-kt, 0 Cambridge/Aachen, 1 kt.")
    min_pt: float = Field(5.0, ge=0, description="Generator jets below this pT (GeV) are not evaluated.")
    reco_min_pt: float = Field(
        1.0, ge=0, description="Reco jets are kept down to this pT (GeV) for matching, so a low response is not cut."
    )
    match_dr: PositiveFloat = Field(0.1, description="Reco-gen jet matching: largest Delta R.")


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


class JetTaggingParams(Strict):
    signal_efficiencies: list[float] = Field(
        [0.5, 0.3], min_length=1, description="Signal efficiencies at which background rejection 1/eps_B is reported."
    )

    @field_validator("signal_efficiencies")
    @classmethod
    def _efficiencies(cls, value: list[float]) -> list[float]:
        if any(not 0 < e < 1 for e in value):
            raise ValueError("signal efficiencies must lie in (0, 1)")
        return value


class EvaluateParams(Strict):
    models: list[str] = Field(
        default_factory=list,
        description="Upstream train or hpo stages whose models are evaluated (default: every one in needs).",
    )
    model_reference: str | None = Field(
        None,
        description="Particle flow: a model source (e.g. train_default) the other models are also compared with, "
        "paired per event, besides the baseline.",
    )
    data: str | None = Field(None, description="manifest.json; default: the upstream stage_data's.")
    split: Literal["test", "val", "train"] = Field("test", description="Split evaluated.")
    max_events: PositiveInt | None = Field(
        None, description="Evaluate at most this many events (images: of each process)."
    )
    batch_size: PositiveInt = Field(16, description="Events per inference batch.")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="Inference precision.")
    jets: JetParams = Field(default_factory=JetParams, description="Jet clustering and matching.")
    jet_pt_bins: list[float] = Field(
        [5.0, 10.0, 20.0, 40.0, 80.0, 200.0], min_length=2, description="Generator jet pT bin edges (GeV)."
    )
    met_bins: list[float] = Field(
        [0.0, 5.0, 10.0, 20.0, 40.0, 200.0], min_length=2, description="Generator MET bin edges (GeV)."
    )
    bootstrap: NonNegativeInt = Field(
        200, description="Paired per-event bootstrap resamples for uncertainties and differences (0: none)."
    )
    baseline: dict[str, Any] = Field(
        default_factory=dict, description="pipeline.evaluation.baseline_pf.BaselineConfig fields."
    )
    detector: dict[str, Any] = Field(
        default_factory=dict, description="Detector overrides, as given to the generate stage (track extrapolation)."
    )
    seed: NonNegativeInt = Field(0, description="Bootstrap seed.")
    anomaly: AnomalyParams = Field(
        default_factory=AnomalyParams, description="Image data (anomaly detection): mistag rates, trigger, latency."
    )
    jet_tagging: JetTaggingParams = Field(
        default_factory=JetTaggingParams, description="Jet data (classification): working points."
    )

    @field_validator("baseline")
    @classmethod
    def _baseline(cls, value: dict[str, Any]) -> dict[str, Any]:
        from ...evaluation.baseline_pf import BaselineConfig

        return dataclass_settings(value, BaselineConfig, "baseline")

    @field_validator("detector")
    @classmethod
    def _detector(cls, value: dict[str, Any]) -> dict[str, Any]:
        from ...physics.detector_spec import DetectorSpec

        DetectorSpec.model_validate(value)
        return value

    @field_validator("jet_pt_bins", "met_bins")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(value[:-1], value[1:], strict=True)):
            raise ValueError("bin edges must increase")
        return value
