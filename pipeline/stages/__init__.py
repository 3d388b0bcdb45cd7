"""Registry of stage kinds by name.

A kind pairs a light parameter model (validated at submit time, on the login node,
without heavy imports) with the dotted path of its implementation class, which is
imported only inside the job. The kinds that work on a dataset family (generate, stage_data,
evaluate) take the parameter model of the family their `dataset` names (pipeline/families/).
The built-in kinds are registered here; installed packages add
kinds through the entry-point group `colliderflow.stages` (see models/plugins.py), each a
`StageKind` whose name is the entry point's, loaded the first time a kind is looked up.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .. import families
from .params.hpo import HpoParams
from .params.python import PythonParams
from .params.train import TrainParams


@dataclass(frozen=True)
class StageKind:
    name: str
    params: type[BaseModel] | None  # None: the family's (family_params)
    impl: str  # "package.module:Class", a subclass of pipeline.stage.Stage
    summary: str
    one_task_per_node: bool = False  # the kind starts its own processes per node (Ray)
    family_params: str | None = None  # "generate_params" etc.: the family's model of this kind
    # what its outputs/ hold that a downstream stage may look for (e.g. "manifest.json")
    outputs: tuple[str, ...] = ()

    def params_model(self, raw: dict[str, Any]) -> type[BaseModel]:
        """The model `raw` (a stage's params) is validated with; raises families.UnknownFamily."""
        if self.family_params is None:
            assert self.params is not None
            return self.params
        return families.params_model(self.family_params, raw)

    def validate(self, raw: dict[str, Any]) -> BaseModel:
        return self.params_model(raw).model_validate(raw)

    def load(self) -> type:
        module_name, _, attr = self.impl.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_KINDS: dict[str, StageKind] = {}
PLUGIN_GROUP = "colliderflow.stages"


def _plugin_complaint(name: str, kind: StageKind) -> str | None:
    if kind.name != name:
        return f"the entry point names a StageKind called {kind.name!r}"
    if kind.family_params is not None and kind.family_params not in families.PARAM_ROLES:
        return f"family_params must be one of {families.PARAM_ROLES}"
    if kind.family_params is None and not (isinstance(kind.params, type) and issubclass(kind.params, BaseModel)):
        return "params must be a pydantic model class"
    return None


def load_plugins() -> None:
    """Add the installed packages' stage kinds (once)."""
    from models.plugins import load_into

    load_into(_KINDS, PLUGIN_GROUP, StageKind, "stage kind", check=_plugin_complaint)


def register(kind: StageKind) -> None:
    if kind.name in _KINDS:
        raise ValueError(f"stage kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind


def get(name: str) -> StageKind:
    load_plugins()
    try:
        return _KINDS[name]
    except KeyError:
        raise KeyError(f"unknown stage kind {name!r} (available: {', '.join(names())})") from None


def names() -> list[str]:
    load_plugins()
    return sorted(_KINDS)


register(
    StageKind(
        name="python",
        params=PythonParams,
        impl="pipeline.stages.python:PythonStage",
        summary="Call module:function(**kwargs, ctx=context); its return value is saved as JSON.",
    )
)
register(
    StageKind(
        name="generate",
        params=None,
        family_params="generate_params",
        impl="pipeline.stages.generate:GenerateStage",
        summary="One ROOT file per array task from the family's generator (Pythia 8 through its detector).",
        outputs=("*.root",),
    )
)
register(
    StageKind(
        name="stage_data",
        params=None,
        family_params="stage_params",
        impl="pipeline.stages.stage_data:StageDataStage",
        summary="ROOT files into the family's bounded shards with a manifest (resumable, bad files quarantined).",
        outputs=("manifest.json",),
    )
)
register(
    StageKind(
        name="train",
        params=TrainParams,
        impl="pipeline.stages.train:TrainStage",
        outputs=("model.pt",),
        summary="A registered model on staged data with DeepSpeed: checkpoints, exact resume, requeue, TensorBoard.",
    )
)
register(
    StageKind(
        name="hpo",
        params=HpoParams,
        impl="pipeline.stages.hpo:HpoStage",
        outputs=("best/model.pt",),
        one_task_per_node=True,
        summary="ASHA or BOHB search over train configurations with Ray Tune across the job's nodes (resumable).",
    )
)
register(
    StageKind(
        name="evaluate",
        params=None,
        family_params="evaluate_params",
        impl="pipeline.stages.evaluate:EvaluateStage",
        summary="Trained models beside the family's reference points on the same events, paired; report/<stage>/.",
    )
)
