"""Plug-ins from another package, found only through its entry points: a data stage, a model
and a task from tests/plugins/colliderflow_toy (installed for these tests into a directory of
their own on PYTHONPATH, as pip installs any package), run through stage → hpo → train on the
local site; broken and colliding plug-ins refused with the package and entry point named."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, cli_env, hparams_of, run_cli, write_workflow

TOY = REPO / "tests" / "plugins" / "colliderflow_toy"


def pip_install(source: Path, target: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        cwd=source.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def env_with(*sites: Path) -> dict[str, str]:
    return {"PYTHONPATH": ":".join([*map(str, sites), str(REPO)])}


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("toybuild")
    source = build / "colliderflow_toy"
    subprocess.run(["cp", "-r", str(TOY), str(source)], check=True)  # pip builds in the source tree
    site = build / "site"
    pip_install(source, site)
    assert list(site.glob("colliderflow_toy-*.dist-info/entry_points.txt"))
    return site


def toy_workflow(name: str) -> dict:
    train = {"model": {"kind": "toy_mlp", "width": 8}, "task": "toy_regression", "batch_size": 16, "seed": 1}
    return {
        "name": name,
        "stages": {
            "data": {"kind": "toy_data", "params": {"events": 200, "seed": 4}},
            "hpo": {
                "kind": "hpo",
                "needs": ["data"],
                "params": {
                    "algorithm": "asha",
                    "num_samples": 2,
                    "max_t": 2,
                    "reduction_factor": 2,
                    "seed": 2,
                    "metric": "val_mae",
                    "train": train,
                    "search_space": {"model.width": {"choice": [8, 16]}, "optimizer.lr": {"loguniform": [1e-3, 1e-2]}},
                },
                "resources": {"cpus_per_task": 2, "time": "00:20:00"},
            },
            "train": {
                "kind": "train",
                "needs": ["data", "hpo"],
                "params": {**train, "epochs": 2, "init_from": "hpo_best"},
                "resources": {"time": "00:20:00"},
            },
        },
    }


def test_a_plugin_package_brings_a_stage_a_model_and_a_task_through_a_campaign(tmp_path, toy_site):
    env = env_with(toy_site)
    reference = run_cli("reference", cwd=tmp_path, env=env)
    assert reference.returncode == 0, reference.stderr
    for entry in ("Kind `toy_data`: Toy events", "Kind `toy_mlp`", "| `width` | int | `16` |", "Task `toy_regression`"):
        assert entry in reference.stdout, entry

    path = write_workflow(tmp_path, toy_workflow("toy"))
    code = (
        "import sys; from pipeline.cli import main; "
        f"rc = main(['submit', {str(path)!r}, '--dry-run']); "
        "heavy = ('torch', 'ray', 'deepspeed', 'tensorboard'); "
        "print('HEAVY', sorted(m for m in heavy if m in sys.modules), rc)"
    )

    dry = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(env), capture_output=True, text=True)
    assert "HEAVY [] 0" in dry.stdout, dry.stdout + dry.stderr

    result = run_cli("submit", str(path), "--wait", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    campaign = tmp_path / "campaigns" / "toy"
    with open(campaign / "stages" / "hpo" / "outputs" / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(r["val_mae_best"] for r in rows), rows
    best = json.loads((campaign / "stages" / "hpo" / "outputs" / "best.json").read_text())
    summary = json.loads((campaign / "stages" / "train" / "result.json").read_text())
    assert summary["task"] == "toy_regression" and summary["hpo_trial"] == best["trial_id"]
    model = json.loads((campaign / "stages" / "train" / "outputs" / "model.json").read_text())
    assert model["kind"] == "toy_mlp" and model["width"] == best["config"]["model.width"] and model["input_dim"] == 4
    session = hparams_of(campaign / "tensorboard" / "train" / "train" / "hparams")
    assert session["model.kind"] == "toy_mlp" and session["loss.huber"] is False and session["task"] == "toy_regression"
    assert "hparam/val_mae" in session["metrics"]


def broken_package(root: Path, name: str, group: str, entry: str, module_text: str) -> Path:
    """A package `name` with one entry point `entry` in `group`, its module holding module_text."""
    source = root / name
    (source / name).mkdir(parents=True)
    (source / name / "__init__.py").write_text(module_text)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n'
        f'[project.entry-points."{group}"]\n{entry} = "{name}:THING"\n'
        f'[tool.setuptools]\npackages = ["{name}"]\n'
    )
    site = root / f"{name}-site"
    pip_install(source, site)
    return site


@pytest.mark.parametrize(
    ("group", "entry", "module_text", "message"),
    [
        ("colliderflow.models", "broken_net", "import no_such_module\n", "cannot be imported (ModuleNotFoundError"),
        (
            "colliderflow.models",
            "gnn_lsh",
            "from models import ModelPlugin\nfrom models.mlpf.config import GNNLSHConfig\n"
            "THING = ModelPlugin(GNNLSHConfig, 'x:y')\n",
            "model kind 'gnn_lsh' is built in",
        ),
        ("colliderflow.tasks", "odd_task", "THING = 42\n", "is a int, not a TaskPlugin"),
    ],
    ids=["fails-to-import", "collides-with-a-built-in", "wrong-type"],
)
def test_a_broken_plugin_is_an_error_naming_its_package_and_entry_point(tmp_path, group, entry, module_text, message):
    site = broken_package(tmp_path / "pkg", "cf_broken", group, entry, module_text)
    workflow = {"name": "quick", "stages": {"a": {"kind": "python", "params": {"target": "tests.steps:touch"}}}}
    path = write_workflow(tmp_path, workflow)
    result = run_cli("submit", str(path), cwd=tmp_path, env=env_with(site))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"plug-in package 'cf_broken', entry point {group}:{entry} = 'cf_broken:THING'" in result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "campaigns").exists()


def test_a_field_the_plugin_stage_does_not_have_is_refused(tmp_path, toy_site):
    workflow = toy_workflow("bad")
    workflow["stages"]["data"]["params"]["pileup"] = 50
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path, env=env_with(toy_site))
    assert result.returncode == 2 and "stages.data.params.pileup" in result.stderr, result.stderr
    assert not (tmp_path / "campaigns").exists()
