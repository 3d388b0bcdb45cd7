"""Where an evaluate stage's report lives, and how `colliderflow report` summarises it.

Every evaluate stage, whatever its task, writes `report/<stage>/` in the campaign: `metrics.json`
(every figure, with `"task"` naming the learning task it evaluated), `report.md` and `plots/`,
plus what its task adds (the anomaly task's per-event `anomaly_scores.npz`). Two evaluate
stages of one campaign keep two reports. The summary `colliderflow report` prints comes from the
`report_summary` the task registered (plug-in tasks included), looked up by that `"task"` field;
a report of a task without one, or no longer installed, is listed by its files only.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

REPORT_FILE = "metrics.json"


def stage_reports(report_root: Path) -> list[tuple[str, dict]]:
    """(stage, metrics) of every report under the campaign's report/, by stage name."""
    found = []
    for path in sorted(Path(report_root).glob(f"*/{REPORT_FILE}")):
        try:
            found.append((path.parent.name, json.loads(path.read_text())))
        except ValueError:
            continue  # being rewritten, or damaged: its files are still listed
    return found


def summary_lines(stage: str, metrics: dict) -> list[str]:
    """The summary of one stage's report, from its task's `report_summary` (none if it has none)."""
    from ..tasks import UnknownTask, task_entry

    try:
        target = task_entry(str(metrics.get("task", ""))).report_summary
    except UnknownTask:
        return []
    if target is None:
        return []
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(stage, metrics)


def task_report(campaign_dir: Path, task: str) -> dict:
    """The metrics of the one report of `task` in a campaign (benchmarks read figures this way)."""
    found = [(stage, m) for stage, m in stage_reports(Path(campaign_dir) / "report") if m.get("task") == task]
    if len(found) != 1:
        stages = ", ".join(stage for stage, _ in found) or "none"
        raise ValueError(f"{campaign_dir}: expected one {task} report under report/<stage>/, found {stages}")
    return found[0][1]
