"""TensorBoard event files for stages (torch's SummaryWriter, imported only in the job)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scalar_writer(logdir: Path, replace: bool = False, suffix: str = "") -> Iterator:
    """A SummaryWriter on `logdir` whose event files end in `suffix`; with `replace`, the run's
    earlier files of that suffix are removed first, so a rerun replaces its values instead of
    adding a second set (other files of the run, e.g. a trial's scalars, stay)."""
    from torch.utils.tensorboard import SummaryWriter

    Path(logdir).mkdir(parents=True, exist_ok=True)
    if replace:
        for old in Path(logdir).glob(f"events.out.tfevents.*{suffix}"):
            old.unlink()
    writer = SummaryWriter(log_dir=str(logdir), filename_suffix=suffix)
    try:
        yield writer
    finally:
        writer.close()


def plot_images(logdir: Path, paths: list[Path]) -> None:
    """PNG plots as TensorBoard images (tag: file stem), replacing the run's earlier ones."""
    import matplotlib.pyplot as plt
    import numpy as np

    with scalar_writer(logdir, replace=True) as writer:
        for path in paths:
            image = plt.imread(path)
            writer.add_image(path.stem, np.transpose(image[..., :3], (2, 0, 1)), 0)
