"""A real Slurm on this machine for development and tests: munge, one slurmctld and two
slurmd (nodes n1 and n2 on loopback), installed from Debian's packages when missing.

`up` is idempotent; `down` stops only the daemons it started (by their pid files).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DEFAULT_DIR = "/tmp/colliderflow-devcluster"
NODES = ("n1", "n2")
CTLD_PORT = 16817
NODE_PORTS = (17001, 17002)


def base_dir() -> Path:
    return Path(os.environ.get("COLLIDERFLOW_DEVCLUSTER_DIR", DEFAULT_DIR))


def conf_path() -> Path:
    return base_dir() / "etc" / "slurm.conf"


def slurm_conf_text(root: Path, cpus_per_node: int = 2, memory_mb: int = 4000) -> str:
    node_line = (
        f"NodeName=n[1-2] NodeHostname=localhost NodeAddr=127.0.0.1 Port={NODE_PORTS[0]}-{NODE_PORTS[1]} "
        f"CPUs={cpus_per_node} RealMemory={memory_mb} State=UNKNOWN"
    )
    return f"""# colliderflow development cluster (written by `colliderflow devcluster up`)
ClusterName=cfdev
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={CTLD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd here: finished jobs go to a text file that `sacct --completion` reads (usage.py's
# cross-check of the attempt records).
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.txt
MailProg=/bin/true
# Keep finished jobs visible to squeue for a while (status does not depend on it).
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
SchedulerParameters=sched_min_interval=100000
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd-%n.pid
SlurmdSpoolDir={root}/spool/%n
StateSaveLocation={root}/state
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
{node_line}
PartitionName=debug Nodes=n[1-2] Default=YES MaxTime=INFINITE State=UP
"""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _env() -> dict[str, str]:
    return {**os.environ, "SLURM_CONF": str(conf_path())}


def ensure_installed() -> None:
    missing = [exe for exe in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(exe) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"devcluster: {', '.join(missing)} missing; install slurm-wlm and munge (needs root)")
    print("devcluster: installing slurm-wlm and munge with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "slurm-wlm", "munge"], check=True, env=env)


def _munge_ok() -> bool:
    if shutil.which("munge") is None:
        return False
    encoded = _run(["munge", "-n"])
    if encoded.returncode != 0:
        return False
    return _run(["unmunge"], input=encoded.stdout).returncode == 0


def start_munge(root: Path) -> None:
    if _munge_ok():
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mungekey", "-c", "-k", str(key)], check=True)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    subprocess.run(["munged", "--force"], check=True)
    pid_file = Path("/run/munge/munged.pid")
    if pid_file.exists():
        (root / "run" / "munged.pid").write_text(pid_file.read_text())
    _wait(_munge_ok, 20, "munge did not come up")


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def _wait(predicate, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise SystemExit(f"devcluster: {message} within {timeout:.0f} s (logs in {base_dir() / 'log'})")


def _node_states() -> dict[str, str]:
    result = _run(["sinfo", "-h", "-N", "-o", "%N %T"], env=_env())
    if result.returncode != 0:
        return {}
    states = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def _ensure_hosts() -> None:
    """Node names must resolve for multi-node rendezvous; map them to loopback if they don't."""
    hosts = Path("/etc/hosts")
    try:
        text = hosts.read_text()
        missing = [n for n in NODES if not any(n in line.split()[1:] for line in text.splitlines() if line.strip())]
        if missing and os.access(hosts, os.W_OK):
            with hosts.open("a") as handle:
                handle.write(f"127.0.0.1 {' '.join(missing)}  # colliderflow devcluster\n")
    except OSError:
        pass


def up() -> int:
    ensure_installed()
    root = base_dir()
    for sub in ("etc", "run", "log", "state", *(f"spool/{n}" for n in NODES)):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = conf_path()
    text = slurm_conf_text(root)
    if not conf.exists() or conf.read_text() != text:
        if any(_pid_alive(p) for p in (root / "run").glob("*.pid")):
            print("devcluster: its slurm.conf changed; restarting the daemons")
            down()
        conf.write_text(text)
    _ensure_hosts()
    start_munge(root)
    if not _pid_alive(root / "run" / "slurmctld.pid"):
        subprocess.run(["slurmctld", "-f", str(conf)], check=True, env=_env())
    _wait(lambda: _run(["scontrol", "ping"], env=_env()).returncode == 0, 30, "slurmctld did not answer")
    for node in NODES:
        if not _pid_alive(root / "run" / f"slurmd-{node}.pid"):
            subprocess.run(["slurmd", "-N", node, "-f", str(conf)], check=True, env=_env())

    def nodes_ready() -> bool:
        states = _node_states()
        down = [n for n, s in states.items() if s.startswith(("down", "drain", "fail"))]
        if down:
            _run(["scontrol", "update", f"nodename={','.join(down)}", "state=resume"], env=_env())
        return len(states) == len(NODES) and all(
            s.rstrip("*").startswith(("idle", "mix", "alloc")) for s in states.values()
        )

    _wait(nodes_ready, 60, "nodes n1, n2 did not become idle")
    print(f"devcluster up: nodes {', '.join(NODES)}; SLURM_CONF={conf}")
    return 0


def down() -> int:
    root = base_dir()
    stopped = []
    for pid_file in sorted((root / "run").glob("*.pid")):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid_file.stem)
        except (OSError, ValueError, IndexError):
            pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _pid_alive(pid_file):
            time.sleep(0.2)
        if _pid_alive(pid_file):  # a daemon that ignores SIGTERM for 15 s is killed
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _pid_alive(pid_file):
                time.sleep(0.2)
        pid_file.unlink(missing_ok=True)
    print(f"devcluster down: stopped {', '.join(stopped) or 'nothing'}")
    return 0


def status() -> int:
    if not conf_path().exists():
        print("devcluster: not set up (run `colliderflow devcluster up`)")
        return 1
    states = _node_states()
    if not states:
        print("devcluster: slurmctld not answering")
        return 1
    for node, state in sorted(states.items()):
        print(f"{node}: {state}")
    queue = _run(["squeue", "-h", "-o", "%i %j %T %R"], env=_env()).stdout.strip()
    print(queue or "(no jobs)")
    print(f"for squeue, scancel, sinfo against it: export SLURM_CONF={conf_path()}")
    return 0
