#!/usr/bin/env bash
# Idempotent set-up of a fresh machine of this project's kind (Debian, Python 3.11, root):
# Slurm + munge from Debian (for the devcluster), the CPU build of torch BEFORE the project
# (a plain `torch` requirement would pull a multi-GB CUDA build), then the project itself.
# On a cluster, install the site's own torch build first; this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing slurm-wlm and munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  else
    echo "setup: slurm-wlm/munge missing and not root: the devcluster tests will fail" >&2
  fi
fi

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing torch 2.13.0 (CPU build)"
  "$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
fi

installed() {
  "$PY" -P -c "import pipeline.cli, slurm, submitit, ray, deepspeed, hpbandster, pythia8mc, scipy, uproot, awkward, pytest, ruff" \
    && "$PY" -P -c "from models import build_model" \
    && [ "$("$PY" -P -c 'import pipeline, pathlib; print(pathlib.Path(pipeline.__file__).resolve().parent.parent)')" = "$(pwd -P)" ]
}
if ! installed >/dev/null 2>&1; then
  echo "setup: installing colliderflow (editable) with its test tools"
  "$PY" -m pip install -q --disable-pip-version-check -e ".[test]"
fi
echo "setup: ready ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"
