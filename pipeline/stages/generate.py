"""The `generate` stage kind: one ROOT file per array task, made by the family its `dataset`
names (pipeline/families/): which process and seed a task makes, and the file's JSON record
and TensorBoard scalars, are the same for every family."""

from __future__ import annotations

import json
import time

from ..atomic import atomic_write_json
from ..families import get_family
from ..stage import Stage


class GenerateStage(Stage):
    def file_plan(self) -> tuple[str, int, int]:
        """(process, file number, seed) of this array task."""
        index = self.ctx.array_index or 0
        processes = self.params.processes
        process = processes[index % len(processes)]
        # the file number counts this process's earlier tasks, so a process listed twice (to
        # weight it) gets distinct files; for a list without repeats it is index // len
        number = sum(processes[j % len(processes)] == process for j in range(index))
        return process, number, self.params.seed + index

    def run(self) -> dict:
        process, number, seed = self.file_plan()
        out = self.ctx.outputs_dir / f"{process}_{number:04d}.root"
        meta_path = out.with_suffix(".json")
        if out.is_file() and meta_path.is_file():
            self.ctx.log(f"{out.name} already complete; nothing to do")
            return json.loads(meta_path.read_text())
        self.check_time(process, out.name)
        return get_family(self.params.dataset).load().generate(self, process, seed, out, meta_path)

    def check_time(self, process: str, name: str) -> None:
        """Do not start a file that cannot be finished before the job's time limit: its expected
        time is that of the files of the same process already made (by any task), scaled to this
        file's events. Too little time left: requeued; a file longer than the whole limit: an error."""
        from ..deadline import stage_timer, start_or_requeue

        timer = stage_timer(self.ctx, self.params.deadline_margin_s)
        for path in sorted(self.ctx.outputs_dir.glob(f"{process}_*.json")):
            try:
                done = json.loads(path.read_text())
                timer.record("file", done["seconds"] * self.params.events_per_file / max(done["events"], 1))
            except (ValueError, KeyError, TypeError):
                continue
        if "file" in timer.mean:
            advice = "raise resources.time or lower events_per_file"
            start_or_requeue(timer, timer.estimate("file"), f"{name} ({process})", advice, self.ctx.log)

    def write_file(self, out, meta_path, writer, fill, record: dict, details=None) -> dict:
        """For a family's generator: fill `writer` (fill(writer) returns per-event sums, e.g.
        pixels), move the file into place (a failure removes it), then write the JSON record (the
        family's `record`, what `details()` returns once the file is filled, the counts and rate)
        and the TensorBoard scalars."""
        started = time.perf_counter()
        try:
            sums = fill(writer)
            written = writer.close()
        except BaseException:
            writer.abort()
            raise
        seconds = time.perf_counter() - started
        meta = {
            "file": out.name,
            **record,
            **(details() if details else {}),
            "events": written,
            "seconds": round(seconds, 3),
            "events_per_second": round(written / seconds, 2),
            "mean_per_event": {name: total / max(written, 1) for name, total in sums.items()},
        }
        atomic_write_json(meta_path, meta)
        self._tensorboard(meta)
        self.ctx.log(f"wrote {out.name}: {written} {record.get('unit', 'events')} in {seconds:.1f} s")
        return meta

    def _tensorboard(self, meta: dict) -> None:
        from ..tb_writer import scalar_writer

        with scalar_writer(self.ctx.tensorboard_dir / "generate" / meta["file"].removesuffix(".root")) as writer:
            writer.add_scalar("generate/events_per_second", meta["events_per_second"], 0)
            for name, value in meta["mean_per_event"].items():
                writer.add_scalar(f"generate/mean_{name}_per_event", value, 0)
