#!/usr/bin/env bash
# Run the test suite on a fresh Debian machine: installs what is missing, then runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k status -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The `pytest` script, not `python -m pytest`: the latter puts the repo root on sys.path, so the
# tests would import the source tree instead of the installed package.
# Two workers (pytest-xdist): most of a test's time is spent waiting on real jobs, and each test
# has its own ts server, store and directories. TSQ_TEST_WORKERS=0 runs them one at a time.
exec .venv/bin/pytest -n "${TSQ_TEST_WORKERS:-2}" "$@"
