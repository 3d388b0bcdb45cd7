"""Site profiles: what a machine needs (scheduler, accelerator, env, launcher) as data, not code."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from .fields import EnvName, SafeText, SbatchFlag, SlurmConstraint, SlurmName
from .spec import Strict


class SlurmSettings(Strict):
    partition: SlurmName | None = Field(None, description="Default partition.")
    account: SlurmName | None = Field(None, description="Default account (project) charged.")
    qos: SlurmName | None = Field(None, description="Default quality of service.")
    constraint: SlurmConstraint | None = Field(None, description="Default node feature constraint.")
    additional: dict[SbatchFlag, SafeText] = Field(
        default_factory=dict, description="Extra sbatch flags for every job of this site."
    )
    srun_args: list[SafeText] = Field(default_factory=list, description="Extra srun arguments (quoted).")
    conf: SafeText | None = Field(
        None, description="SLURM_CONF for the slurm commands (the devcluster); unset: the system's."
    )
    max_requeues: NonNegativeInt = Field(3, description="Default requeues allowed after time-outs.")
    signal_delay_s: PositiveInt = Field(120, description="Default requeue-signal lead time (s).")


class DistributedSettings(Strict):
    backend: Literal["nccl", "gloo", "hccl", "mpi"] = Field(
        "gloo", description="torch.distributed backend (nccl also drives RCCL on ROCm)."
    )
    deepspeed_accelerator: Literal["cuda", "cpu", "hpu"] = Field(
        "cpu", description="DS_ACCELERATOR for DeepSpeed (ROCm builds report as cuda)."
    )


class LocalSettings(Strict):
    max_parallel_tasks: PositiveInt = Field(1, description="Array tasks of one stage run at once on the local site.")


class HpoSettings(Strict):
    cpus_per_trial: PositiveInt = Field(1, description="CPUs per hyperparameter-search trial.")
    gpus_per_trial: NonNegativeInt = Field(0, description="Accelerators per trial (0 on CPU sites).")
    accelerator_resource: Literal["GPU", "HPU"] = Field(
        "GPU", description="Ray resource that counts this site's accelerators (Gaudi: HPU)."
    )


class SiteProfile(Strict):
    """One machine (or a laptop): the workflow stays the same, only this file changes."""

    name: SlurmName = Field(description="Site name, used in logs and the frozen campaign.")
    description: SafeText = Field("", description="Free text.")
    scheduler: Literal["slurm", "local"] = Field(description="slurm, or local for one machine without Slurm.")
    accelerator: Literal["cuda", "rocm", "hpu", "cpu"] = Field(description="Accelerator vendor stack.")
    device: Literal["cuda", "hpu", "cpu"] = Field(
        "cpu", description="torch device type (ROCm uses 'cuda' through HIP)."
    )
    gpus_per_node: NonNegativeInt = Field(0, description="Accelerators per node ('all' in resources).")
    cpus_per_node: PositiveInt | None = Field(None, description="CPU cores per node, for sizing workers.")
    visible_devices_env: EnvName | None = Field(
        None, description="Variable that selects devices (CUDA_VISIBLE_DEVICES, HABANA_VISIBLE_MODULES...)."
    )
    campaigns_dir: SafeText = Field(
        "campaigns", description="Where campaign directories are created ($VARS expanded, e.g. $SCRATCH)."
    )
    slurm: SlurmSettings = Field(default_factory=SlurmSettings, description="Scheduler defaults.")
    setup: list[SafeText] = Field(
        default_factory=list,
        description="Shell lines run before each job (module load, container): site-authored shell.",
    )
    env: dict[EnvName, SafeText] = Field(
        default_factory=dict, description="Environment exported (quoted) into every job."
    )
    distributed: DistributedSettings = Field(
        default_factory=DistributedSettings, description="Distributed launch settings."
    )
    local: LocalSettings = Field(default_factory=LocalSettings, description="Local-scheduler settings.")
    hpo: HpoSettings = Field(default_factory=HpoSettings, description="Hyperparameter-search trial defaults.")
