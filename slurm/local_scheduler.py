"""A scheduler for one machine without Slurm: each job is a detached process that waits for
its dependencies, runs its tasks (array elements x ranks) and records its state in files.

Same contract as Slurm: submit returns at once, states survive the submitting shell,
dependents of a failed job are cancelled (like kill_on_invalid_dep), cancel signals the job.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

from .local_state import process_alive, process_start_time, read_state, write_state
from .request import CANCELLED, TERMINAL, JobRequest, QueueEntry


class LocalScheduler:
    def __init__(self, queue_dir: Path) -> None:
        self.queue_dir = Path(queue_dir)

    @staticmethod
    def task_ids(base: str, request: JobRequest) -> list[str]:
        if request.array_indices is None:
            return [base]
        return [f"{base}_{position}" for position in range(len(request.array_indices))]

    def render(self, request: JobRequest, after: list[str]) -> str:
        tasks = "1 task" if request.array_indices is None else f"array {request.array_indices}"
        lines = [
            f"# local job {request.name} ({request.comment})",
            f"# {tasks}; {request.nodes * request.tasks_per_node} process(es) per task "
            f"(RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT set per process)",
            f"# runs after: {', '.join(after) or 'nothing'}; time limit {request.time_min} min",
            *request.setup,
            *request.env_exports(),
        ]
        return "\n".join(lines) + "\n"

    def submit(self, request: JobRequest, after: list[str]) -> list[str]:
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        Path(request.folder).mkdir(parents=True, exist_ok=True)
        base = f"local-{request.token}"
        ids = self.task_ids(base, request)
        spec_path = self.queue_dir / f"{base}.pkl"
        with open(spec_path, "wb") as handle:
            pickle.dump({"request": request, "after": after, "ids": ids, "base": base}, handle)
        for job_id in ids:
            write_state(self.queue_dir, job_id, state="PENDING", name=request.name, token=request.token)
        log = open(Path(request.folder) / f"{base}.out", "ab")  # noqa: SIM115 - handed to the child
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "slurm.local_job", str(spec_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=_child_env(),
            )
        finally:
            log.close()
        proc = {"pid": process.pid, "start": process_start_time(process.pid)}
        (self.queue_dir / f"{base}.proc.json").write_text(json.dumps(proc))
        return ids

    def adopt(self, request: JobRequest, job_ids: list[str]) -> None:
        """Nothing to repair: the job's spec is written before its process starts."""

    def base_of(self, job_id: str) -> str:
        return job_id.rsplit("_", 1)[0] if "_" in job_id else job_id

    def is_alive(self, base: str) -> bool:
        try:
            proc = json.loads((self.queue_dir / f"{base}.proc.json").read_text())
        except (OSError, ValueError):
            return False
        return process_alive(proc["pid"], proc.get("start"))

    def query(self, names: list[str]) -> list[QueueEntry]:
        wanted = set(names)
        entries = []
        if not self.queue_dir.is_dir():
            return entries
        for path in sorted(self.queue_dir.glob("local-*.json")):
            if path.name.endswith(".proc.json"):
                continue
            job_id = path.stem
            state = read_state(self.queue_dir, job_id)
            if not state or state.get("name") not in wanted:
                continue
            if state["state"] not in TERMINAL and not self.is_alive(self.base_of(job_id)):
                continue  # gone without a final word: the caller infers from the stage's files
            entries.append(
                QueueEntry(
                    job_id=job_id,
                    state=state["state"],
                    reason=state.get("reason", ""),
                    token=state.get("token", ""),
                    raw_state=state["state"],
                )
            )
        return entries

    def cancel(self, job_ids: list[str]) -> None:
        bases = {self.base_of(job_id) for job_id in job_ids}
        for base in bases:
            try:
                proc = json.loads((self.queue_dir / f"{base}.proc.json").read_text())
            except (OSError, ValueError):
                continue
            if process_alive(proc["pid"], proc.get("start")):
                try:
                    os.killpg(proc["pid"], signal.SIGTERM)
                except ProcessLookupError:
                    continue
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and process_alive(proc["pid"], proc.get("start")):
                    time.sleep(0.1)
                if process_alive(proc["pid"], proc.get("start")):
                    os.killpg(proc["pid"], signal.SIGKILL)
        for job_id in job_ids:
            state = read_state(self.queue_dir, job_id)
            if state and state["state"] not in TERMINAL:
                write_state(self.queue_dir, job_id, state=CANCELLED, reason="cancelled by user")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The job must import this project even when started from another directory.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH", "")] if p)
    return env
