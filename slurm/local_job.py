"""The detached process behind one local job: wait for dependencies, run the tasks, record states.

Run as `python -m slurm.local_job SPEC.pkl` by LocalScheduler.submit.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .local_scheduler import LocalScheduler
from .local_slots import MachineSlots
from .local_state import read_state, write_state
from .request import CANCELLED, COMPLETED, FAILED, RUNNING, TERMINAL, TIMEOUT, JobRequest

POLL_S = 0.2
KILL_GRACE_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalJob:
    def __init__(self, spec_path: Path) -> None:
        with open(spec_path, "rb") as handle:
            spec = pickle.load(handle)  # written by our own LocalScheduler.submit
        self.spec_path = spec_path
        self.queue_dir = spec_path.parent
        self.request: JobRequest = spec["request"]
        self.after: list[str] = spec["after"]
        self.ids: list[str] = spec["ids"]
        self.children: list[subprocess.Popen] = []
        self.cancelled = False
        # <campaigns>/<campaign>/local-queue: the slots live in the campaigns directory
        self.slots = MachineSlots(self.queue_dir.parent.parent / ".local-slots", self.request.local_slots)
        request = self.request
        self.cpus_per_task = request.nodes * request.tasks_per_node * max(1, request.cpus_per_task or 1)

    def on_sigterm(self, signum: int, frame: object) -> None:
        self.cancelled = True
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def wait_for_dependencies(self) -> bool:
        scheduler = LocalScheduler(self.queue_dir)
        while not self.cancelled:
            pending = False
            for dep in self.after:
                state = read_state(self.queue_dir, dep)
                if state is None:
                    return False
                if state["state"] == COMPLETED:
                    continue
                if state["state"] in TERMINAL or not scheduler.is_alive(scheduler.base_of(dep)):
                    return False
                pending = True
            if not pending:
                return True
            time.sleep(POLL_S)
        return False

    def launch(self, position: int) -> list[subprocess.Popen]:
        request = self.request
        world = request.nodes * request.tasks_per_node
        port = free_port()
        job_id = self.ids[position]
        processes = []
        for rank in range(world):
            env = dict(os.environ)
            env.update(request.env)
            env.update(
                COLLIDERFLOW_LAUNCHER="local",
                COLLIDERFLOW_JOB_ID=job_id,
                RANK=str(rank),
                WORLD_SIZE=str(world),
                LOCAL_RANK=str(rank),
                LOCAL_WORLD_SIZE=str(world),
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
                # when this task's time limit ends, as Slurm exports it (deadline.py reads either)
                COLLIDERFLOW_JOB_END_TIME=str(int(time.time() + request.time_min * 60)),
            )
            argv = [sys.executable, "-u", "-m", "slurm.local_task", str(self.spec_path), str(position)]
            if request.setup:  # site-authored shell lines, then exec the task with quoted argv
                argv = ["bash", "-c", "\n".join([*request.setup, 'exec "$@"']), "colliderflow-task", *argv]
            out = open(Path(request.folder) / f"{job_id}_{rank}_log.out", "ab")  # noqa: SIM115
            try:
                processes.append(
                    subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
                )
            finally:
                out.close()
        return processes

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_sigterm)
        if not self.wait_for_dependencies():
            reason = "cancelled by user" if self.cancelled else "DependencyNeverSatisfied"
            for job_id in self.ids:
                write_state(self.queue_dir, job_id, state=CANCELLED, reason=reason)
            return 0
        positions = list(range(len(self.ids)))
        running: dict[int, tuple[list[subprocess.Popen], float]] = {}
        held: dict[int, list[int]] = {}  # the machine slots of each running task
        limit_s = self.request.time_min * 60
        failures = 0
        while positions or running:
            while positions and len(running) < max(1, self.request.max_parallel_local) and not self.cancelled:
                slots = self.slots.try_take(self.cpus_per_task)
                if slots is None:  # the machine is busy: the task stays PENDING
                    break
                position = positions.pop(0)
                held[position] = slots
                write_state(self.queue_dir, self.ids[position], state=RUNNING, started=time.time())
                processes = self.launch(position)
                self.children.extend(processes)
                running[position] = (processes, time.monotonic())
            if self.cancelled and not running:
                break
            for position, (processes, started) in list(running.items()):
                overdue = time.monotonic() - started - limit_s
                if overdue > 0:  # like Slurm: SIGTERM at the limit, SIGKILL after a grace period
                    for process in processes:
                        if process.poll() is None:
                            process.send_signal(signal.SIGKILL if overdue > KILL_GRACE_S else signal.SIGTERM)
                codes = [process.poll() for process in processes]
                if any(code is None for code in codes):
                    continue
                del running[position]
                self.slots.release(held.pop(position))
                failures += self.finish(position, codes, timed_out=time.monotonic() - started > limit_s)
            time.sleep(POLL_S)
        for position in positions:  # never started because of a cancel
            write_state(self.queue_dir, self.ids[position], state=CANCELLED, reason="cancelled by user")
        return 1 if failures else 0

    def finish(self, position: int, codes: list[int], timed_out: bool) -> int:
        job_id = self.ids[position]
        if all(code == 0 for code in codes):
            write_state(self.queue_dir, job_id, state=COMPLETED, ended=time.time())
            return 0
        if self.cancelled:
            state, reason = CANCELLED, "cancelled by user"
        elif timed_out:
            state, reason = TIMEOUT, f"time limit of {self.request.time_min} min reached"
        else:
            rank, code = next((r, c) for r, c in enumerate(codes) if c != 0)
            state, reason = FAILED, f"rank {rank} exited with code {code}"
        write_state(self.queue_dir, job_id, state=state, reason=reason, ended=time.time())
        return 1


def main() -> int:
    return LocalJob(Path(sys.argv[1])).run()


if __name__ == "__main__":
    sys.exit(main())
