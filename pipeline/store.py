"""The campaign directory: frozen specs, journal, stage dirs and markers, and the controller lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .atomic import atomic_write_json, atomic_write_text, read_json
from .errors import CampaignBusy, UserError
from .journal import Journal
from .loader import CampaignSpec, load_yaml, validate_site, validate_workflow

CAMPAIGN_FILE = "campaign.json"


def job_name(campaign: str, stage: str) -> str:
    """The scheduler's job name of a stage: how the queue is matched to a campaign."""
    return f"cf.{campaign}.{stage}"


class CampaignStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.journal = Journal(self.root / "journal.jsonl")

    # ---- creation and opening -------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, spec: CampaignSpec, name: str) -> CampaignStore:
        """Create the campaign dir atomically (built aside, then renamed into place)."""
        root = Path(root).resolve()
        if root.exists():
            raise UserError(f"campaign directory {root} already exists (use `colliderflow resume {root}`)")
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        try:
            workflow = spec.workflow.model_dump(mode="json")
            workflow["name"] = name
            atomic_write_text(staging / "workflow.yaml", yaml.safe_dump(workflow, sort_keys=False))
            atomic_write_text(staging / "site.yaml", yaml.safe_dump(spec.site.model_dump(mode="json"), sort_keys=False))
            meta = {
                "uid": uuid.uuid4().hex,
                "name": name,
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "workflow_file": str(spec.workflow_file.resolve()),
                "site_file": str(spec.site_file.resolve()),
                "overrides": list(spec.overrides),
                "submit_cwd": os.getcwd(),
                # Users' own `python` stage modules are imported from beside the workflow file.
                "pythonpath": [str(spec.workflow_file.resolve().parent), os.getcwd()],
                "python": sys.executable,
                "colliderflow_version": __version__,
            }
            atomic_write_json(staging / CAMPAIGN_FILE, meta)
            for sub in ("stages", "tensorboard", "report"):
                (staging / sub).mkdir()
            from .provenance import record as record_provenance

            key = record_provenance(staging, "submit")  # the code, packages and container submitted
            Journal(staging / "journal.jsonl").append("created", name=name, site=spec.site.name, provenance=key)
            os.rename(staging, root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return cls(root)

    @classmethod
    def open(cls, root: Path) -> CampaignStore:
        store = cls(root)
        if not (store.root / CAMPAIGN_FILE).is_file():
            raise UserError(f"{store.root}: not a campaign directory (no {CAMPAIGN_FILE})")
        store.spec  # noqa: B018 - validate the frozen files now, with a clear error
        return store

    @cached_property
    def meta(self) -> dict[str, Any]:
        return read_json(self.root / CAMPAIGN_FILE)

    @cached_property
    def spec(self) -> CampaignSpec:
        workflow_file = self.root / "workflow.yaml"
        site_file = self.root / "site.yaml"
        site = validate_site(load_yaml(site_file), str(site_file))
        workflow = validate_workflow(load_yaml(workflow_file), str(workflow_file))
        return CampaignSpec(workflow, site, workflow_file, site_file, tuple(self.meta.get("overrides", ())))

    @property
    def name(self) -> str:
        return self.meta["name"]

    # ---- stage directories and markers ----------------------------------------------------
    def stage_dir(self, stage: str) -> Path:
        return self.root / "stages" / stage

    def done_marker(self, stage: str) -> Path:
        return self.stage_dir(stage) / "DONE"

    def task_marker(self, stage: str, index: int | None) -> Path:
        return self.stage_dir(stage) / "tasks" / f"{0 if index is None else index}.done"

    def attempt_file(self, stage: str, job_id: str) -> Path:
        return self.stage_dir(stage) / "attempts" / f"{job_id}.json"

    def job_name(self, stage: str) -> str:
        return job_name(self.name, stage)

    def array_size(self, stage: str) -> int | None:
        return self.spec.workflow.stages[stage].resources.array

    def is_done(self, stage: str) -> bool:
        return self.done_marker(stage).is_file()

    def missing_tasks(self, stage: str) -> list[int]:
        size = self.array_size(stage) or 1
        return [i for i in range(size) if not self.task_marker(stage, i).is_file()]

    def read_attempt(self, stage: str, job_id: str) -> dict[str, Any] | None:
        try:
            return read_json(self.attempt_file(stage, job_id))
        except (OSError, ValueError):
            return None

    # ---- the controller lock ---------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, action: str) -> Iterator[None]:
        """Exclusive controller lock; a second controller gets CampaignBusy at once."""
        path = self.root / ".lock"
        handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the context
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise CampaignBusy(
                    f"campaign {self.root} is busy: {holder}. Wait for it, or stop that process."
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"`{action}` by pid {os.getpid()} on {socket.gethostname()}")
            handle.flush()
            yield
        finally:
            handle.close()

    def try_lock(self) -> contextlib.AbstractContextManager[bool]:
        return _TryLock(self.root / ".lock")


class _TryLock:
    """Non-blocking lock for optional writes (status recording what it saw): yields held or not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = None

    def __enter__(self) -> bool:
        self.handle = open(self.path, "a+")  # noqa: SIM115
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.handle:
            self.handle.close()


def find_campaign(arg: str) -> CampaignStore:
    """A campaign by directory, or by name under ./campaigns (or $COLLIDERFLOW_CAMPAIGNS)."""
    candidates = [Path(arg)]
    roots = [Path(p) for p in os.environ.get("COLLIDERFLOW_CAMPAIGNS", "").split(os.pathsep) if p]
    candidates += [root / arg for root in roots + [Path("campaigns")]]
    for candidate in candidates:
        if (candidate / CAMPAIGN_FILE).is_file():
            return CampaignStore.open(candidate)
    looked = ", ".join(str(c) for c in candidates)
    raise UserError(f"no campaign {arg!r} (looked in: {looked})")
