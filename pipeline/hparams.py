"""TensorBoard HParams: one session per training run (each trial of a search, each train stage)
and the experiment that lists them.

A session carries the run's whole resolved configuration under the dotted names a search space
uses (`model.width`, `optimizer.lr`, `loss.weights.pt`), numbers as numbers, categories as
strings, so one hyperparameter has one type in every trial, train stage and campaign, and the
columns sort, filter and compare across campaigns.

No event file in a campaign holds an experiment summary. TensorBoard's plugin takes the first
one it meets, in any run it serves, as the experiment of everything it serves (its hyperparameter
list, which of them `differs`, its metrics): with one per stage or campaign, the dashboard showed
whichever came first. Instead, every stage that writes sessions leaves its part of the experiment
in `outputs/hparams.json` (the keys it searched with their domains, the keys it fixed, its
metrics with the one it decides on first), and `colliderflow tensorboard` merges the parts of the
campaigns it serves into one experiment beside them (`write_experiment`). TensorBoard lists
hyperparameters sorted by (not `differs`, name) and ticks the first five, so `differs` marks
what a search varied: the searched ones come first and open ticked; the rest follow by name
(a value that differs without being searched, as a train stage's epochs beside its search's
trials, is still a column to tick). A plain `tensorboard --logdir` over a
campaign gets the experiment TensorBoard derives from the sessions themselves.

Torch-free; tensorboard is imported only where an event file is written.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .atomic import atomic_write_json

PART_FILE = "hparams.json"  # a stage's part of the experiment, in its outputs/
SESSION_SUFFIX = ".hparams"  # the event files of a session (a rerun replaces them)
METRIC_PREFIX = "hparam/"
# the top-level train parameters that are hyperparameters (the rest say where and how often)
TOP_LEVEL = (
    "epochs",
    "batch_size",
    "max_elements",
    "train_events",
    "precision",
    "zero_stage",
    "gradient_accumulation",
    "gradient_clipping",
    "seed",
    "init_from",
)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif value is None:
        return  # unset: the column stays empty rather than changing the key's type
    elif isinstance(value, bool | str):
        out[prefix] = value
    elif isinstance(value, int | float):
        out[prefix] = float(value)
    else:  # lists and the like: one category
        out[prefix] = json.dumps(value, sort_keys=True)


def flat_hparams(params: Any, campaign: str) -> dict[str, float | str | bool]:
    """A train configuration (TrainParams) resolved and flattened: the model's kind with every
    field of its config, the optimizer, the schedule, the task's resolved loss settings and the
    top-level hyperparameters; numbers as floats, so `64` and `64.0` are one value. And the
    campaign's name, a column that tells (and filters) campaigns apart in one table."""
    from models import model_config

    from .tasks import task_entry

    out: dict[str, Any] = {}
    _flatten("model", {"kind": params.model["kind"], **dataclasses.asdict(model_config(params.model))}, out)
    _flatten("optimizer", params.optimizer.model_dump(mode="json"), out)
    _flatten("schedule", params.schedule.model_dump(mode="json"), out)
    _flatten("loss", task_entry(params.task).loss_config(**params.loss), out)
    dumped = params.model_dump(mode="json")
    for key in TOP_LEVEL:
        value = dumped.get(key)
        _flatten(key, value.get("weights") if isinstance(value, dict) else value, out)  # init_from: weights
    out["task"] = params.task
    out["campaign"] = campaign
    return dict(sorted(out.items()))


def row_name(campaign: str, stage: str, number: int | None = None, trial_id: str | None = None) -> str:
    """A session's name in the HParams table, most telling first (the table shows about 16
    characters before the user widens the column): `hpo #2 quickstart-... (5b46c660)` for the
    second trial to report, `train quickstart-...` for a train stage."""
    if number is None:
        return f"{stage} {campaign}"
    return f"{stage} #{number} {campaign} ({trial_id})"


def session_metrics(history: Iterable[dict], metric: str, mode: str) -> dict[str, float]:
    """The HParams metrics of one run from its per-epoch validation records: the deciding metric
    at its best epoch and at the last, every other validation metric at that best epoch (the
    checkpoint a selection would keep), and the epochs run. NaN where nothing was measured."""
    rows = [r for r in history if isinstance(r.get(metric), int | float) and math.isfinite(r[metric])]
    pick = min if mode == "min" else max
    best = pick(rows, key=lambda r: r[metric]) if rows else {}
    epochs = max((int(r.get("epoch", 0)) for r in history), default=0)
    out = {metric: best.get(metric, math.nan), f"{metric}_final": rows[-1][metric] if rows else math.nan}
    for key in sorted({k for r in history for k in r if k.startswith("val_") and k != metric}):
        value = best.get(key)
        out[key] = float(value) if isinstance(value, int | float) else math.nan
    out["epochs"] = float(epochs)
    return out


