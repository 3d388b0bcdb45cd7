"""Every installed plug-in loaded at once, before a command reads a workflow, so that a broken
one is one clear error (a `models.plugins.PluginError`: exit 2, naming its package and entry
point) rather than a failure inside whichever field first looked a name up. The registries load
their groups lazily on their own (a job, a Ray worker, `colliderflow report`); this only makes
it happen up front. See models/plugins.py."""

from __future__ import annotations


def load_plugins() -> None:
    from models.registry import load_plugins as load_models

    from . import families, stages
    from .tasks.registry import load_plugins as load_tasks

    load_models()
    load_tasks()
    stages.load_plugins()
    families.load_plugins()
