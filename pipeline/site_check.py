"""`colliderflow site check SITE`: the rules a site profile can be held to without the machine
(ranges, vendor consistency, devices vs ranks vs cores, binding masks, required variables),
and a list of what only the machine itself can confirm."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .env_paths import unset_variables
from .site import SiteProfile
from .spec import Resources

ERROR, WARNING, NOTE = "error", "warning", "note"

# accelerator stack -> (torch device, distributed backends that drive it, DeepSpeed accelerator)
VENDOR = {
    "cuda": ("cuda", ("nccl",), "cuda"),
    "rocm": ("cuda", ("nccl",), "cuda"),  # HIP behind the cuda device; RCCL behind nccl
    "hpu": ("hpu", ("hccl",), "hpu"),
    "cpu": ("cpu", ("gloo", "mpi"), "cpu"),
}
NCCL_IB_TIMEOUT_RANGE = (1, 22)  # NCCL's documented range (timeout = 4.096 us x 2^n)

OFFLINE_LIMITS = (
    "partitions, accounts and QOS exist and the account may use them",
    "modules, the container image and the job's Python exist on the compute nodes",
    "the GRES name behind --gpus-per-node (gpu on most sites; some Gaudi sites use another)",
    "network interface names (NCCL_SOCKET_IFNAME) and the fabric libraries in the image",
    "that binding masks follow the nodes' real CPU/accelerator topology",
)


@dataclass(frozen=True)
class Finding:
    level: str
    field: str
    message: str

    def line(self) -> str:
        return f"{self.level:8s} {self.field}: {self.message}"


def _vendor(site: SiteProfile) -> list[Finding]:
    device, backends, ds = VENDOR[site.accelerator]
    out = []
    if site.device != device:
        out.append(
            Finding(ERROR, "device", f"{site.accelerator} runs PyTorch on device {device!r}, not {site.device!r}")
        )
    if site.distributed.backend not in backends:
        out.append(
            Finding(
                ERROR,
                "distributed.backend",
                f"{site.accelerator} needs {' or '.join(backends)}, not {site.distributed.backend!r}",
            )
        )
    if site.distributed.deepspeed_accelerator != ds:
        out.append(Finding(ERROR, "distributed.deepspeed_accelerator", f"{site.accelerator} needs {ds!r}"))
    if site.accelerator != "cpu":
        if site.gpus_per_node == 0:
            out.append(Finding(ERROR, "gpus_per_node", f"an {site.accelerator} site needs its accelerators per node"))
        if not site.visible_devices_env:
            out.append(Finding(WARNING, "visible_devices_env", "unset: jobs cannot be told which devices are theirs"))
    if site.accelerator == "hpu":
        if site.hpo.accelerator_resource != "HPU":
            out.append(Finding(ERROR, "hpo.accelerator_resource", "Ray counts Gaudi cards as HPU"))
        if site.visible_devices_env != "HABANA_VISIBLE_MODULES":
            out.append(Finding(WARNING, "visible_devices_env", "Gaudi selects modules with HABANA_VISIBLE_MODULES"))
    return out


def _env(site: SiteProfile) -> list[Finding]:
    out = []
    timeout = site.env.get("NCCL_IB_TIMEOUT")
    if timeout is not None:
        low, high = NCCL_IB_TIMEOUT_RANGE
        if not timeout.isdigit() or not low <= int(timeout) <= high:
            out.append(
                Finding(ERROR, "env.NCCL_IB_TIMEOUT", f"{timeout!r} is outside NCCL's documented range {low}-{high}")
            )
    if site.env.get("PT_HPU_LAZY_MODE") == "1":
        out.append(
            Finding(
                WARNING,
                "env.PT_HPU_LAZY_MODE",
                "lazy mode is legacy and needs mark_step, which the trainer never calls",
            )
        )
    if site.visible_devices_env and site.visible_devices_env in site.env:
        out.append(
            Finding(
                ERROR,
                f"env.{site.visible_devices_env}",
                "a fixed device list for every job: each job names its own devices through visible_devices_env",
            )
        )
    return out


def _mask_cores(arg: str) -> list[set[int]] | None:
    if not arg.startswith("--cpu-bind=") or "mask_cpu:" not in arg:
        return None
    masks = arg.split("mask_cpu:", 1)[1].split(",")
    return [{bit for bit in range(int(m, 16).bit_length()) if int(m, 16) >> bit & 1} for m in masks]


def _kinds(site: SiteProfile) -> list[Finding]:
    out = []
    for kind, res in site.kinds.items():
        where = f"kinds.{kind}"
        resolved = site.stage_resources(kind, Resources())  # the kind's defaults as a stage gets them
        gpus, tasks, cpus = resolved.gpus_per_node, resolved.tasks_per_node, resolved.cpus_per_task
        if gpus > site.gpus_per_node:
            out.append(Finding(ERROR, f"{where}.gpus_per_node", f"{gpus} but the nodes have {site.gpus_per_node}"))
        if site.cpus_per_node and tasks * cpus > site.cpus_per_node:
            out.append(
                Finding(
                    ERROR,
                    f"{where}.cpus_per_task",
                    f"{tasks} task(s) x {cpus} CPUs > the node's {site.cpus_per_node}",
                )
            )
        if kind == "train" and gpus and tasks != gpus:
            out.append(
                Finding(
                    WARNING,
                    f"{where}.tasks_per_node",
                    f"{tasks} rank(s) for {gpus} devices per node: some idle or shared",
                )
            )
        if kind == "hpo" and site.cpus_per_node and cpus < site.cpus_per_node and gpus == site.gpus_per_node:
            out.append(
                Finding(
                    NOTE, f"{where}.cpus_per_task", f"{cpus} of {site.cpus_per_node}: Ray gets what Slurm allocates"
                )
            )
        for arg in res.srun_args:
            masks = _mask_cores(arg)
            if masks is None:
                continue
            if len(masks) != tasks:
                out.append(Finding(ERROR, f"{where}.srun_args", f"{len(masks)} CPU masks for {tasks} task(s) per node"))
            if any(len(mask) < cpus for mask in masks):
                out.append(Finding(ERROR, f"{where}.srun_args", f"a mask has fewer cores than cpus_per_task ({cpus})"))
            if len(set().union(*masks)) != sum(len(m) for m in masks):
                out.append(Finding(ERROR, f"{where}.srun_args", "CPU masks overlap: two ranks share cores"))
    return out


def _hpo(site: SiteProfile) -> list[Finding]:
    hpo = site.hpo
    if not site.cpus_per_node or not hpo.gpus_per_trial or not site.gpus_per_node:
        return []
    by_devices = site.gpus_per_node // hpo.gpus_per_trial
    by_cpus = site.cpus_per_node // hpo.cpus_per_trial
    if by_cpus < by_devices:
        return [
            Finding(
                WARNING,
                "hpo.cpus_per_trial",
                f"{by_cpus} trials per node fit the CPUs but {by_devices} fit the devices: devices idle",
            )
        ]
    return []


def _variables(site: SiteProfile, environ: dict[str, str]) -> list[Finding]:
    out = []
    for name, hint in site.required_env.items():
        if not environ.get(name):
            out.append(Finding(NOTE, f"required_env.{name}", f"not set in this shell; submitting needs it ({hint})"))
    for name in unset_variables(site.campaigns_dir, environ):
        if name not in site.required_env:
            out.append(Finding(WARNING, "campaigns_dir", f"uses ${name}, unset here and not in required_env"))
    node_words = [*site.launcher, site.python or ""]
    for name in dict.fromkeys(n for word in node_words for n in unset_variables(word, {})):
        if name not in site.required_env and not name.startswith("SLURM"):
            out.append(
                Finding(NOTE, "launcher", f"${name} expands on the compute node: it must be set there (or required)")
            )
    if site.scheduler == "local" and (site.launcher or site.python):
        out.append(
            Finding(WARNING, "launcher", "the local scheduler runs the submitting Python; launcher/python unused")
        )
    return out


def check(site: SiteProfile, environ: dict[str, str] | None = None) -> list[Finding]:
    environ = dict(os.environ if environ is None else environ)
    return [*_vendor(site), *_env(site), *_kinds(site), *_hpo(site), *_variables(site, environ)]
