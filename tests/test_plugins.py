"""Plug-ins from another package, found only through its entry points: a dataset family (its
generator, reader, evaluation and report), a model, a task and a stage kind from
tests/plugins/colliderflow_toy (installed for these tests into a directory of their own on
PYTHONPATH, as pip installs any package), run through generate → stage_data → hpo → train →
evaluate on the local site; broken and colliding plug-ins refused with the package and entry
point named; a field of another family refused naming it."""

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
            "generate": {
                "kind": "generate",
                "params": {"dataset": "toy", "processes": ["sines"], "events_per_file": 60, "seed": 4},
                "resources": {"array": 5},
            },
            "data": {
                "kind": "stage_data",
                "needs": ["generate"],
                "params": {
                    "dataset": "toy",
                    "split": {"train": 0.6, "val": 0.2, "test": 0.2},
                    "max_events_per_shard": 25,
                },
            },
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
                "params": {**train, "epochs": 4, "init_from": "hpo_best", "optimizer": {"lr": 1.0e-2}},
                "resources": {"time": "00:20:00"},
            },
            "evaluate": {"kind": "evaluate", "needs": ["data", "train", "hpo"], "params": {"bootstrap": 20}},
            "check": {"kind": "toy_check", "needs": ["evaluate"]},
        },
    }


def test_a_plugin_package_brings_a_stage_a_model_and_a_task_through_a_campaign(tmp_path, toy_site):
    env = env_with(toy_site)
    reference = run_cli("reference", cwd=tmp_path, env=env)
    assert reference.returncode == 0, reference.stderr
    for entry in (
        "Kind `toy_check`: Reads a toy evaluation",
        "stages.<name>.params (generate, dataset: toy)",
        "| `noise` |",
        "- `toy`: toy events whose target",
        "Kind `toy_mlp`",
        "| `width` | int | `16` |",
        "Task `toy_regression`",
    ):
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

    # the family's evaluation, in report/<stage>/ like every family's, summarised by its task
    report = campaign / "report" / "evaluate"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["family"] == "toy" and metrics["task"] == "toy_regression"
    assert set(metrics["sources"]) == {"train", "hpo-best", "mean", "ideal"}
    assert metrics["events"] == 60  # one of the five files is the test split
    assert metrics["sources"]["ideal"]["mae"] < metrics["sources"]["mean"]["mae"]
    assert (report / "report.md").is_file() and (report / "plots" / "residuals.png").is_file()
    manifest = json.loads((campaign / "stages" / "data" / "outputs" / "manifest.json").read_text())
    assert manifest["family"] == "toy" and all(s["events"] <= 25 for s in manifest["shards"])
    check = json.loads((campaign / "stages" / "check" / "result.json").read_text())
    assert check["mean_mae"] == metrics["sources"]["mean"]["mae"]
    shown = run_cli("report", str(campaign), cwd=tmp_path, env=env)
    assert shown.returncode == 0 and "train MAE" in shown.stdout, shown.stdout + shown.stderr


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
        (
            "colliderflow.families",
            "jets",
            "from pipeline.families import FamilyPlugin\nfrom pipeline.families.jets.params import *\n"
            "THING = FamilyPlugin('x', 'x:y', JetsStageData, JetsEvaluate)\n",
            "family 'jets' is built in",
        ),
        ("colliderflow.families", "bad_family", "import no_such_module\n", "cannot be imported (ModuleNotFoundError"),
    ],
    ids=["fails-to-import", "collides-with-a-built-in", "wrong-type", "family-collides", "family-fails-to-import"],
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


@pytest.mark.parametrize(
    ("stage", "field", "value", "message"),
    [
        ("check", "pileup", 50, "unknown field 'pileup' (valid: report)"),
        ("generate", "images", {"pileup": 50}, "it is a field of family 'suep_images', not 'toy'"),
        ("data", "max_constituents", 64, "it is a field of family 'jets', not 'toy'"),
    ],
    ids=["plugin-stage-kind", "another-familys-generate-field", "another-familys-staging-field"],
)
def test_a_field_the_stage_does_not_have_is_refused(tmp_path, toy_site, stage, field, value, message):
    workflow = toy_workflow("bad")
    workflow["stages"][stage].setdefault("params", {})[field] = value
    result = run_cli("submit", str(write_workflow(tmp_path, workflow)), cwd=tmp_path, env=env_with(toy_site))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"stages.{stage}.params.{field}" in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "campaigns").exists()
