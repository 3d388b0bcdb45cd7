"""TensorBoard event files for stages (torch's SummaryWriter, imported only in the job)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scalar_writer(logdir: Path, replace: bool = False) -> Iterator:
    """A SummaryWriter on `logdir`; with `replace`, the run's earlier event files are removed
    first, so a rerun replaces its values instead of adding a second set."""
    from torch.utils.tensorboard import SummaryWriter

    Path(logdir).mkdir(parents=True, exist_ok=True)
    if replace:
        for old in Path(logdir).glob("events.out.tfevents.*"):
            old.unlink()
    writer = SummaryWriter(log_dir=str(logdir))
    try:
        yield writer
    finally:
        writer.close()
