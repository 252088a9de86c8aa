"""`python -m tsq ...`, and the `tsq` command.

The one place where the ways a user ends a command from outside become quiet exits, whatever
the command: a reader that stops reading (`tsq status | head -1`) and Ctrl-C. Commands raise
nothing special for them; expected problems (TsqError) are turned into one line by `cli.main`.
"""

import os
import sys

from tsq.frozen import exit_quickly

# 128 + the signal, as a shell reports a command killed by it: `head` closing the pipe is not a
# failure of a job (exit 1), and a script can tell Ctrl-C from anything tsq decided.
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130


def run() -> None:
    try:
        from tsq.cli import main

        code = main()
        sys.stdout.flush()  # so a reader that went away shows up here, not at exit
    except BrokenPipeError:
        # Python's recipe (library/signal.html, "Note on SIGPIPE"): what is still buffered for
        # stdout goes to /dev/null, so the flush at exit cannot fail again. (A single large
        # write the reader cuts short can come back as complete, raising nothing: the command
        # then ends quietly with its own status.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("tsq: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    exit_quickly(code)


if __name__ == "__main__":
    run()
