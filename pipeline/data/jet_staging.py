"""Jets (ROOT tree `jets`, physics/jet_io.py) -> shards of constituent features + manifest, and
their PyTorch dataset.

Constituent features, JetClass-like (FEATURES, in this order; the first two are the kNN
coordinates of the PET model): Delta eta and Delta phi to the jet axis, log pT, log E,
log(pT / jet pT), log(E / jet E), Delta R, charge, five particle-type flags (charged hadron,
neutral hadron, photon, electron, muon), tanh(d0), d0 error, tanh(dz), dz error (mm). At most
`max_constituents` per jet, the hardest. Jet features (JET_FEATURES): log pT, eta, log mass,
constituent multiplicity / 100 (a pretraining head regresses them).

Files are split into train/val/test per class (each class's files by the seed), so every
class with three files or more is in every split. A shard is an .npz per input file:
  features (constituents, F) float32, offsets (jets+1,) int64, jet (jets, 4) float32,
  label (jets,) int64 (class index into the manifest's `classes`), parton (jets,) int64.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, atomic_write_json
from ..physics.jet_io import JET_TREE
from ..physics.kinematics import ParticleClass as PC
from .shards import sha256_of
from .staging import SPLITS, DataError, assign_splits, record_name

FEATURES = (
    "deta", "dphi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r", "charge",
    "is_charged_hadron", "is_neutral_hadron", "is_photon", "is_electron", "is_muon",
    "tanh_d0", "d0_err", "tanh_dz", "dz_err",
)  # fmt: skip
JET_FEATURES = ("log_pt", "eta", "log_mass", "multiplicity")
SHARD_KEYS = ("features", "offsets", "jet", "label", "parton")
MM = 1e3  # the ROOT file stores metres


def constituent_features(parts: dict[str, np.ndarray], jet: dict[str, float]) -> np.ndarray:
    """[n, len(FEATURES)] features of one jet's constituents (hardest first)."""
    deta = parts["eta"] - jet["eta"]
    dphi = np.angle(np.exp(1j * (parts["phi"] - jet["phi"])))
    pt, energy = np.maximum(parts["pt"], 1e-6), np.maximum(parts["energy"], 1e-6)
    flags = [parts["kind"] == k for k in (PC.CHARGED_HADRON, PC.NEUTRAL_HADRON, PC.PHOTON, PC.ELECTRON, PC.MUON)]
    columns = [
        deta, dphi, np.log(pt), np.log(energy), np.log(pt / jet["pt"]), np.log(energy / jet["energy"]),
        np.hypot(deta, dphi), parts["charge"], *flags,
        np.tanh(parts["d0"] * MM), parts["d0_err"] * MM, np.tanh(parts["dz"] * MM), parts["dz_err"] * MM,
    ]  # fmt: skip
    return np.stack(columns, axis=1).astype(np.float32)


def read_jet_file(source: Path, max_constituents: int) -> tuple[dict[str, np.ndarray], list[str]]:
    import awkward as ak
    import uproot

    try:
        handle = uproot.open(source)
        tree = handle[JET_TREE]
        classes = json.loads(str(handle["classes"]))
        arrays = tree.arrays()
    except Exception as exc:  # uproot raises many types for damaged files
        raise DataError(source, f"not a readable jet file ({type(exc).__name__}: {exc})") from None
    missing = [b for b in ("class_id", "jet_pt", "part_pt", "part_kind") if b not in arrays.fields]
    if missing:
        raise DataError(source, f"tree {JET_TREE!r} lacks branches: {', '.join(missing)}")
    features, counts = [], []
    names = ("pt", "eta", "phi", "energy", "charge", "kind", "d0", "d0_err", "dz", "dz_err")
    parts = {n: ak.to_numpy(ak.flatten(arrays[f"part_{n}"])).astype(np.float64) for n in names}
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(arrays["npart"]))])
    jets = {n: ak.to_numpy(arrays[f"jet_{n}"]).astype(np.float64) for n in ("pt", "eta", "phi", "mass", "energy")}
    for j in range(len(arrays)):
        lo, hi = offsets[j], offsets[j + 1]
        one = {n: v[lo:hi] for n, v in parts.items()}
        order = np.argsort(-one["pt"], kind="stable")[:max_constituents]
        one = {n: v[order] for n, v in one.items()}
        features.append(constituent_features(one, {n: v[j] for n, v in jets.items()}))
        counts.append(order.size)
    jet_features = np.stack(
        [np.log(jets["pt"]), jets["eta"], np.log(np.maximum(jets["mass"], 1.0)), np.array(counts) / 100.0], axis=1
    )
    return {
        "features": np.concatenate(features) if features else np.zeros((0, len(FEATURES)), np.float32),
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "jet": jet_features.astype(np.float32),
        "label": ak.to_numpy(arrays["class_id"]).astype(np.int64),
        "parton": ak.to_numpy(arrays["parton"]).astype(np.int64),
    }, classes


