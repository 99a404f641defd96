#!/usr/bin/env bash
# Runs the test suite: creates (or reuses) a virtualenv, installs what the
# project and its tests need, then runs pytest. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m slow` for the long real-weight/real-data runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_env.sh
exec "$VENV_PY" -m pytest "$@"
