"""The `python` stage kind: users' own steps, and the engine's tests."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..stage import Stage


def resolve_target(target: str) -> Callable[..., Any]:
    module_name, _, attr_path = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        obj = getattr(obj, attr)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj


class PythonStage(Stage):
    def run(self) -> Any:
        function = resolve_target(self.params.target)
        return function(**self.params.kwargs, ctx=self.ctx)

    def checkpoint(self) -> None:
        if self.params.checkpoint:
            resolve_target(self.params.checkpoint)(ctx=self.ctx)
