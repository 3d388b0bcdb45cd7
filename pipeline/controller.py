"""Submitting, resuming and cancelling a campaign: the only code that queues or cancels jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from slurm.request import JobRequest, SubmissionRejected
from slurm.scheduler import Scheduler, SchedulerUnavailable, make_scheduler

from . import site_launch
from .dag import topological_order
from .env_paths import expand_path
from .errors import SchedulerDown, SubmissionRefused
from .loader import CampaignSpec
from .observe import ACTIVE, Observation, StageStatus, observe, record_observation
from .runner import StageJob
from .spec import ResolvedResources
from .store import CampaignStore, job_name
from .timelimit import time_to_minutes


@dataclass
class Submission:
    stage: str
    job_ids: list[str]
    after: list[str]
    array_indices: list[int] | None


def scheduler_for(store_root: Path, spec: CampaignSpec) -> Scheduler:
    slurm = spec.site.slurm
    return make_scheduler(
        spec.site.scheduler,
        Path(store_root),
        slurm_conf=slurm.conf,
        retry=slurm.retry.model_dump(),
        max_array_size=slurm.max_array_size,
        submit_rate_per_min=slurm.submit_rate_per_min,
    )


def campaign_root(spec: CampaignSpec, name: str) -> Path:
    site_launch.check_required_env(spec.site)
    base = expand_path(spec.site.campaigns_dir, f"site {spec.site.name}", "campaigns_dir")
    return (base / name).resolve()


def job_request(
    spec: CampaignSpec, root: Path, name: str, stage: str, token: str, array_indices: list[int] | None
) -> JobRequest:
    """Stage resources + site defaults -> one scheduler request."""
    site = spec.site
    stage_spec = spec.workflow.stages[stage]
    resources = ResolvedResources.of(stage_spec.resources)  # resolved once, at validation (loader)
    gpus, tasks = resources.gpus_per_node, resources.tasks_per_node
    env = dict(site.env)
    env.update(site_launch.job_env(site))  # the required variables as submitted, whatever --export says
    env.update(stage_spec.env)
    env.update(COLLIDERFLOW_CAMPAIGN=str(root), COLLIDERFLOW_STAGE=stage)
    additional = dict(site.slurm.additional)
    additional.update(resources.sbatch)
    return JobRequest(
        name=job_name(name, stage),
        token=token,
        folder=root / "stages" / stage / "logs" / "jobs",
        payload=StageJob(str(root), stage),
        array_indices=array_indices,
        nodes=resources.nodes,
        tasks_per_node=tasks,
        gpus_per_node=gpus,
        cpus_per_task=resources.cpus_per_task,
        mem=resources.mem,
        time_min=time_to_minutes(resources.time),
        partition=resources.partition or site.slurm.partition,
        account=resources.account or site_launch.account(site, site.slurm.account),
        qos=resources.qos or site.slurm.qos,
        constraint=resources.constraint or site.slurm.constraint,
        additional=additional,
        setup=[*site.setup, *site_launch.visible_devices_setup(site, gpus)],
        env=env,
        srun_args=site.kind_srun_args(stage_spec.kind),
        python=site_launch.python_command(site),
        array_parallelism=resources.array_parallelism,
        max_requeues=resources.max_requeues if resources.max_requeues is not None else site.slurm.max_requeues,
        signal_delay_s=resources.signal_delay_s or site.slurm.signal_delay_s,
        max_parallel_local=site.local.max_parallel_tasks,
        local_slots=site.local.slots,
    )


def render_dry_run(spec: CampaignSpec, name: str) -> list[tuple[str, str]]:
    """(stage, script) for every stage in submission order; writes nothing."""
    root = campaign_root(spec, name)
    scheduler = scheduler_for(root, spec)
    scripts = []
    for stage in topological_order(spec.workflow.needs_graph()):
        stage_spec = spec.workflow.stages[stage]
        indices = list(range(stage_spec.resources.array)) if stage_spec.resources.array else None
        request = job_request(spec, root, name, stage, f"dry-run-{stage}", indices)
        after = [f"{{{up}}}" for up in stage_spec.waits_for()]
        scripts.append((stage, scheduler.render(request, after)))
    return scripts


def prepare_adoptions(store: CampaignStore, scheduler: Scheduler, observation: Observation) -> None:
    """Make every adopted job runnable (its Submitit pickle), whether found just now or journaled
    by an earlier `status`: whichever command reads the journal first, the job must start.
    Idempotent (a job that has its pickle is left alone), so safe without the lock."""
    journaled = [e for e in observation.entries if e.get("event") == "adopted"]
    for record in [*journaled, *observation.adopted.values()]:
        stage = record["stage"]
        if stage not in store.spec.workflow.stages or observation.stages[stage].state not in ACTIVE:
            continue
        request = job_request(store.spec, store.root, store.name, stage, record["token"], record.get("array_indices"))
        scheduler.adopt(request, record["job_ids"])


def schedule(store: CampaignStore, scheduler: Scheduler, observation: Observation) -> list[Submission]:
    """Submit every stage that is neither completed nor queued, in DAG order, with dependencies
    on the upstream jobs still queued. Caller holds the lock. Idempotent: a second call submits
    nothing while the first call's jobs are queued, running or done."""
    spec = store.spec
    statuses = observation.stages
    prepare_adoptions(store, scheduler, observation)
    zombies = [job for status in statuses.values() for job in status.zombie_ids]
    if zombies:
        scheduler.cancel(zombies)
        store.journal.append("cancel", job_ids=zombies, reason="dependency can never be satisfied")
    submitted = []
    for stage in topological_order(spec.workflow.needs_graph()):
        status = statuses[stage]
        if status.state == "COMPLETED" or status.active_ids:
            continue
        after: list[str] = []
        for upstream in spec.workflow.stages[stage].waits_for():
            up = statuses[upstream]
            if up.state != "COMPLETED":
                after.extend(up.active_ids)
        indices = store.missing_tasks(stage) if store.array_size(stage) else None
        token = uuid.uuid4().hex[:16]
        store.journal.append(
            "submitting", stage=stage, token=token, attempt=status.submissions + 1, array_indices=indices
        )
        request = job_request(spec, store.root, store.name, stage, token, indices)
        try:
            ids = scheduler.submit(request, after)
        except Exception as exc:
            store.journal.append("submit-failed", stage=stage, token=token, error=str(exc))
            done = f"; submitted before it: {', '.join(s.stage for s in submitted)}" if submitted else ""
            if isinstance(exc, SubmissionRejected):
                raise SubmissionRefused(f"stage {stage}: the scheduler refused the job: {exc}{done}") from None
            if isinstance(exc, SchedulerUnavailable):
                raise SchedulerDown(f"stage {stage}: cannot submit: {exc}{done}") from None
            raise
        store.journal.append("submitted", stage=stage, token=token, job_ids=ids, after=after, array_indices=indices)
        statuses[stage] = StageStatus(
            stage,
            "PENDING",
            job_ids=ids,
            active_ids=ids,
            submissions=status.submissions + 1,
            job_states=dict.fromkeys(ids, "PENDING"),
        )
        submitted.append(Submission(stage, ids, after, indices))
    return submitted


