"""`python -m tsq.feed SPOOL_DIR`: the command line of a sweep's feeder, kept at this path so
feeders started by any version of tsq keep running. The feeder is `tsq.ops.feed`."""

import sys
from pathlib import Path

from tsq.frozen import exit_quickly
from tsq.ops.feed import watch

if __name__ == "__main__":
    exit_quickly(watch(Path(sys.argv[1])) if len(sys.argv) == 2 else 2)
