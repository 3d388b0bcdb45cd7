"""The reference of every workflow and site field, generated from the spec models themselves,
and of every registered model kind and task (plug-ins from installed packages included)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from models.registry import model_config_class, model_kinds

from . import stages as stage_kinds
from .families import family_names, get_family
from .site import SiteProfile
from .spec import WorkflowSpec
from .tasks import task_entry, task_names


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base = _type_name(args[0])
        for meta in args[1:]:
            pattern = getattr(meta, "pattern", None)
            if pattern:
                return f"{base} matching `{pattern}`".replace("|", "\\|")
        return base
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is dict:
        return f"map {_type_name(args[0])} → {_type_name(args[1])}"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        return "{}" if value == {} else "[]" if value == [] else "(see below)"
    if field.default is PydanticUndefined:
        return ""
    return f"`{field.default!r}`"


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(_nested_models(arg))
    return found


def _model_section(model: type[BaseModel], path: str, out: list[str], seen: set[str]) -> None:
    if path in seen:
        return
    seen.add(path)
    out += [f"### `{path}`", "", (model.__doc__ or "").strip().split("\n")[0], ""]
    out += ["| field | type | default | meaning |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        out.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {field.description or ''} |")
        for sub in _nested_models(field.annotation):
            is_map = typing.get_origin(field.annotation) is dict
            nested.append((sub, f"{path}.{name}.<name>" if is_map else f"{path}.{name}"))
    out.append("")
    for sub, sub_path in nested:
        _model_section(sub, sub_path, out, seen)


def _dataclass_section(title: str, cls: type, out: list[str]) -> None:
    """A dataclass's fields as a table: name, type, default."""
    hints = typing.get_type_hints(cls)
    out += [title, "", "| field | type | default |", "|---|---|---|"]
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            default = f"`{field.default!r}`"
        elif field.default_factory is not dataclasses.MISSING:
            default = f"`{field.default_factory()!r}`"
        else:
            default = "**required**"
        out.append(f"| `{field.name}` | {_type_name(hints.get(field.name, field.type))} | {default} |")
    out.append("")


def reference_markdown() -> str:
    out = [
        "# colliderflow field reference",
        "",
        "Generated from the spec models by `colliderflow reference`; do not edit by hand",
        "(a test fails when this file and the code disagree).",
        "",
        "## Workflow files (workflows/*.yaml)",
        "",
    ]
    seen: set[str] = set()
    _model_section(WorkflowSpec, "workflow", out, seen)
    out += ["## Stage kinds and their `params`", ""]
    for name in stage_kinds.names():
        kind = stage_kinds.get(name)
        out += [f"Kind `{name}`: {kind.summary}", ""]
        if kind.family_params is None:
            _model_section(kind.params, f"stages.<name>.params ({name})", out, seen)
            continue
        out += [f"Its parameters are those of the family that `dataset` names ({', '.join(family_names())}).", ""]
        for family in family_names():
            model = getattr(get_family(family), kind.family_params)
            if model is not None:
                _model_section(model, f"stages.<name>.params ({name}, dataset: {family})", out, seen)
    out += ["## Dataset families (`params.dataset` of generate, stage_data and evaluate)", ""]
    for family in family_names():
        entry = get_family(family)
        tasks = ", ".join(f"`{t}`" for t in entry.tasks) or "none registered"
        generator = "" if entry.generate_params is not None else " No generator: stage its files with `inputs`."
        out += [f"- `{family}`: {entry.description}. Tasks: {tasks}.{generator}"]
    out += [""]
    out += ["## Site profiles (sites/*.yaml)", ""]
    _model_section(SiteProfile, "site", out, seen)
    out += ["## Model kinds (`params.model` of train, `params.train.model` of hpo)", ""]
    for kind in model_kinds():
        _dataclass_section(f"Kind `{kind}`", model_config_class(kind), out)
    out += ["## Tasks (`params.task`) and their `params.loss`", ""]
    for name in task_names():
        entry = task_entry(name)
        _dataclass_section(f"Task `{name}`: {entry.description}", entry.loss_config, out)
    return "\n".join(out).rstrip() + "\n"
