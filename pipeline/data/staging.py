"""The particle-flow family's staging: events of tracks + clusters (or hits) with per-element
targets -> element shards (shards.ELEMENTS) + manifest, through the staging engine
(file_staging.py: chunked, split by file, resumable, bad files failed or quarantined)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from ..physics import detector_records
from ..physics.detector_spec import DetectorSpec
from ..physics.processes import process_names
from ..physics.schema import SCHEMA_VERSION, branch
from .features import (
    GEN_COLUMNS,
    KINEMATIC_COLUMNS,
    LEVEL_TYPES,
    TARGET_COLUMNS,
    FeatureConfig,
    element_kinematics,
    element_matrix,
)
from .file_staging import SPLITS, DataError, assign_splits, open_root, record_name, stage_with
from .links import LINK_COLUMNS, LinkParams, link_features
from .shards import ELEMENTS

__all__ = ["SPLITS", "DataError", "ElementReader", "assign_splits", "record_name", "stage_files"]


class ElementReader:
    """Reads one ROOT file's events as element rows, targets and generator particles."""

    layout = ELEMENTS

    def __init__(
        self,
        config: FeatureConfig,
        level: str,
        tree: str,
        step_size: int,
        links: LinkParams | None = None,
        detector: DetectorSpec | None = None,
    ) -> None:
        self.config = config
        self.level = level
        self.tree = tree
        self.step_size = step_size
        self.width = config.width(level)
        self.links = links if links is not None and links.enabled else None
        if self.links is not None:
            self.detector = detector if detector is not None else DetectorSpec.model_validate(self.links.detector)
            self.feature_dict = config.model_dump(mode="json")

    def _with_links(self, X: np.ndarray, K: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """X with the link features of every event appended (pipeline/data/links.py)."""
        if self.links is None:
            return X
        extra = [
            link_features(X[a:b], K[a:b], self.feature_dict, self.detector, self.links.link_distance_m)
            for a, b in zip(offsets[:-1], offsets[1:], strict=True)
        ]
        columns = np.concatenate(extra) if extra else np.zeros((0, len(LINK_COLUMNS)), dtype=np.float32)
        return np.concatenate([X, columns], axis=1)

    def required_branches(self) -> list[str]:
        names = ["event_id", "process_id"] + [branch("gen", f) for f in GEN_COLUMNS]
        for element in LEVEL_TYPES[self.level]:
            names += [branch(element, f) for f in self.config.branches(element)]
            names += [branch(element, f"target_{t}") for t in TARGET_COLUMNS]
        return sorted(set(names))

    def open(self, source: Path):
        return open_root(source, self.tree, self.required_branches())[1]

    def info(self, tree) -> dict:
        return {}

    def chunks(self, tree) -> Iterator[dict[str, np.ndarray]]:
        for chunk in tree.iterate(self.required_branches(), step_size=self.step_size, library="ak"):
            yield self._chunk_arrays(chunk)

    def _chunk_arrays(self, chunk: ak.Array) -> dict[str, np.ndarray]:
        n_events = len(chunk)
        rows, kinematics, targets, owners = [], [], [], []
        for element in LEVEL_TYPES[self.level]:
            counts = ak.to_numpy(ak.num(chunk[branch(element, "target_cls")]))
            columns = {f: ak.to_numpy(ak.flatten(chunk[branch(element, f)])) for f in self.config.branches(element)}
            rows.append(element_matrix(columns, element, self.config, self.width))
            kinematics.append(element_kinematics(columns, element))
            targets.append(
                np.stack(
                    [
                        ak.to_numpy(ak.flatten(chunk[branch(element, f"target_{t}")])).astype(np.float32)
                        for t in TARGET_COLUMNS
                    ],
                    axis=1,
                )
            )
            owners.append(np.repeat(np.arange(n_events), counts))
        owner = np.concatenate(owners)
        order = np.argsort(owner, kind="stable")  # per event: tracks first, then calorimeter elements
        counts = np.bincount(owner, minlength=n_events)
        gen_counts = ak.to_numpy(ak.num(chunk[branch("gen", "pid")]))
        gen = np.stack(
            [ak.to_numpy(ak.flatten(chunk[branch("gen", f)])).astype(np.float32) for f in GEN_COLUMNS], axis=1
        )
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        K = np.concatenate(kinematics)[order]
        return {
            "X": self._with_links(np.concatenate(rows)[order], K, offsets),
            "Y": np.concatenate(targets)[order],
            "K": K,
            "offsets": offsets,
            "gen": gen,
            "gen_offsets": np.concatenate([[0], np.cumsum(gen_counts)]).astype(np.int64),
            "event_id": ak.to_numpy(chunk["event_id"]).astype(np.int64),
            "process_id": ak.to_numpy(chunk["process_id"]).astype(np.int64),
        }


def stage_files(files: list[Path], out_dir: Path, params, **share: Any) -> dict | None:
    """Stage this array task's share of `files` (pipeline/data/file_staging.py); write the
    manifest once every file has a record. Returns the manifest if this call completed it."""
    data = detector_records.recorded(files)
    detector = detector_records.resolve(params.links.detector, data, "params.links.detector", "the input files")
    reader = ElementReader(params.features, params.input_level, params.tree, params.step_size, params.links, detector)
    splits = assign_splits(files, params.split, params.seed)
    return stage_with(
        reader,
        files,
        splits,
        out_dir,
        params,
        lambda good: manifest_fields(params, data),
        **share,
    )


def manifest_fields(params, detector: dict | None = None) -> dict:
    """The manifest's description of the staged data; `detector`: the one the files were made
    with (their generate records), for the stages after staging."""
    return {
        "detector": detector,
        "schema_version": SCHEMA_VERSION,
        "input_level": params.input_level,
        "width": params.features.width(params.input_level) + params.links.columns(),
        "features": params.features.model_dump(mode="json"),
        "links": params.links.model_dump(mode="json"),
        "targets": list(TARGET_COLUMNS),
        "kinematics": list(KINEMATIC_COLUMNS),
        "gen_columns": list(GEN_COLUMNS),
        "processes": process_names(),  # process_id of an event indexes this list
    }
