"""What the validation loss decides between epochs: the learning-rate plateau schedule (the
rate times `factor` once `patience` epochs in a row brought no improvement) and early stopping
(the run ends once `patience` epochs in a row brought none). Both count as Keras's callbacks
do (ReduceLROnPlateau, EarlyStopping): an epoch improves when its loss is below the best so far
by more than `min_delta`. The state is a small dict saved in every checkpoint, so a resumed run
decides exactly as an uninterrupted one."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class PlateauState:
    best: float | None = None  # best validation loss so far
    since_best: int = 0  # epochs since the best (early stopping's count)
    since_change: int = 0  # epochs without improvement since the last rate change (the plateau's count)
    lr_scale: float = 1.0  # product of the reductions so far
    stopped: bool = False  # early stopping fired
    reductions: int = 0


class EpochWatch:
    def __init__(self, plateau_patience: int | None, factor: float, stop_patience: int | None, min_delta: float,
                 min_scale: float = 1e-6) -> None:  # fmt: skip
        self.plateau_patience, self.factor = plateau_patience, factor
        self.stop_patience, self.min_delta, self.min_scale = stop_patience, min_delta, min_scale
        self.state = PlateauState()

    def restore(self, saved: dict | None) -> None:
        if saved:
            self.state = PlateauState(**saved)

    def saved(self) -> dict:
        return asdict(self.state)

    def observe(self, val_loss: float | None) -> list[str]:
        """Account one finished epoch; returns what it decided, as log lines."""
        s, decided = self.state, []
        if val_loss is None:
            return decided
        if s.best is None or val_loss < s.best - self.min_delta:
            s.best, s.since_best, s.since_change = val_loss, 0, 0
            return decided
        s.since_best += 1
        s.since_change += 1
        if self.plateau_patience is not None and s.since_change >= self.plateau_patience:
            new_scale = max(s.lr_scale * self.factor, self.min_scale)
            if new_scale < s.lr_scale:
                decided.append(
                    f"no improvement for {s.since_change} epochs: learning rate x{self.factor:g} "
                    f"(now x{new_scale:.3g} of the schedule)"
                )
                s.lr_scale, s.reductions = new_scale, s.reductions + 1
            s.since_change = 0
        if self.stop_patience is not None and s.since_best >= self.stop_patience:
            s.stopped = True
            decided.append(f"early stopping: no improvement for {s.since_best} epochs (best {s.best:.6g})")
        return decided
