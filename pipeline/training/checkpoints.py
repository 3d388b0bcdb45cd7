"""Checkpoints: DeepSpeed's save/load per tag, each rank's RNG state beside it, and a pointer
(LATEST.json) updated atomically only after every rank has finished writing, so a crash
mid-save leaves the previous checkpoint in charge. The last K and the best are kept."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_write_json
from . import distributed


class CheckpointMismatch(RuntimeError):
    """The checkpoint cannot be resumed with this run's layout (world size, ZeRO stage)."""


class CheckpointStore:
    def __init__(self, root: Path, rank: int, world_size: int, zero_stage: int, keep_last: int = 3) -> None:
        self.root = Path(root)
        self.rank = rank
        self.world_size = world_size
        self.zero_stage = zero_stage
        self.keep_last = keep_last

    def latest(self) -> dict[str, Any] | None:
        path = self.root / "LATEST.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save(self, engine, tag: str, state: dict[str, Any], metric: float | None = None) -> None:
        """Collective: every rank calls it at the same step."""
        finite = all(bool(torch.isfinite(p).all()) for p in engine.module.parameters())
        if not distributed.all_true(finite, next(engine.module.parameters()).device):
            raise FloatingPointError(f"refusing to write checkpoint {tag}: the weights are not finite")
        state = {**state, "world_size": self.world_size, "zero_stage": self.zero_stage, "tag": tag}
        engine.save_checkpoint(str(self.root), tag=tag, client_state=state, save_latest=False)
        rng = {"torch": torch.get_rng_state(), "python": random.getstate()}
        torch.save(rng, self.root / tag / f"rng_rank{self.rank}.pt")
        distributed.barrier()
        if self.rank == 0:
            best = self._best()
            if metric is not None and (best is None or metric < best["metric"]):
                best = {"tag": tag, "metric": metric, "step": state["step"]}
                atomic_write_json(self.root / "BEST.json", best)
            pointer = {k: state[k] for k in ("tag", "step", "epoch", "batch", "world_size", "zero_stage")}
            atomic_write_json(self.root / tag / "pointer.json", pointer)
            atomic_write_json(self.root / "LATEST.json", pointer)
            self._prune(keep={tag} | ({best["tag"]} if best else set()))
        distributed.barrier()

    def best_metric(self) -> float:
        """The best validation metric recorded so far (inf when none): survives a resume."""
        best = self._best()
        return float(best["metric"]) if best else float("inf")

    def best(self) -> dict[str, Any] | None:
        """The checkpoint with the lowest validation metric (tag, metric, step), or None."""
        return self._best()

    def rewind(self, tag: str) -> None:
        """Make `tag` the checkpoint to resume from (an HPO trial restored from an earlier epoch)."""
        saved = self.root / tag
        if not saved.is_dir():
            raise FileNotFoundError(f"checkpoint {saved} is gone; cannot rewind to it")
        record = json.loads((saved / "pointer.json").read_text())
        atomic_write_json(self.root / "LATEST.json", record)

    def _best(self) -> dict[str, Any] | None:
        path = self.root / "BEST.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def _prune(self, keep: set[str]) -> None:
        tags = sorted((p for p in self.root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        recent = {p.name for p in tags[-self.keep_last :]}
        for path in tags:
            if path.name not in keep | recent:
                shutil.rmtree(path, ignore_errors=True)

    def load(self, engine) -> dict[str, Any] | None:
        """Restore the latest checkpoint into the engine; None when there is none."""
        latest = self.latest()
        if latest is None:
            return None
        tag = latest["tag"]
        saved = latest
        if saved["world_size"] != self.world_size and (saved["zero_stage"] > 0 or self.zero_stage > 0):
            raise CheckpointMismatch(
                f"checkpoint {self.root / tag} was written by {saved['world_size']} rank(s) with ZeRO stage "
                f"{saved['zero_stage']}; this run has {self.world_size} rank(s) (ZeRO {self.zero_stage}). "
                "Resume with the same number of ranks (resources.nodes x tasks_per_node), or train with "
                "zero_stage: 0, whose checkpoints can change size."
            )
        _, state = engine.load_checkpoint(
            str(self.root), tag=tag, load_optimizer_states=True, load_lr_scheduler_states=True
        )
        rng_file = self.root / tag / f"rng_rank{self.rank}.pt"
        if rng_file.is_file() and saved["world_size"] == self.world_size:
            rng = torch.load(rng_file, weights_only=True)
            torch.set_rng_state(rng["torch"])
            random.setstate(_as_tuple(rng["python"]))
        return state


def _as_tuple(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_as_tuple(v) for v in value)
    return value
