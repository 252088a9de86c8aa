"""`hydra/sweeper=tsq` (issue #27): large grids queued without composing every job, in one run.

1. Time to prompt of a 1,000-job grid (`python app.py -m +x=range(0,1000)`, the no-op
   NOOP_APP) with `hydra/sweeper=tsq hydra/launcher=ts`, over the floor: Hydra's basic
   sweeper with the floor launcher (`floor_plugin/`: it queues nothing, so the floor is Hydra
   starting, expanding and composing every job), RUNS rounds side by side, order alternating
   (`_common.paired`). The ts jobs are held behind a blocker, and dropped after each launch.
2. Time to prompt of a 10,000-job grid: on ts (`max_queued` 500 by default: 500 jobs go to
   ts, 9,500 are recorded held for the feeder), and on Slurm, once (jobs queued behind a held
   Slurm job through `depends_on`, so none runs; cancelled right after), as many thousands of
   jobs as the controller's job table has room for: it counts every array task, and keeps
   ended ones `MinJobAge` (an hour by default), so a run fills a default cluster
   (MaxJobCount=10000) for an hour: run it on a cluster of your own. The floor is not run at
   10,000 jobs (~15 minutes a launch): its per-job cost at 1,000 is given instead.
3. Peak memory (max RSS) of the launch at 10,000 jobs over that at 100 (ts, the same runs).
4. End to end, 100 no-op jobs on ts with 2 slots, launch -> `tsq wait` -> `tsq collect --json`:
   `hydra/sweeper=tsq` over the basic sweeper, both with `hydra/launcher=ts`, RUNS rounds
   paired.

It says so when a pytest runs on the machine meanwhile. Slurm: the cluster of
`scripts/slurm.sh` (SLURM_CONF from the environment); without one, part 2's Slurm figure is
skipped, saying so.

    .venv/bin/python benchmarks/sweeper.py [RUNS] [PARTS]   (default: 3 runs, parts 1234)
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import FLOOR_PLUGIN, NOOP_APP, measured, paired, run_ts, sandbox
from launch import held_queue
from slurm import NAME, cancel_ours, pytest_running, run, slurm_env

RUNS = 3


def launch(work: Path, env: dict[str, str], n: int, *overrides: str) -> tuple[float, int, str]:
    """(wall seconds, max RSS in KiB, sweep dir) of one launch of an n-job grid."""
    sweep_dir = work / "multirun" / f"{n}-{time.monotonic_ns()}"
    argv = [sys.executable, "app.py", "-m", f"+x=range(0,{n})", f"hydra.sweep.dir={sweep_dir}",
            *overrides]  # fmt: skip
    return (*measured(argv, env, work), str(sweep_dir))


def drop(work: Path, env: dict[str, str], sweep_dir: str) -> None:
    """Cancel a launched sweep (its feeder then ends) and forget it: the next launch starts
    from a queue and a store as empty as this one's."""
    tsq = [sys.executable, "-m", "tsq"]
    subprocess.run([*tsq, "cancel", sweep_dir], env=env, cwd=work, capture_output=True)
    subprocess.run([*tsq, "forget", "--yes", sweep_dir], env=env, cwd=work, capture_output=True)


def on_ts(work: Path, env: dict[str, str], n: int, *overrides: str) -> tuple[float, int]:
    """One tsq-sweeper launch of n jobs into a ts held by a blocker; (seconds, max RSS)."""
    blocker = held_queue(env)
    try:
        elapsed, peak, sweep_dir = launch(
            work, env, n, "hydra/sweeper=tsq", "hydra/launcher=ts", *overrides
        )
        drop(work, env, sweep_dir)
    finally:
        run_ts(env, "-K")
        os.kill(blocker, signal.SIGKILL)
    return elapsed, peak


def floor(work: Path, env: dict[str, str], n: int) -> float:
    return launch(work, env, n, "hydra/launcher=floor")[0]


def on_slurm(work: Path, slurm: dict[str, str], n: int) -> float:
    """One tsq-sweeper launch of n jobs on Slurm, behind a held job (none runs); seconds."""
    blocker = run(["sbatch", "--parsable", "--hold", f"--job-name={NAME}", "--output=/dev/null",
                   "--wrap=true"], slurm).strip()  # fmt: skip
    try:
        elapsed, _, sweep_dir = launch(
            work, slurm, n, "hydra/sweeper=tsq", "hydra/launcher=tsq_slurm",
            f"hydra.launcher.name={NAME}", f"hydra.launcher.depends_on=slurm:{blocker}",
        )  # fmt: skip
        drop(work, slurm, sweep_dir)
    finally:
        cancel_ours(slurm)
    return elapsed


