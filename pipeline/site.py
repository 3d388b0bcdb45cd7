"""Site profiles: what a machine needs (scheduler, accelerator, env, launcher) as data, not code."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from .fields import EnvName, MemSize, SafeText, SbatchFlag, SlurmAccount, SlurmConstraint, SlurmName
from .spec import ResolvedResources, Resources, Strict

_KIND_FIELDS = ("partition", "qos", "constraint", "gpus_per_node", "tasks_per_node", "cpus_per_task", "mem")


class RetrySettings(Strict):
    """Retries of sbatch, squeue and scancel on transient controller errors (slurm/retry.py)."""

    attempts: PositiveInt = Field(6, description="Tries in all, the first included.")
    initial_s: float = Field(1.0, gt=0, description="Ceiling of the first wait (s); doubled after each failure.")
    max_s: float = Field(30.0, gt=0, description="Longest wait between tries (s).")
    budget_s: float = Field(120.0, ge=0, description="No try starts later than this after the first (s).")


class SlurmSettings(Strict):
    partition: SlurmName | None = Field(None, description="Default partition.")
    account: SlurmAccount | None = Field(
        None, description="Default account (project) charged; may be one $VARIABLE, read when submitting."
    )
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
    retry: RetrySettings = Field(
        default_factory=RetrySettings, description="Backoff of the slurm commands on a busy controller."
    )
    max_array_size: PositiveInt | None = Field(
        None,
        description="Most tasks one job array may have (Slurm's MaxArraySize); larger arrays are split into "
        "several, dependents wait on all. Unset: read from `scontrol show config`.",
    )
    submit_rate_per_min: float | None = Field(
        None, gt=0, description="At most this many sbatch calls a minute from one command (unset: no limit)."
    )


class BillingRule(Strict):
    """How a centre charges a job on some partitions (billing.py): whole nodes at `per_node`
    units an hour, or `rate` x the largest of (resource held / amount of it in one billed unit)."""

    partitions: list[SlurmName] = Field(
        default_factory=list, description="Partitions this rule bills (none: every partition no other rule names)."
    )
    unit: SafeText = Field(description="The centre's billing unit (GPU-hours, CPU-core-hours, core-h...).")
    per_node: float | None = Field(None, ge=0, description="Units per node-hour, whatever the job asks for.")
    max_of: dict[Literal["nodes", "gpus", "cpus", "mem_gb"], float] = Field(
        default_factory=dict,
        description="How much of each resource one billed unit includes (e.g. gpus: 1, cpus: 8, mem_gb: 64); the "
        "job pays for the largest share.",
    )
    rate: float = Field(1.0, ge=0, description="Units per hour for one share of `max_of`.")
    round_up: bool = Field(False, description="Round each share up to a whole number first, as the centre does.")

    @model_validator(mode="after")
    def _one_way(self) -> BillingRule:
        if (self.per_node is None) == (not self.max_of):
            raise ValueError("give either per_node or max_of")
        if any(size <= 0 for size in self.max_of.values()):
            raise ValueError("max_of sizes must be positive")
        return self


class KindResources(Strict):
    """What a site gives one stage kind unless the workflow's stage says otherwise: CPU-only
    kinds on CPU partitions, single-device ones on shared GPU partitions, training one rank per
    accelerator of whole nodes."""

    partition: SlurmName | None = Field(None, description="Partition for this kind.")
    qos: SlurmName | None = Field(None, description="QOS for this kind.")
    constraint: SlurmConstraint | None = Field(None, description="Node constraint for this kind.")
    gpus_per_node: NonNegativeInt | Literal["all"] | None = Field(
        None, description="Accelerators per node ('all': the site's gpus_per_node)."
    )
    tasks_per_node: PositiveInt | Literal["devices"] | None = Field(
        None, description="Processes per node ('devices': one per accelerator the job has on a node)."
    )
    cpus_per_task: PositiveInt | None = Field(None, description="CPU cores per process.")
    mem: MemSize | None = Field(None, description="Memory per node.")
    sbatch: dict[SbatchFlag, SafeText] = Field(
        default_factory=dict, description="Extra sbatch flags for this kind (added to the site's)."
    )
    srun_args: list[SafeText] = Field(
        default_factory=list, description="Extra srun arguments for this kind (e.g. CPU binding masks)."
    )


class DistributedSettings(Strict):
    backend: Literal["nccl", "gloo", "hccl", "mpi"] = Field(
        "gloo", description="torch.distributed backend (nccl also drives RCCL on ROCm)."
    )
    deepspeed_accelerator: Literal["cuda", "cpu", "hpu"] = Field(
        "cpu", description="DS_ACCELERATOR for DeepSpeed (ROCm builds report as cuda)."
    )
    hostname_suffix: SlurmName | None = Field(
        None,
        description="Appended to node names for the rendezvous and Ray addresses (JUWELS: 'i', the InfiniBand name).",
    )


class LocalSettings(Strict):
    max_parallel_tasks: PositiveInt = Field(1, description="Array tasks of one stage run at once on the local site.")
    slots: PositiveInt | None = Field(
        None,
        description="CPU slots of the whole machine (default: its CPUs), shared by every job of every campaign in "
        "the campaigns directory: a task starts when its CPUs (ranks x cpus_per_task) are free, like a one-node "
        "Slurm.",
    )


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
        None,
        description="Variable that selects devices (CUDA_VISIBLE_DEVICES, HABANA_VISIBLE_MODULES...): a job "
        "with accelerators lists the ones it uses in it, unless Slurm already set it.",
    )
    python: SafeText | None = Field(
        None,
        description="The job's Python on the compute node (e.g. a venv inside the container); $VARS expand "
        "there. Unset: the interpreter that submitted.",
    )
    launcher: list[SafeText] = Field(
        default_factory=list,
        description="Words every task runs under, before the Python (e.g. singularity exec $SIF); each word "
        "is quoted, $VARS expand on the compute node.",
    )
    required_env: dict[EnvName, SafeText] = Field(
        default_factory=dict,
        description="Variables that must be set when submitting (name -> how to set it); an unset one is an error.",
    )
    kinds: dict[str, KindResources] = Field(
        default_factory=dict, description="Resources per stage kind (partition, devices, ranks, binding)."
    )
    campaigns_dir: SafeText = Field(
        "campaigns", description="Where campaign directories are created ($VARS expanded, e.g. $SCRATCH)."
    )
    slurm: SlurmSettings = Field(default_factory=SlurmSettings, description="Scheduler defaults.")
    billing: list[BillingRule] = Field(
        default_factory=list,
        description="The centre's charging rules (cite its documentation); plan and usage give billing units.",
    )
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

    def stage_resources(self, kind: str, resources: Resources) -> ResolvedResources:
        """The stage's resources as submitted here: the site's defaults for its kind fill what the
        workflow left unset, then 'all' accelerators and one task per 'devices' become numbers."""
        defaults = self.kinds.get(kind)
        explicit = resources.model_fields_set
        update: dict = {}
        if defaults is not None:
            update = {
                name: getattr(defaults, name)
                for name in _KIND_FIELDS
                if getattr(defaults, name) is not None and name not in explicit
            }
            update["sbatch"] = {**defaults.sbatch, **resources.sbatch}
        merged = resources.model_copy(update=update)
        gpus = self.gpus_per_node if merged.gpus_per_node == "all" else merged.gpus_per_node
        tasks = max(1, gpus) if merged.tasks_per_node == "devices" else merged.tasks_per_node
        values = merged.model_dump() | {"gpus_per_node": gpus, "tasks_per_node": tasks}
        return ResolvedResources.model_validate(values)

    def kind_srun_args(self, kind: str) -> list[str]:
        defaults = self.kinds.get(kind)
        return [*self.slurm.srun_args, *(defaults.srun_args if defaults else [])]
