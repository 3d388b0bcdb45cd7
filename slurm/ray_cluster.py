"""A Ray cluster inside one job's allocation: the head on the first node, one worker per other
node, each started by the job's own task on that node (the stage's srun), torn down with it.

Every node takes a block of ports derived from the campaign's token (so two campaigns sharing a
node pick different blocks) and probed free before use; nodes of one job that share a host (the
devcluster) take different blocks by node rank. The cluster uses token authentication with a
token that lives in the campaign directory, readable by its owner only. Readiness is polled
with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write_json

PORT_RANGE = (10000, 32000)  # below Linux's ephemeral range (32768-60999), where OS-picked ports live
BLOCK = 128  # ports per node: 9 fixed + worker ports
SAME_HOST_RANKS = 4  # node ranks that may share one host (the devcluster) get disjoint blocks
FIXED = (
    "port",
    "node-manager-port",
    "object-manager-port",
    "ray-client-server-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
    "dashboard-port",
)


class RayClusterError(RuntimeError):
    pass


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def port_block(token: str, node_rank: int, tries: int = 64) -> int:
    """First port of a free block for this campaign and node rank."""
    stride = BLOCK * SAME_HOST_RANKS
    slots = (PORT_RANGE[1] - PORT_RANGE[0]) // stride
    start = int(hashlib.sha256(token.encode()).hexdigest(), 16) % slots
    for i in range(tries):
        base = PORT_RANGE[0] + ((start + i) % slots) * stride + (node_rank % SAME_HOST_RANKS) * BLOCK
        if all(_port_free(p) for p in range(base, base + BLOCK)):
            return base
    raise RayClusterError(f"no free block of {BLOCK} ports in {PORT_RANGE} for Ray on {socket.gethostname()}")


def port_args(base: int, head: bool) -> list[str]:
    args = []
    for offset, name in enumerate(FIXED):
        if not head and name in ("port", "ray-client-server-port", "dashboard-port"):
            continue
        args.append(f"--{name}={base + offset}")
    args += [f"--min-worker-port={base + len(FIXED)}", f"--max-worker-port={base + BLOCK - 1}"]
    return args


def auth_env(ray_dir: Path) -> dict[str, str]:
    """Environment for every Ray process of this campaign: token auth with the campaign's token."""
    token_file = ray_dir / "auth_token"
    if not token_file.exists():
        ray_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(uuid.uuid4().hex)
    return {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token_file),
        "RAY_USAGE_STATS_DISABLE": "1",
        "RAY_DEDUP_LOGS": "0",
    }


@dataclass
class NodeSpec:
    ray_dir: Path  # shared: head.json, token, done markers
    token: str  # the campaign's identity (port blocks)
    run_key: str  # this job attempt; stale files of earlier attempts are ignored
    node_rank: int
    num_nodes: int
    node_ip: str
    num_cpus: int
    num_gpus: int
    resources: dict[str, float]
    temp_root: Path  # node-local, short (Unix socket paths are limited to 107 bytes)

    @property
    def head_file(self) -> Path:
        return self.ray_dir / f"head.{self.run_key}.json"

    @property
    def done_file(self) -> Path:
        return self.ray_dir / f"done.{self.run_key}"

    def temp_dir(self) -> Path:
        digest = hashlib.sha1(f"{self.token}/{self.run_key}".encode()).hexdigest()[:10]
        return self.temp_root / f"cf-ray-{digest}-{self.node_rank}"


def _ray_start(spec: NodeSpec, extra: list[str]) -> subprocess.Popen:
    base = port_block(spec.token, spec.node_rank)
    ray = str(Path(sys.executable).with_name("ray"))
    command = [
        ray,
        "start",
        "--block",
        "--disable-usage-stats",
        f"--node-ip-address={spec.node_ip}",
        f"--num-cpus={spec.num_cpus}",
        f"--num-gpus={spec.num_gpus}",
        f"--temp-dir={spec.temp_dir()}",
        *port_args(base, head="--head" in extra),
        *extra,
    ]
    if spec.resources:
        command.append(f"--resources={json.dumps(spec.resources)}")
    env = {**os.environ, **auth_env(spec.ray_dir)}
    log = (spec.ray_dir / f"node{spec.node_rank}.{spec.run_key}.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    process.base_port = base  # type: ignore[attr-defined]
    return process


def start_head(spec: NodeSpec) -> tuple[subprocess.Popen, str]:
    process = _ray_start(spec, ["--head", "--include-dashboard=false"])
    address = f"{spec.node_ip}:{process.base_port}"  # type: ignore[attr-defined]
    atomic_write_json(spec.head_file, {"address": address, "host": socket.gethostname(), "pid": process.pid})
    return process, address


def join(spec: NodeSpec, deadline_s: float) -> subprocess.Popen:
    """Worker node: wait for this attempt's head, join it, and stay until the driver is done."""
    deadline = time.monotonic() + deadline_s
    while not spec.head_file.exists():
        if time.monotonic() > deadline:
            raise RayClusterError(f"no Ray head appeared ({spec.head_file}) within {deadline_s:.0f} s")
        time.sleep(0.2)
    address = json.loads(spec.head_file.read_text())["address"]
    return _ray_start(spec, [f"--address={address}"])


def serve_until_done(process: subprocess.Popen, spec: NodeSpec) -> None:
    while not spec.done_file.exists():
        if process.poll() is not None:
            raise RayClusterError(f"the Ray worker on node rank {spec.node_rank} exited with {process.returncode}")
        time.sleep(0.5)
    stop(process)


def stop(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop one node's Ray: the blocking `ray start` and every process under it (GCS, raylet,
    trial workers), TERM first, KILL after `grace_s`. Safe to call from a signal handler."""
    import psutil

    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    process.poll()


def connect(address: str, ray_dir: Path, expected_nodes: int, deadline_s: float) -> list[dict]:
    """Driver: connect to the head and wait until `expected_nodes` nodes are alive."""
    os.environ.update(auth_env(ray_dir))
    import ray

    deadline = time.monotonic() + deadline_s
    while True:
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False)
            break
        except (ConnectionError, RuntimeError) as exc:
            if time.monotonic() > deadline:
                raise RayClusterError(
                    f"could not connect to the Ray head at {address} within {deadline_s:.0f} s: {exc}"
                ) from exc
            time.sleep(1.0)
    while True:
        alive = [n for n in ray.nodes() if n.get("Alive")]
        if len(alive) >= expected_nodes:
            return alive
        if time.monotonic() > deadline:
            ray.shutdown()
            raise RayClusterError(
                f"only {len(alive)} of {expected_nodes} Ray nodes joined within {deadline_s:.0f} s "
                f"(see {ray_dir}/node*.log)"
            )
        time.sleep(0.5)
