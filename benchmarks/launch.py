"""Launch cost: `python app.py -m x=range(N) hydra/launcher=ts` (non-blocking) over the same
sweep with a floor launcher that only hands back pending JobReturns (`floor_plugin/`), side by
side; wall time and peak memory (max RSS). The sweep's jobs are held behind a blocker in ts so
they do not steal the CPU while the launch is timed.

    .venv/bin/python benchmarks/launch.py [RUNS] [N ...]      (default: 5 runs, N = 10 100 500)
"""

from __future__ import annotations

import functools
import os
import signal
import statistics
import sys
import time
from pathlib import Path

from _common import FLOOR_PLUGIN, NOOP_APP, RUNS, measured, paired, run_ts, sandbox


def launch(work: Path, env: dict[str, str], launcher: str, n: int, tag: str) -> tuple[float, int]:
    """(wall seconds, max RSS in KiB) of one launch."""
    argv = [sys.executable, "app.py", "-m", f"hydra/launcher={launcher}", f"+x=range(0,{n})",
            f"hydra.sweep.dir={work}/multirun/{tag}"]  # fmt: skip
    return measured(argv, env, work)


def held_queue(env: dict[str, str]) -> int:
    """Start a ts server whose only slot a blocker holds; returns the blocker's pid."""
    blocker = run_ts(env, "sleep", "100000")
    while (pid := int(run_ts(env, "-p", blocker))) <= 0:
        time.sleep(0.05)
    return pid


def timed(
    work: Path, env: dict[str, str], launcher: str, n: int, rss: dict[str, list[int]]
) -> float:
    """One launch's wall time behind a fresh blocker, its peak memory added to `rss`."""
    blocker = held_queue(env)
    elapsed, peak = launch(work, env, launcher, n, f"{n}-{launcher}-{len(rss[launcher])}")
    run_ts(env, "-K")  # forget the queued jobs (their clients exit with the server)
    os.kill(blocker, signal.SIGKILL)
    rss[launcher].append(peak)
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    sizes = [int(n) for n in sys.argv[2:]] or [10, 100, 500]
    with sandbox() as (work, env):
        (work / "app.py").write_text(NOOP_APP)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(FLOOR_PLUGIN), env.get("PYTHONPATH")])
        )
        for n in sizes:
            rss: dict[str, list[int]] = {"floor": [], "ts": []}
            floor, ts = (functools.partial(timed, work, env, k, n, rss) for k in ("floor", "ts"))
            got = paired(floor, ts, runs)
            peak = {k: statistics.median(v) for k, v in rss.items()}
            print(
                f"N={n}: floor {got.base:.2f} s, ts {got.other:.2f} s, ratio {got.ratios()} "
                f"(target <= 1.15); peak memory floor {peak['floor'] / 1024:.0f} MiB, ts "
                f"{peak['ts'] / 1024:.0f} MiB, ratio {peak['ts'] / peak['floor']:.2f} "
                f"(target <= 1.2); medians of {runs}"
            )


if __name__ == "__main__":
    main()
