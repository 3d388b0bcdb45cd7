"""The interface of a learning task (what `TaskEntry.implementation` names), and `TaskBase`
with the defaults a task may keep. The trainer and the evaluations call these methods and
nothing else: no attribute probing.

A task is made with no arguments; `configure(loss_config)` gives it its settings before any
data is read (a task whose data depends on them, such as the jet classes learned, reads them
there). Whatever a batch needs besides its items (an image shape, say) comes from the dataset
object the task's own `dataset()` made, passed to `collate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class LearningTask(Protocol):
    name: str
    validation_outputs: bool  # the trainer keeps validation outputs for validation_metrics
    deployable: bool  # export_deployable makes a deployable form of the final model

    def configure(self, config: Any) -> None: ...
    def loss_config(self, raw: dict[str, Any]) -> Any: ...
    def dataset(self, manifest_path: Path, split: str) -> Any: ...
    def model_config(self, manifest: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]: ...
    def collate(self, items: list[Any], dataset: Any) -> dict[str, Any]: ...
    def forward(self, model: Any, batch: dict[str, Any]) -> dict[str, Any]: ...
    def predict(self, model: Any, batch: dict[str, Any]) -> dict[str, Any]: ...
    def loss(self, out: dict[str, Any], batch: dict[str, Any], config: Any) -> tuple[Any, dict[str, Any]]: ...
    def validation_metrics(self, kept: list[tuple[dict, dict]]) -> dict[str, float]: ...
    def events(self, batch: dict[str, Any]) -> int: ...
    def export_deployable(self, network: Any, batch: dict[str, Any], outputs_dir: Path) -> dict[str, Any] | None: ...
    def describe(self, network: Any) -> dict[str, Any]: ...


class TaskBase:
    """Defaults: settings kept as `self.config`; prediction is the training forward pass; no
    validation metrics beyond the loss; nothing deployable; the parameter count as the model's summary."""

    name = ""
    validation_outputs = False
    deployable = False

    def __init__(self) -> None:
        self.config: Any = None

    def configure(self, config: Any) -> None:
        self.config = config

    def predict(self, model: Any, batch: dict[str, Any]) -> dict[str, Any]:
        return self.forward(model, batch)  # type: ignore[attr-defined]

    def validation_metrics(self, kept: list[tuple[dict, dict]]) -> dict[str, float]:
        return {}

    def export_deployable(self, network: Any, batch: dict[str, Any], outputs_dir: Path) -> dict[str, Any] | None:
        return None

    def describe(self, network: Any) -> dict[str, Any]:
        """What the trainer logs and writes to outputs/model_summary.json when the model is built."""
        return {"parameters": sum(p.numel() for p in network.parameters())}
