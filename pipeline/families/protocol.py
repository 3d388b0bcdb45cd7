"""What a family's implementation provides (the class its `Family.implementation` names; it is
imported inside the job, so it may import torch). Each method is handed the generic stage
(`stage.ctx` is its StageContext, `stage.params` its family's parameters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class FamilyImplementation(Protocol):
    def generate(self, stage: Any, process: str, seed: int, out: Path, meta_path: Path) -> dict[str, Any]:
        """Write one ROOT file `out` of `process` and its JSON record `meta_path`; return the record.
        (A family without a generator registers no generate_params and may raise here.)"""

    def stage(self, stage: Any, files: list[Path]) -> dict[str, Any] | None:
        """Stage `files` into stage.ctx.outputs_dir: shards and manifest.json (with "family").
        Returns the manifest, or None while other array tasks still work on their share."""

    def evaluate(self, stage: Any) -> dict[str, Any]:
        """Evaluate stage.model_files() on stage.manifest; write report/<stage>/ (metrics.json
        with "family" and "task", report.md, plots/); return the stage's summary."""
