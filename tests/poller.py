"""Runs a tsq command in a loop until a stop file appears; reports every failure.

Used by the concurrency test: `python poller.py STOPFILE status --json --all`.
"""

import contextlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

from tsq.cli import main

# 1 s keeps 9 pollers from starving the jobs of the 2 cores CI has; race tests poll harder.
PAUSE = float(os.environ.get("POLLER_PAUSE", "1.0"))

stop, args = Path(sys.argv[1]), sys.argv[2:]
runs, failures = 0, []
while not stop.exists():
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    except BaseException:
        failures.append(traceback.format_exc())
        continue
    runs += 1
    said = err.getvalue()
    before_any_sweep = code == 2 and ("has no sweeps yet" in said or "no tsq store at" in said)
    if (code not in (0, 1) and not before_any_sweep) or "locked" in err.getvalue():
        failures.append(f"exit {code}: {err.getvalue()}")
    if args[0] == "status" and not before_any_sweep:
        json.loads(out.getvalue())
    time.sleep(PAUSE)
print(json.dumps({"runs": runs, "failures": failures}))
