"""Terminal output: the status table, progress lines and the campaign report."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .observe import Observation
from .progress import bar, read_progress, summarize
from .store import CampaignStore


def _short_ids(ids: list[str], limit: int = 3) -> str:
    if not ids:
        return "-"
    if len(ids) <= limit:
        return ",".join(ids)
    return f"{','.join(ids[:limit])},… ({len(ids)})"


def stage_progress(store: CampaignStore, name: str, state: str) -> dict[str, Any]:
    """A running stage's progress from its tasks' records (empty otherwise)."""
    if state != "RUNNING":
        return {}
    size = store.array_size(name)
    records = read_progress(store.stage_dir(name))
    if not size:
        return summarize(list(records.values()), None, 0)
    missing = set(store.missing_tasks(name))
    return summarize([r for task, r in records.items() if task in missing], size, size - len(missing))


def status_table(store: CampaignStore, observation: Observation) -> str:
    spec = store.spec
    rows = [("STAGE", "KIND", "STATE", "JOBS", "SUBMITS", "NOTE")]
    from .usage import short, stage_usage

    for name, status in observation.stages.items():
        kind = spec.workflow.stages[name].kind
        progress = stage_progress(store, name, status.state).get("text", "")
        used = short(stage_usage(store, name))
        note = "; ".join(part for part in (progress, status.reason, used) if part)
        rows.append((name, kind, status.state, _short_ids(status.job_ids), str(status.submissions), note))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        f"campaign {store.name}  site {spec.site.name} ({spec.site.scheduler})  {store.root}",
    ]
    if not observation.scheduler_ok:
        lines.append(f"warning: {observation.scheduler_error}; showing last known states")
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + ("  " + row[5] if row[5] else "")
        )
    states = {status.state for status in observation.stages.values()}
    if "NOT_SUBMITTED" in states and not states & {"PENDING", "RUNNING"}:
        lines.append(f"some stages were never submitted (an interrupted submit?): colliderflow resume {store.root}")
    return "\n".join(lines)


def status_json(store: CampaignStore, observation: Observation, accounting: bool = False) -> dict[str, Any]:
    from .provenance import summary
    from .usage import campaign_usage

    usage = campaign_usage(store)
    result = {
        "campaign": store.name,
        "dir": str(store.root),
        "site": store.spec.site.name,
        "scheduler_ok": observation.scheduler_ok,
        "stages": {
            name: {
                **status.as_json(),
                "progress": stage_progress(store, name, status.state),
                "usage": usage["stages"][name],
            }
            for name, status in observation.stages.items()
        },
        "usage": usage["total"],
        "provenance": summary(store.root),
    }
    if accounting:
        from .accounting import cross_check

        result["accounting"] = cross_check(store)
    return result


def progress_line(stage: str, old: str, new: str, job_ids: list[str]) -> str:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    return f"[{stamp}] {stage:<16} {old:>13} -> {new:<13} {_short_ids(job_ids)}"


class ProgressPrinter:
    """Progress of running stages while `--wait` follows a campaign: a bar rewritten in place on
    a terminal; on a pipe (CI logs) a plain line per stage when its progress changed, at most
    every `every_s` seconds."""

    def __init__(self, stream, every_s: float = 10.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.every_s = every_s
        self.last: dict[str, tuple[float, str]] = {}
        self.bar_shown = False

    def clear(self) -> None:
        """Before a normal line: end the bar's line."""
        if self.bar_shown:
            self.stream.write("\r\033[K")
            self.bar_shown = False

    def show(self, store: CampaignStore, observation: Observation) -> None:
        import time

        now = time.monotonic()
        running = {n: stage_progress(store, n, s.state) for n, s in observation.stages.items()}
        running = {n: p for n, p in running.items() if p}
        if self.tty:
            if running:
                parts = [f"{n} {bar(p['fraction'], 12)} {p['text']}" for n, p in running.items()]
                self.stream.write("\r\033[K" + " | ".join(parts)[:200])
                self.stream.flush()
                self.bar_shown = True
            return
        for name, p in running.items():
            when, text = self.last.get(name, (-1e9, ""))
            if p["text"] != text and now - when >= self.every_s:
                fraction = "" if p["fraction"] is None else f" {100 * p['fraction']:.0f}%"
                stamp = dt.datetime.now().strftime("%H:%M:%S")
                self.stream.write(f"[{stamp}] {name:<16} progress{fraction}: {p['text']}\n")
                self.stream.flush()
                self.last[name] = (now, p["text"])


