"""Words in messages: counts ("1 job", "2 jobs": one helper, so no message says "1 jobs"),
signal names, and the tsq command a message tells the user to type next."""

from __future__ import annotations

import shlex
import signal


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` and the noun that agrees with it; `nouns` for plurals that are not noun + "s"."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def next_command(verb: str, sweep_id: str, store: str | None = None) -> str:
    """The tsq command a user types next, e.g. to follow a sweep; with `--store` when the
    command that says it was given one (`store`: the store's `display`, without a password:
    give that in ~/.pgpass or $PGPASSWORD), not found through $TSQ_STORE or the default."""
    named = f" --store {shlex.quote(store)}" if store is not None else ""
    return f"python -m tsq {verb} {sweep_id}{named}"


def signal_name(number: int) -> str:
    """`SIGKILL` for 9; `signal 42` for a number with no name. Every queue tsq runs reports
    Linux's numbers (ts and Slurm alike), which are this machine's."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
