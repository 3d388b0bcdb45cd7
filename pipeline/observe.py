"""What state each stage is in, from the journal, the stage's own files and the scheduler queue.

Works without Slurm accounting: jobs still in the queue report their state; for jobs gone
from it, the completion markers, the attempt records written by the job itself and the
last state seen earlier decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slurm.request import CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, TERMINAL, TIMEOUT, QueueEntry
from slurm.scheduler import Scheduler, SchedulerUnavailable

from .store import CampaignStore

NOT_SUBMITTED = "NOT_SUBMITTED"
ACTIVE = frozenset({PENDING, RUNNING})
_FAILURE_ORDER = (FAILED, TIMEOUT, CANCELLED)


@dataclass
class StageStatus:
    name: str
    state: str
    job_ids: list[str] = field(default_factory=list)
    active_ids: list[str] = field(default_factory=list)
    zombie_ids: list[str] = field(default_factory=list)  # pending on a dependency that can never run
    submissions: int = 0
    reason: str = ""
    job_states: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "job_ids": self.job_ids,
            "submissions": self.submissions,
            "reason": self.reason,
            "jobs": self.job_states,
        }


@dataclass
class Observation:
    stages: dict[str, StageStatus]
    adopted: dict[str, dict[str, Any]]  # token -> submission found in the queue only (never journaled)
    scheduler_ok: bool = True
    scheduler_error: str = ""
    entries: list[dict[str, Any]] = field(default_factory=list)  # the journal as read for this observation


def submissions_by_stage(entries: list[dict[str, Any]]) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Submitted (or adopted) jobs per stage, and intents whose submission never got recorded."""
    subs: dict[str, list[dict]] = {}
    intents: dict[str, dict] = {}
    for entry in entries:
        event = entry.get("event")
        if event == "submitting":
            intents[entry["token"]] = entry
        elif event in ("submitted", "adopted"):
            intents.pop(entry["token"], None)
            subs.setdefault(entry["stage"], []).append(entry)
        elif event == "submit-failed":
            intents.pop(entry["token"], None)
    return subs, intents


