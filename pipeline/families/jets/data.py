"""Jets (ROOT tree `jets`, physics/jet_io.py) -> shards of constituent features + manifest, and
their PyTorch dataset.

Constituent features, JetClass-like (FEATURES, in this order; the first two are the kNN
coordinates of the PET model): Delta eta and Delta phi to the jet axis, log pT, log E,
log(pT / jet pT), log(E / jet E), Delta R, charge, five particle-type flags (charged hadron,
neutral hadron, photon, electron, muon), tanh(d0), d0 error, tanh(dz), dz error (mm). At most
`max_constituents` per jet, the hardest. Jet features (JET_FEATURES): log pT, eta, log mass,
constituent multiplicity / 100 (a pretraining head regresses them).

Two readers: the generate stage's files (tree `jets`, physics/jet_io.py), and JetClass ROOT
files as published (tree `tree`: part_px/py/pz/energy, part_deta/dphi, part_d0val/d0err/
dzval/dzerr (mm), part_charge, part_is{ChargedHadron,NeutralHadron,Photon,Electron,Muon},
jet_pt/eta/phi/energy/nparticles/sdmass/tau1..4, one-hot label_*), both into the same features,
so a model pretrained on JetClass fine-tunes on generated jets and back.

Files are split into train/val/test per class (each class's files by the seed, the class
read from the name before the last `_`), so every class with three files or more is in every
split. Staged through the engine (file_staging.py: chunked, bounded shards, resumable, bad files
failed or quarantined). A shard is an .npz (layout JETS):
  features (constituents, F) float32, offsets (jets+1,) int64, jet (jets, 4) float32,
  label (jets,) int64 (class index into the manifest's `classes`), parton (jets,) int64.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...data.file_staging import DataError, assign_splits, open_root, stage_with
from ...data.shards import Layout
from ...physics.jet_io import JET_TREE
from ...physics.kinematics import ParticleClass as PC
from ..registry import manifest_family

FEATURES = (
    "deta", "dphi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r", "charge",
    "is_charged_hadron", "is_neutral_hadron", "is_photon", "is_electron", "is_muon",
    "tanh_d0", "d0_err", "tanh_dz", "dz_err",
)  # fmt: skip
JET_FEATURES = ("log_pt", "eta", "log_mass", "multiplicity")
JETS = Layout(
    keys=("features", "offsets", "jet", "label", "parton"),
    per_event=("label", "parton", "jet"),
    ragged=(("offsets", ("features",)),),
)
SHARD_KEYS = JETS.keys
MM = 1e3  # the generated files store metres
# JetClass's one-hot labels, in its order, and the class names they get here
JETCLASS_LABELS = {
    "label_QCD": "qcd", "label_Hbb": "h_bb", "label_Hcc": "h_cc", "label_Hgg": "h_gg", "label_H4q": "h_4q",
    "label_Hqql": "h_qql", "label_Zqq": "z_qq", "label_Wqq": "w_qq", "label_Tbqq": "t_bqq", "label_Tbl": "t_blv",
}  # fmt: skip
JETCLASS_PARTICLE = ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi", "part_d0val",
                     "part_d0err", "part_dzval", "part_dzerr", "part_charge", "part_isChargedHadron",
                     "part_isNeutralHadron", "part_isPhoton", "part_isElectron", "part_isMuon")  # fmt: skip
JETCLASS_JET = ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_nparticles", "jet_sdmass",
                "jet_tau1", "jet_tau2", "jet_tau3", "jet_tau4")  # fmt: skip
JETCLASS_BRANCHES = (*JETCLASS_PARTICLE, *JETCLASS_JET, *JETCLASS_LABELS)


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


def _jets_of(parts: dict[str, np.ndarray], offsets: np.ndarray, jets: dict[str, np.ndarray], max_constituents: int):
    """Per jet: the hardest `max_constituents` constituents' features; and the jet features."""
    features, counts = [], []
    for j in range(offsets.size - 1):
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
        "jet": jet_features.astype(np.float32).reshape(-1, len(JET_FEATURES)),
    }


class GeneratedJetReader:
    """The generate stage's jet files (tree `jets`, physics/jet_io.py)."""

    layout = JETS
    REQUIRED = ("class_id", "parton", "npart", "jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_energy",
                *(f"part_{n}" for n in ("pt", "eta", "phi", "energy", "charge", "kind", "d0", "d0_err", "dz",
                                        "dz_err")))  # fmt: skip

    def __init__(self, max_constituents: int, tree: str = JET_TREE, step_size: int = 500) -> None:
        self.max_constituents, self.tree, self.step_size = max_constituents, tree, step_size

    def open(self, source: Path):
        directory, tree = open_root(source, self.tree, list(self.REQUIRED))
        try:
            classes = json.loads(str(directory["classes"]))
        except Exception as exc:
            raise DataError(source, f"no readable `classes` string ({type(exc).__name__}: {exc})") from None
        return tree, classes

    def info(self, handle) -> dict:
        return {"classes": handle[1]}

    def chunks(self, handle) -> Iterator[dict[str, np.ndarray]]:
        import awkward as ak

        names = ("pt", "eta", "phi", "energy", "charge", "kind", "d0", "d0_err", "dz", "dz_err")
        for arrays in handle[0].iterate(list(self.REQUIRED), step_size=self.step_size, library="ak"):
            parts = {n: ak.to_numpy(ak.flatten(arrays[f"part_{n}"])).astype(np.float64) for n in names}
            offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(arrays["npart"]))])
            jets = {
                n: ak.to_numpy(arrays[f"jet_{n}"]).astype(np.float64) for n in ("pt", "eta", "phi", "mass", "energy")
            }
            yield _jets_of(parts, offsets, jets, self.max_constituents) | {
                "label": ak.to_numpy(arrays["class_id"]).astype(np.int64),
                "parton": ak.to_numpy(arrays["parton"]).astype(np.int64),
            }


