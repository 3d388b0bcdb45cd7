"""Plug-ins from other installed packages, through Python entry points.

A package registers what it brings in its own pyproject.toml, one entry point per name:

    [project.entry-points."colliderflow.models"]
    tiny_mlp = "my_physics.colliderflow:TINY_MLP"        # a models.ModelPlugin
    [project.entry-points."colliderflow.tasks"]
    toy_regression = "my_physics.colliderflow:TOY_TASK"  # a pipeline.tasks.TaskPlugin
    [project.entry-points."colliderflow.stages"]
    toy_data = "my_physics.colliderflow:TOY_DATA"        # a pipeline.stages.StageKind

The entry point's name is the name workflows use; its object is a light description (a config
class and dotted paths) in a module that must not import torch, so that validating a workflow
on a login node stays cheap. Each registry loads its group the first time it is asked for a
name (`load_group`). A plug-in that fails to import, has the wrong type, or takes a name that is
built in or that another plug-in took, is a `PluginError` naming the package and entry point.

This module is the lowest layer (it imports nothing of colliderflow), so `models` and
`pipeline` both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

_LOADED: set[str] = set()  # the groups already loaded into their registries


class PluginError(ValueError):
    """An installed plug-in cannot be used: the message names its package and entry point."""


def _origin(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    package = dist.metadata["Name"] if dist is not None else "an unknown package"
    return f"plug-in package {package!r}, entry point {entry.group}:{entry.name} = {entry.value!r}"


def load_group(
    group: str, kind: type, builtins: Iterable[str], register: Callable[[str, Any], None], what: str
) -> None:
    """Load every entry point of `group`: each must be an instance of `kind`, under a name that
    is not in `builtins` and not taken by another plug-in; `register(name, object)` adds it."""
    taken = set(builtins)
    seen: dict[str, str] = {}
    for entry in sorted(metadata.entry_points(group=group), key=lambda e: (e.name, e.value)):
        origin = _origin(entry)
        if entry.name in taken:
            raise PluginError(f"{origin}: {what} {entry.name!r} is built in; choose another name")
        if entry.name in seen:
            raise PluginError(f"{origin}: {what} {entry.name!r} is also registered by {seen[entry.name]}")
        try:
            value = entry.load()
        except Exception as exc:  # any failure of the user's import is theirs to see, named
            raise PluginError(f"{origin}: cannot be imported ({type(exc).__name__}: {exc})") from None
        if not isinstance(value, kind):
            raise PluginError(f"{origin}: is a {type(value).__name__}, not a {kind.__name__}")
        seen[entry.name] = origin
        register(entry.name, value)


def load_into(
    registry: dict[str, Any],
    group: str,
    kind: type,
    what: str,
    check: Callable[[str, Any], str | None] = lambda name, value: None,
    convert: Callable[[str, Any], Any] = lambda name, value: value,
) -> None:
    """Load `group` into `registry` once (the names already in it are the built-ins): each
    plug-in must pass `check` (a complaint string, or None) and is stored as `convert` makes it.
    Nothing is registered unless every plug-in of the group is good; a failure repeats on the
    next lookup rather than leaving half a group."""
    if group in _LOADED:
        return
    found: dict[str, Any] = {}
    load_group(group, kind, set(registry), found.__setitem__, what)
    for name, value in found.items():
        complaint = check(name, value)
        if complaint:
            raise PluginError(f"{what} {name!r}: {complaint}")
    registry.update({name: convert(name, value) for name, value in found.items()})
    _LOADED.add(group)
