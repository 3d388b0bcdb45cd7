"""The family registry (see pipeline/families/__init__.py).

Dataset families: one plug-in unit per kind of data.

A family owns what the generic stage kinds `generate`, `stage_data` and `evaluate` do with its
data: the parameters of each (pydantic models, told apart by the `dataset` field, so a field of
another family is an error), its event generation, its staging into shards, its evaluation and
report, and the tasks that learn on it. The stages only dispatch:

    generate    -> family.implementation.generate(stage, process, seed, out, meta_path)
    stage_data  -> family.implementation.stage(stage, files)
    evaluate    -> family.implementation.evaluate(stage)

A `Family` is a light description (parameter models and a dotted path): registering one, and
validating a workflow that uses it, imports no torch. The built-in families register in
`catalog.py`, one line each; installed packages add families through the entry-point group
`colliderflow.families` (a `FamilyPlugin` per entry point, named by it; see docs/plugins.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

PLUGIN_GROUP = "colliderflow.families"
DEFAULT = "particle_flow"  # the family of a stage that names none (workflows older than families)
PARAM_ROLES = ("generate_params", "stage_params", "evaluate_params")


class UnknownFamily(ValueError):
    """A workflow names a family (`dataset`) that is not registered, or one without that stage."""


@dataclass(frozen=True)
class FamilyPlugin:
    """What a `colliderflow.families` entry point names (its name is the family's)."""

    description: str
    implementation: str  # "module:Class": a FamilyImplementation (imported inside the job)
    stage_params: type[BaseModel]
    evaluate_params: type[BaseModel]
    generate_params: type[BaseModel] | None = None  # None: no generator (files come as stage_data.inputs)
    tasks: tuple[str, ...] = ()  # the tasks that learn on its staged data
    # "module:function(files, params)", torch-free: checks stage_data's existing `inputs` at
    # submit time (raises data.file_staging.DataError naming the file and what it lacks)
    check_inputs: str | None = None


@dataclass(frozen=True)
class Family(FamilyPlugin):
    name: str = ""

    def params(self, role: str) -> type[BaseModel]:
        model = getattr(self, role)
        if model is None:
            stage = role.removesuffix("_params")
            raise UnknownFamily(f"family {self.name!r} has no {stage} stage")
        return model

    def check(self, files: list, params: BaseModel) -> None:
        if self.check_inputs is not None and files:
            module_name, _, attr = self.check_inputs.partition(":")
            getattr(importlib.import_module(module_name), attr)(files, params)

    def load(self) -> Any:
        """An instance of the family's implementation (see protocol.FamilyImplementation)."""
        module_name, _, attr = self.implementation.partition(":")
        return getattr(importlib.import_module(module_name), attr)()


_FAMILIES: dict[str, Family] = {}


def _complaint(name: str, plugin: FamilyPlugin) -> str | None:
    for role in PARAM_ROLES:
        model = getattr(plugin, role)
        if model is None and role == "generate_params":
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return f"{role} must be a pydantic model class"
        field = model.model_fields.get("dataset")
        if field is None or field.default != name:
            return f"{role} ({model.__name__}) needs a field `dataset` whose default is {name!r}"
    return None


def load_plugins() -> None:
    """Add the installed packages' families (once)."""
    from models.plugins import load_into

    load_into(
        _FAMILIES,
        PLUGIN_GROUP,
        FamilyPlugin,
        "family",
        check=_complaint,
        convert=lambda name, p: Family(**{f: getattr(p, f) for f in FamilyPlugin.__dataclass_fields__}, name=name),
    )


def register_family(name: str, plugin: FamilyPlugin) -> None:
    if name in _FAMILIES:
        raise ValueError(f"family {name!r} is registered twice")
    complaint = _complaint(name, plugin)
    if complaint:
        raise ValueError(f"family {name!r}: {complaint}")
    _FAMILIES[name] = Family(**{f: getattr(plugin, f) for f in FamilyPlugin.__dataclass_fields__}, name=name)


def family_names() -> list[str]:
    load_plugins()
    return sorted(_FAMILIES)


def get_family(name: str) -> Family:
    load_plugins()
    if name not in _FAMILIES:
        raise UnknownFamily(f"unknown family {name!r} (families: {', '.join(family_names())})")
    return _FAMILIES[name]


def params_model(role: str, raw: dict[str, Any]) -> type[BaseModel]:
    """The parameter model of a stage's `params` (its `dataset` names the family)."""
    name = raw.get("dataset", DEFAULT) if isinstance(raw, dict) else DEFAULT
    return get_family(str(name)).params(role)


def owner_of_field(role: str, field: str, besides: str) -> str | None:
    """The first other family whose `role` parameters have `field` (for a clearer error)."""
    for name in family_names():
        model = getattr(_FAMILIES[name], role)
        if name != besides and model is not None and field in model.model_fields:
            return name
    return None


def manifest_family(manifest: dict[str, Any]) -> str:
    """The family of a staged manifest. Manifests staged before families existed carry a `kind`
    (images, jets) or nothing (particle flow)."""
    if "family" in manifest:
        return str(manifest["family"])
    return {"images": "suep_images", "jets": "jets"}.get(manifest.get("kind"), DEFAULT)