def last_job_states(entries: list[dict[str, Any]]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.get("event") == "state":
            seen.update(entry.get("jobs", {}))
    return seen


def _gone_job_state(store: CampaignStore, stage: str, job_id: str, index: int | None, seen: dict) -> tuple[str, str]:
    """State of a job the scheduler no longer lists."""
    attempt = store.read_attempt(stage, job_id)
    if store.task_marker(stage, index).is_file() and (attempt is None or attempt.get("state") == COMPLETED):
        return COMPLETED, ""
    if seen.get(job_id) in TERMINAL - {COMPLETED}:
        return seen[job_id], "last seen in the queue"
    if attempt is None:
        return CANCELLED, "gone from the queue before it started"
    if attempt.get("state") == "FAILED":
        return FAILED, attempt.get("error", "")
    if attempt.get("state") == "INTERRUPTED":
        return CANCELLED, "stopped on a signal after writing a checkpoint"
    if attempt.get("state") == "REQUEUED":
        return TIMEOUT, "requeued, then gone from the queue (requeue limit reached or job removed)"
    return FAILED, "lost: gone from the queue with no completion marker (killed or node failure)"


# What Slurm's reason codes mean for a user, per state (codes not listed are shown as they are).
_REASON_WORDS = {
    PENDING: {"Dependency": "waiting for upstream stages", "BeginTime": "waiting for its begin time (requeued)"},
    CANCELLED: {"Dependency": "cancelled", "DependencyNeverSatisfied": "cancelled: its dependency failed"},
}


def _describe(state: str, reason: str) -> str:
    """The queue's reason code in words; none for a running job ("None" in squeue)."""
    reason = "" if reason in ("None", "(null)") else reason
    if state == CANCELLED and not reason:
        return "cancelled"
    return _REASON_WORDS.get(state, {}).get(reason, reason)


def _aggregate(states: list[str]) -> str:
    if any(s == RUNNING for s in states):
        return RUNNING
    if any(s == PENDING for s in states) and any(s == COMPLETED for s in states):
        return RUNNING  # an array part-way through
    if any(s == PENDING for s in states):
        return PENDING
    if states and all(s == COMPLETED for s in states):
        return COMPLETED
    for state in _FAILURE_ORDER:
        if state in states:
            return state
    return FAILED


def observe(store: CampaignStore, scheduler: Scheduler) -> Observation:
    entries = store.journal.entries()
    subs, intents = submissions_by_stage(entries)
    seen = last_job_states(entries)
    names = [store.job_name(stage) for stage in store.spec.workflow.stages]
    ok, error = True, ""
    try:
        queue: list[QueueEntry] = scheduler.query(names)
    except SchedulerUnavailable as exc:
        queue, ok, error = [], False, str(exc)
    by_id = {entry.job_id: entry for entry in queue}

    adopted: dict[str, dict[str, Any]] = {}
    for token, intent in intents.items():
        ids = sorted((entry.job_id for entry in queue if entry.token == token), key=_job_order)
        if ids:
            record = {"stage": intent["stage"], "token": token, "job_ids": ids}
            record["array_indices"] = intent.get("array_indices")
            adopted[token] = record
            subs.setdefault(intent["stage"], []).append(record)

    statuses = {}
    for stage in store.spec.workflow.stages:
        history = subs.get(stage, [])
        if not history:
            state = COMPLETED if store.is_done(stage) else NOT_SUBMITTED
            statuses[stage] = StageStatus(stage, state)
            continue
        latest = history[-1]
        ids = list(latest["job_ids"])
        indices = latest.get("array_indices") or [None] * len(ids)
        job_states, reasons, active, zombies = {}, [], [], []
        for job_id, index in zip(ids, indices, strict=False):
            entry = by_id.get(job_id)
            if entry is not None:
                state, reason = entry.state, _describe(entry.state, entry.reason)
                if state == PENDING and "DependencyNeverSatisfied" in reason:
                    state, reason = CANCELLED, "its dependency failed (DependencyNeverSatisfied)"
                    zombies.append(job_id)
                elif state == COMPLETED and not store.task_marker(stage, index).is_file():
                    state, reason = FAILED, "the job ended without writing its completion marker"
            elif not ok:
                state, reason = seen.get(job_id, PENDING), "scheduler unreachable: last known state"
            else:
                state, reason = _gone_job_state(store, stage, job_id, index, seen)
            if state in (FAILED, TIMEOUT):
                attempt = store.read_attempt(stage, job_id)
                if attempt and attempt.get("error"):
                    reason = attempt["error"]  # the stage's own exception says more than an exit code
            job_states[job_id] = state
            if state in ACTIVE:
                active.append(job_id)
            if reason and state != COMPLETED:
                reasons.append(f"{job_id}: {reason}")
        state = COMPLETED if store.is_done(stage) else _aggregate(list(job_states.values()))
        missing = store.missing_tasks(stage) if state == COMPLETED and not store.is_done(stage) else []
        if missing and store.array_size(stage):
            # every job ended well, yet tasks are missing: a split array whose submitter died
            # before its last parts were queued (the parts found were adopted)
            state = FAILED
            reasons.append(f"tasks {_ranges(missing)} were never queued (submission interrupted)")
        if state == COMPLETED:  # the marker is written before the queue lets go of the job
            job_states = {j: COMPLETED if s in ACTIVE else s for j, s in job_states.items()}
            active = []
        statuses[stage] = StageStatus(
            name=stage,
            state=state,
            job_ids=ids,
            active_ids=active,
            zombie_ids=zombies,
            submissions=len(history),
            reason="; ".join(reasons) if state != COMPLETED else "",
            job_states=job_states,
        )
    return Observation(statuses, adopted, ok, error, entries)


def _ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    spans: list[list[int]] = []
    for i in indices:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)


def _job_order(job_id: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in job_id.replace("-", "_").split("_"))


def record_observation(
    store: CampaignStore, observation: Observation, locked: bool = False
) -> list[tuple[str, str, str]]:
    """Journal adopted jobs and state changes since the last record; returns the changes.

    `locked`: the caller holds the controller lock. Otherwise the write happens only if the
    lock is free (a `status` beside a running `submit` records nothing).
    """
    last: dict[str, str] = {}
    for entry in observation.entries:
        if entry.get("event") == "state":
            last[entry["stage"]] = entry["state"]
    changes = [
        (name, last.get(name, NOT_SUBMITTED), status.state)
        for name, status in observation.stages.items()
        if status.state != last.get(name, NOT_SUBMITTED)
    ]
    if not changes and not observation.adopted:
        return changes

    def write() -> None:
        for record in observation.adopted.values():
            store.journal.append("adopted", **record)
        for name, _old, new in changes:
            status = observation.stages[name]
            store.journal.append("state", stage=name, state=new, jobs=status.job_states, reason=status.reason)

    if locked:
        write()
    else:
        with store.try_lock() as held:
            if held:
                write()
    return changes
