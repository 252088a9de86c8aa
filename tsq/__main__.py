"""`python -m tsq ...`, and the `tsq` command."""

from tsq.cli import main
from tsq.quickexit import exit_quickly


def run() -> None:
    exit_quickly(main())


if __name__ == "__main__":
    run()
