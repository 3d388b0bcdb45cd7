"""A centre's charging rule as data: the site's `billing:` rules turn what a job holds (nodes,
accelerators, CPUs, memory, on a partition) into the centre's billing units per hour. A rule
either bills whole nodes (`per_node`, as exclusive partitions do) or bills the largest share of
what the job holds (`max_of`, the MAX_TRES rule of Slurm's TRESBillingWeights that most centres
use: each resource divided by how much of it one billed unit includes, rounded up where the
centre rounds, times `rate`). plan.py bills the maximum a campaign may use; usage.py what it
used."""

from __future__ import annotations

import math
from typing import Any

from .spec import ResolvedResources

_MEM_UNITS = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0}


def mem_gb(text: str | None) -> float:
    """Slurm's --mem value in GB ('60G', '4000' = MB, '2T'); 0 when unset."""
    if not text:
        return 0.0
    value = text.upper().removesuffix("B")
    unit = value[-1] if value[-1] in _MEM_UNITS else "M"
    return float(value.rstrip("KMGT")) * _MEM_UNITS[unit]


def stage_holding(spec, stage: str) -> dict[str, Any]:
    """What one job (one array task) of the stage holds, and on which partition."""
    r = ResolvedResources.of(spec.workflow.stages[stage].resources)
    return {
        "partition": r.partition or spec.site.slurm.partition,
        "nodes": r.nodes,
        "accelerators": r.nodes * r.gpus_per_node,
        "cpus": r.nodes * r.tasks_per_node * r.cpus_per_task,
        "mem_gb": mem_gb(r.mem) * r.nodes,
    }


def rule_for(site, partition: str | None):
    """The rule naming the partition, else the first rule that names none (the default)."""
    rules = list(site.billing)
    named = [rule for rule in rules if partition and partition in rule.partitions]
    default = [rule for rule in rules if not rule.partitions]
    return (named or default or [None])[0]


def hourly(site, holding: dict[str, Any]) -> tuple[str, float] | None:
    """(unit, billing units per hour) for a job holding `holding`; None without a rule."""
    rule = rule_for(site, holding.get("partition"))
    if rule is None:
        return None
    if rule.per_node is not None:
        return rule.unit, rule.per_node * holding["nodes"]
    counts = {
        "nodes": holding["nodes"],
        "gpus": holding["accelerators"],
        "cpus": holding["cpus"],
        "mem_gb": holding.get("mem_gb", 0.0),
    }
    shares = [counts[name] / size for name, size in rule.max_of.items()]
    if rule.round_up:
        shares = [math.ceil(share - 1e-9) for share in shares]
    return rule.unit, rule.rate * max(shares, default=0.0)


def add(totals: dict[str, float], unit: str, amount: float) -> None:
    totals[unit] = totals.get(unit, 0.0) + amount


def text(totals: dict[str, float]) -> str:
    """'1,234 GPU-hours + 56 CPU-core-hours' ('' without billing)."""
    return " + ".join(f"{amount:.4g} {unit}" for unit, amount in totals.items())
