"""The task registry (see pipeline/tasks/__init__.py).

Training tasks as plug-ins: what the train and hpo stages need to know of a learning problem
(its batch layout, loss, validation metric and exported outputs), so that one loop trains any
registered model. Torch-free on import: a workflow's `task:` and `loss:` are validated on a
login node; the implementation module is imported when a stage runs.

    register_task("particle_flow", LossConfig, "pipeline.families.particle_flow.task:ParticleFlowTask")

Installed packages add tasks through the entry-point group `colliderflow.tasks` (see
models/plugins.py), each a `TaskPlugin`, loaded the first time a task is looked up.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


class UnknownTask(ValueError):
    """A workflow names a task that is not registered."""


@dataclass(frozen=True)
class TaskEntry:
    name: str
    loss_config: type  # torch-free dataclass of the task's loss settings (params.loss)
    implementation: str  # "module:Class", imported when a stage runs
    description: str
    # "module:function(stage, metrics) -> lines": `colliderflow report`'s summary of an evaluate
    # stage's report/<stage>/metrics.json whose "task" is this one (None: its files are listed)
    report_summary: str | None = None


@dataclass(frozen=True)
class TaskPlugin:
    """What a package's `colliderflow.tasks` entry point names (the entry point's name is the
    task's): its torch-free loss-settings dataclass, its 'module:Class', a one-line summary and,
    optionally, the 'module:function' that summarises its evaluate stages' reports."""

    loss_config: type
    implementation: str
    description: str
    report_summary: str | None = None


_TASKS: dict[str, TaskEntry] = {}
PLUGIN_GROUP = "colliderflow.tasks"


def load_plugins() -> None:
    """Add the installed packages' tasks (once)."""
    from models.plugins import load_into

    load_into(
        _TASKS,
        PLUGIN_GROUP,
        TaskPlugin,
        "task",
        convert=lambda name, p: TaskEntry(name, p.loss_config, p.implementation, p.description, p.report_summary),
    )


def register_task(
    name: str, loss_config: type, implementation: str, description: str, report_summary: str | None = None
) -> None:
    if name in _TASKS:
        raise ValueError(f"task {name!r} is registered twice")
    _TASKS[name] = TaskEntry(name, loss_config, implementation, description, report_summary)


def task_names() -> list[str]:
    load_plugins()
    return sorted(_TASKS)


def task_entry(name: str) -> TaskEntry:
    load_plugins()
    if name not in _TASKS:
        raise UnknownTask(f"unknown task {name!r} (available: {', '.join(task_names())})")
    return _TASKS[name]


def load_task(name: str) -> Any:
    """An instance of the task's implementation (imports torch)."""
    module_name, _, attr = task_entry(name).implementation.partition(":")
    return getattr(importlib.import_module(module_name), attr)()
