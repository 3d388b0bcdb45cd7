"""Data path figures (measured, not asserted): generation rate per process and input level
with mean elements per event; staging throughput against a plain uproot read of the same
branches in the same run; peak memory of each (its own process, so the figure is its own).

    python benchmarks/data.py [--events 100] [--processes ee_qq ee_tt ...]

Prints a table and writes benchmarks/results/data.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import save

HERE = Path(__file__).resolve().parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_generate(out: Path, process: str, events: int, level: str) -> dict:
    import numpy as np

    from pipeline.physics.detector_spec import DetectorSpec
    from pipeline.physics.generator import make_pythia, particles_of
    from pipeline.physics.rootio import EventWriter
    from pipeline.physics.schema import LEVEL_COLLECTIONS
    from pipeline.physics.simulate import keep_freed_memory, simulate_event

    keep_freed_memory()  # as the generate stage does

    spec, rng = DetectorSpec(), np.random.default_rng(1)
    levels = ("clusters", "hits") if level == "hits" else ("clusters",)
    pythia = make_pythia(process, seed=1)
    writer = EventWriter(out, LEVEL_COLLECTIONS[level])
    counts = {"gen": 0, "track": 0, "cluster": 0, "hit": 0}
    gen_s = sim_s = 0.0
    steps: dict[str, float] = {}
    # Start-up (Numba's compiled clustering loads on the first event) is measured on an extra
    # event before the clock starts and reported on its own: a generate task pays it once.
    warm = time.perf_counter()
    while not pythia.next():
        pass
    simulate_event(particles_of(pythia.event), spec, np.random.default_rng(0), levels)
    startup_s = time.perf_counter() - warm
    started = time.perf_counter()
    done = 0
    while done < events:
        t0 = time.perf_counter()
        if not pythia.next():
            continue
        particles = particles_of(pythia.event)
        t1 = time.perf_counter()
        event = simulate_event(particles, spec, rng, levels, timings=steps)
        t2 = time.perf_counter()
        gen_s, sim_s = gen_s + t1 - t0, sim_s + t2 - t1
        writer.add(event, {"event_id": done, "process_id": 0, "seed": 1})
        for name in counts:
            if name in event:
                counts[name] += len(event[name]["gen_index" if name != "gen" else "pid"])
        done += 1
    writer.close()
    total = time.perf_counter() - started
    return {
        "events_per_s": events / total,
        "startup_s": startup_s,
        "pythia_ms_per_event": 1e3 * gen_s / events,
        "detector_ms_per_event": 1e3 * sim_s / events,
        "step_ms_per_event": {name: 1e3 * seconds / events for name, seconds in steps.items()},
        "mean_per_event": {k: v / events for k, v in counts.items() if v},
        "file_mb": out.stat().st_size / 1e6,
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_stage(files: list[Path], out: Path, level: str) -> dict:
    from pipeline.data.staging import stage_files
    from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams

    params = StageDataParams(input_level=level, max_events_per_shard=500, step_size=200)
    started = time.perf_counter()
    manifest = stage_files(files, out, params, log=lambda m: None)
    seconds = time.perf_counter() - started
    events = sum(s["events"] for s in manifest["shards"])
    return {"seconds": seconds, "events": events, "peak_rss_mb": peak_rss_mb()}


def worker_read(files: list[Path], level: str) -> dict:
    import uproot

    from pipeline.data.staging import ElementReader
    from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams

    params = StageDataParams(input_level=level)
    branches = ElementReader(params.features, level, "events", 200).required_branches()
    started = time.perf_counter()
    events = 0
    for path in files:
        for chunk in uproot.open(path)["events"].iterate(branches, step_size=200, library="ak"):
            events += len(chunk)
    return {"seconds": time.perf_counter() - started, "events": events, "peak_rss_mb": peak_rss_mb()}


def run_worker(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--processes", nargs="+", default=["ee_qq", "ee_tt", "ee_zh", "ee_ww", "ee_zz"])
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "generate":
            result = worker_generate(Path(rest[0]), rest[1], int(rest[2]), rest[3])
        elif kind == "stage":
            result = worker_stage([Path(p) for p in rest[2:]], Path(rest[0]), rest[1])
        else:
            result = worker_read([Path(p) for p in rest[1:]], rest[0])
        print(json.dumps(result))
        return 0

    results: dict = {"generation": {}, "staging": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hit_files = []
        for process in args.processes:
            for level in ("clusters", "hits"):
                path = tmp / f"{process}_{level}.root"
                results["generation"][f"{process}/{level}"] = run_worker(
                    "generate", str(path), process, str(args.events), level
                )
                if level == "hits":
                    hit_files.append(path)
        source_mb = sum(p.stat().st_size for p in hit_files) / 1e6
        for level in ("clusters", "hits"):
            stage = run_worker("stage", str(tmp / f"staged_{level}"), level, *map(str, hit_files))
            read = run_worker("read", level, *map(str, hit_files))
            results["staging"][level] = {
                "events": stage["events"],
                "source_mb": source_mb,
                "staging_events_per_s": stage["events"] / stage["seconds"],
                "staging_mb_per_s": source_mb / stage["seconds"],
                "plain_read_events_per_s": read["events"] / read["seconds"],
                "staging_over_plain_read_time": stage["seconds"] / read["seconds"],
                "staging_peak_rss_mb": stage["peak_rss_mb"],
                "plain_read_peak_rss_mb": read["peak_rss_mb"],
            }

    print(f"Generation ({args.events} events per process and level, one core, after a start-up event):")
    header = ("process/level", "ev/s", "pythia ms", "det ms", "tracks", "clusters", "hits", "MB", "start s")
    print(f"{header[0]:<18} " + " ".join(f"{h:>9}" for h in header[1:]))
    for key, r in results["generation"].items():
        m = r["mean_per_event"]
        print(
            f"{key:<18} {r['events_per_s']:>9.1f} {r['pythia_ms_per_event']:>9.2f} {r['detector_ms_per_event']:>9.1f} "
            f"{m.get('track', 0):>9.1f} {m.get('cluster', 0):>9.1f} {m.get('hit', 0):>9.0f} {r['file_mb']:>9.1f}"
            f" {r['startup_s']:>9.2f}"
        )
    print("Detector simulation, ms per event per step:")
    for key, r in results["generation"].items():
        print(f"{key:<18} " + "  ".join(f"{step} {ms:.1f}" for step, ms in r["step_ms_per_event"].items()))
    print("Staging (all hits-level files) vs a plain uproot read of the same branches:")
    for level, r in results["staging"].items():
        print(
            f"  {level:<8} {r['staging_events_per_s']:.0f} ev/s, {r['staging_mb_per_s']:.1f} MB/s; plain read "
            f"{r['plain_read_events_per_s']:.0f} ev/s; time ratio {r['staging_over_plain_read_time']:.2f}; "
            f"peak RSS {r['staging_peak_rss_mb']:.0f} MB (plain read {r['plain_read_peak_rss_mb']:.0f} MB)"
        )
    save("data", {"events_per_process": args.events, **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
