"""The stage interface: what a stage kind implements and what it is handed."""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .atomic import append_line
from .progress import PROGRESS_DIR, ProgressReporter
from .site import SiteProfile
from .spec import Resources


@dataclass
class StageContext:
    """Everything a stage may touch: its own dir, its upstream dirs, its place in the job."""

    campaign_dir: Path
    stage: str
    stage_dir: Path
    params: BaseModel
    resources: Resources
    site: SiteProfile
    upstream: dict[str, Path]
    tensorboard_dir: Path
    upstream_kinds: dict[str, str] = field(default_factory=dict)  # stage kind of each upstream
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    array_index: int | None = None
    array_size: int | None = None
    attempt: int = 1
    job_id: str = ""
    hostname: str = field(default_factory=socket.gethostname)
    _progress: ProgressReporter | None = field(default=None, repr=False)

    def derive(self, stage: str, stage_dir: Path, params: BaseModel, rank: int, world_size: int) -> StageContext:
        """The context of work inside this stage (a search trial): its own directory, name and
        parameters and ranks; the campaign, site, resources, upstream and job are the stage's."""
        return StageContext(
            campaign_dir=self.campaign_dir,
            stage=stage,
            stage_dir=stage_dir,
            params=params,
            resources=self.resources,
            site=self.site,
            upstream=self.upstream,
            tensorboard_dir=self.tensorboard_dir,
            upstream_kinds=self.upstream_kinds,
            rank=rank,
            world_size=world_size,
            local_rank=rank,
            job_id=self.job_id,
        )

    @property
    def outputs_dir(self) -> Path:
        return self.stage_dir / "outputs"

    @property
    def report_dir(self) -> Path:
        """The stage's report folder, report/<stage>/ in the campaign (evaluate stages)."""
        return self.campaign_dir / "report" / self.stage

    @property
    def checkpoints_dir(self) -> Path:
        return self.stage_dir / "checkpoints"

    @property
    def logs_dir(self) -> Path:
        return self.stage_dir / "logs"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def upstream_outputs(self, name: str) -> Path:
        """The outputs/ dir of an upstream stage named in `needs`."""
        try:
            return self.upstream[name] / "outputs"
        except KeyError:
            raise KeyError(f"stage {self.stage!r} does not need {name!r} (needs: {sorted(self.upstream)})") from None

    def manifest(self, explicit: str | None, purpose: str) -> Path:
        """The staged data: `explicit` (params.data) if given, else the manifest of the first
        upstream stage whose kind declares a manifest.json among its outputs (stage_data, or a
        plug-in kind that stages)."""
        from . import stages

        if explicit:
            return Path(explicit)
        for name in self.upstream:
            kind = self.upstream_kinds.get(name)
            if kind is not None and "manifest.json" in stages.get(kind).outputs:
                return self.upstream_outputs(name) / "manifest.json"
        raise FileNotFoundError(f"no data {purpose}: set params.data or need a stage_data stage")

    def progress(self, done: float, total: float | None, unit: str, force: bool = False, **fields: Any) -> None:
        """Report how much of this task's work is done (rank 0; throttled): status and --wait show it.
        COLLIDERFLOW_PROGRESS=0 in the stage's environment turns it off."""
        if not self.is_main or os.environ.get("COLLIDERFLOW_PROGRESS", "1") == "0":
            return
        if self._progress is None:
            self._progress = ProgressReporter(self.progress_path)
        self._progress.update(done, total, unit, force=force, **fields)

    @property
    def progress_path(self) -> Path:
        """This task's progress record (see pipeline/progress.py)."""
        return self.stage_dir / PROGRESS_DIR / f"task-{0 if self.array_index is None else self.array_index}.json"

    def log(self, message: str) -> None:
        """Append a timestamped line to the stage's own log (logs/stage.log) and print it."""
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        task = "" if self.array_index is None else f" task={self.array_index}"
        line = f"{stamp} [{self.stage} rank={self.rank}/{self.world_size}{task} {self.hostname}] {message}"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        append_line(self.logs_dir / "stage.log", line)
        print(line, flush=True)


class StageInterrupted(BaseException):  # noqa: N818 - not an error: a controlled stop
    """Raised by a stage that stopped on a signal after writing its checkpoint. With
    `requeue`, the job goes back to the queue (Slurm) and continues from the checkpoint."""

    def __init__(self, requeue: bool) -> None:
        super().__init__("requeue" if requeue else "interrupted")
        self.requeue = requeue


class Stage:
    """A stage kind's implementation. Small on purpose: run, and checkpoint before a requeue."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.params: Any = ctx.params

    def run(self) -> Any:
        """Do the work; read upstream outputs, write into ctx.outputs_dir. A JSON-able return is saved."""
        raise NotImplementedError

    def checkpoint(self) -> None:
        """Save what is needed to continue, called on the requeue signal before the job is requeued."""