def _duration(store: CampaignStore, stage: str) -> str:
    attempts = sorted((store.stage_dir(stage) / "attempts").glob("*.json"))
    total = 0.0
    for path in attempts:
        try:
            record = json.loads(path.read_text())
            start = dt.datetime.fromisoformat(record["started"])
            end = dt.datetime.fromisoformat(record["ended"])
        except (KeyError, ValueError, OSError):
            continue
        total += (end - start).total_seconds()
    return f"{total:.1f} s" if attempts else "-"


def provenance_lines(p: dict[str, Any]) -> list[str]:
    submit = p.get("submit")
    if submit is None:
        return ["Provenance: not recorded (a campaign created before provenance existed)"]
    dirty = " with uncommitted changes (provenance/submit.json holds the diff)" if submit["dirty"] else ""
    lines = [f"Provenance: submitted from commit {submit['commit']}{dirty} on {submit['host']}"]
    for key, used in p["ran_with"].items():
        dirty = " (dirty)" if used["dirty"] else ""
        lines.append(f"  ran with {key}: commit {used['commit']}{dirty}: {', '.join(used['stages'])}")
    if p.get("mixed"):
        lines.append("warning: the stages of this campaign ran different code or packages (provenance/<key>.json)")
    return lines


def trial_usage_lines(trials: dict[str, dict[str, float]], most: int = 10) -> list[str]:
    """The search's trials by what each used, the largest first (at most `most`, then the rest summed)."""
    if not trials:
        return []
    ordered = sorted(trials.items(), key=lambda item: -item[1]["wall_s"])
    lines = [
        f"    trial {trial}: {u['wall_s']:.1f} s, {u['accelerator_hours']:.3g} accelerator-h, "
        f"{u['cpu_hours']:.3g} CPU-h"
        for trial, u in ordered[:most]
    ]
    rest = ordered[most:]
    if rest:
        lines.append(f"    {len(rest)} more trials: {sum(u['wall_s'] for _, u in rest):.1f} s")
    return lines


def report_text(store: CampaignStore, observation: Observation, results: bool = False) -> str:
    """Stage states and run times, the summary of every evaluate stage's report (report/<stage>/),
    the files under report/, and with `results` each stage's raw result JSON."""
    from .provenance import summary
    from .usage import campaign_usage

    usage = campaign_usage(store)
    from . import billing
    from .accounting import cross_check, cross_check_lines

    lines = [status_table(store, observation), "", "Run time and allocation used per stage (sum over attempts):"]
    for stage in observation.stages:
        u = usage["stages"][stage]
        billed = f", {billing.text(u['billing'])}" if u["billing"] else ""
        lines.append(
            f"  {stage:<20} {_duration(store, stage):>10}  {u['node_hours']:.3g} node-h, "
            f"{u['accelerator_hours']:.3g} accelerator-h, {u['cpu_hours']:.3g} CPU-h{billed}"
        )
        lines += trial_usage_lines(u.get("trials", {}))
    t = usage["total"]
    billed = f", {billing.text(t['billing'])}" if t["billing"] else ""
    lines.append(
        f"  {'campaign':<20} {t['wall_seconds']:>8.1f} s  {t['node_hours']:.3g} node-h, "
        f"{t['accelerator_hours']:.3g} accelerator-h, {t['cpu_hours']:.3g} CPU-h{billed}"
    )
    if store.spec.site.scheduler == "slurm":
        lines += cross_check_lines(cross_check(store))
    lines += ["", *provenance_lines(summary(store.root))]
    raw = []
    for stage in observation.stages if results else ():
        for path in [
            store.stage_dir(stage) / "result.json",
            *sorted((store.stage_dir(stage) / "results").glob("*.json")),
        ]:
            if path.is_file():
                try:
                    text = json.dumps(json.loads(path.read_text()), separators=(", ", ": "))
                except ValueError:
                    text = path.read_text().strip()
                raw.append(f"  {path.relative_to(store.root)}: {text if len(text) < 240 else text[:240] + '…'}")
    if raw:
        lines += ["", "Stage results:", *raw]
    report_dir = store.root / "report"
    from .evaluation.reports import stage_reports, summary_lines

    for stage, metrics in stage_reports(report_dir):
        summary = summary_lines(stage, metrics)
        if summary:
            lines += ["", *summary]
    files = sorted(p for p in report_dir.rglob("*") if p.is_file()) if report_dir.is_dir() else []
    lines += ["", f"Report files in {report_dir}:" if files else f"No report files yet in {report_dir}."]
    lines += [f"  {p.relative_to(report_dir)}" for p in files]
    lines += ["", f"TensorBoard: colliderflow tensorboard {store.root}"]
    if not results:
        lines.append(f"Each stage's raw result: colliderflow report {store.root} --results")
    return "\n".join(lines)
