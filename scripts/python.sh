# Sourced by the scripts: PY is the project environment's interpreter (or $PYTHON), BIN its scripts.
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; else PY=.venv/bin/python; fi
BIN=$(dirname "$PY")