def job_table_room(slurm: dict[str, str]) -> tuple[int, str]:
    """How many more array tasks the controller accepts, and its limits in words. A Slurm
    controller holds at most `MaxJobCount` job records, array tasks counted one by one, and
    keeps ended ones for `MinJobAge` seconds: a 10,000-job sweep, even cancelled at once,
    fills a default cluster's table for that long (sbatch then waits, "Slurm temporarily
    unable to accept job")."""
    config = run(["scontrol", "show", "config"], slurm)
    limits = dict(re.findall(r"^(MaxJobCount|MinJobAge)\s*=\s*(\S+)", config, re.M))
    used = 0
    for low, high in re.findall(
        r"ArrayTaskId=(\d+)(?:-(\d+))?", run(["scontrol", "show", "job", "-o"], slurm)
    ):
        used += int(high) - int(low) + 1 if high else 1
    words = f"MaxJobCount={limits.get('MaxJobCount')}, MinJobAge={limits.get('MinJobAge')} s"
    return int(limits.get("MaxJobCount", 0)) - used, words


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})"


def end_to_end(work: Path, env: dict[str, str], n: int, *overrides: str) -> float:
    """Launch n no-op jobs on ts, wait for them, collect them all; seconds."""
    start = time.perf_counter()
    _, _, sweep_dir = launch(work, env, n, "hydra/launcher=ts", *overrides)
    tsq = [sys.executable, "-m", "tsq"]
    subprocess.run([*tsq, "wait", sweep_dir], env=env, cwd=work, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    out = subprocess.run([*tsq, "collect", "--json", sweep_dir], env=env, cwd=work, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    elapsed = time.perf_counter() - start
    if len(json.loads(out)) != n:
        raise SystemExit(f"collect gave {len(json.loads(out))} results of {n}")
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    parts = sys.argv[2] if len(sys.argv) > 2 else "1234"
    if pytest_running():
        print("note: a pytest runs on this machine: the figures are noisier (the ratios are "
              "of measures taken side by side)", file=sys.stderr)  # fmt: skip
    with sandbox() as (work, env):
        (work / "app.py").write_text(NOOP_APP)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(FLOOR_PLUGIN), env.get("PYTHONPATH")])
        )
        if "1" in parts:
            time_to_prompt(work, env, runs)
        if "2" in parts or "3" in parts:
            large_grids(work, env, runs, slurm="2" in parts)
        if "4" in parts:
            run_ts(env, "-S", "2")
            e2e = paired(
                lambda: end_to_end(work, env, 100),
                lambda: end_to_end(work, env, 100, "hydra/sweeper=tsq"),
                runs,
            )
            run_ts(env, "-K")
            print(f"4. end to end, 100 no-op jobs on ts (2 slots): basic sweeper "
                  f"{e2e.base:.1f} s, hydra/sweeper=tsq {e2e.other:.1f} s: {e2e.ratios()} "
                  "(target <= 1.0x)")  # fmt: skip


def time_to_prompt(work: Path, env: dict[str, str], runs: int) -> None:
    got = paired(lambda: floor(work, env, 1000), lambda: on_ts(work, env, 1000)[0], runs)
    print(f"1. time to prompt, 1,000-job grid: floor {got.base:.1f} s ({got.base:.0f} ms a job), "
          f"hydra/sweeper=tsq on ts {got.other:.2f} s: {got.ratios()} (target <= 0.1x)",
          flush=True)  # fmt: skip


def large_grids(work: Path, env: dict[str, str], runs: int, slurm: bool) -> None:
    """Part 2 (10,000 jobs on ts, and on Slurm when `slurm`) and part 3 (peak memory)."""
    small = [on_ts(work, env, 100) for _ in range(runs)]
    large = [on_ts(work, env, 10_000) for _ in range(runs)]
    print(f"2. time to prompt, 10,000-job grid on ts: {spread([t for t, _ in large])}, median "
          f"of {runs} (target <= 60 s)", flush=True)  # fmt: skip
    if slurm:
        on_slurm_once(work, env)
    peak_small = statistics.median(p for _, p in small)
    peak_large = statistics.median(p for _, p in large)
    print(f"3. peak memory of the launch: 100 jobs {peak_small / 1024:.0f} MiB, 10,000 jobs "
          f"{peak_large / 1024:.0f} MiB: {peak_large / peak_small:.2f}x (target <= 1.2x)",
          flush=True)  # fmt: skip


def on_slurm_once(work: Path, env: dict[str, str]) -> None:
    try:
        slurm = slurm_env() | {k: v for k, v in env.items() if k.startswith(("TS", "PYTHON"))}
    except SystemExit:
        print("   on Slurm: skipped, no Slurm cluster answers (bash scripts/slurm.sh start)")
        return
    room, limits = job_table_room(slurm)
    n = min(10_000, room - 100) // 1000 * 1000  # once: its records stay an hour
    if n <= 0:
        print(f"   on Slurm: skipped, the controller's job table is full ({limits})")
        return
    took = on_slurm(work, slurm, n)
    print(f"   on Slurm: {n:,} jobs (the room the controller's table had: {limits}) in "
          f"{took:.1f} s, one run (target for 10,000: <= 15 s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
