"""TensorBoard event files for stages (torch's SummaryWriter, imported only in the job)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scalar_writer(logdir: Path) -> Iterator:
    from torch.utils.tensorboard import SummaryWriter

    Path(logdir).mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(log_dir=str(logdir))
    try:
        yield writer
    finally:
        writer.close()
