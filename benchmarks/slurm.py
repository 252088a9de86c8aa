"""Slurm: tsq's `hydra/launcher=tsq_slurm` against hydra-submitit-launcher's `submitit_slurm`,
on the same cluster, in the same run, interleaved (README "Benchmarks", issue #14).

1. Time to prompt of an N-job sweep (`python app.py -m hydra/launcher=tsq_slurm
   +x=range(0,N)`, the no-op NOOP_APP) over a floor, in 2 x RUNS rounds of the two side by
   side, their order alternating (`_common.paired`). The floor: the same command with the
   floor launcher (`benchmarks/floor_plugin`: Hydra starts, expands and validates the sweep,
   and hands back pending results; the Slurm options are given to it too, and ignored), plus
   one `sbatch --array` of a trivial script with the same resource options per `MaxArraySize`
   jobs (as submitit and tsq split a sweep), timed apart in the same round and added. That is
   what any launcher that queues a sweep on Slurm and gives the prompt back must pay: Hydra's
   own sweep, and its submissions; everything above it is tsq's (finding the cluster, `sbatch
   --test-only`, the code snapshot, the batch spec, the store). Both are queued held
   (`--hold`; for tsq through `additional_parameters`) so that their jobs do not take the CPU
   from the next measure, and scancelled right after. submitit_slurm gives the prompt back
   only once every job has ended: its time to prompt is its end-to-end time (2).
2. End to end, N no-op jobs (RUNS rounds, paired the same way), from the command to every
   result collected: tsq's launch, then `python -m tsq wait <sweep dir>` and
   `python -m tsq collect --json <sweep dir>` (which must list the N return values);
   submitit_slurm's blocking multirun command.
3. `python -m tsq status` with 100 and then 1,000 active (held) Slurm jobs in the store (a
   held sweep of 100, then a second of 900 beside it), over `python -c "import sqlalchemy.orm"`
   (as store_scale.py), and the Slurm client calls one status makes, counted by wrappers
   first on PATH that log each call and exec the real client (in a run of its own, untimed).

Slurm options, the same for both launchers: timeout_min=10, cpus_per_task=1, mem_gb=1,
array_parallelism=256 (above N: no throttle), and one job name for everything this script
queues (`tsqbench-<pid>`), by which it scancels only its own jobs at the end. How many jobs
run at once is then the node's (scripts/slurm.sh: 8 CPUs and 8 GiB for Slurm, so 8 at a time,
on however many cores the machine has).

Needs a Slurm cluster that answers (`bash scripts/slurm.sh start --accounting`; SLURM_CONF is
taken from the environment, else from `scripts/slurm.sh env`) and hydra-submitit-launcher
(`.venv/bin/pip install '.[bench]'`): without either it says so in one line and exits 2.
Before measuring it waits until no pytest runs on the machine (a test suite distorts
everything); it warns when one started while it measured.

    .venv/bin/python benchmarks/slurm.py [RUNS] [N]        (default: 3 runs, N = 100)

A run takes ~12-15 minutes on the 2-core development machine, nearly all of it the 100-job
sweeps (~3 minutes an end-to-end round, submitit_slurm's the longest; ~30 s a time-to-prompt
round) and the launch of the 1,000 held jobs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from _common import FLOOR_PLUGIN, IMPORT_FLOOR, NOOP_APP, interleaved, paired, sandbox

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3  # an end-to-end round of 100 Slurm jobs per launcher takes minutes on 2 cores
NAME = f"tsqbench-{os.getpid()}"
SLURM = {"timeout_min": 10, "cpus_per_task": 1, "mem_gb": 1, "array_parallelism": 256,
         "name": NAME}  # fmt: skip
CLIENTS = ("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo", "srun", "sstat")
TIMEOUT = 900.0  # seconds for any one command: a stuck cluster fails the run, never hangs it
HELD_SIZES = (100, 900)  # status is measured after each: 100, then 1,000 active jobs


def unavailable(why: str) -> None:
    print(f"benchmarks/slurm.py: {why}", file=sys.stderr)
    raise SystemExit(2)


def slurm_env() -> dict[str, str]:
    """The environment whose Slurm clients reach a cluster that answers (else exit 2)."""
    env = dict(os.environ)
    if "SLURM_CONF" not in env:
        said = subprocess.run(["bash", str(ROOT / "scripts" / "slurm.sh"), "env"],
                              capture_output=True, text=True).stdout  # fmt: skip
        m = re.search(r"SLURM_CONF=(\S+)", said)
        if m and Path(m.group(1)).is_file():
            env["SLURM_CONF"] = m.group(1)
    if shutil.which("sbatch") is None:
        unavailable("Slurm's clients are not installed: bash scripts/slurm.sh start --accounting")
    try:
        ping = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True,
                              timeout=15, stdin=subprocess.DEVNULL).stdout  # fmt: skip
    except subprocess.TimeoutExpired:
        ping = ""
    if "UP" not in ping:
        unavailable("Slurm is not up (scontrol ping): bash scripts/slurm.sh start --accounting")
    return env


def pytest_running() -> bool:
    return subprocess.run(["pgrep", "-f", "bin/pytest"], capture_output=True).returncode == 0


def wait_for_quiet_machine() -> None:
    if pytest_running():
        print("waiting for the running pytest to end before measuring ...", file=sys.stderr)
        while pytest_running():
            time.sleep(20)


def run(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> str:
    """Run a command to its end (bounded); its stdout. A failure ends the benchmark, saying
    what failed."""
    try:
        done = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=TIMEOUT)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{' '.join(argv)}: no end after {TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-1500:]}")
    return done.stdout


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    run(argv, env, cwd)
    return time.perf_counter() - start


def our_jobs(env: dict[str, str]) -> list[str]:
    """Ids of the Slurm jobs (arrays) this run queued and that Slurm still lists."""
    listed = run(["squeue", "--me", "-h", "-n", NAME, "-o", "%F"], env)
    return sorted(set(listed.split()))


def cancel_ours(env: dict[str, str]) -> None:
    """scancel this run's jobs only (by their ids), and wait until Slurm lists none."""
    deadline = time.monotonic() + 60
    while (ids := our_jobs(env)) and time.monotonic() < deadline:
        subprocess.run(["scancel", *ids], env=env, capture_output=True, timeout=60)
        time.sleep(0.5)


