"""A PostgreSQL store against the SQLite one, side by side (interleaved, medians):

- `status --json` over 10k terminal jobs, each store built through the package's API, with the
  import floors of both paths (`import sqlalchemy.orm`, and the same plus `import psycopg`);
- a non-blocking launch of 100 jobs (`benchmarks/launch.py`'s app and held queue) recording
  into each store.

The PostgreSQL server is a private cluster on 127.0.0.1 (tests/postgres.py starts it, with
fsync on, as a real server would run), on the same machine: a server across a network adds its
round trips to every statement.

    .venv/bin/python benchmarks/pg_store.py [RUNS]
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from _common import NOOP_APP, RUNS, interleaved, run_ts, sandbox, wall
from launch import held_queue, launch
from store_scale import history

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres import bindir, start_cluster, stop_cluster


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    programs = bindir()
    if programs is None:
        raise SystemExit("PostgreSQL is not installed (scripts/setup.sh installs it)")
    cluster = start_cluster(programs, durable=True)
    try:
        cluster.admin("CREATE DATABASE history", "CREATE DATABASE launches")
        with sandbox() as (work, env):
            run_ts(env, "-S", "1")
            sock = env["TS_SOCKET"]
            stores = {"sqlite": str(work / "history.db"), "postgresql": cluster.url("history")}
            for location in stores.values():
                history(location, work, sock, 10_000)
            python = sys.executable

            def status(location: str) -> float:
                return wall([python, "-m", "tsq", "status", "--json", "--store", location], env)

            got = interleaved(
                {
                    "floor": lambda: wall([python, "-c", "import sqlalchemy.orm"], env),
                    "floor + psycopg": lambda: wall(
                        [python, "-c", "import sqlalchemy.orm, psycopg"], env
                    ),
                    "status sqlite": lambda: status(stores["sqlite"]),
                    "status postgresql": lambda: status(stores["postgresql"]),
                },
                runs,
            )
            (work / "app.py").write_text(NOOP_APP)
            launches = {"sqlite": str(work / "launches.db"), "postgresql": cluster.url("launches")}
            times: dict[str, list[float]] = {name: [] for name in launches}
            for run in range(runs):
                blocker = held_queue(env)
                # Alternate which store goes first: a launch right after another may find the
                # disk cache warm, or the machine busy with the other's ts clients.
                order = list(launches.items())
                for name, location in order if run % 2 == 0 else order[::-1]:
                    seconds, _ = launch(work, {**env, "TSQ_STORE": location}, "ts", 100,
                                        f"{name}-{run}")  # fmt: skip
                    times[name].append(seconds)
                run_ts(env, "-K")
                os.kill(blocker, signal.SIGKILL)
                time.sleep(0.2)
    finally:
        stop_cluster(programs, cluster)

    import statistics

    ms = {name: seconds * 1000 for name, seconds in got.items()}
    print(f"medians of {runs}; status --json over 10k terminal jobs:")
    print(f"  floor: import sqlalchemy.orm {ms['floor']:.0f} ms, + psycopg "
          f"{ms['floor + psycopg']:.0f} ms")  # fmt: skip
    print(f"  sqlite {ms['status sqlite']:.0f} ms ({ms['status sqlite'] / ms['floor']:.2f}x "
          f"its floor); postgresql {ms['status postgresql']:.0f} ms "
          f"({ms['status postgresql'] / ms['floor + psycopg']:.2f}x its floor)")  # fmt: skip
    print(
        f"  postgresql / sqlite: {ms['status postgresql'] / ms['status sqlite']:.2f}x "
        "(target <= 1.5)"
    )
    wall_s = {name: statistics.median(values) for name, values in times.items()}
    print(f"launch of 100 jobs: sqlite {wall_s['sqlite']:.2f} s, postgresql "
          f"{wall_s['postgresql']:.2f} s, {wall_s['postgresql'] / wall_s['sqlite']:.2f}x "
          "(target <= 1.1)")  # fmt: skip


if __name__ == "__main__":
    main()
