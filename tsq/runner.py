"""`python -m tsq.runner SPEC NUM [ATTEMPT [RESTART]]`: the command line every queued job runs
(`tsq.files.commands.runner_argv`), kept at this path so jobs queued by any version of tsq still
run. The runner is `tsq.job.runner`."""

from tsq.frozen import exit_quickly
from tsq.job.runner import main

if __name__ == "__main__":
    exit_quickly(main())
