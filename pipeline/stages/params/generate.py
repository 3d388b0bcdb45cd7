"""Parameters of the `generate` stage kind (light: validated at submit time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from ...physics.detector_spec import DetectorSpec
from ...physics.processes import PROCESSES
from ...spec import Strict

ProcessName = Literal[tuple(sorted(PROCESSES))]  # type: ignore[valid-type]


class GenerateParams(Strict):
    processes: list[ProcessName] = Field(
        min_length=1, description="Processes; array task i makes one file of processes[i % len]."
    )
    events_per_file: PositiveInt = Field(description="Events in each ROOT file (one file per array task).")
    seed: int = Field(1, ge=0, description="Base seed; file i uses seed + i (Pythia and detector).")
    sqrt_s: float = Field(380.0, gt=0, description="Centre-of-mass energy (GeV).")
    isr: bool = Field(False, description="Initial-state radiation from the lepton beams (Pythia PDF:lepton).")
    input_levels: list[Literal["clusters", "hits"]] = Field(
        ["clusters"], min_length=1, description="Write clusters, and also raw calorimeter hits if 'hits'."
    )
    chunk_events: PositiveInt = Field(200, description="Events buffered per ROOT basket write.")
    detector: DetectorSpec = Field(default_factory=DetectorSpec, description="Detector geometry and response.")