def stage_jets(
    files: list[Path],
    out_dir: Path,
    split: dict[str, float],
    seed: int,
    max_constituents: int = 128,
    log: Callable[[str], None] = print,
) -> dict:
    by_class: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_class[f.name.rsplit("_", 1)[0]].append(f)
    splits: dict[Path, str] = {}
    for group in by_class.values():
        splits |= assign_splits(group, split, seed)
    shards, classes, file_labels = [], None, []
    for source in files:
        arrays, file_classes = read_jet_file(source, max_constituents)
        file_labels.append(arrays["label"])
        if classes is not None and file_classes != classes:
            raise DataError(source, f"classes {file_classes} differ from the other files' {classes}")
        classes = file_classes
        name = f"{record_name(source)}.npz"
        path = out_dir / "shards" / name
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **{k: arrays[k] for k in SHARD_KEYS})
        jets = int(arrays["label"].size)
        shards.append(
            {"path": f"shards/{name}", "split": splits[source], "source": str(source), "events": jets,
             "constituents": int(arrays["offsets"][-1]), "sha256": sha256_of(path)}
        )  # fmt: skip
        log(f"{source.name}: {jets} jets -> {splits[source]}")
    counts = {c: int(sum(np.sum(labels == i) for labels in file_labels)) for i, c in enumerate(classes or [])}
    manifest = {
        "kind": "jets",
        "classes": classes,
        "present": [c for c in classes or [] if counts[c]],  # the classes that have jets, in label order
        "class_counts": counts,
        "features": list(FEATURES),
        "jet_features": list(JET_FEATURES),
        "max_constituents": max_constituents,
        "shards": shards,
        "splits": {s: {"events": sum(x["events"] for x in shards if x["split"] == s)} for s in SPLITS},
        "quarantined": [],
    }
    atomic_write_json(out_dir / "manifest.json", manifest)
    return manifest


class JetDataset:
    """Jets of one split, optionally only some classes (relabelled 0..k-1 in the given order).
    With target "parton", the jets of those classes (default: qcd) that carry a quark or gluon
    label, labelled 0 quark, 1 gluon. Item: dict with x [n, F] and jet [4] (torch tensors),
    label, parton; `sizes` for the sampler."""

    PARTONS = ("quark", "gluon")

    def __init__(
        self, manifest_path: Path, split: str, classes: list[str] | None = None, target: str = "class"
    ) -> None:
        import torch

        self.torch = torch
        manifest_path = Path(manifest_path)
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("kind") != "jets":
            raise ValueError(f"{manifest_path}: not a jet manifest (kind {self.manifest.get('kind')!r})")
        names = self.manifest["classes"]
        chosen = list(classes or (["qcd"] if target == "parton" else names))
        unknown = [c for c in chosen if c not in names]
        if unknown:
            raise ValueError(f"classes {unknown} are not in {manifest_path} (it has {names})")
        relabel = {names.index(c): i for i, c in enumerate(chosen)}
        self.classes = list(self.PARTONS) if target == "parton" else chosen
        self.rows: list[tuple[dict[str, np.ndarray], int, int]] = []
        for shard in self.manifest["shards"]:
            if shard["split"] != split:
                continue
            with np.load(manifest_path.parent / shard["path"]) as data:
                arrays = {k: data[k] for k in SHARD_KEYS}
            for j in range(arrays["label"].size):
                cls, parton = int(arrays["label"][j]), int(arrays["parton"][j])
                if cls not in relabel or (target == "parton" and parton not in (1, 2)):
                    continue
                self.rows.append((arrays, j, parton - 1 if target == "parton" else relabel[cls]))
        self.sizes = np.array([a["offsets"][j + 1] - a["offsets"][j] for a, j, _ in self.rows], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        arrays, j, label = self.rows[i]
        lo, hi = arrays["offsets"][j], arrays["offsets"][j + 1]
        return {
            "x": self.torch.from_numpy(arrays["features"][lo:hi]),
            "jet": self.torch.from_numpy(arrays["jet"][j]),
            "label": label,
            "parton": int(arrays["parton"][j]),
        }


def collate_jets(items: list[dict]) -> dict:
    """x [B, N, F] zero-padded, mask [B, N] (True: a constituent), jet [B, 4], label [B]."""
    import torch

    n = max(1, max(item["x"].shape[0] for item in items))
    x = torch.zeros(len(items), n, items[0]["x"].shape[1])
    mask = torch.zeros(len(items), n, dtype=torch.bool)
    for b, item in enumerate(items):
        k = item["x"].shape[0]
        x[b, :k], mask[b, :k] = item["x"], True
    return {
        "x": x,
        "mask": mask,
        "jet": torch.stack([item["jet"] for item in items]),
        "label": torch.tensor([item["label"] for item in items], dtype=torch.long),
    }
