"""Jets with their constituents in ROOT (uproot), written in chunks and atomically.

Tree `jets`, one entry per jet:
  event_id (int64: the Pythia event it came from), class_id (int32: index into the file's
  `classes` string, JSON), parton (int32: 1 quark, 2 gluon for qcd jets; 0 otherwise), seed (int64),
  jet_pt, jet_eta, jet_phi, jet_mass, jet_energy (float32; GeV), partons_dr_max (float32: the
  largest Delta R of a matched decay parton from the axis; 0 for qcd), npart (counter), and per
  constituent (float32 unless said):
  part_pt, part_eta, part_phi, part_energy (GeV; tracks massless at the measured momentum),
  part_charge, part_kind (int32: ParticleClass: 1 charged hadron, 2 neutral hadron, 3 photon,
  4 electron, 5 muon), part_d0, part_d0_err, part_dz, part_dz_err (m; 0 for neutral objects).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .jets import CONSTITUENT_FIELDS, Jet
from .rootio import ChunkedTreeWriter, jagged

JET_TREE = "jets"
PART_DTYPES = {f: (np.int32 if f == "kind" else np.float32) for f in CONSTITUENT_FIELDS}
JET_FIELDS = ("pt", "eta", "phi", "mass", "energy")


class JetWriter(ChunkedTreeWriter):
    def __init__(self, path: Path, classes: list[str], chunk_events: int = 500) -> None:
        super().__init__(path, JET_TREE, chunk_events, strings={"classes": json.dumps(classes)})
        self.classes = classes

    def add(self, event_id: int, seed: int, jet: Jet) -> None:
        self.add_row((event_id, seed, jet))

    def _chunk(self, rows: list) -> dict:
        jets = [r[2] for r in rows]
        return {
            "event_id": np.array([r[0] for r in rows], dtype=np.int64),
            "class_id": np.array([self.classes.index(j.label) for j in jets], dtype=np.int32),
            "parton": np.array([j.parton for j in jets], dtype=np.int32),
            "seed": np.array([r[1] for r in rows], dtype=np.int64),
            **{f"jet_{f}": np.array([getattr(j, f) for j in jets], dtype=np.float32) for f in JET_FIELDS},
            "partons_dr_max": np.array([j.partons_dr_max for j in jets], dtype=np.float32),
            "part": jagged([j.constituents for j in jets], PART_DTYPES),
        }