def write_session(
    logdir: Path,
    hparams: dict[str, Any],
    metrics: dict[str, float],
    *,
    group: str,
    failed: bool = False,
    step: int = 0,
    start_time: float | None = None,
) -> None:
    """One session in the run `logdir`: its start (hyperparameters, the short group name the table
    shows), its metrics as scalars `hparam/<name>` and its end. A rerun replaces the session."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    now = time.time()
    start = plugin_data_pb2.SessionStartInfo(group_name=group, start_time_secs=start_time or now)
    for name, value in hparams.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = float(value)
        else:
            start.hparams[name].string_value = str(value)
    end = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.STATUS_FAILURE if failed else api_pb2.STATUS_SUCCESS, end_time_secs=now
    )
    scalars = [Summary.Value(tag=METRIC_PREFIX + k, simple_value=float(v)) for k, v in metrics.items()]
    Data = plugin_data_pb2.HParamsPluginData
    _write_events(
        Path(logdir),
        SESSION_SUFFIX,
        [
            (0, _plugin_summary("_hparams_/session_start_info", Data(session_start_info=start))),
            (step, Summary(value=scalars)),
            (step, _plugin_summary("_hparams_/session_end_info", Data(session_end_info=end))),
        ],
    )


def _plugin_summary(tag: str, data: Any) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata

    value = Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR)
    return Summary(value=[value])


def _write_events(logdir: Path, suffix: str, summaries: list[tuple[int, Any]]) -> None:
    """Write summaries to a new event file of `logdir`, removing its earlier files of `suffix`."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    logdir.mkdir(parents=True, exist_ok=True)
    for old in logdir.glob(f"events.out.tfevents.*{suffix}"):
        old.unlink()
    writer = EventFileWriter(str(logdir), filename_suffix=suffix)
    try:
        for step, summary in summaries:
            writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
    finally:
        writer.close()


# ---- the experiment ------------------------------------------------------------------------
def _kind(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "number" if isinstance(value, int | float) else "string"


def write_part(
    outputs: Path,
    sessions: list[dict[str, Any]],
    metrics: list[str],
    searched: dict[str, list | None] | None = None,
) -> dict:
    """A stage's part of the experiment, saved as outputs/hparams.json: every key of its sessions
    with its type and the values it took, which keys it searched (a `choice`'s options, or None
    for a range), and its metric names with the deciding one first."""
    keys: dict[str, dict] = {}
    for session in sessions:
        for name, value in session.items():
            entry = keys.setdefault(name, {"type": _kind(value), "values": []})
            if value not in entry["values"]:
                entry["values"].append(value)
    for name, options in (searched or {}).items():
        if name in keys:
            keys[name]["searched"] = True
            if options is not None:
                keys[name]["options"] = [float(o) if _kind(o) == "number" else o for o in options]
    part = {"hparams": keys, "metrics": metrics}
    atomic_write_json(Path(outputs) / PART_FILE, part)
    return part


def merge_parts(parts: list[dict]) -> dict:
    """One experiment from the parts of every stage of every campaign served: the union of keys
    (a key's type is the one all parts agree on, else string), searched where any part searched
    it, and the metrics in first-seen order (so the first search's deciding metric leads)."""
    merged: dict[str, dict] = {}
    metrics: list[str] = []
    for part in parts:
        for name, entry in part.get("hparams", {}).items():
            into = merged.setdefault(name, {"type": entry["type"], "values": [], "options": [], "searched": False})
            if into["type"] != entry["type"]:
                into["type"] = "string"
            into["searched"] = into["searched"] or bool(entry.get("searched"))
            for field in ("values", "options"):
                into[field] += [v for v in entry.get(field, []) if v not in into[field]]
        metrics += [m for m in part.get("metrics", []) if m not in metrics]
    return {"hparams": merged, "metrics": metrics}


def write_experiment(logdir: Path, experiment: dict) -> None:
    """The experiment summary TensorBoard's HParams dashboard is built from, in run `logdir`."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    types = {"number": api_pb2.DATA_TYPE_FLOAT64, "string": api_pb2.DATA_TYPE_STRING, "bool": api_pb2.DATA_TYPE_BOOL}
    infos = []
    # `differs` marks what a search varied: TensorBoard sorts the list by (not differs, name)
    # and ticks its first five, so only then do the searched ones come first and open ticked
    ordered = sorted(experiment["hparams"].items(), key=lambda kv: (not kv[1]["searched"], kv[0]))
    for name, entry in ordered:
        info = api_pb2.HParamInfo(name=name, type=types[entry["type"]], differs=entry["searched"])
        options, values = entry.get("options", []), entry["values"]
        if entry["type"] == "number":
            numbers = sorted({float(v) for v in options + values if isinstance(v, int | float)})
            if options:  # a searched `choice`: its options, filtered by ticking them
                info.domain_discrete.extend(numbers)
            elif numbers:
                info.domain_interval.min_value, info.domain_interval.max_value = numbers[0], numbers[-1]
        elif entry["type"] == "bool":
            info.domain_discrete.extend(sorted({bool(v) for v in values}))
        else:
            info.domain_discrete.extend(sorted({str(v) for v in options + values}))
        infos.append(info)
    metric_infos = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=METRIC_PREFIX + m)) for m in experiment["metrics"]]
    experiment_pb = api_pb2.Experiment(hparam_infos=infos, metric_infos=metric_infos)
    data = plugin_data_pb2.HParamsPluginData(experiment=experiment_pb)
    _write_events(Path(logdir), ".experiment", [(0, _plugin_summary("_hparams_/experiment", data))])


def campaign_parts(campaign_dir: Path) -> list[dict]:
    """The experiment parts the stages of a campaign left, in the workflow's stage order."""
    from .errors import UserError

    parts = []
    for path in sorted(Path(campaign_dir).glob(f"stages/*/outputs/{PART_FILE}")):
        try:
            parts.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not an HParams experiment part ({exc})") from None
    # a search's part first: its deciding metric leads the metrics
    return sorted(parts, key=lambda p: not any(e.get("searched") for e in p.get("hparams", {}).values()))
