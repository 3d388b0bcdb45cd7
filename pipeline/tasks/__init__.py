"""Learning tasks: what the train, hpo and evaluate stages need to know of a learning problem.
`registry.py` holds the registry (built-ins and the `colliderflow.tasks` plug-ins),
`protocol.py` the interface a task implements, `catalog.py` the built-in registrations."""

from . import catalog  # noqa: E402,F401,I001  (registers the built-in tasks; imports no torch)
from .registry import PLUGIN_GROUP, TaskEntry, TaskPlugin, UnknownTask, load_task, register_task, task_entry, task_names

__all__ = [
    "PLUGIN_GROUP",
    "TaskEntry",
    "TaskPlugin",
    "UnknownTask",
    "load_task",
    "register_task",
    "task_entry",
    "task_names",
]
