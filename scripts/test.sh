#!/usr/bin/env bash
# Set everything up, then run the whole test suite in the project environment, the real-Slurm
# tests included (they start the devcluster themselves). Extra arguments go to pytest.
# The suite runs with the PATH of a fresh machine (the system's directories only), not the
# caller's: a tool that works only from an activated environment or from something installed
# earlier on this machine (a `tensorboard` on PATH) fails here as it would for a new user.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
"$PY" -m ruff check .
SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec env -u VIRTUAL_ENV -u PYTHONHOME PATH="$SYSTEM_PATH" "$PY" -m pytest -q "$@"
