"""A stage's context rebuilt from the campaign directory, in the process that runs it (a job's
task, a search trial's Ray worker or rank)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import stages as stage_kinds
from .stage import StageContext


def open_context(campaign_dir: str, stage: str, array_index: int | None) -> tuple[StageContext, Any, Any]:
    """(the stage's context in this process, the campaign store, the stage kind), its
    directories made."""
    from slurm import launch_env

    from .store import CampaignStore

    store = CampaignStore.open(Path(campaign_dir))
    for entry in store.meta.get("pythonpath", []):
        if entry not in sys.path:
            sys.path.append(entry)
    spec = store.spec
    stage_spec = spec.workflow.stages[stage]
    kind = stage_kinds.get(stage_spec.kind)
    process = launch_env.current()
    ctx = StageContext(
        campaign_dir=store.root,
        stage=stage,
        stage_dir=store.stage_dir(stage),
        params=kind.validate(stage_spec.params),
        resources=stage_spec.resources,
        site=spec.site,
        upstream={name: store.stage_dir(name) for name in stage_spec.needs},
        upstream_kinds={name: spec.workflow.stages[name].kind for name in stage_spec.needs},
        tensorboard_dir=store.root / "tensorboard",
        rank=process.rank,
        world_size=process.world_size,
        local_rank=process.local_rank,
        array_index=array_index,
        array_size=stage_spec.resources.array,
        attempt=process.restart_count + 1,
        job_id=process.job_id,
    )
    for directory in (ctx.outputs_dir, ctx.checkpoints_dir, ctx.logs_dir, ctx.stage_dir / "attempts"):
        directory.mkdir(parents=True, exist_ok=True)
    return ctx, store, kind


def build_context(campaign_dir: str, stage: str, array_index: int | None) -> StageContext:
    return open_context(campaign_dir, stage, array_index)[0]
