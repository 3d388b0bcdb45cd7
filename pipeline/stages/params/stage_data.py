"""Parameters of the `stage_data` stage kind (light: validated at submit time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from ...data.features import FeatureConfig
from ...data.links import LinkParams
from ...spec import Strict


class StageDataParams(Strict):
    dataset: Literal["particle_flow", "suep_images", "jets"] = Field(
        "particle_flow",
        description="particle_flow: elements + targets; suep_images: sparse images, signal files all to test; "
        "jets: constituent features, files split per class.",
    )
    max_constituents: PositiveInt = Field(128, description="jets: the hardest constituents kept per jet.")
    input_level: Literal["clusters", "hits"] = Field(
        "clusters", description="Elements: tracks + clusters, or tracks + calorimeter hits."
    )
    features: FeatureConfig = Field(
        default_factory=FeatureConfig, description="Fields per element type and their normalisation."
    )
    links: LinkParams = Field(
        default_factory=LinkParams,
        description="particle_flow, clusters level: track-cluster link features appended to every element row.",
    )
    split: dict[Literal["train", "val", "test"], float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1},
        description="Fractions of the files per split (whole files, chosen by the seed).",
    )
    seed: int = Field(0, ge=0, description="Seed of the split assignment.")
    max_events_per_shard: PositiveInt = Field(1000, description="Shard size bound, in events.")
    max_shard_mb: PositiveFloat = Field(256.0, description="Shard size bound, in MB (whichever bound comes first).")
    step_size: PositiveInt = Field(500, description="Events read from ROOT per chunk (bounds memory).")
    tree: str = Field("events", description="TTree name in the input files.")
    inputs: list[str] = Field(
        default_factory=list, description="Extra ROOT files or glob patterns, besides upstream outputs."
    )
    on_error: Literal["fail", "skip"] = Field(
        "fail", description="A bad input file fails the stage, or is quarantined and listed in the manifest."
    )

    @model_validator(mode="after")
    def _links_need_clusters(self) -> StageDataParams:
        if self.links.enabled and (self.dataset != "particle_flow" or self.input_level != "clusters"):
            raise ValueError("links.enabled needs dataset particle_flow at input_level clusters")
        return self

    @field_validator("split")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        full = {s: float(value.get(s, 0.0)) for s in ("train", "val", "test")}
        if any(v < 0 for v in full.values()) or abs(sum(full.values()) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be >= 0 and sum to 1 (got {full})")
        return full
