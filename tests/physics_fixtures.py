"""Small real datasets for the physics and staging tests (Pythia 8 + the detector simulation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.physics.detector_spec import DetectorSpec
from pipeline.physics.generator import generate
from pipeline.physics.processes import process_names
from pipeline.physics.rootio import EventWriter
from pipeline.physics.schema import LEVEL_COLLECTIONS
from pipeline.physics.simulate import simulate_event

# Charge and mass of the particles the tests shoot into the detector.
CHARGE_MASS = {22: (0.0, 0.0), 11: (-1.0, 0.000511), 13: (-1.0, 0.10566), 211: (1.0, 0.13957), 130: (0.0, 0.49761)}


def write_files(directory: Path, processes: list[str], events: int, levels=("clusters", "hits")) -> list[Path]:
    spec = DetectorSpec()
    paths = []
    for index, process in enumerate(processes):
        seed = 100 + index
        rng = np.random.default_rng(seed)
        path = directory / f"{process}_{index:04d}.root"
        writer = EventWriter(path, LEVEL_COLLECTIONS["hits" if "hits" in levels else "clusters"], chunk_events=7)
        for i, particles in enumerate(generate(process, events, seed)):
            event = simulate_event(particles, spec, rng, levels)
            writer.add(event, {"event_id": i, "process_id": process_names().index(process), "seed": seed})
        writer.close()
        paths.append(path)
    return paths


def gun(pid: int, energy: float, n: int, rng: np.random.Generator, eta_max: float = 0.8) -> list[dict]:
    """Single-particle events from the origin, flat in eta (barrel) and phi."""
    charge, mass = CHARGE_MASS[pid]
    events = []
    for _ in range(n):
        eta, phi = rng.uniform(-eta_max, eta_max), rng.uniform(-np.pi, np.pi)
        p = np.sqrt(max(energy**2 - mass**2, 0))
        pt = p / np.cosh(eta)
        events.append(
            {
                "pid": np.array([pid], dtype=np.int32),
                "charge": np.array([charge]),
                "px": np.array([pt * np.cos(phi)]),
                "py": np.array([pt * np.sin(phi)]),
                "pz": np.array([pt * np.sinh(eta)]),
                "energy": np.array([energy]),
                "vx": np.zeros(1),
                "vy": np.zeros(1),
                "vz": np.zeros(1),
            }
        )
    return events


def small_training_set(directory: Path) -> Path:
    """48 Pythia events (qq, tt, qq) staged into 8-event shards, 2/3 train and 1/3 val: the
    data of the training and search tests. Returns the manifest."""
    from pipeline.data.staging import stage_files
    from pipeline.families.particle_flow.params import ParticleFlowStageData as StageDataParams

    files = write_files(directory, ["ee_qq", "ee_tt", "ee_qq"], events=16, levels=("clusters",))
    params = StageDataParams(split={"train": 0.67, "val": 0.33, "test": 0.0}, max_events_per_shard=8)
    stage_files(files, directory / "staged", params, log=lambda m: None)
    return directory / "staged" / "manifest.json"
