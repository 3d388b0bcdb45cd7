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
        if self.params.dataset == "jets":
            return self.run_jets(process, seed, out, meta_path)
        return self.run_events(process, seed, out, meta_path)

    def _write(self, out, meta_path, writer, fill, record: dict) -> dict:
        """Fill `writer` (fill(writer) returns per-event sums, e.g. pixels), move the file into
        place (a failure removes it), then write the JSON record and the TensorBoard scalars."""
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
            "events": written,
            "seconds": round(seconds, 3),
            "events_per_second": round(written / seconds, 2),
            "mean_per_event": {name: total / max(written, 1) for name, total in sums.items()},
            "detector": self.params.detector.model_dump(mode="json"),
        }
        atomic_write_json(meta_path, meta)
        self._tensorboard(meta)
        self.ctx.log(f"wrote {out.name}: {written} {record.get('unit', 'events')} in {seconds:.1f} s")
        return meta

    def run_events(self, process: str, seed: int, out, meta_path) -> dict:
        """e+e- events through the detector simulation into ROOT (physics/rootio.py)."""
        from ..physics.generator import generate
        from ..physics.rootio import EventWriter
        from ..physics.simulate import keep_freed_memory, simulate_event

        keep_freed_memory()
        p = self.params
        levels = tuple(p.input_levels)
        collections = LEVEL_COLLECTIONS["hits" if "hits" in levels else "clusters"]
        rng = np.random.default_rng(seed)
        process_id = process_names().index(process)

        def fill(writer) -> dict:
            counts = {name: 0 for name in collections}
            started = time.perf_counter()
            for i, particles in enumerate(generate(process, p.events_per_file, seed, p.sqrt_s, p.isr)):
                event = simulate_event(particles, p.detector, rng, levels)
                writer.add(event, {"event_id": i, "process_id": process_id, "seed": seed})
                for name in collections:
                    counts[name] += len(event[name]["gen_index"] if name != "gen" else event[name]["pid"])
                self.ctx.progress(i + 1, p.events_per_file, "events", file=out.name)
                if (i + 1) % max(1, p.events_per_file // 10) == 0:
                    rate = (i + 1) / (time.perf_counter() - started)
                    self.ctx.log(f"{process}: {i + 1}/{p.events_per_file} events ({rate:.1f}/s)")
            return counts

        record = {"process": process, "seed": seed, "levels": list(levels), "schema_version": SCHEMA_VERSION}
        return self._write(out, meta_path, EventWriter(out, collections, p.chunk_events), fill, record)

    def run_images(self, process: str, seed: int, out, meta_path) -> dict:
        """pp events (QCD or a SUEP point) as sparse detector images in ROOT (physics/image_io.py)."""
        from ..physics.image_io import ImageWriter
        from ..physics.pp import ImageBinning, generate_pp, image_event

        p = self.params
        binning = ImageBinning(p.images.eta_bins, p.images.phi_bins, p.images.eta_max)
        binning_json = json.dumps({"shape": list(binning.shape), "eta_max": binning.eta_max})
        rng = np.random.default_rng(seed)
        process_id = DATASETS["suep_images"].index(process)

        def fill(writer) -> dict:
            pixels = 0
            events = generate_pp(
                process, p.events_per_file, seed, p.images.trigger_ht, p.images.pthat_min, p.images.pileup
            )
            for i, (particles, ht) in enumerate(events):
                index, value = image_event(particles, p.detector, binning, rng)
                writer.add(i, process_id, seed, ht, index, value)
                pixels += index.size
                self.ctx.progress(i + 1, p.events_per_file, "events", file=out.name)
            return {"pixels": pixels}

        record = {
            "dataset": "suep_images",
            "process": process,
            "seed": seed,
            "image_shape": list(binning.shape),
            "pileup": p.images.pileup,
        }
        return self._write(out, meta_path, ImageWriter(out, binning_json, p.chunk_events), fill, record)

    def run_jets(self, process: str, seed: int, out, meta_path) -> dict:
        """Truth-matched boosted jets of one class with their constituents (physics/jet_io.py)."""
        from ..physics.jet_io import JetWriter
        from ..physics.jets import JetSettings, generate_jets

        p = self.params
        settings = JetSettings(**p.jets.model_dump())
        record = {"dataset": "jets", "unit": "jets", "process": process, "seed": seed, "jets": p.jets.model_dump()}

        def fill(writer) -> dict:
            constituents = 0
            for i, (event, jet) in enumerate(generate_jets(process, p.events_per_file, seed, p.detector, settings)):
                writer.add(event, seed, jet)
                constituents += jet.constituents["pt"].size
                record["pythia_events"] = event + 1
                self.ctx.progress(i + 1, p.events_per_file, "jets", file=out.name)
            return {"constituents": constituents}

        return self._write(out, meta_path, JetWriter(out, DATASETS["jets"], p.chunk_events), fill, record)

    def _tensorboard(self, meta: dict) -> None:
        from ..tb_writer import scalar_writer

        with scalar_writer(self.ctx.tensorboard_dir / "generate" / meta["file"].removesuffix(".root")) as writer:
            writer.add_scalar("generate/events_per_second", meta["events_per_second"], 0)
            for name, value in meta["mean_per_event"].items():
                writer.add_scalar(f"generate/mean_{name}_per_event", value, 0)
