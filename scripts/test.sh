#!/usr/bin/env bash
# Run the test suite on a fresh Debian machine: installs what is missing, then runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k status -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The `pytest` script, not `python -m pytest`: the latter puts the repo root on sys.path, so the
# tests would import the source tree instead of the installed package.
exec .venv/bin/pytest "$@"
