"""Process-group set-up from the launcher's environment (Slurm or the local site) — no ssh,
no hostfile — and the few collectives the loop needs."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from slurm import launch_env


def export_env(deepspeed_accelerator: str, process: launch_env.ProcessEnv | None = None) -> launch_env.ProcessEnv:
    """Export RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* for torch and DeepSpeed. Done before the
    accelerator's runtime is imported: Intel Gaudi's bridge reads them at import.
    `process` overrides the launcher's environment (an HPO trial is its own little job)."""
    process = process or launch_env.current()
    os.environ.update(
        RANK=str(process.rank),
        WORLD_SIZE=str(process.world_size),
        LOCAL_RANK=str(process.local_rank),
        LOCAL_WORLD_SIZE=str(process.local_world_size),
        MASTER_ADDR=process.master_addr(),
        # one rank needs no agreed port: 0 lets the OS pick a free one at bind time, where a port
        # chosen free beforehand can be taken in between (EADDRINUSE beside other jobs)
        MASTER_PORT="0" if process.world_size == 1 else str(process.master_port),
        DS_ACCELERATOR=deepspeed_accelerator,
    )
    return process


def init_group(backend: str) -> None:
    """The process group, through DeepSpeed (public DeepSpeed, or a vendor's fork on Gaudi)."""
    try:
        import deepspeed
    except ImportError as exc:
        raise RuntimeError(
            f"DeepSpeed is not importable ({exc}): install the project with its deepspeed extra "
            "(pip install -e '.[deepspeed]'), or on Intel Gaudi the fork that matches the software "
            "release (see the README's Gaudi section)"
        ) from None
    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False)


def all_true(flag: bool, device: torch.device) -> bool:
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0)


def sum_values(values: list[float], device: torch.device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def barrier() -> None:
    dist.barrier()
