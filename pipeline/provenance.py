"""What exactly ran: the project's commit and whether its tree was dirty (with the diff of the
tracked files), the versions of Python and of the packages that decide the numbers (torch with
its CUDA/ROCm build, DeepSpeed, Ray, Submitit, NumPy, Pythia, the users' plug-in packages), the
container the job runs in (Apptainer/Singularity, and its digest where the site exports one),
the host. Recorded at submit (provenance/submit.json) and by every attempt (its record names
the provenance it ran with, stored once per distinct content under provenance/<key>.json), so
a report can say when the stages of one campaign ran different code."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "deepspeed", "ray", "submitit", "numpy", "pythia8mc", "uproot", "awkward", "onnxruntime")
PLUGIN_GROUPS = ("colliderflow.families", "colliderflow.models", "colliderflow.tasks", "colliderflow.stages")
MAX_DIFF = 200_000  # characters of the diff kept (a larger one is cut, with its hash of the whole)


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def code_version() -> dict[str, Any]:
    """The commit of the project's tree and its uncommitted changes to tracked files."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "note": f"{PROJECT} is not a git work tree (an installed copy?)"}
    diff = _git("diff", "HEAD", "--no-color") or ""
    untracked = (_git("ls-files", "--others", "--exclude-standard") or "").split()
    return {
        "commit": commit.strip(),
        "dirty": bool(diff.strip()),
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
        "diff": diff[:MAX_DIFF],
        "diff_truncated": len(diff) > MAX_DIFF,
        "untracked_files": untracked[:200],
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def packages() -> dict[str, Any]:
    versions = {name: _version(name) for name in PACKAGES}
    torch_module = sys.modules.get("torch")
    if torch_module is not None:  # the build, only where torch is already imported (a job)
        versions["torch_cuda"] = getattr(torch_module.version, "cuda", None)
        versions["torch_hip"] = getattr(torch_module.version, "hip", None)
    plugins = {}
    for group in PLUGIN_GROUPS:
        for entry in metadata.entry_points(group=group):
            dist = entry.dist
            plugins[f"{group}:{entry.name}"] = {
                "value": entry.value,
                "distribution": dist.name if dist else None,
                "version": dist.version if dist else None,
            }
    return {"python": platform.python_version(), "executable": sys.executable, "versions": versions,
            "plugins": plugins}  # fmt: skip


def container() -> dict[str, Any] | None:
    image = os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER")
    if not image:
        return None
    return {
        "image": image,
        "name": os.environ.get("APPTAINER_NAME") or os.environ.get("SINGULARITY_NAME"),
        "digest": os.environ.get("COLLIDERFLOW_CONTAINER_DIGEST"),  # a site's setup may export it
    }


def collect() -> dict[str, Any]:
    return {"code": code_version(), "packages": packages(), "container": container(), "host": socket.gethostname()}


def key_of(record: dict[str, Any]) -> str:
    """A short content key of what decides the numbers (code, packages, container; not the host)."""
    decisive = {k: record.get(k) for k in ("code", "packages", "container")}
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


def record(campaign_dir: Path, name: str | None = None) -> str:
    """Write this process's provenance into the campaign (once per content) and return its key;
    `name` also writes it under that name (submit.json)."""
    directory = Path(campaign_dir) / "provenance"
    directory.mkdir(exist_ok=True)
    found = collect()
    key = key_of(found)
    if not (directory / f"{key}.json").is_file():
        atomic_write_json(directory / f"{key}.json", {"key": key, **found})
    if name:
        atomic_write_json(directory / f"{name}.json", {"key": key, **found})
    return key


def summary(campaign_dir: Path) -> dict[str, Any]:
    """The submit-time provenance and the distinct ones the stages' attempts ran with."""
    directory = Path(campaign_dir) / "provenance"
    submit = json.loads((directory / "submit.json").read_text()) if (directory / "submit.json").is_file() else None
    used: dict[str, set[str]] = {}
    for attempt in sorted(Path(campaign_dir).glob("stages/*/attempts/*.json")):
        try:
            key = json.loads(attempt.read_text()).get("provenance")
        except ValueError:
            continue
        if key:
            used.setdefault(key, set()).add(attempt.parent.parent.name)
    distinct = {}
    for key, stages in used.items():
        path = directory / f"{key}.json"
        data = json.loads(path.read_text()) if path.is_file() else {}
        code = data.get("code", {})
        distinct[key] = {"stages": sorted(stages), "commit": code.get("commit"), "dirty": code.get("dirty")}
    return {
        "submit": None if submit is None else {
            "key": submit["key"], "commit": submit["code"].get("commit"), "dirty": submit["code"].get("dirty"),
            "host": submit.get("host"),
        },
        "ran_with": distinct,
        "mixed": len(distinct) > 1,
    }  # fmt: skip
