"""Reading workflow and site files, applying --set overrides, and turning every problem
into one SpecError that names the file and the field path."""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from . import families
from . import stages as stage_kinds
from .dag import CycleError, topological_order
from .errors import SpecError
from .overrides import apply_overrides, parse_overrides
from .site import SiteProfile
from .spec import WorkflowSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
SITE_PATH_ENV = "COLLIDERFLOW_SITES_PATH"


@dataclass(frozen=True)
class CampaignSpec:
    workflow: WorkflowSpec
    site: SiteProfile
    workflow_file: Path
    site_file: Path
    overrides: tuple[str, ...] = ()


def load_yaml(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(source, "", "file not found") from None
    except OSError as exc:
        raise SpecError(source, "", f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, "", f"not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(source, "", f"expected a mapping at the top level, got {type(data).__name__}")
    return data


def site_search_path() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(SITE_PATH_ENV, "").split(os.pathsep) if p]
    return extra + [REPO_ROOT / "sites"]


def known_sites() -> list[str]:
    names = set()
    for directory in site_search_path():
        if directory.is_dir():
            names.update(p.stem for p in directory.glob("*.yaml"))
    return sorted(names)


def resolve_site_file(site: str | None) -> Path:
    """A site given as a path to a YAML file, or by name from sites/ (default: local)."""
    site = site or "local"
    candidate = Path(site)
    if candidate.suffix in (".yaml", ".yml") or os.sep in site:
        if not candidate.is_file():
            raise SpecError("--site", "", f"site file {site} not found")
        return candidate
    for directory in site_search_path():
        path = directory / f"{site}.yaml"
        if path.is_file():
            return path
    raise SpecError("--site", "", f"unknown site {site!r} (known: {', '.join(known_sites()) or 'none'})")


def _format_loc(loc: tuple[Any, ...], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in loc]
    return ".".join(parts)


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that a validation location points into (for 'valid fields')."""
    current: type[BaseModel] = model
    parts = list(loc)
    while parts:
        field = current.model_fields.get(str(parts.pop(0)))
        if field is None:
            return None
        annotation = field.annotation
        if typing.get_origin(annotation) is dict and parts:
            parts.pop(0)  # the map key (a stage name, say)
            annotation = typing.get_args(annotation)[1]
        models = [
            a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not models:
            return None
        current = models[0]
    return current


def spec_error(exc: ValidationError, model: type[BaseModel], source: str, prefix: str = "") -> SpecError:
    errors = exc.errors()
    # An unknown field is usually the cause of the other complaints: report it first.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(first["loc"])
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        valid = f" (valid: {', '.join(parent.model_fields)})" if parent else ""
        message = f"unknown field {loc[-1]!r}{valid}"
    elif first["type"] == "missing":
        message = "field required"
    else:
        message = first["msg"]
        if "input" in first and first["type"].startswith(("string_pattern", "literal", "enum")):
            message += f" (got {first['input']!r})"
    more = f" [and {len(errors) - 1} more problem(s)]" if len(errors) > 1 else ""
    return SpecError(source, _format_loc(loc, prefix), message + more)


def validate_site(data: dict[str, Any], source: str) -> SiteProfile:
    try:
        site = SiteProfile.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, SiteProfile, source) from None
    for kind in site.kinds:
        try:
            stage_kinds.get(kind)
        except KeyError as exc:
            raise SpecError(source, f"kinds.{kind}", exc.args[0]) from None
    return site


def resolve_resources(workflow: WorkflowSpec, site: SiteProfile, sources: tuple[str, str]) -> WorkflowSpec:
    """The workflow with every stage's resources as this site submits them (its per-kind
    partitions, devices and ranks filling what the workflow left unset); frozen that way."""
    stages = {}
    for name, stage in workflow.stages.items():
        resources = site.stage_resources(stage.kind, stage.resources)
        if stage_kinds.get(stage.kind).one_task_per_node and resources.tasks_per_node != 1:
            origin = sources[0] if "tasks_per_node" in stage.resources.model_fields_set else sources[1]
            field = f"stages.{name}.resources" if origin == sources[0] else f"kinds.{stage.kind}"
            raise SpecError(
                origin,
                f"{field}.tasks_per_node",
                f"a {stage.kind} stage runs one task per node (it starts its own processes there); set 1",
            )
        stages[name] = stage.model_copy(update={"resources": resources})
    return workflow.model_copy(update={"stages": stages})


def _with_family(workflow: WorkflowSpec, name: str, kind) -> dict[str, Any]:
    """A family stage's params with its `dataset`: as given, else the family of the nearest
    upstream stage (through needs) that names one, else the default. So an evaluate stage
    needing a jets stage_data evaluates jets without saying so."""
    params = workflow.stages[name].params
    if kind.family_params is None or "dataset" in params:
        return params
    seen, queue = {name}, list(workflow.stages[name].needs)
    while queue:
        upstream = queue.pop(0)
        if upstream in seen or upstream not in workflow.stages:
            continue
        seen.add(upstream)
        spec = workflow.stages[upstream]
        if isinstance(spec.params.get("dataset"), str):
            return {**params, "dataset": spec.params["dataset"]}
        queue.extend(spec.needs)
    return params


def _family_hint(error: SpecError, exc: ValidationError, kind, params: dict[str, Any]) -> SpecError:
    """An unknown field that another family's parameters have: say whose it is."""
    first = next((e for e in exc.errors() if e["type"] == "extra_forbidden"), None)
    if kind.family_params is None or first is None or len(first["loc"]) != 1:
        return error
    family = str(params.get("dataset", families.DEFAULT))
    owner = families.owner_of_field(kind.family_params, str(first["loc"][0]), family)
    if owner is None:
        return error
    return SpecError(error.source, error.field, f"{error.message}; it is a field of family {owner!r}, not {family!r}")


