"""A notifier for tsq's tests: appends one JSON line (its TSQ_* environment and the time) to
the file it is given, then exits with $NOTIFIER_EXIT (default 0), saying so on stderr."""

import json
import os
import sys
import time

with open(sys.argv[1], "a") as out:
    env = {k: v for k, v in os.environ.items() if k.startswith("TSQ_")}
    out.write(json.dumps({"env": env, "at": time.time(), "cwd": os.getcwd()}) + "\n")
code = int(os.environ.get("NOTIFIER_EXIT", "0"))
if code:
    print(f"notifier giving up with {code}", file=sys.stderr)
sys.exit(code)
