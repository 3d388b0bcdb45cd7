#!/usr/bin/env bash
# Set everything up, then run the quickstart campaign on the embedded local site in the project
# environment and print its report. Each run gets a new campaign under ./campaigns/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
name="quickstart-$(date +%Y%m%d-%H%M%S)"
"$BIN/colliderflow" submit workflows/quickstart.yaml --name "$name" --wait
"$BIN/colliderflow" report "campaigns/$name"
echo "to use colliderflow yourself: source .venv/bin/activate"
