"""The `stage_data` stage kind: ROOT files from upstream stages (and `inputs`) into shards and
a manifest, by the family its `dataset` names (pipeline/families/): every family's staging is
resumable, shared over array tasks, bounded per shard, and quarantines bad files with
`on_error: skip` (pipeline/data/file_staging.py)."""

from __future__ import annotations

import glob
from pathlib import Path

from ..families import get_family
from ..stage import Stage


class StageDataStage(Stage):
    def input_files(self) -> list[Path]:
        files: set[Path] = set()
        for name in self.ctx.upstream:
            files.update(self.ctx.upstream_outputs(name).glob("*.root"))
        for pattern in self.params.inputs:
            matches = glob.glob(pattern)
            if not matches:
                raise FileNotFoundError(f"params.inputs: {pattern!r} matches no file")
            files.update(Path(m) for m in matches)
        return sorted(files, key=lambda p: p.name)

    def run(self) -> dict:
        files = self.input_files()
        if not files:
            raise FileNotFoundError("no ROOT files to stage (no upstream outputs and no params.inputs)")
        manifest = get_family(self.params.dataset).load().stage(self, files)
        if manifest is None:
            return {"manifest": None, "note": "other array tasks still running"}
        summary = {split: info["events"] for split, info in manifest["splits"].items()}
        quarantined = [q["source"] for q in manifest["quarantined"]]
        self.ctx.log(f"manifest written: {summary}; quarantined: {quarantined or 'none'}")
        return {
            "manifest": str(self.ctx.outputs_dir / "manifest.json"),
            "events": summary,
            "quarantined": quarantined,
        }
