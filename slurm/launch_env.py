"""Rank, world size and rendezvous of the current process, from Slurm's or the local launcher's env.

One place reads the launcher's variables; training, Ray and stages ask here. No ssh, no hostfile.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass

HOSTNAME_SUFFIX_ENV = "COLLIDERFLOW_HOSTNAME_SUFFIX"


@dataclass(frozen=True)
class ProcessEnv:
    launcher: str  # "slurm", "local" or "single"
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node_rank: int = 0
    num_nodes: int = 1
    job_id: str = ""
    restart_count: int = 0
    nodelist: str = ""
    master_addr_hint: str = ""
    master_port_hint: int = 0
    cpus_on_node: int = 0  # what the scheduler gave this job on this node (0: unknown)
    hostname_suffix: str = ""  # appended to node names for their fast-network address (JUWELS: "i")

    @property
    def master_port(self) -> int:
        """A port all ranks of one job agree on without talking (derived from the job id)."""
        if self.master_port_hint:
            return self.master_port_hint
        digits = "".join(ch for ch in self.job_id if ch.isdigit()) or "0"
        return 20000 + int(digits) % 20000

    def master_addr(self) -> str:
        """Address of the first node of the job, resolvable by every rank."""
        if self.master_addr_hint:
            return self.master_addr_hint
        if self.launcher != "slurm" or not self.nodelist:
            return "127.0.0.1"
        first = first_hostname(self.nodelist)
        return resolve_node_address(first + self.hostname_suffix)

    def node_address(self) -> str:
        """This node's IP, as the other nodes of the job reach it."""
        if self.launcher != "slurm":
            return "127.0.0.1"
        node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        return resolve_node_address(node + self.hostname_suffix)


def _int(env: dict[str, str], key: str, default: int) -> int:
    try:
        return int(env.get(key, default))
    except ValueError:
        return default


def current(env: dict[str, str] | None = None) -> ProcessEnv:
    env = dict(os.environ if env is None else env)
    if env.get("COLLIDERFLOW_LAUNCHER") == "local":
        return ProcessEnv(
            launcher="local",
            rank=_int(env, "RANK", 0),
            world_size=_int(env, "WORLD_SIZE", 1),
            local_rank=_int(env, "LOCAL_RANK", 0),
            local_world_size=_int(env, "LOCAL_WORLD_SIZE", 1),
            job_id=env.get("COLLIDERFLOW_JOB_ID", ""),
            master_addr_hint=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port_hint=_int(env, "MASTER_PORT", 0),
        )
    if "SLURM_JOB_ID" in env and "SLURM_PROCID" in env:
        if "SLURM_ARRAY_JOB_ID" in env and "SLURM_ARRAY_TASK_ID" in env:
            job_id = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
        else:
            job_id = env["SLURM_JOB_ID"]
        world = _int(env, "SLURM_NTASKS", 1)
        nodes = _int(env, "SLURM_JOB_NUM_NODES", _int(env, "SLURM_NNODES", 1))
        return ProcessEnv(
            launcher="slurm",
            rank=_int(env, "SLURM_PROCID", 0),
            world_size=world,
            local_rank=_int(env, "SLURM_LOCALID", 0),
            local_world_size=max(1, world // max(1, nodes)),
            node_rank=_int(env, "SLURM_NODEID", 0),
            num_nodes=nodes,
            job_id=job_id,
            restart_count=_int(env, "SLURM_RESTART_COUNT", 0),
            nodelist=env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST", "")),
            cpus_on_node=_int(env, "SLURM_CPUS_ON_NODE", 0),
            hostname_suffix=env.get(HOSTNAME_SUFFIX_ENV, ""),
        )
    return ProcessEnv(launcher="single", job_id=env.get("COLLIDERFLOW_JOB_ID", ""))


def first_hostname(nodelist: str) -> str:
    out = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0]


def resolve_node_address(node: str) -> str:
    """The node's IP: DNS first, else Slurm's NodeAddr (the devcluster's node names do not resolve)."""
    try:
        return socket.gethostbyname(node)
    except OSError:
        pass
    out = subprocess.run(["scontrol", "show", "node", "-o", node], capture_output=True, text=True).stdout
    for token in out.split():
        if token.startswith("NodeAddr="):
            return token.split("=", 1)[1]
    raise RuntimeError(f"cannot resolve an address for node {node!r}")
