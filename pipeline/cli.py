"""The colliderflow command line (contract in docs/architecture.md): submit, status, resume, cancel,
report, tensorboard, devcluster, site, score, reference.

Exit codes: 0 success, 1 a stage failed (or --wait ended with a failure), 2 invalid input,
3 another controller holds the campaign lock, 130 interrupted while waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from pydantic import TypeAdapter, ValidationError

from models.plugins import PluginError

from .errors import CampaignBusy, UserError
from .fields import CampaignName

FAILED_STATES = {"FAILED", "CANCELLED", "TIMEOUT"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="colliderflow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("submit", help="validate a workflow + site, create the campaign, queue every stage")
    p.add_argument("workflow", help="workflow YAML file")
    p.add_argument("--site", default=None, help="site name (sites/NAME.yaml) or file; default: local")
    p.add_argument("--name", default=None, help="campaign name (default: the workflow's name)")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a workflow field (dotted path); prefix site. for site fields",
    )
    p.add_argument("--dry-run", action="store_true", help="print every job script; create nothing")
    p.add_argument("--wait", action="store_true", help="follow progress until every stage has ended")
    p.add_argument("--poll", type=float, default=None, help=argparse.SUPPRESS)

    for verb, text in (
        ("status", "stage states (works without Slurm accounting)"),
        ("resume", "resubmit what is failed, cancelled, timed out or lost; never duplicate"),
        ("cancel", "cancel every queued or running job of the campaign"),
        ("report", "summary of the campaign and its report files"),
        ("tensorboard", "serve the TensorBoard logdirs of one or more campaigns, side by side"),
    ):
        p = sub.add_parser(verb, help=text)
        if verb == "tensorboard":
            p.add_argument("campaign", nargs="+", help="campaign directories, or names under ./campaigns")
        else:
            p.add_argument("campaign", help="campaign directory, or name under ./campaigns")
        if verb == "status":
            p.add_argument("--json", action="store_true", help="one JSON object")
            p.add_argument("--sacct", action="store_true", help="cross-check the usage with Slurm's accounting (sacct)")
        if verb == "resume":
            p.add_argument("--wait", action="store_true")
            p.add_argument("--poll", type=float, default=None, help=argparse.SUPPRESS)
        if verb == "report":
            p.add_argument("--results", action="store_true", help="also print each stage's raw result JSON")
        if verb == "tensorboard":
            p.add_argument("--port", type=int, default=6006)
            p.add_argument("--host", default="127.0.0.1")

    p = sub.add_parser("plan", help="a workflow's cost on a site before it is submitted (node- and accelerator-hours)")
    p.add_argument("workflow", help="workflow YAML file")
    p.add_argument("--site", default=None, help="site name (sites/NAME.yaml) or file; default: local")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="as for submit")
    p.add_argument("--like", default=None, help="a campaign that ran: also the expected cost from its stage times")
    p.add_argument("--json", action="store_true", help="one JSON object")

    p = sub.add_parser("devcluster", help="the local development Slurm cluster (n1, n2)")
    p.add_argument("action", choices=["up", "down", "status"])

    p = sub.add_parser("site", help="check a site profile against the rules that hold offline")
    p.add_argument("action", choices=["check"])
    p.add_argument("site", help="site name (sites/<name>.yaml) or path to a site YAML file")

    p = sub.add_parser("score", help="score image events one at a time with an exported anomaly model (ONNX)")
    p.add_argument("model", help="model.onnx (written by a train stage of the anomaly_detection task)")
    p.add_argument("files", nargs="+", help="image ROOT files (tree 'images', as the generate stage writes)")
    p.add_argument("--out", default=None, help="write one CSV row per event here")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: its default)")
    p.add_argument("--max-events", type=int, default=None, help="score at most this many events")
    p.add_argument("--warmup", type=int, default=10, help="events scored before latency is timed")
    p.add_argument("--json", action="store_true", help="print the latency summary as one JSON object")

    sub.add_parser("reference", help="print the reference of every workflow and site field")
    return parser


def _wait(store, poll: float | None) -> int:
    from .controller import scheduler_for
    from .display import ProgressPrinter, progress_line
    from .observe import observe, record_observation

    scheduler = scheduler_for(store.root, store.spec)
    poll = poll or (0.5 if store.spec.site.scheduler == "local" else 2.0)
    last: dict[str, str] = {}
    print(f"following {store.root} (Ctrl-C stops following; the campaign goes on)", flush=True)
    printer = ProgressPrinter(sys.stdout)
    try:
        while True:
            observation = observe(store, scheduler)
            record_observation(store, observation)
            for name, status in observation.stages.items():
                if last.get(name) != status.state:
                    printer.clear()
                    print(progress_line(name, last.get(name, "-"), status.state, status.job_ids), flush=True)
                    last[name] = status.state
            printer.show(store, observation)
            states = [s.state for s in observation.stages.values()]
            ended = all(s in FAILED_STATES | {"COMPLETED", "NOT_SUBMITTED"} for s in states)
            if ended:
                printer.clear()
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        printer.clear()
        print(f"\nstopped following; check later with: colliderflow status {store.root}")
        return 130
    failed = [n for n, s in observation.stages.items() if s.state != "COMPLETED"]
    if failed:
        for name in failed:
            status = observation.stages[name]
            print(f"stage {name}: {status.state} {status.reason}".rstrip(), file=sys.stderr)
        print(f"fix the cause, then: colliderflow resume {store.root}", file=sys.stderr)
        return 1
    print("all stages COMPLETED")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from .loader import load_campaign_spec

    spec = load_campaign_spec(args.workflow, args.site, args.sets)
    name = args.name or spec.workflow.name
    try:
        TypeAdapter(CampaignName).validate_python(name)
    except ValidationError:
        raise UserError(
            f"--name: invalid campaign name {name!r} (letters, digits, . _ -; starts with a letter)"
        ) from None
    from . import controller

    if args.dry_run:
        for stage, script in controller.render_dry_run(spec, name):
            print(f"# ===== stage {stage} =====")
            print(script)
        from .plan import plan, plan_text

        print("\n".join(f"# {line}" for line in plan_text(plan(spec)).splitlines()))
        print(f"# dry run: {len(spec.workflow.stages)} job(s) for site {spec.site.name}; nothing was created")
        return 0
    store, submitted = controller.submit(spec, name)
    for item in submitted:
        after = f" after {','.join(item.after)}" if item.after else ""
        print(f"submitted {item.stage}: {', '.join(item.job_ids)}{after}")
    print(f"campaign {store.root}")
    if args.wait:
        return _wait(store, args.poll)
    print(f"follow with: colliderflow status {store.root}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from .loader import load_campaign_spec
    from .plan import plan, plan_text
    from .store import find_campaign

    spec = load_campaign_spec(args.workflow, args.site, args.sets)
    result = plan(spec, find_campaign(args.like) if args.like else None)
    print(json.dumps(result, indent=2) if args.json else plan_text(result))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .controller import prepare_adoptions, scheduler_for
    from .display import status_json, status_table
    from .observe import observe, record_observation
    from .store import find_campaign

    store = find_campaign(args.campaign)
    scheduler = scheduler_for(store.root, store.spec)
    observation = observe(store, scheduler)
    prepare_adoptions(store, scheduler, observation)
    record_observation(store, observation)
    if args.json:
        print(json.dumps(status_json(store, observation, accounting=args.sacct), indent=2))
    else:
        print(status_table(store, observation))
        if args.sacct:
            from .accounting import cross_check, cross_check_lines

            print("\n".join(cross_check_lines(cross_check(store))))
    return 1 if any(s.state in FAILED_STATES for s in observation.stages.values()) else 0


def cmd_resume(args: argparse.Namespace) -> int:
    from . import controller
    from .store import find_campaign

    store = find_campaign(args.campaign)
    submitted = controller.resume(store)
    if not submitted:
        print("nothing to resubmit: every stage is completed, queued or running")
    for item in submitted:
        after = f" after {','.join(item.after)}" if item.after else ""
        print(f"resubmitted {item.stage}: {', '.join(item.job_ids)}{after}")
    return _wait(store, args.poll) if args.wait else 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from . import controller
    from .store import find_campaign

    store = find_campaign(args.campaign)
    ids = controller.cancel(store)
    print(f"cancelled {len(ids)} job(s): {', '.join(ids) or '-'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .controller import scheduler_for
    from .display import report_text
    from .observe import observe
    from .store import find_campaign

    store = find_campaign(args.campaign)
    print(report_text(store, observe(store, scheduler_for(store.root, store.spec)), results=args.results))
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    import hashlib
    import importlib.util
    import tempfile
    from pathlib import Path

    from .hparams import campaign_parts, merge_parts, write_experiment
    from .store import find_campaign

    stores = [find_campaign(c) for c in args.campaign]
    names = [store.name for store in stores]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UserError(f"campaign: two campaigns are named {', '.join(duplicated)}; TensorBoard needs distinct names")
    # the TensorBoard of the interpreter colliderflow runs in, not whichever `tensorboard` is on
    # PATH (none, when this environment is not activated: a script, a cron job)
    if importlib.util.find_spec("tensorboard") is None:
        raise UserError(f"tensorboard is not installed here ({sys.executable} -m pip install tensorboard)")
    # each campaign's runs under its name (hpo/<trial>, train, evaluate/<source>), side by side
    spec = [f"{s.name}:{s.root / 'tensorboard'}" for s in stores]
    parts = [part for store in stores for part in campaign_parts(store.root)]
    if parts:  # the one experiment of the HParams dashboard, merged from the campaigns' stages
        key = hashlib.sha256("\0".join(str(s.root.resolve()) for s in stores).encode()).hexdigest()[:12]
        view = Path(tempfile.gettempdir()) / f"colliderflow-hparams-{key}"
        write_experiment(view, merge_parts(parts))
        spec.append(f"hparams-experiment:{view}")
    for store in stores:
        print(f"{store.name}: {store.root / 'tensorboard'}")
    print(f"serving on http://{args.host}:{args.port}", flush=True)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir_spec", ",".join(spec)]
    os.execv(sys.executable, [*command, "--host", args.host, "--port", str(args.port)])
    return 0  # not reached


def cmd_devcluster(args: argparse.Namespace) -> int:
    from slurm import devcluster

    return {"up": devcluster.up, "down": devcluster.down, "status": devcluster.status}[args.action]()


def cmd_site(args: argparse.Namespace) -> int:
    from . import site_check
    from .errors import SpecError
    from .loader import load_yaml, resolve_site_file, validate_site

    path = resolve_site_file(args.site)
    site = validate_site(load_yaml(path), str(path))  # the schema: exit 2 naming the field
    findings = site_check.check(site)
    print(f"site {site.name} ({path}): {site.accelerator}, {site.gpus_per_node} device(s) per node")
    for finding in findings:
        print("  " + finding.line())
    print("  not checkable offline:")
    for limit in site_check.OFFLINE_LIMITS:
        print(f"    - {limit}")
    errors = [f for f in findings if f.level == site_check.ERROR]
    if errors:
        first = errors[0]
        more = f" [and {len(errors) - 1} more]" if len(errors) > 1 else ""
        raise SpecError(str(path), first.field, first.message + more)
    print(f"  {len(findings)} finding(s), no error")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from . import scoring

    if args.threads < 0 or args.warmup < 0 or (args.max_events is not None and args.max_events < 1):
        raise UserError("--threads and --warmup must be >= 0, --max-events >= 1")
    run = scoring.score_files(args.model, args.files, args.threads, args.max_events, args.warmup)
    if args.out:
        scoring.write_csv(run.rows, args.out)
    print(scoring.latency_json(run, args.model, args.threads) if args.json else scoring.summary_text(run, args.threads))
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from .plugins import load_plugins
    from .reference import reference_markdown

    load_plugins()
    print(reference_markdown(), end="")
    return 0


COMMANDS = {
    "plan": cmd_plan,
    "submit": cmd_submit,
    "status": cmd_status,
    "resume": cmd_resume,
    "cancel": cmd_cancel,
    "report": cmd_report,
    "tensorboard": cmd_tensorboard,
    "devcluster": cmd_devcluster,
    "reference": cmd_reference,
    "site": cmd_site,
    "score": cmd_score,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"colliderflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except PluginError as exc:  # a registry met a broken plug-in on a lookup (e.g. `report`)
        print(f"colliderflow: error: {exc}", file=sys.stderr)
        return 2
    except CampaignBusy as exc:
        print(f"colliderflow: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
