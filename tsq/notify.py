"""`python -m tsq.notify SPOOL_DIR`: the command line of a sweep's notify watcher, kept at this
path so watchers started by any version of tsq keep running. The watcher is `tsq.ops.notify`."""

import sys

from tsq.ops.notify import main

if __name__ == "__main__":
    sys.exit(main())
