"""Search spaces as written in a workflow, checked against the training parameters, and
turned into samples (random search for ASHA) or a conditional ConfigSpace (for BOHB).

    search_space:
      optimizer.lr: {loguniform: [1.0e-4, 1.0e-2]}
      model.width: {choice: [64, 128, 256]}
      model.kind:                       # a choice whose options carry their own sub-space
        choice:
          gnn_lsh: {model.bin_size: {choice: [64, 128]}}
          kernel_transformer: {model.num_random_features: {randint: [32, 128]}}

Keys are dotted paths into the train stage's parameters; `model.<name>` must be a
hyperparameter of every model kind it can apply to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "quniform", "randint")


class SearchSpaceError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass
class Dimension:
    key: str
    kind: str
    values: list[Any] = field(default_factory=list)  # choice options
    low: float = 0.0
    high: float = 0.0
    q: float = 1.0
    branches: dict[Any, list[Dimension]] = field(default_factory=dict)  # option -> its sub-space


def _dimension(key: str, spec: Any) -> Dimension:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SearchSpaceError(
            key, f"expected one distribution as {{name: arguments}} (one of {', '.join(DISTRIBUTIONS)})"
        )
    kind, args = next(iter(spec.items()))
    if kind not in DISTRIBUTIONS:
        raise SearchSpaceError(key, f"unknown distribution {kind!r} (valid: {', '.join(DISTRIBUTIONS)})")
    if kind == "choice":
        if isinstance(args, dict):  # options with their own sub-spaces
            if not args:
                raise SearchSpaceError(key, "empty choice")
            branches = {option: parse(sub or {}, prefix=f"{key}={option}") for option, sub in args.items()}
            return Dimension(key, kind, values=list(args), branches=branches)
        if not isinstance(args, list) or not args:
            raise SearchSpaceError(key, "empty choice" if isinstance(args, list) else "choice takes a list of options")
        return Dimension(key, kind, values=list(args))
    expected = 3 if kind == "quniform" else 2
    if not isinstance(args, list) or len(args) != expected or not all(isinstance(a, (int, float)) for a in args):
        raise SearchSpaceError(key, f"{kind} takes [low, high{', q' if kind == 'quniform' else ''}]")
    low, high = float(args[0]), float(args[1])
    if low >= high:
        raise SearchSpaceError(key, f"low {args[0]} must be below high {args[1]}")
    if kind == "loguniform" and low <= 0:
        raise SearchSpaceError(key, "loguniform needs low > 0")
    if kind == "quniform" and args[2] <= 0:
        raise SearchSpaceError(key, "quniform needs q > 0")
    if kind == "randint" and not all(float(a).is_integer() for a in args):
        raise SearchSpaceError(key, "randint takes integer bounds")
    return Dimension(key, kind, low=low, high=high, q=float(args[2]) if kind == "quniform" else 1.0)


def parse(raw: dict[str, Any], prefix: str = "search_space") -> list[Dimension]:
    if not isinstance(raw, dict):
        raise SearchSpaceError(prefix, "expected a mapping of dotted keys to distributions")
    return [_dimension(str(key), spec) for key, spec in raw.items()]


def walk(space: list[Dimension]):
    for dim in space:
        yield dim
        for sub in dim.branches.values():
            yield from walk(sub)


def check_keys(space: list[Dimension], train_fields: set[str], model_kind: str | None) -> None:
    """Every key must be a training parameter; `model.x` a hyperparameter of the model kind(s)
    it applies to (the branch's kind, else the workflow's model.kind)."""
    from models import model_hyperparameters as model_fields
    from models import model_kinds

    def visit(dims: list[Dimension], kind: str | None) -> None:
        for dim in dims:
            top, _, rest = dim.key.partition(".")
            if top not in train_fields:
                raise SearchSpaceError(dim.key, f"not a training parameter (valid: {', '.join(sorted(train_fields))})")
            if top == "model" and rest == "kind":
                unknown = [v for v in dim.values if v not in model_kinds()]
                if unknown:
                    raise SearchSpaceError(
                        dim.key, f"unknown model kind(s) {unknown} (valid: {', '.join(model_kinds())})"
                    )
            elif top == "model":
                if kind is None:
                    raise SearchSpaceError(dim.key, "no model.kind to check this hyperparameter against")
                if rest not in model_fields(kind):
                    raise SearchSpaceError(
                        dim.key, f"not a hyperparameter of {kind} (valid: {', '.join(model_fields(kind))})"
                    )
            for option, sub in dim.branches.items():
                visit(sub, option if dim.key == "model.kind" else kind)

    visit(space, model_kind)


def sample(space: list[Dimension], rng: np.random.Generator) -> dict[str, Any]:
    """One random configuration (dotted keys -> values), following the chosen branches."""
    out: dict[str, Any] = {}
    for dim in space:
        if dim.kind == "choice":
            value = dim.values[int(rng.integers(len(dim.values)))]
            out[dim.key] = value
            out.update(sample(dim.branches.get(value, []), rng))
        elif dim.kind == "uniform":
            out[dim.key] = float(rng.uniform(dim.low, dim.high))
        elif dim.kind == "loguniform":
            out[dim.key] = float(math.exp(rng.uniform(math.log(dim.low), math.log(dim.high))))
        elif dim.kind == "quniform":
            out[dim.key] = float(np.round(rng.uniform(dim.low, dim.high) / dim.q) * dim.q)
        else:
            out[dim.key] = int(rng.integers(int(dim.low), int(dim.high)))  # high exclusive, as Ray's randint
    return out


def to_configspace(space: list[Dimension], seed: int = 0):
    """The equivalent ConfigSpace, with sub-spaces active only under their branch (for BOHB)."""
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)

    def add(dims: list[Dimension], parent=None, option=None) -> None:
        for dim in dims:
            name = dim.key if parent is None else f"{dim.key}@{parent.name}={option}"
            if dim.kind == "choice":
                hp = CS.Categorical(name, [str(v) for v in dim.values])
            elif dim.kind == "randint":
                hp = CS.Integer(name, (int(dim.low), int(dim.high) - 1))
            elif dim.kind == "quniform":
                hp = CS.Float(name, (dim.low, dim.high))  # rounded to q by `from_configspace`
            else:
                hp = CS.Float(name, (dim.low, dim.high), log=dim.kind == "loguniform")
            cs.add(hp)
            if parent is not None:
                cs.add(CS.EqualsCondition(hp, parent, str(option)))
            for branch_option, sub in dim.branches.items():
                add(sub, hp, branch_option)

    add(space)
    return cs


def configspace_names(space: list[Dimension], point: dict[str, Any]) -> dict[str, Any]:
    """A configuration in dotted keys (a given point) as ConfigSpace names and value types."""
    out: dict[str, Any] = {}

    def visit(dims: list[Dimension], parent: str | None = None, option: Any = None) -> None:
        for dim in dims:
            if dim.key not in point:
                continue
            name = dim.key if parent is None else f"{dim.key}@{parent}={option}"
            value = point[dim.key]
            out[name] = str(value) if dim.kind == "choice" else value
            if dim.kind == "choice" and value in dim.branches:
                visit(dim.branches[value], name, value)

    visit(space)
    return out


def from_configspace(space: list[Dimension], values: dict[str, Any]) -> dict[str, Any]:
    """A ConfigSpace configuration back to dotted keys with the workflow's value types."""
    by_name: dict[str, tuple[Dimension, Any]] = {}

    def index(dims: list[Dimension], parent: str | None = None, option: Any = None) -> None:
        for dim in dims:
            name = dim.key if parent is None else f"{dim.key}@{parent}={option}"
            by_name[name] = dim
            for branch_option, sub in dim.branches.items():
                index(sub, name, branch_option)

    index(space)
    out: dict[str, Any] = {}
    for name, value in values.items():
        dim = by_name[name]
        if dim.kind == "choice":
            value = next(v for v in dim.values if str(v) == str(value))
        elif dim.kind == "quniform":
            value = float(np.round(float(value) / dim.q) * dim.q)
        elif dim.kind == "randint":
            value = int(value)
        else:
            value = float(value)
        out[dim.key] = value
    return out


def apply(config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Training parameters with the sampled dotted keys set (a new dict; `params` untouched).
    When the sample switches `model.kind`, the base model's hyperparameters that the new kind
    does not have are dropped."""
    import copy

    from models import model_hyperparameters

    from ..overrides import apply_overrides

    out = copy.deepcopy(params)
    if "model.kind" in config and config["model.kind"] != out.get("model", {}).get("kind"):
        valid = set(model_hyperparameters(config["model.kind"]))
        out["model"] = {k: v for k, v in out.get("model", {}).items() if k in valid}
    apply_overrides(out, [(key.split("."), value) for key, value in config.items()], "search_space")
    return out
