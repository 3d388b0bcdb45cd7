"""The `stage_data` stage kind: ROOT files from upstream stages (and `inputs`) into shards."""

from __future__ import annotations

import glob
from pathlib import Path

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
        from ..data.staging import stage_files

        files = self.input_files()
        if not files:
            raise FileNotFoundError("no ROOT files to stage (no upstream outputs and no params.inputs)")
        if self.params.dataset in ("suep_images", "jets"):
            from ..data.image_staging import stage_images
            from ..data.jet_staging import stage_jets

            p = self.params
            if p.dataset == "jets":
                manifest = stage_jets(files, self.ctx.outputs_dir, p.split, p.seed, p.max_constituents, self.ctx.log)
            else:
                manifest = stage_images(files, self.ctx.outputs_dir, p.split, p.seed, self.ctx.log)
            summary = {split: info["events"] for split, info in manifest["splits"].items()}
            return {"manifest": str(self.ctx.outputs_dir / "manifest.json"), "events": summary, "quarantined": []}
        self.ctx.log(f"staging {len(files)} file(s) at the {self.params.input_level} level")
        manifest = stage_files(
            files,
            self.ctx.outputs_dir,
            self.params,
            task_index=self.ctx.array_index or 0,
            task_count=self.ctx.array_size or 1,
            log=self.ctx.log,
            progress=self.ctx.progress,
        )
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
