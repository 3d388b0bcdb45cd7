"""Registry of stage kinds by name.

A kind pairs a light parameter model (validated at submit time, on the login node,
without heavy imports) with the dotted path of its implementation class, which is
imported only inside the job. The built-in kinds are registered here; installed packages add
kinds through the entry-point group `colliderflow.stages` (see models/plugins.py), each a
`StageKind` whose name is the entry point's, loaded the first time a kind is looked up.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pydantic import BaseModel

from .params.evaluate import EvaluateParams
from .params.generate import GenerateParams
from .params.hpo import HpoParams
from .params.python import PythonParams
from .params.stage_data import StageDataParams
from .params.train import TrainParams


@dataclass(frozen=True)
class StageKind:
    name: str
    params: type[BaseModel]
    impl: str  # "package.module:Class", a subclass of pipeline.stage.Stage
    summary: str
    one_task_per_node: bool = False  # the kind starts its own processes per node (Ray)

    def load(self) -> type:
        module_name, _, attr = self.impl.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_KINDS: dict[str, StageKind] = {}
PLUGIN_GROUP = "colliderflow.stages"


def _plugin_complaint(name: str, kind: StageKind) -> str | None:
    if kind.name != name:
        return f"the entry point names a StageKind called {kind.name!r}"
    if not (isinstance(kind.params, type) and issubclass(kind.params, BaseModel)):
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
        params=GenerateParams,
        impl="pipeline.stages.generate:GenerateStage",
        summary="Pythia 8 e+e- events through the CLIC-like detector simulation; one ROOT file per array task.",
    )
)
register(
    StageKind(
        name="stage_data",
        params=StageDataParams,
        impl="pipeline.stages.stage_data:StageDataStage",
        summary="ROOT files into normalised, sharded element tensors with a manifest (resumable).",
    )
)
register(
    StageKind(
        name="train",
        params=TrainParams,
        impl="pipeline.stages.train:TrainStage",
        summary="A registered model on staged data with DeepSpeed: checkpoints, exact resume, requeue, TensorBoard.",
    )
)
register(
    StageKind(
        name="hpo",
        params=HpoParams,
        impl="pipeline.stages.hpo:HpoStage",
        one_task_per_node=True,
        summary="ASHA or BOHB search over train configurations with Ray Tune across the job's nodes (resumable).",
    )
)
register(
    StageKind(
        name="evaluate",
        params=EvaluateParams,
        impl="pipeline.stages.evaluate:EvaluateStage",
        summary="Trained models and the rule-based baseline on the test split: particle, jet and MET metrics; report/.",
    )
)
