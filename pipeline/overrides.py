"""Dotted overrides (`--set stages.train.params.model.width=256`, a search space's keys) applied
to nested mappings. A leaf module: the loader and the search space both use it."""

from __future__ import annotations

from typing import Any

import yaml

from .errors import SpecError


def parse_overrides(items: list[str]) -> tuple[list[tuple[list[str], Any]], list[tuple[list[str], Any]]]:
    """`key.path=value` pairs (values parsed as YAML) split into workflow and `site.` overrides."""
    workflow_sets, site_sets = [], []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", item, "expected dotted.key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        if any(not p for p in parts):
            raise SpecError("--set", key, "empty path segment")
        if parts[0] == "site":
            if len(parts) == 1:
                raise SpecError("--set", key, "name a site field, e.g. site.slurm.partition=gpu")
            site_sets.append((parts[1:], value))
        else:
            workflow_sets.append((parts, value))
    return workflow_sets, site_sets


def apply_overrides(data: dict[str, Any], sets: list[tuple[list[str], Any]], source: str) -> None:
    for parts, value in sets:
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                path = ".".join(parts[: depth + 1])
                raise SpecError(source, path, f"--set {'.'.join(parts)}: {path} is not a mapping")
            node = child
        node[parts[-1]] = value


def deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override` applied key by key, recursing into dicts both have."""
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
