"""Invalid input: exit 2, one message naming the file and the field, no traceback, nothing on disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import cli_env, py_stage, run_cli, write_workflow


def good_workflow() -> dict:
    return {"name": "v", "stages": {"a": py_stage("touch"), "b": py_stage("touch", needs=["a"])}}


def mutate(path: str, value):
    def apply(data: dict) -> dict:
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        return data

    return apply


CASES = {
    "unknown top-level field": (mutate("colour", "blue"), [], "colour", "unknown field"),
    "unknown resources field": (mutate("stages.a.resources.gpu", 1), [], "stages.a.resources.gpu", "valid:"),
    "wrong type": (mutate("stages.a.resources.nodes", "many"), [], "stages.a.resources.nodes", "integer"),
    "unknown stage kind": (
        mutate("stages.a.kind", "no_such_kind"),
        [],
        "stages.a.kind",
        "available: evaluate, generate, hpo, python, stage_data, train",
    ),
    "needs a missing stage": (mutate("stages.b.needs", ["ghost"]), [], "stages.b.needs", "ghost"),
    "cycle": (mutate("stages.a.needs", ["b"]), [], "stages", "cycle"),
    "after a missing stage": (mutate("stages.a.after", ["ghost"]), [], "stages.a.after", "ghost"),
    "cycle through after": (mutate("stages.a.after", ["b"]), [], "stages", "cycle"),
    "malformed time limit": (
        mutate("stages.a.resources.time", "1:2:3:4"),
        [],
        "stages.a.resources.time",
        "time limit",
    ),
    "bad python target": (
        mutate("stages.a.params.target", "no_colon"),
        [],
        "stages.a.params.target",
        "pattern",
    ),
    "unknown python param": (
        mutate("stages.a.params.retries", 3),
        [],
        "stages.a.params.retries",
        "unknown field",
    ),
    "bad stage name": (
        lambda d: {**d, "stages": {**d["stages"], "Bad-Name": py_stage("touch")}},
        [],
        "stages.Bad-Name",
        "",
    ),
    "override with wrong type": (
        lambda d: d,
        ["--set", "stages.a.resources.array=zero"],
        "stages.a.resources.array",
        "",
    ),
    "override malformed": (lambda d: d, ["--set", "nonsense"], "--set", "key=value"),
    "partition injection": (
        lambda d: d,
        ["--set", "site.slurm.partition=gpu; touch pwned"],
        "slurm.partition",
        "pattern",
    ),
    "unknown site": (lambda d: d, ["--site", "nosuchsite"], "--site", "unknown site"),
    "sbatch flag with newline": (
        mutate("stages.a.resources.sbatch", {"comment": "x\ntouch pwned"}),
        [],
        "stages.a.resources.sbatch.comment",
        "newline",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_input_exits_2_naming_the_field(tmp_path, case):
    change, extra_args, field, words = CASES[case]
    path = write_workflow(tmp_path, change(good_workflow()))
    result = run_cli("submit", str(path), *extra_args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert field in message
    assert words in message
    source = "--set" if field == "--set" else "--site" if field == "--site" else None
    if source is None and "slurm." not in field:
        assert str(path) in message
    assert message.count("\n") == 0, "one message, one line"
    assert not (tmp_path / "campaigns").exists()
    assert not (tmp_path / "pwned").exists()


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstages: {a: [unclosed\n")
    result = run_cli("submit", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert str(path) in result.stderr and "not valid YAML at line" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_workflow_file(tmp_path):
    result = run_cli("submit", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and "nope.yaml: file not found" in result.stderr


def test_invalid_site_file_names_site_file_and_field(tmp_path):
    site = tmp_path / "mysite.yaml"
    site.write_text("name: mysite\nscheduler: pbs\naccelerator: cpu\n")
    path = write_workflow(tmp_path, good_workflow())
    result = run_cli("submit", str(path), "--site", str(site), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{site}: scheduler:" in result.stderr and "'slurm' or 'local'" in result.stderr


def test_existing_campaign_is_not_overwritten(tmp_path):
    path = write_workflow(tmp_path, {"name": "twice", "stages": {"a": py_stage("touch")}})
    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0
    before = (tmp_path / "campaigns" / "twice" / "journal.jsonl").read_text()
    again = run_cli("submit", str(path), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and "resume" in again.stderr
    assert (tmp_path / "campaigns" / "twice" / "journal.jsonl").read_text() == before


def test_validation_and_dry_run_import_no_heavy_frameworks(tmp_path):
    path = write_workflow(tmp_path, good_workflow())
    code = (
        "import sys; from pipeline.cli import main; "
        f"rc = main(['submit', {str(path)!r}, '--site', 'devcluster', '--dry-run']); "
        "heavy = ('torch', 'ray', 'deepspeed', 'tensorboard'); "
        "print('HEAVY', sorted(m for m in heavy if m in sys.modules), rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "HEAVY [] 0" in result.stdout
    assert not (tmp_path / "campaigns").exists()


def test_a_campaigns_dir_on_an_unset_variable_is_an_error_naming_it(tmp_path):
    site = tmp_path / "scratchsite.yaml"
    site.write_text(
        "name: scratchsite\nscheduler: local\naccelerator: cpu\ncampaigns_dir: $CF_UNSET_SCRATCH/campaigns\n"
    )
    path = write_workflow(tmp_path, good_workflow())
    env = {k: v for k, v in os.environ.items() if k != "CF_UNSET_SCRATCH"}
    result = run_cli("submit", str(path), "--site", str(site), cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert "campaigns_dir" in result.stderr and "$CF_UNSET_SCRATCH" in result.stderr and "not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(tmp_path.iterdir()) == {site, path}  # nothing created, no literal $CF_UNSET_SCRATCH folder


DOWN_SLURM_CONF = """ClusterName=down
SlurmctldHost=localhost
SlurmctldPort=6999
MessageTimeout=2
AuthType=auth/munge
NodeName=x CPUs=1
PartitionName=p Nodes=x
"""


def unreachable_slurm_site(directory) -> Path:
    """A Slurm site whose controller is not running (nothing listens on its port)."""
    (directory / "slurm.conf").write_text(DOWN_SLURM_CONF)
    site = directory / "down.yaml"
    site.write_text(
        f"name: down\nscheduler: slurm\naccelerator: cpu\nslurm: {{partition: p, conf: {directory / 'slurm.conf'},"
        " retry: {attempts: 1}}\n"
    )
    return site


@pytest.mark.skipif(shutil.which("squeue") is None, reason="needs the Slurm client commands")
def test_submit_and_resume_with_the_controller_down_fail_with_one_line_and_create_nothing(tmp_path):
    site = unreachable_slurm_site(tmp_path)
    path = write_workflow(tmp_path, {"name": "down", "stages": {"a": py_stage("touch")}})
    result = run_cli("submit", str(path), "--site", str(site), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "scheduler is unreachable" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "campaigns").exists()  # a second submit is not told "already exists"

    assert run_cli("submit", str(path), "--wait", cwd=tmp_path).returncode == 0  # the same campaign, locally
    campaign = tmp_path / "campaigns" / "down"
    (campaign / "site.yaml").write_text(site.read_text())  # its scheduler now unreachable
    journal = (campaign / "journal.jsonl").read_text()
    resumed = run_cli("resume", str(campaign), cwd=tmp_path)
    assert resumed.returncode == 1 and "scheduler is unreachable" in resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert (campaign / "journal.jsonl").read_text() == journal
