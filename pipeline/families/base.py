"""The parameters every family's stages share. A family's models subclass these, narrow
`dataset` to its own name (the discriminator), and add only the fields it uses: each model
forbids unknown fields, so a field of another family is an error naming it."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from ..physics.detector_spec import DetectorSpec
from ..spec import Strict


class GenerateParams(Strict):
    """A generator's parameters: array task i makes one file of processes[i % len]."""

    PROCESSES: ClassVar[tuple[str, ...]] = ()  # the family's processes

    dataset: str
    processes: list[str] = Field(
        min_length=1, description="Processes of the dataset; array task i makes one file of processes[i % len]."
    )
    events_per_file: PositiveInt = Field(description="Events in each ROOT file (one file per array task).")
    seed: int = Field(1, ge=0, description="Base seed; file i uses seed + i (generator and detector).")
    chunk_events: PositiveInt = Field(200, description="Events buffered per ROOT basket write.")
    deadline_margin_s: float = Field(
        30.0,
        ge=0,
        description="A task does not start its file when the file's expected time (from the files of the same "
        "process already made) would end within this many seconds of the job's time limit: it is requeued.",
    )

    @field_validator("processes")
    @classmethod
    def _processes_of_the_family(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in cls.PROCESSES]
        if unknown:
            name = cls.model_fields["dataset"].default
            raise ValueError(f"{unknown} not in dataset {name!r} (valid: {', '.join(map(repr, cls.PROCESSES))})")
        return value


class StageDataParams(Strict):
    """Staging: whole files to splits by the seed, read in chunks, cut into bounded shards;
    resumable (a file with a complete record is not staged again) and, with `on_error: skip`,
    a bad file is quarantined and listed in the manifest instead of failing the stage."""

    dataset: str
    split: dict[Literal["train", "val", "test"], float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1},
        description="Fractions of the files per split (whole files, chosen by the seed).",
    )
    seed: int = Field(0, ge=0, description="Seed of the split assignment.")
    max_events_per_shard: PositiveInt = Field(1000, description="Shard size bound, in events.")
    max_shard_mb: PositiveFloat = Field(256.0, description="Shard size bound, in MB (whichever bound comes first).")
    step_size: PositiveInt = Field(500, description="Events read from ROOT per chunk (bounds memory).")
    inputs: list[str] = Field(
        default_factory=list, description="Extra ROOT files or glob patterns, besides upstream outputs."
    )
    on_error: Literal["fail", "skip"] = Field(
        "fail", description="A bad input file fails the stage, or is quarantined and listed in the manifest."
    )
    deadline_margin_s: float = Field(
        30.0,
        ge=0,
        description="A task does not start a file whose expected staging time (seconds per MB measured so far) "
        "would end within this many seconds of the job's time limit: it is requeued and goes on from there.",
    )

    @field_validator("split")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        full = {s: float(value.get(s, 0.0)) for s in ("train", "val", "test")}
        if any(v < 0 for v in full.values()) or abs(sum(full.values()) - 1.0) > 1e-6:
            raise ValueError(f"fractions must be >= 0 and sum to 1 (got {full})")
        return full


class EvaluateParams(Strict):
    """What every evaluation takes: which models, on which data and split, how batched, and
    the paired bootstrap."""

    dataset: str
    models: list[str] = Field(
        default_factory=list,
        description="Upstream train or hpo stages whose models are evaluated (default: every one in needs).",
    )
    data: str | None = Field(None, description="manifest.json; default: the upstream stage_data's.")
    split: Literal["test", "val", "train"] = Field("test", description="Split evaluated.")
    max_events: PositiveInt | None = Field(
        None, description="Evaluate at most this many events (images: of each process)."
    )
    batch_size: PositiveInt = Field(16, description="Events per inference batch.")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="Inference precision.")
    bootstrap: int = Field(
        200, ge=0, description="Paired per-event bootstrap resamples for uncertainties and differences (0: none)."
    )
    seed: int = Field(0, ge=0, description="Bootstrap seed.")


class PPGenerateParams(GenerateParams):
    """A pp generator through the detector's CMS-like configuration, which `detector` overrides
    field by field (e.g. a downstream task on a coarser detector)."""

    detector: DetectorSpec = Field(
        default_factory=DetectorSpec, description="Detector overrides of the CMS-like configuration."
    )

    @model_validator(mode="before")
    @classmethod
    def _cms_like(cls, data: object) -> object:
        if isinstance(data, dict):
            from ..overrides import deep_merge
            from ..physics.pp import cms_like_detector

            given = data.get("detector") or {}
            base = {} if "preset" in given else cms_like_detector().model_dump(mode="json")  # a preset replaces it
            data = {**data, "detector": deep_merge(base, given)}
        return data
