#!/usr/bin/env bash
# Set everything up, then run the whole test suite in the project environment, the real-Slurm
# tests included (they start the devcluster themselves). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
"$PY" -m ruff check .
exec "$PY" -m pytest -q "$@"
