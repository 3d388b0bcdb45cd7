"""Workflow (campaign) files: stages, their needs, parameters and resources."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from .fields import (
    CampaignName,
    EnvName,
    MemSize,
    SafeText,
    SbatchFlag,
    SlurmConstraint,
    SlurmName,
    StageName,
    TimeLimit,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Resources(Strict):
    """What one stage asks of the scheduler; site values fill what is left unset."""

    nodes: PositiveInt = Field(1, description="Nodes per job (per array task).")
    tasks_per_node: PositiveInt | Literal["devices"] = Field(
        1, description="Processes per node; 'devices': one per accelerator of the job (sites default training to it)."
    )
    gpus_per_node: NonNegativeInt | Literal["all"] = Field(
        0, description="Accelerators per node; 'all' takes the site's gpus_per_node."
    )
    cpus_per_task: PositiveInt = Field(1, description="CPU cores per process.")
    mem: MemSize | None = Field(None, description="Memory per node, Slurm syntax (e.g. 32G).")
    time: TimeLimit = Field("01:00:00", description="Time limit per attempt (MM, HH:MM:SS, D-HH:MM:SS).")
    array: PositiveInt | None = Field(
        None, description="Fan the stage out as a job array of this many tasks (index in ctx.array_index)."
    )
    array_parallelism: PositiveInt | None = Field(None, description="At most this many array tasks at once.")
    partition: SlurmName | None = Field(None, description="Overrides the site's partition for this stage.")
    account: SlurmName | None = Field(None, description="Overrides the site's account.")
    qos: SlurmName | None = Field(None, description="Overrides the site's QOS.")
    constraint: SlurmConstraint | None = Field(None, description="Overrides the site's node constraint.")
    sbatch: dict[SbatchFlag, SafeText] = Field(
        default_factory=dict,
        description='Extra sbatch flags (name without dashes -> value, quoted; "" for a bare flag).',
    )
    max_requeues: NonNegativeInt | None = Field(
        None, description="Requeues allowed after time-outs (site default when unset); preemptions are free."
    )
    signal_delay_s: PositiveInt | None = Field(
        None, description="Seconds before the time limit at which the requeue signal (USR2) arrives."
    )


class ResolvedResources(Resources):
    """A stage's resources as one site submits them (SiteProfile.stage_resources, once, at
    validation): the site's per-kind defaults applied, 'all' and 'devices' turned into numbers.
    The frozen workflow holds these; the controller and the job read them as they are."""

    tasks_per_node: PositiveInt = Field(1, description="Processes per node.")
    gpus_per_node: NonNegativeInt = Field(0, description="Accelerators per node.")

    @classmethod
    def of(cls, resources: Resources) -> ResolvedResources:
        """`resources` (from a frozen workflow) checked to be resolved."""
        return resources if isinstance(resources, cls) else cls.model_validate(resources.model_dump())


class StageSpec(Strict):
    """One node of the campaign DAG."""

    kind: str = Field(description="Registered stage kind (see `colliderflow reference`).")
    needs: list[StageName] = Field(
        default_factory=list, description="Stages that must complete first; their outputs are this stage's inputs."
    )
    after: list[StageName] = Field(
        default_factory=list,
        description="Stages that must complete first but whose outputs this stage does not read: order only "
        "(e.g. a second training that waits for a search so the search has the machine's cores).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Parameters of the stage kind.")
    resources: Resources = Field(default_factory=Resources, description="Scheduler resources.")
    env: dict[EnvName, SafeText] = Field(
        default_factory=dict, description="Extra environment for this stage's processes (exported quoted)."
    )

    def waits_for(self) -> list[str]:
        """Every stage this one starts after: `needs`, then `after`."""
        return list(dict.fromkeys([*self.needs, *self.after]))


class WorkflowSpec(Strict):
    """A campaign file: a named DAG of stages."""

    name: CampaignName = Field(description="Default campaign name (campaigns/<name>/).")
    description: SafeText = Field("", description="Free text shown by status and report.")
    stages: dict[StageName, StageSpec] = Field(description="Stages by name; order is free, `needs` orders.")

    @model_validator(mode="after")
    def _has_stages(self) -> WorkflowSpec:
        if not self.stages:
            raise ValueError("a workflow needs at least one stage")
        return self

    def needs_graph(self) -> dict[str, list[str]]:
        return {name: stage.waits_for() for name, stage in self.stages.items()}


def dataclass_settings(value: dict[str, Any], cls: type, label: str) -> dict[str, Any]:
    """A dict of settings for a (torch-free) dataclass: unknown keys name the valid ones; the
    dataclass's own checks run. Returns the dict unchanged."""
    import dataclasses

    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - valid)
    if unknown:
        raise ValueError(f"unknown {label} setting(s) {unknown} (valid: {', '.join(sorted(valid))})")
    cls(**value)
    return value
