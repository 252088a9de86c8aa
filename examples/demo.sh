#!/usr/bin/env bash
# The tsq demo, end to end: install what is missing, launch a sweep without waiting, look at it
# while it runs, wait for it, collect its results. Runs on its own ts socket and store (in a temp
# dir) so it leaves your own queue and store alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

demo=$(mktemp -d /tmp/tsq-demo.XXXXXX)
export TS_SOCKET="$demo/ts.socket" TSQ_STORE="$demo/tsq.db"
PY=.venv/bin/python
trap 'tsp -K >/dev/null 2>&1 || ts -K >/dev/null 2>&1 || true' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step python examples/train.py -m lr=0.1,0.01,0.001 seed=0,1 hydra/launcher=ts
$PY examples/train.py -m lr=0.1,0.01,0.001 seed=0,1 hydra/launcher=ts \
    "hydra.sweep.dir=$demo/multirun"

step python -m tsq status
$PY -m tsq status

printf '\n(waiting for the sweep to finish)\n'
until $PY -m tsq status --json | $PY -c '
import json, sys
sys.exit(0 if all(j["state"] not in ("queued", "running") for j in json.load(sys.stdin)) else 1)'
do sleep 1; done

step python -m tsq status
$PY -m tsq status

step python -m tsq collect
$PY -m tsq collect

step 'python -c "import tsq; ... tsq.collect() ..."'
$PY - <<'PYTHON'
import tsq
best = min(tsq.collect(), key=lambda r: r.return_value["loss"])
print(f"best: {best.overrides}, loss {best.return_value['loss']}, in {best.hydra_cfg.hydra.runtime.output_dir}")
PYTHON
printf '\ndemo files (store, outputs) are in %s\n' "$demo"
