"""Parameters of the `python` stage kind (light: no imports of the target at validation)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from ...spec import Strict

Target = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")]


class PythonParams(Strict):
    target: Target = Field(description="'package.module:function' called as function(**kwargs, ctx=ctx).")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments (JSON-like).")
    checkpoint: Target | None = Field(
        None, description="'module:function' called with ctx=ctx when the job is about to be requeued."
    )
