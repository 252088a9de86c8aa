"""Per-job overhead: from a job's interpreter starting to its task being called, plus from the
task returning to the process exiting, over a floor of `python -c "import hydra"`.

The job is started the way ts starts it (`python -m tsq.runner SPEC NUM`, exec'd, no shell),
from a real sweep's spec; the task records when it is called and when it returns.

    .venv/bin/python benchmarks/job_overhead.py [RUNS]
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from _common import RUNS, interleaved, run_ts, sandbox, wall

APP = textwrap.dedent("""
    import json, time
    import hydra

    @hydra.main(version_base="1.3", config_path=None)
    def main(cfg):
        called = time.time()
        with open(cfg.out, "w") as f:
            json.dump({"called": called, "returned": time.time()}, f)

    if __name__ == "__main__":
        main()
""")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    with sandbox() as (work, env):
        (work / "app.py").write_text(APP)
        # Hold the queue so the sweep only leaves its spec; the jobs are started by hand below.
        blocker = run_ts(env, "sleep", "600")
        subprocess.run(
            [sys.executable, "app.py", "-m", "hydra/launcher=ts",
             f"+out={work}/out-${{hydra:job.num}}.json", f"+n=range(0,{runs * 2})",
             f"hydra.sweep.dir={work}/multirun"],
            cwd=work, env=env, check=True, capture_output=True,
        )  # fmt: skip
        pid = int(run_ts(env, "-p", blocker))
        run_ts(env, "-K")
        os.kill(pid, signal.SIGKILL)
        spec = next((work / "multirun").glob(".tsq/*/spec-0.pkl"))
        nums = iter(range(runs * 2))

        def job() -> float:
            num = next(nums)
            start = time.time()
            subprocess.run([sys.executable, "-m", "tsq.runner", str(spec), str(num)], env=env,
                           cwd=work, check=True, capture_output=True)  # fmt: skip
            end = time.time()
            marks = json.loads((work / f"out-{num}.json").read_text())
            return (marks["called"] - start) + (end - marks["returned"])

        floor = [sys.executable, "-c", "import hydra"]
        got = interleaved({"floor": lambda: wall(floor, env), "job": job}, runs)
    print(f"floor (python -c 'import hydra'): {got['floor'] * 1000:.0f} ms")
    print(f"tsq job overhead (start->task + task->exit): {got['job'] * 1000:.0f} ms")
    print(f"ratio: {got['job'] / got['floor']:.2f}x (target <= 1.5x), medians of {runs}")


if __name__ == "__main__":
    main()
