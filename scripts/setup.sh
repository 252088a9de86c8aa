#!/usr/bin/env bash
# Install what tsq needs on a Debian machine, idempotently: task-spooler (apt-get, when neither
# `tsp` nor a task-spooler `ts` is on PATH), git, gcc and make (the tests build the GPU fork of
# task-spooler's CPU variant into .cache/ts-fork/: scripts/build-ts-fork.sh), PostgreSQL's server
# (the tests start a private cluster of their own: tests/postgres.py), and a virtualenv in .venv
# with tsq and its test tools; Debian's chromium and chromium-driver for the page's browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

have_task_spooler() {
    command -v tsp >/dev/null 2>&1 && return 0
    command -v ts >/dev/null 2>&1 && ts -V 2>&1 | grep -q "Task Spooler"
}

# git: tsq records the commit a sweep ran (it works without, saying so); the tests need it.
missing=""
have_task_spooler || missing="task-spooler"
command -v git >/dev/null 2>&1 || missing="$missing git"
# gcc and make: the tests build the GPU fork of task-spooler (scripts/build-ts-fork.sh).
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
# Only the binaries: the tests never use (nor start) the system-wide cluster.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing="$missing postgresql"
# Debian's headless browser and its WebDriver: the page of `tsq ui` is tested in a real browser
# (tests/ui/test_ui_browser.py); no browser is ever downloaded.
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
if [ -n "$missing" ]; then
    echo "setup: installing $missing with apt-get" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$PYTHON" -m venv .venv
fi
# A regular (not editable) install: the tests exercise tsq as users get it, migrations included.
# setuptools would reuse build/ from an earlier install, bringing back modules deleted since.
rm -rf build
.venv/bin/python -m pip install -q --disable-pip-version-check '.[test]'

# The fork's source is vendored (tests/data/ts-fork/); it builds in a few seconds, once.
bash scripts/build-ts-fork.sh >/dev/null
