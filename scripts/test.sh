#!/usr/bin/env bash
# Run the test suite on a fresh Debian machine: installs what is missing, then runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k status -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The `pytest` script, not `python -m pytest`: the latter puts the repo root on sys.path, so the
# tests would import the source tree instead of the installed package.
# Three test processes (pytest-xdist) on 2 cores: most of a test's time is spent waiting on real
# jobs, and each test has its own ts server, store and directories (measured: 18.8 min with 3,
# 22-27 with 2). TSQ_TEST_WORKERS=0 runs them one at a time.
exec .venv/bin/pytest -n "${TSQ_TEST_WORKERS:-3}" "$@"
