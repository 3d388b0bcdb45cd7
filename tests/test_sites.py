"""The GPU site profiles hold the documented facts they follow, in the scripts `--dry-run`
renders for the full-size campaign; `colliderflow site check` holds any profile to the offline
rules; the job's own code reads the site's facts (Ray CPUs, InfiniBand names, device lists)."""

from __future__ import annotations

import re
import subprocess
import types
from pathlib import Path

import pytest
import yaml

from pipeline import site_launch
from pipeline.site import SiteProfile
from slurm import launch_env

from .conftest import REPO, run_cli
from .test_dry_run import SITE_ENV

HPO_WORKFLOW = REPO / "workflows" / "clic-mlpf-hpo.yaml"


def scripts(tmp_path: Path, site: str, env: dict | None = None) -> dict[str, str]:
    result = run_cli("submit", str(HPO_WORKFLOW), "--site", site, "--dry-run", cwd=tmp_path, env=env or SITE_ENV)
    assert result.returncode == 0, result.stderr
    parts = re.split(r"^# ===== stage (\w+) =====$", result.stdout, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def directive(script: str, name: str) -> str | None:
    match = re.search(rf"^#SBATCH --{name}=(.*)$", script, flags=re.M)
    return match.group(1) if match else None


def srun_line(script: str) -> str:
    return next(line for line in script.splitlines() if line.startswith("srun "))


def test_lumi_g_runs_every_task_in_the_container_bound_to_its_ccd(tmp_path):
    stages = scripts(tmp_path, "lumi-g")
    for name, script in stages.items():
        srun = srun_line(script)
        wrapper = 'singularity exec -B /scratch/"${LUMI_PROJECT}",/projappl/"${LUMI_PROJECT}" "${SIF}" '
        assert wrapper + '/projappl/"${LUMI_PROJECT}"/colliderflow-venv/bin/python -u -m submitit' in srun, name
        assert directive(script, "account") == "project_465000001"
        assert "/scratch/project_465000001/colliderflow/campaigns/clic-mlpf-hpo" in script  # no $SCRATCH on LUMI
        assert "export CXI_FORK_SAFE=1" in script and "export CXI_FORK_SAFE_HP=1" in script
        assert "module load lumi-aif-singularity-bindings" in script
    train = stages["train"]
    assert directive(train, "partition") == "standard-g"
    assert directive(train, "gpus-per-node") == "8" and directive(train, "ntasks-per-node") == "8"
    assert directive(train, "cpus-per-task") == "7"
    masks = re.search(r"--cpu-bind=mask_cpu:(\S+)", srun_line(train)).group(1).split(",")
    # GCD i -> the CCD the user guide pairs it with (GCD 0..7 -> CCD 6,7,2,3,0,1,4,5), core 0 of each left out
    ccds = [6, 7, 2, 3, 0, 1, 4, 5]
    assert [int(m, 16) for m in masks] == [0xFE << (8 * ccd) for ccd in ccds]
    assert (
        directive(stages["search"], "ntasks-per-node") == "1" and directive(stages["search"], "cpus-per-task") == "56"
    )
    assert (
        directive(stages["generate"], "partition") == "small" and directive(stages["generate"], "gpus-per-node") is None
    )
    assert directive(stages["stage"], "partition") == "small"
    evaluate = stages["evaluate"]
    assert directive(evaluate, "partition") == "small-g" and directive(evaluate, "gpus-per-node") == "1"
    assert 'export ROCR_VISIBLE_DEVICES="${ROCR_VISIBLE_DEVICES:-0}"' in evaluate


def test_lumi_g_needs_its_project_and_container(tmp_path):
    env = {k: v for k, v in SITE_ENV.items() if k != "LUMI_PROJECT"}
    result = run_cli(
        "submit", str(HPO_WORKFLOW), "--site", "lumi-g", "--dry-run", cwd=tmp_path, env=env | {"LUMI_PROJECT": ""}
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "required_env.LUMI_PROJECT" in result.stderr and "project_<id>" in result.stderr
    assert not (tmp_path / "campaigns").exists()


def test_juwels_booster_ib_names_timeouts_and_srun_cpus(tmp_path):
    stages = scripts(tmp_path, "juwels-booster")
    train = stages["train"]
    timeout = int(re.search(r"^export NCCL_IB_TIMEOUT=(\d+)$", train, flags=re.M).group(1))
    assert 1 <= timeout <= 22  # NCCL's documented range
    assert "export COLLIDERFLOW_HOSTNAME_SUFFIX=i" in train
    assert directive(train, "ntasks-per-node") == "4" and directive(train, "gpus-per-node") == "4"
    assert "--cpus-per-task=12 " in srun_line(train)  # explicit: srun no longer inherits it
    assert '"${PROJECT}"/colliderflow-venv/bin/python -u -m submitit' in srun_line(train)
    assert directive(stages["search"], "cpus-per-task") == "48"
    assert directive(stages["evaluate"], "gpus-per-node") == "1"


def test_juwels_booster_explains_jutil_when_project_is_unset(tmp_path):
    env = SITE_ENV | {"PROJECT": ""}
    result = run_cli("submit", str(HPO_WORKFLOW), "--site", "juwels-booster", "--dry-run", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "required_env.PROJECT" in result.stderr and "jutil env activate" in result.stderr


def test_gaudi2_eager_mode_and_modules_of_the_job(tmp_path):
    stages = scripts(tmp_path, "gaudi2")
    for script in stages.values():
        assert "export PT_HPU_LAZY_MODE=0" in script and "PT_HPU_LAZY_MODE=1" not in script
    train = stages["train"]
    assert directive(train, "ntasks-per-node") == "8" and directive(train, "gpus-per-node") == "8"
    assert 'HABANA_VISIBLE_MODULES="${HABANA_VISIBLE_MODULES:-0,1,2,3,4,5,6,7}"' in train
    evaluate = stages["evaluate"]  # a partial-node job of 2 modules lists just those
    assert directive(evaluate, "gpus-per-node") == "2"
    assert 'HABANA_VISIBLE_MODULES="${HABANA_VISIBLE_MODULES:-0,1}"' in evaluate
    assert "HABANA_VISIBLE_MODULES" not in stages["generate"]
    assert directive(stages["search"], "cpus-per-task") == "152"


def test_workflow_resources_win_over_the_site_kind(tmp_path):
    stages = scripts(tmp_path, "lumi-g")
    assert directive(stages["generate"], "mem") == "4G"  # the workflow's, on the site's partition
    result = run_cli(
        "submit", str(HPO_WORKFLOW), "--site", "lumi-g", "--dry-run",
        "--set", "stages.train.resources.tasks_per_node=2", "--set", "stages.evaluate.resources.partition=dev-g",
        cwd=tmp_path, env=SITE_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    train = result.stdout.split("# ===== stage train")[1].split("# ===== stage")[0]
    assert directive(train, "ntasks-per-node") == "2" and directive(train, "gpus-per-node") == "8"
    assert "#SBATCH --partition=dev-g" in result.stdout


def test_a_site_kind_cannot_give_the_search_several_tasks_per_node(tmp_path):
    data = yaml.safe_load((REPO / "sites" / "gaudi2.yaml").read_text())
    data["kinds"]["hpo"]["tasks_per_node"] = "devices"
    site = tmp_path / "bad.yaml"
    site.write_text(yaml.safe_dump(data))
    result = run_cli("submit", str(HPO_WORKFLOW), "--site", str(site), "--dry-run", cwd=tmp_path)
    assert result.returncode == 2 and "kinds.hpo.tasks_per_node" in result.stderr and str(site) in result.stderr


def test_launcher_words_expand_variables_only(tmp_path):
    word = "/x/$CF_PART/${CF_PART}b/$(touch pwned);`touch pwned2` *"
    rendered = site_launch.node_word(word)
    out = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {rendered}"],
        env={"CF_PART": "a b"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    assert out == "/x/a b/a bb/$(touch pwned);`touch pwned2` *\n"  # one word, nothing run or globbed
    assert not list(tmp_path.iterdir())
    assert site_launch.node_word("plain") == "plain" and site_launch.node_word("") == "''"


@pytest.mark.parametrize("site", ["local", "devcluster", "juwels-booster", "lumi-g", "gaudi2"])
def test_shipped_sites_pass_the_check(tmp_path, site):
    result = run_cli("site", "check", site, cwd=tmp_path, env=SITE_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no error" in result.stdout and "not checkable offline" in result.stdout


def test_site_check_names_the_broken_field(tmp_path):
    data = yaml.safe_load((REPO / "sites" / "juwels-booster.yaml").read_text())
    data["env"]["NCCL_IB_TIMEOUT"] = "50"
    site = tmp_path / "juwels-old.yaml"
    site.write_text(yaml.safe_dump(data))
    result = run_cli("site", "check", str(site), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "env.NCCL_IB_TIMEOUT" in result.stderr and "1-22" in result.stderr


def test_site_check_rules():
    from pipeline import site_check

    data = yaml.safe_load((REPO / "sites" / "lumi-g.yaml").read_text())
    data["env"]["ROCR_VISIBLE_DEVICES"] = "0,1,2,3,4,5,6,7"
    data["kinds"]["train"]["srun_args"] = ["--cpu-bind=mask_cpu:0xfe,0xfe00,0xfe"]
    data["kinds"]["evaluate"]["cpus_per_task"] = 57
    data["hpo"]["cpus_per_trial"] = 14
    data["device"] = "hpu"
    found = {(f.level, f.field) for f in site_check.check(SiteProfile.model_validate(data), SITE_ENV)}
    assert ("error", "env.ROCR_VISIBLE_DEVICES") in found  # a fixed list for every job
    assert ("error", "kinds.train.srun_args") in found  # 3 masks for 8 ranks, and two overlap
    assert ("error", "kinds.evaluate.cpus_per_task") in found  # more than the node's 56
    assert ("warning", "hpo.cpus_per_trial") in found  # 4 trials fit the CPUs, 8 the GCDs
    assert ("error", "device") in found
    gaudi = yaml.safe_load((REPO / "sites" / "gaudi2.yaml").read_text())
    gaudi["env"]["PT_HPU_LAZY_MODE"] = "1"
    gaudi["kinds"]["train"]["tasks_per_node"] = 4
    found = {(f.level, f.field) for f in site_check.check(SiteProfile.model_validate(gaudi), {})}
    assert ("warning", "env.PT_HPU_LAZY_MODE") in found and ("warning", "kinds.train.tasks_per_node") in found


def test_ray_cpus_come_from_the_allocation(tmp_path):
    from pipeline.stages.hpo import HpoStage

    env = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NUM_NODES": "2"}
    process = launch_env.current({**env, "SLURM_CPUS_ON_NODE": "56", "SLURM_NODEID": "1"})
    assert process.cpus_on_node == 56 and process.node_rank == 1
    site = SiteProfile.model_validate(yaml.safe_load((REPO / "sites" / "lumi-g.yaml").read_text()))
    from pipeline.spec import Resources

    ctx = types.SimpleNamespace(
        site=site, resources=site.stage_resources("hpo", Resources(gpus_per_node="all", cpus_per_task=48)),
        stage_dir=tmp_path,
        campaign_dir=tmp_path, stage="search", job_id="7", attempt=1, rank=0,
    )  # fmt: skip
    stage = HpoStage.__new__(HpoStage)
    stage.ctx = ctx
    process = types.SimpleNamespace(
        launcher="slurm", node_rank=1, num_nodes=2, cpus_on_node=56, node_address=lambda: "10.0.0.2"
    )
    spec = stage._node_spec(process)
    assert spec.num_cpus == 56 and spec.num_gpus == 8  # not the 48 written in the workflow


def test_rendezvous_uses_the_fast_network_name(monkeypatch, tmp_path):
    conf = tmp_path / "slurm.conf"  # the smallest configuration `scontrol show hostnames` accepts
    conf.write_text("ClusterName=cf\nSlurmctldHost=localhost\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    asked = []
    monkeypatch.setattr(launch_env, "resolve_node_address", lambda node: asked.append(node) or "10.0.0.1")
    env = {
        "SLURM_JOB_ID": "7",
        "SLURM_PROCID": "0",
        "SLURM_JOB_NODELIST": "jwb[0001-0002]",
        "SLURMD_NODENAME": "jwb0002",
    }
    launch_env.current({**env, launch_env.HOSTNAME_SUFFIX_ENV: "i"}).master_addr()
    monkeypatch.setenv("SLURMD_NODENAME", "jwb0002")
    launch_env.current({**env, launch_env.HOSTNAME_SUFFIX_ENV: "i"}).node_address()
    launch_env.current(env).master_addr()
    assert asked == ["jwb0001i", "jwb0002i", "jwb0001"]
