#!/usr/bin/env bash
# Set everything up, then run the quickstart campaign on the embedded local site and
# print its report. Each run gets a new campaign under ./campaigns/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
name="quickstart-$(date +%Y%m%d-%H%M%S)"
colliderflow submit workflows/quickstart.yaml --name "$name" --wait
colliderflow report "campaigns/$name"
