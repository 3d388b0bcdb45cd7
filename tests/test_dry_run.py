"""`submit --dry-run` for every site profile: the job scripts match golden files, nothing is created."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .conftest import REPO, run_cli

GOLDEN = Path(__file__).parent / "golden"
SITES = sorted(p.stem for p in (REPO / "sites").glob("*.yaml"))
# What each site's required_env asks for when submitting (placeholders: nothing is submitted).
SITE_ENV = {
    "SCRATCH": "/scratch/user",
    "PROJECT": "/p/project/cf",
    "BUDGET_ACCOUNTS": "cf-budget",
    "LUMI_PROJECT": "project_465000001",
    "SIF": "/appl/local/laifs/containers/lumi-multitorch-latest.sif",
}


def normalise(text: str, tmp_path: Path) -> str:
    return text.replace(str(tmp_path), "<CWD>").replace(sys.executable, "<PYTHON>")


@pytest.mark.parametrize("site", SITES)
def test_dry_run_matches_golden(tmp_path, site):
    env = SITE_ENV
    result = run_cli("submit", str(GOLDEN / "workflow.yaml"), "--site", site, "--dry-run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    text = normalise(result.stdout, tmp_path)
    golden = GOLDEN / f"{site}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    assert not (tmp_path / "campaigns").exists() and not (tmp_path / "pwned").exists()


def test_golden_scripts_hold_the_expected_directives():
    text = (GOLDEN / "juwels-booster.txt").read_text()
    for directive in (
        "#SBATCH --partition=booster",
        "#SBATCH --account=cf-budget",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --time=1440",
        "#SBATCH --array=0-3%2",
        "#SBATCH --mem=8G",
        "#SBATCH --dependency='afterok:{prepare}'",
        "#SBATCH --exclusive\n",
        "#SBATCH --mail-type=END",
        "#SBATCH --kill-on-invalid-dep=yes",
        "#SBATCH --signal=USR2@300",
        "#SBATCH --qos=short",
        "#SBATCH --job-name=cf.golden.train",
        "#SBATCH --comment=colliderflow:dry-run-train",
        "export NCCL_SOCKET_IFNAME=ib0",
        "module load Stages/2025 GCC OpenMPI CUDA NCCL Python",
    ):
        assert directive in text, directive
    # Env values are exported quoted: command substitution stays literal text.
    assert "export RUN_TAG='$(id); touch pwned'" in text
    local = (GOLDEN / "local.txt").read_text()
    assert "# local job cf.golden.train" in local and "runs after: {prepare}" in local


@pytest.mark.parametrize("workflow", sorted(p.name for p in (REPO / "workflows").glob("*.yaml")))
@pytest.mark.parametrize("site", ["local", "lumi-g", "juwels-booster", "gaudi2"])
def test_shipped_workflows_validate(tmp_path, workflow, site):
    env = SITE_ENV  # the GPU sites' required variables; unset, they are an error naming them
    result = run_cli("submit", str(REPO / "workflows" / workflow), "--site", site, "--dry-run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