def counting_clients(work: Path, env: dict[str, str]) -> tuple[dict[str, str], Path]:
    """An environment whose Slurm clients log each call (to the returned file), then exec the
    real one."""
    bin_dir, log = work / "counting-bin", work / "slurm-calls.log"
    bin_dir.mkdir()
    for client in CLIENTS:
        real = shutil.which(client, path=env.get("PATH"))
        if real is None:
            continue
        wrapper = bin_dir / client
        wrapper.write_text(f'#!/bin/sh\necho "{client} $*" >>"{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return dict(env, PATH=f"{bin_dir}{os.pathsep}{env['PATH']}"), log


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    try:
        submitit = importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher")
    except ModuleNotFoundError:  # not even Hydra's plugin namespace
        submitit = None
    if submitit is None:
        unavailable("hydra-submitit-launcher is not installed: .venv/bin/pip install '.[bench]'")
    base = slurm_env()
    wait_for_quiet_machine()
    began = time.perf_counter()
    others = run(["squeue", "-h", "-o", "%i"], base).splitlines()
    if others:
        print(f"note: {len(others)} other jobs in Slurm's queue", file=sys.stderr)
    python = sys.executable
    tsq = [python, "-m", "tsq"]
    with sandbox() as (work, env):
        if "SLURM_CONF" in base:
            env["SLURM_CONF"] = base["SLURM_CONF"]
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(FLOOR_PLUGIN), env.get("PYTHONPATH")])
        )
        app = work / "app"  # the project tsq snapshots: app.py alone, no sweep outputs inside
        app.mkdir()
        (app / "app.py").write_text(NOOP_APP)
        stores = {
            k: dict(env, TSQ_STORE=str(work / f"{k}.db")) for k in ("prompt", "e2e", "status")
        }
        tags = iter(range(10**6))

        def multirun(
            launcher: str, size: int, *extra: str, first: int = 0
        ) -> tuple[list[str], Path]:
            sweep = work / "multirun" / str(next(tags))
            # The floor gets the same options (`++`: its config has no such keys; it ignores
            # them): Hydra parses and applies every override again for each job it composes,
            # ~7 ms a job for these seven, which the floor must pay too.
            add = "++" if launcher == "floor" else ""
            argv = [python, "app.py", "-m", f"hydra/launcher={launcher}",
                    f"+x=range({first},{first + size})", f"hydra.sweep.dir={sweep}",
                    *(f"{add}hydra.launcher.{k}={v}" for k, v in SLURM.items()),
                    *extra]  # fmt: skip
            return argv, sweep

        held = "++hydra.launcher.additional_parameters.hold=true"
        sbatch_s: list[float] = []
        config = run(["scontrol", "show", "config"], env)
        found = re.search(r"^MaxArraySize\s*=\s*(\d+)", config, re.M)
        max_array = int(found.group(1)) if found else 1001  # Slurm's default

        def floor() -> float:
            hydra_s = timed(multirun("floor", n, held)[0], env, app)
            start = time.perf_counter()
            for first in range(0, n, max_array):
                last = min(max_array, n - first) - 1
                run(["sbatch", "--parsable", "--hold", f"--job-name={NAME}", "--output=/dev/null",
                     f"--array=0-{last}", "--time=10", "--cpus-per-task=1", "--mem=1GB",
                     "--wrap=true"], env, work)  # fmt: skip
            sbatch_s.append(time.perf_counter() - start)
            cancel_ours(env)
            return hydra_s + sbatch_s[-1]

        def tsq_prompt() -> float:
            elapsed = timed(multirun("tsq_slurm", n, held)[0], stores["prompt"], app)
            cancel_ours(env)
            return elapsed

        def tsq_e2e() -> float:
            argv, sweep = multirun("tsq_slurm", n)
            e2e = stores["e2e"]
            start = time.perf_counter()
            run(argv, e2e, app)
            run([*tsq, "wait", str(sweep)], e2e)
            out = run([*tsq, "collect", "--json", str(sweep)], e2e)
            elapsed = time.perf_counter() - start
            if sorted(row["return_value"] for row in json.loads(out)) != list(range(n)):
                raise SystemExit("tsq collect did not return every job's result")
            return elapsed

        def submitit_e2e() -> float:
            argv, sweep = multirun("submitit_slurm", n)
            elapsed = timed(argv, env, app)
            if len(list(sweep.glob("*/.hydra"))) != n:
                raise SystemExit("submitit_slurm did not run every job")
            return elapsed

        try:
            prompt = paired(floor, tsq_prompt, 2 * runs)
            e2e = paired(submitit_e2e, tsq_e2e, runs)
            sbatch_med = statistics.median(sbatch_s)
            print(f"Slurm options: {SLURM}; medians of {2 * runs} rounds (1) and {runs} (2)")
            print(f"1. time to prompt, {n} jobs: floor {prompt.base:.2f} s (Hydra's sweep with "
                  f"the floor launcher + one held sbatch --array of {n}: "
                  f"{sbatch_med * 1000:.0f} ms); tsq_slurm {prompt.other:.2f} s, "
                  f"{prompt.ratios()} the floor (target <= 1.15); submitit_slurm "
                  f"{e2e.base:.1f} s (blocks until every job has ended)")  # fmt: skip
            print(f"2. end to end, {n} no-op jobs: tsq_slurm {e2e.other:.1f} s (launch, "
                  f"wait, collect --json), submitit_slurm {e2e.base:.1f} s: "
                  f"{e2e.ratios()} (target <= 1.0)")  # fmt: skip
            if pytest_running():
                print("warning: a pytest started while 1-2 were measured", file=sys.stderr)

            status_env = stores["status"]
            counting, log = counting_clients(work, status_env)
            active = 0
            for size in HELD_SIZES:
                run(multirun("tsq_slurm", size, held, first=active)[0], status_env, app)
                active += size
                log.write_text("")
                run([*tsq, "status"], counting)  # untimed: counts, and warms the store up
                calls = Counter(line.split()[0] for line in log.read_text().splitlines())
                jobs = json.loads(run([*tsq, "status", "--json"], status_env))
                queued = sum(1 for job in jobs if job["state"] == "queued")
                if queued != active:
                    raise SystemExit(f"{queued} of {active} held jobs are queued: {jobs[:3]}")
                times = interleaved(
                    {"floor": lambda: timed([python, "-c", IMPORT_FLOOR], env),
                     "status": lambda: timed([*tsq, "status"], status_env)},
                    runs,
                )  # fmt: skip
                said = ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"
                print(f"3. status, {active} active Slurm jobs: {times['status'] * 1000:.0f} ms, "
                      f"{times['status'] / times['floor']:.2f}x `{IMPORT_FLOOR}` "
                      f"({times['floor'] * 1000:.0f} ms; target <= 2); Slurm calls: {said} "
                      f"({sum(calls.values())} in all)")  # fmt: skip
            if pytest_running():
                print("warning: a pytest started while 3 was measured", file=sys.stderr)
        finally:
            cancel_ours(env)
    print(f"measured in {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