def require_scheduler(scheduler: Scheduler, names: list[str], action: str) -> None:
    """One query before anything is created or submitted; SchedulerDown (exit 1) if it fails."""
    try:
        scheduler.query(names)
    except SchedulerUnavailable as exc:
        raise SchedulerDown(f"cannot {action}: the scheduler is unreachable ({exc}); nothing was changed") from None


def submit(spec: CampaignSpec, name: str) -> tuple[CampaignStore, list[Submission]]:
    root = campaign_root(spec, name)
    scheduler = scheduler_for(root, spec)
    require_scheduler(scheduler, [job_name(name, stage) for stage in spec.workflow.stages], "submit")
    store = CampaignStore.create(root, spec, name)
    with store.lock("submit"):
        observation = observe(store, scheduler)
        record_observation(store, observation, locked=True)
        return store, schedule(store, scheduler, observation)


def resume(store: CampaignStore) -> list[Submission]:
    site_launch.check_required_env(store.spec.site)
    scheduler = scheduler_for(store.root, store.spec)
    with store.lock("resume"):
        observation = observe(store, scheduler)
        if not observation.scheduler_ok:
            raise SchedulerDown(f"cannot resume: the scheduler is unreachable ({observation.scheduler_error})")
        record_observation(store, observation, locked=True)
        store.journal.append("resume")
        return schedule(store, scheduler, observation)


def cancel(store: CampaignStore) -> list[str]:
    scheduler = scheduler_for(store.root, store.spec)
    with store.lock("cancel"):
        observation = observe(store, scheduler)
        ids = [
            job
            for status in observation.stages.values()
            for job in status.job_ids
            if status.job_states.get(job) in ACTIVE or job in status.zombie_ids
        ]
        if ids:
            scheduler.cancel(ids)
        store.journal.append("cancel", job_ids=ids, reason="colliderflow cancel")
        record_observation(store, observe(store, scheduler), locked=True)
        return ids
