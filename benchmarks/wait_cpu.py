"""CPU used by a launcher waiting on its jobs (`hydra.launcher.wait=true`).

Runs the same one-job sweep twice, side by side: once with a job that sleeps WAIT seconds, once
with a job that returns at once (the floor: start-up, launch, collect). The difference in CPU
time (user + system, the launcher and every ts client it ran) is what waiting cost; it is
reported per minute of waiting and as a share of one core. Median of RUNS pairs.

    .venv/bin/python benchmarks/wait_cpu.py [WAIT_SECONDS] [RUNS]

Uses its own ts socket and store in a temp dir; your queue is left alone.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

APP = textwrap.dedent("""
    import time
    import hydra

    @hydra.main(version_base="1.3", config_path=None)
    def main(cfg):
        time.sleep(cfg.seconds)

    if __name__ == "__main__":
        main()
""")


def cpu_of(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a command and all the children it waited for."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed")
    return time.monotonic() - start, usage.ru_utime + usage.ru_stime


def main() -> None:
    wait = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = Path(tempfile.mkdtemp(prefix="tsq-bench-"))
    (work / "app.py").write_text(APP)
    tsp = shutil.which("tsp") or "ts"
    env = dict(os.environ, TS_SOCKET=str(work / "socket"), TSQ_STORE=str(work / "tsq.db"))
    extra: list[float] = []
    try:
        for run in range(runs):
            pair = {}
            for seconds in (0.0, wait):
                argv = [
                    sys.executable,
                    "app.py",
                    "-m",
                    "hydra/launcher=ts",
                    "hydra.launcher.wait=true",
                    f"+seconds={seconds}",
                    f"hydra.sweep.dir={work}/multirun/{run}-{seconds}",
                ]
                pair[seconds] = cpu_of(argv, work, env)
            (floor_wall, floor_cpu), (wall, cpu) = pair[0.0], pair[wait]
            extra.append(cpu - floor_cpu)
            print(
                f"run {run}: floor {floor_cpu:.2f} s CPU in {floor_wall:.1f} s; "
                f"waiting {wait:g} s: {cpu:.2f} s CPU in {wall:.1f} s"
            )
    finally:
        subprocess.run([tsp, "-K"], env=env, capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    median = statistics.median(extra)
    print(
        f"waiting cost {median:.3f} CPU seconds over {wait:g} s (median of {runs}): "
        f"{median / wait * 60:.2f} CPU s per minute, {100 * median / wait:.2f}% of one core"
    )


if __name__ == "__main__":
    main()
