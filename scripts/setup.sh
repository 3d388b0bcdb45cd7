#!/usr/bin/env bash
# Idempotent set-up of a fresh machine of this project's kind (Debian, Python 3.11):
#  - Slurm + munge from Debian for the devcluster (the only step that needs root);
#  - a project environment in the checkout, .venv/ (Python's venv), that the README's commands,
#    the tests and every job they submit use; activate it with `source .venv/bin/activate`;
#  - in it, the CPU build of torch 2.13.0 BEFORE the project (a plain `torch` requirement would
#    pull a multi-GB CUDA build), then colliderflow itself, editable, with its test tools.
# PYTHON=/path/to/python uses that interpreter's environment instead of .venv (e.g. a cluster's
# own environment with its torch build: install that torch first; this script keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing slurm-wlm and munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  else
    echo "setup: slurm-wlm/munge missing and not root: the devcluster tests will fail" >&2
  fi
fi

if [ -z "${PYTHON:-}" ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating the project environment .venv"
    python3 -m venv .venv
  fi
  PY=.venv/bin/python
else
  PY=$PYTHON
fi

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch 2.13.0 (CPU build) into $PY's environment"
  "$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
fi

installed() {
  "$PY" -P -c "import pipeline.cli, slurm, submitit, ray, deepspeed, hpbandster, pythia8mc, scipy, uproot, awkward, pytest, ruff" \
    && "$PY" -P -c "from models import build_model" \
    && [ "$("$PY" -P -c 'import pipeline, pathlib; print(pathlib.Path(pipeline.__file__).resolve().parent.parent)')" = "$(pwd -P)" ]
}
if ! installed >/dev/null 2>&1; then
  echo "setup: installing colliderflow (editable) with DeepSpeed and its test tools"
  "$PY" -m pip install -q --disable-pip-version-check -e ".[deepspeed,test]"
fi
echo "setup: ready ($PY, $("$PY" -c 'import torch; print("torch", torch.__version__)'))"
