"""The `generate` stage kind: Pythia 8 events through the detector simulation into ROOT files."""

from __future__ import annotations

import json
import time

import numpy as np

from ..atomic import atomic_write_json
from ..physics.processes import process_names
from ..physics.schema import LEVEL_COLLECTIONS, SCHEMA_VERSION
from ..stage import Stage
from .params.generate import DATASETS


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
        if self.params.dataset == "suep_images":
            return self.run_images(process, seed, out, meta_path)
        return self.run_events(process, seed, out, meta_path)

    def run_events(self, process: str, seed: int, out, meta_path) -> dict:
        """e+e- events through the detector simulation into ROOT (physics/rootio.py)."""
        from ..physics.generator import generate
        from ..physics.rootio import EventWriter
        from ..physics.simulate import simulate_event

        levels = tuple(self.params.input_levels)
        collections = LEVEL_COLLECTIONS["hits" if "hits" in levels else "clusters"]
        rng = np.random.default_rng(seed)
        writer = EventWriter(out, collections, self.params.chunk_events)
        counts = {name: 0 for name in collections}
        started = time.perf_counter()
        process_id = process_names().index(process)
        try:
            for i, particles in enumerate(
                generate(process, self.params.events_per_file, seed, self.params.sqrt_s, self.params.isr)
            ):
                event = simulate_event(particles, self.params.detector, rng, levels)
                writer.add(event, {"event_id": i, "process_id": process_id, "seed": seed})
                for name in collections:
                    counts[name] += len(event[name]["gen_index"] if name != "gen" else event[name]["pid"])
                self.ctx.progress(i + 1, self.params.events_per_file, "events", file=out.name)
                if (i + 1) % max(1, self.params.events_per_file // 10) == 0:
                    rate = (i + 1) / (time.perf_counter() - started)
                    self.ctx.log(f"{process}: {i + 1}/{self.params.events_per_file} events ({rate:.1f}/s)")
            events = writer.close()
        except BaseException:
            writer.abort()
            raise
        seconds = time.perf_counter() - started
        meta = {
            "file": out.name,
            "process": process,
            "seed": seed,
            "events": events,
            "seconds": round(seconds, 3),
            "events_per_second": round(events / seconds, 2),
            "mean_per_event": {name: counts[name] / max(events, 1) for name in collections},
            "levels": list(levels),
            "schema_version": SCHEMA_VERSION,
            "detector": self.params.detector.model_dump(mode="json"),
        }
        atomic_write_json(meta_path, meta)
        self._tensorboard(meta)
        self.ctx.log(f"wrote {out.name}: {events} events in {seconds:.1f} s")
        return meta

    def run_images(self, process: str, seed: int, out, meta_path) -> dict:
        """pp events (QCD or a SUEP point) as sparse detector images in ROOT (physics/image_io.py)."""
        from ..physics.image_io import ImageWriter
        from ..physics.pp import ImageBinning, generate_pp, image_event

        p = self.params
        binning = ImageBinning(p.images.eta_bins, p.images.phi_bins, p.images.eta_max)
        binning_json = json.dumps({"shape": list(binning.shape), "eta_max": binning.eta_max})
        rng = np.random.default_rng(seed)
        writer = ImageWriter(out, binning_json, p.chunk_events)
        process_id = DATASETS["suep_images"].index(process)
        started, pixels = time.perf_counter(), 0
        try:
            events = generate_pp(
                process, p.events_per_file, seed, p.images.trigger_ht, p.images.pthat_min, p.images.pileup
            )
            for i, (particles, ht) in enumerate(events):
                index, value = image_event(particles, p.detector, binning, rng)
                writer.add(i, process_id, seed, ht, index, value)
                pixels += index.size
                self.ctx.progress(i + 1, p.events_per_file, "events", file=out.name)
            events_written = writer.close()
        except BaseException:
            writer.abort()
            raise
        seconds = time.perf_counter() - started
        meta = {
            "file": out.name,
            "dataset": "suep_images",
            "process": process,
            "seed": seed,
            "events": events_written,
            "seconds": round(seconds, 3),
            "events_per_second": round(events_written / seconds, 2),
            "mean_per_event": {"pixels": pixels / max(events_written, 1)},
            "image_shape": list(binning.shape),
            "pileup": p.images.pileup,
            "detector": p.detector.model_dump(mode="json"),
        }
        atomic_write_json(meta_path, meta)
        self._tensorboard(meta)
        self.ctx.log(f"wrote {out.name}: {events_written} events in {seconds:.1f} s")
        return meta

    def _tensorboard(self, meta: dict) -> None:
        from ..tb_writer import scalar_writer

        with scalar_writer(self.ctx.tensorboard_dir / "generate" / meta["file"].removesuffix(".root")) as writer:
            writer.add_scalar("generate/events_per_second", meta["events_per_second"], 0)
            for name, value in meta["mean_per_event"].items():
                writer.add_scalar(f"generate/mean_{name}_per_event", value, 0)
