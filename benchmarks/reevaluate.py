"""Re-run a finished campaign's particle-flow `evaluate` stage in this process with parameter
overrides (for instance `model_reference`, added after the campaign ran), on the same events,
models, baseline calibration and bootstrap seed. The stage's report/<stage>/ is written anew; every
figure the first evaluation had comes out the same (a reproducibility check), plus what the
overrides add.

    python benchmarks/reevaluate.py campaigns/clic-mlpf-medium --set model_reference=train_default

Prints the report's tables.
"""

from __future__ import annotations

import argparse
import sys

import yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("campaign")
    parser.add_argument("--stage", default="evaluate")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a parameter of the stage")
    args = parser.parse_args()

    from pipeline.context import open_context

    ctx, _, kind = open_context(args.campaign, args.stage, None)
    overrides = dict(item.split("=", 1) for item in args.set)
    params = ctx.params.model_dump() | {k: yaml.safe_load(v) for k, v in overrides.items()}
    ctx.params = kind.validate(params)
    ctx.log(f"re-evaluation with {overrides}")
    stage = kind.load()(ctx)
    stage.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