def _check_inputs(params: BaseModel, source: str, where: str) -> None:
    """The files stage_data's `inputs` match now, read by their family's check (headers only)."""
    import glob

    from .data.file_staging import DataError

    files = sorted({Path(m) for pattern in params.inputs for m in glob.glob(pattern)})
    try:
        families.get_family(params.dataset).check(files, params)
    except DataError as exc:
        raise SpecError(str(exc.source), f"({where}.inputs)", exc.problem) from None


def validate_workflow(data: dict[str, Any], source: str) -> WorkflowSpec:
    try:
        workflow = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, WorkflowSpec, source) from None
    stages = dict(workflow.stages)
    for name, stage in workflow.stages.items():
        try:
            kind = stage_kinds.get(stage.kind)
        except KeyError as exc:
            raise SpecError(source, f"stages.{name}.kind", exc.args[0]) from None
        params = _with_family(workflow, name, kind)
        where = f"stages.{name}.params"
        try:
            model = kind.params_model(params)
        except families.UnknownFamily as exc:
            raise SpecError(source, f"{where}.dataset", exc.args[0]) from None
        try:
            validated = model.model_validate(params)
        except ValidationError as exc:
            raise _family_hint(spec_error(exc, model, source, prefix=where), exc, kind, params) from None
        if kind.family_params == "stage_params":
            _check_inputs(validated, source, where)
        if params is not stage.params:
            stages[name] = stage.model_copy(update={"params": params})
        for field, upstreams in (("needs", stage.needs), ("after", stage.after)):
            for upstream in upstreams:
                if upstream not in workflow.stages:
                    raise SpecError(
                        source,
                        f"stages.{name}.{field}",
                        f"unknown stage {upstream!r} (stages: {', '.join(workflow.stages)})",
                    )
                if upstream == name:
                    raise SpecError(source, f"stages.{name}.{field}", "a stage cannot wait for itself")
    try:
        topological_order(workflow.needs_graph())
    except CycleError as exc:
        raise SpecError(source, "stages", f"the needs and afters form a {exc}") from None
    return workflow.model_copy(update={"stages": stages})


def load_campaign_spec(
    workflow_file: str | Path, site: str | None = None, sets: list[str] | None = None
) -> CampaignSpec:
    """Load, override and validate a workflow with its site. Raises SpecError; writes nothing."""
    from .plugins import load_plugins

    load_plugins()
    workflow_path = Path(workflow_file)
    site_path = resolve_site_file(site)
    workflow_sets, site_sets = parse_overrides(list(sets or []))
    workflow_data = load_yaml(workflow_path)
    site_data = load_yaml(site_path)
    apply_overrides(workflow_data, workflow_sets, str(workflow_path))
    apply_overrides(site_data, site_sets, str(site_path))
    site_profile = validate_site(site_data, str(site_path))
    workflow = validate_workflow(workflow_data, str(workflow_path))
    workflow = resolve_resources(workflow, site_profile, (str(workflow_path), str(site_path)))
    return CampaignSpec(workflow, site_profile, workflow_path, site_path, tuple(sets or ()))
