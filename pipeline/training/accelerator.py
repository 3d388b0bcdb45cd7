"""One small layer between the training loop and the vendor: device, autocast dtype, memory,
synchronisation, seeding. Chosen by the site profile's `device` (cuda covers ROCm through
torch's HIP build; hpu imports habana_frameworks only there). No CUDA-only call elsewhere."""

from __future__ import annotations

import random

import numpy as np
import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class CPUAccelerator:
    name = "cpu"

    def device(self, local_rank: int) -> torch.device:
        return torch.device("cpu")

    def autocast(self, precision: str):
        return torch.autocast("cpu", dtype=DTYPES[precision], enabled=precision == "bf16")

    def synchronize(self) -> None:
        pass

    def memory_mb(self) -> float:
        from pathlib import Path

        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)


class CUDAAccelerator(CPUAccelerator):
    name = "cuda"

    def device(self, local_rank: int) -> torch.device:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)

    def autocast(self, precision: str):
        return torch.autocast("cuda", dtype=DTYPES[precision], enabled=precision != "fp32")

    def synchronize(self) -> None:
        torch.cuda.synchronize()

    def memory_mb(self) -> float:
        return torch.cuda.max_memory_allocated() / 2**20

    def seed(self, seed: int) -> None:
        super().seed(seed)
        torch.cuda.manual_seed_all(seed)


class HPUAccelerator(CPUAccelerator):
    name = "hpu"

    def __init__(self) -> None:
        import habana_frameworks.torch.core  # noqa: F401  (registers the hpu device)

        self.hpu = torch.hpu

    def device(self, local_rank: int) -> torch.device:
        return torch.device("hpu")

    def autocast(self, precision: str):
        return torch.autocast("hpu", dtype=DTYPES[precision], enabled=precision != "fp32")

    def synchronize(self) -> None:
        self.hpu.synchronize()

    def memory_mb(self) -> float:
        return self.hpu.max_memory_allocated() / 2**20


ACCELERATORS = {"cpu": CPUAccelerator, "cuda": CUDAAccelerator, "hpu": HPUAccelerator}


def accelerator_for(device: str) -> CPUAccelerator:
    return ACCELERATORS[device]()
