"""`python -m tsq.barrier WATCH.json`: the command line of a queued barrier job (`depends_on=
sweep:`), kept at this path so barriers queued by any version of tsq still run. The barrier is
`tsq.job.barrier`."""

import sys

from tsq.job.barrier import main

if __name__ == "__main__":
    sys.exit(main())