class JetClassReader:
    """JetClass ROOT files as published (tree `tree`), into the generated jets' features. The
    classes are JetClass's ten, in its label order; no parton label (0)."""

    layout = JETS

    def __init__(self, max_constituents: int, tree: str = "tree", step_size: int = 500) -> None:
        self.max_constituents, self.tree, self.step_size = max_constituents, tree, step_size

    def open(self, source: Path):
        return open_root(source, self.tree, list(JETCLASS_BRANCHES))[1]

    def info(self, tree) -> dict:
        return {"classes": list(JETCLASS_LABELS.values())}

    def chunks(self, tree) -> Iterator[dict[str, np.ndarray]]:
        import awkward as ak

        for a in tree.iterate(list(JETCLASS_BRANCHES), step_size=self.step_size, library="ak"):
            flat = {b: ak.to_numpy(ak.flatten(a[b])).astype(np.float64) for b in JETCLASS_PARTICLE}
            pt = np.hypot(flat["part_px"], flat["part_py"])  # (pz enters through energy and deta)
            kind = np.zeros(pt.size)
            flags = ("ChargedHadron", "NeutralHadron", "Photon", "Electron", "Muon")
            codes = (PC.CHARGED_HADRON, PC.NEUTRAL_HADRON, PC.PHOTON, PC.ELECTRON, PC.MUON)
            for flag, code in zip(flags, codes, strict=True):
                kind[flat[f"part_is{flag}"] > 0.5] = code
            counts = ak.to_numpy(ak.num(a["part_px"]))
            jet = {n: ak.to_numpy(a[f"jet_{n}"]).astype(np.float64) for n in ("pt", "eta", "phi", "energy")}
            owner = np.repeat(np.arange(counts.size), counts)
            parts = {
                # constituents placed at the jet axis plus JetClass's own (deta, dphi), so the
                # relative features equal the published ones
                "pt": pt, "eta": jet["eta"][owner] + flat["part_deta"], "phi": jet["phi"][owner] + flat["part_dphi"],
                "energy": flat["part_energy"], "charge": flat["part_charge"], "kind": kind,
                # JetClass stores mm; the feature code takes metres
                "d0": flat["part_d0val"] / MM, "d0_err": flat["part_d0err"] / MM,
                "dz": flat["part_dzval"] / MM, "dz_err": flat["part_dzerr"] / MM,
            }  # fmt: skip
            momentum = jet["pt"] * np.cosh(jet["eta"])
            jet["mass"] = np.sqrt(np.maximum(jet["energy"] ** 2 - momentum**2, 0.0))
            onehot = np.stack([ak.to_numpy(a[b]) for b in JETCLASS_LABELS], axis=1)
            offsets = np.concatenate([[0], np.cumsum(counts)])
            yield _jets_of(parts, offsets, jet, self.max_constituents) | {
                "label": onehot.argmax(1).astype(np.int64),
                "parton": np.zeros(counts.size, dtype=np.int64),
            }


def jet_reader(params):
    """The reader of a jets stage_data's `format`."""
    kind = JetClassReader if params.format == "jetclass" else GeneratedJetReader
    return kind(params.max_constituents, params.tree_name, params.step_size)


def check_inputs(files: list[Path], params) -> None:
    """Open every file's tree (no data read): DataError naming the file and the missing branch."""
    reader = jet_reader(params)
    for source in files:
        reader.open(source)


def stage_jets(files: list[Path], out_dir: Path, params, **share: Any) -> dict | None:
    """Each class's files split by the seed; see file_staging.stage_with."""
    by_class: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_class[f.name.rsplit("_", 1)[0]].append(f)
    splits: dict[Path, str] = {}
    for group in by_class.values():
        splits |= assign_splits(group, params.split, params.seed)

    def fields(good: list[dict]) -> dict:
        classes = next((r["info"]["classes"] for r in good), [])
        counts = dict.fromkeys(classes, 0)
        for record in good:
            for shard in record["shards"]:
                with np.load(out_dir / shard["path"]) as data:
                    for i, n in enumerate(np.bincount(data["label"], minlength=len(classes))):
                        counts[classes[i]] += int(n)
        return {
            "classes": classes,
            "present": [c for c in classes if counts[c]],  # the classes that have jets, in label order
            "class_counts": counts,
            "features": list(FEATURES),
            "jet_features": list(JET_FEATURES),
            "max_constituents": params.max_constituents,
            "format": params.format,
        }

    reader = jet_reader(params)
    return stage_with(reader, files, splits, out_dir, params, fields, **share)


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
        family = manifest_family(self.manifest)
        if family != "jets":
            raise ValueError(f"{manifest_path}: not a jets manifest (family {family!r})")
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
