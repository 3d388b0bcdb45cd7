"""Bunch crossings for the reference image definition: the hard interaction (QCD or a SUEP
point, physics/pp.py) at its vertex, pileup over the luminous region (physics/pileup.py), the
image and the pileup-corrected HT (physics/reference_images.py), and the trigger cut HT >=
trigger_ht applied the same way to background and signal.

A generator-level pre-selection saves the pileup and image work of events that cannot pass: the
hard interaction's own HT (anti-kt 0.4 jets of its visible particles, no detector) must reach
`preselect_ht`, set well below the trigger (benchmarks/suep.py measures what it loses). Each
kept event carries Pythia's event weight (1 unless the QCD sample is biased); the counts and
weight sums of what was tried, pre-selected and kept go into the file's record, so a trigger
efficiency can be stated for every sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .detector_spec import DetectorSpec
from .generator import particles_of, pythia_events
from .pileup import PileupOverlay, shifted
from .pp import Production, _with_shower, jet_ht, make_pp_pythia
from .reference_images import CrossingImage, ImageBinning, ReferenceConfig, crossing_image
from .suep import POINTS, BoltzmannSampler


@dataclass
class Acceptance:
    tried: int = 0
    preselected: int = 0
    kept: int = 0
    weight_tried: float = 0.0
    weight_kept: float = 0.0

    def record(self) -> dict:
        return {
            "tried": self.tried, "preselected": self.preselected, "kept": self.kept,
            "weight_tried": self.weight_tried, "weight_kept": self.weight_kept,
            "efficiency": self.weight_kept / self.weight_tried if self.weight_tried else None,
        }  # fmt: skip


@dataclass
class CrossingSample:
    process: str
    seed: int
    trigger_ht: float
    preselect_ht: float
    production: Production
    config: ReferenceConfig
    acceptance: Acceptance = field(default_factory=Acceptance)
    overlay: PileupOverlay | None = None
    measure_hard_ht: bool = False  # also set hard_ht of each image without a pre-selection (benchmarks)

    def events(
        self, n_events: int, spec: DetectorSpec, grid: ImageBinning, rng: np.random.Generator
    ) -> Iterator[tuple[CrossingImage, float]]:
        """(image, weight) of `n_events` crossings that pass the trigger."""
        pythia = make_pp_pythia(self.process, self.seed, self.production)
        self.overlay = PileupOverlay(self.config.pileup, self.seed)
        point = POINTS.get(self.process)
        sampler = BoltzmannSampler(point.meson_mass, point.temperature) if point else None
        counts = self.acceptance
        label = f"{self.process} (HT >= {self.trigger_ht:g} GeV)"
        for _, event in pythia_events(pythia, 2000 * n_events + 1000, label):
            if counts.kept >= n_events:
                return
            weight = float(pythia.infoPython().weight())
            counts.tried, counts.weight_tried = counts.tried + 1, counts.weight_tried + weight
            hard = _with_shower(event, point, sampler, rng) if point else particles_of(event)
            hard_ht = jet_ht(hard) if self.preselect_ht > 0 or self.measure_hard_ht else None
            if hard_ht is not None and hard_ht < self.preselect_ht:
                continue
            counts.preselected += 1
            z_hard = self.overlay.vertex_z()
            particles, _ = self.overlay.add(shifted(hard, z_hard))
            image = crossing_image(particles, z_hard, spec, grid, self.config, rng)
            if image.ht < self.trigger_ht:
                continue
            counts.kept, counts.weight_kept = counts.kept + 1, counts.weight_kept + weight
            image.hard_ht = hard_ht
            yield image, weight

    def record(self) -> dict:
        return {
            "acceptance": self.acceptance.record(),
            "pileup": self.overlay.record() if self.overlay else None,
        }
