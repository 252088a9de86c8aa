"""End to end: N no-op jobs, from launch to every result collected, with tsq and with Hydra's
other launchers on the same machine, in the same run, interleaved.

- ts: `python app.py -m hydra/launcher=ts` on a ts server with 2 slots (returns at once), then
  `python -m tsq wait` and `python -m tsq collect --json` (which must list all N results);
- submitit_local (hydra-submitit-launcher's local executor: it starts every job at once, it has
  no parallelism setting), basic (Hydra's in-process, one job after another), joblib with 2
  workers: the multirun command, which returns once every job has.

All of them run with the same plugins installed. The peer launchers are pip-installed once into
`benchmarks/.peers/` (on the path only while this script runs; your environment is untouched).

    .venv/bin/python benchmarks/end_to_end.py [RUNS] [N]        (default: 5 runs, N = 100)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import NOOP_APP, RUNS, interleaved, run_ts, sandbox, wall

PEERS = Path(__file__).resolve().parent / ".peers"
PEER_PACKAGES = ["hydra-submitit-launcher==1.2.0", "submitit", "hydra-joblib-launcher==1.2.0",
                 "joblib"]  # fmt: skip
SLOTS = 2


def install_peers() -> None:
    if (PEERS / "hydra_plugins" / "hydra_submitit_launcher").is_dir() and (
        PEERS / "hydra_plugins" / "hydra_joblib_launcher"
    ).is_dir():
        return
    print(f"installing the peer launchers into {PEERS} (once)", file=sys.stderr)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(PEERS),
         *PEER_PACKAGES],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"could not pip-install {' '.join(PEER_PACKAGES)}: {proc.stderr[-500:]}")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    install_peers()
    with sandbox() as (work, env):
        (work / "app.py").write_text(NOOP_APP)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PEERS), env.get("PYTHONPATH")]))
        tags = iter(range(10**6))

        def multirun(launcher: str, *options: str) -> list[str]:
            """The sweep's command; `options` go to the launcher (`hydra.launcher.KEY=VALUE`)."""
            return [
                sys.executable,
                "app.py",
                "-m",
                f"hydra/launcher={launcher}",
                f"+x=range(0,{n})",
                f"hydra.sweep.dir={work}/multirun/{next(tags)}",
                *(f"hydra.launcher.{option}" for option in options),
            ]

        def ts() -> float:
            run_ts(env, "-S", str(SLOTS))  # starts this run's server
            start = time.perf_counter()
            subprocess.run(multirun("ts"), cwd=work, env=env, check=True, capture_output=True)
            tsq = [sys.executable, "-m", "tsq"]
            subprocess.run([*tsq, "wait"], cwd=work, env=env, check=True, capture_output=True)
            out = subprocess.run([*tsq, "collect", "--json"], cwd=work, env=env, check=True,
                                 capture_output=True, text=True).stdout  # fmt: skip
            elapsed = time.perf_counter() - start
            if sorted(row["return_value"] for row in json.loads(out)) != list(range(n)):
                raise SystemExit("tsq collect did not return every job's result")
            run_ts(env, "-K")
            return elapsed

        got = interleaved(
            {
                "submitit_local": lambda: wall(multirun("submitit_local"), env, work),
                "ts": ts,
                "basic": lambda: wall(multirun("basic"), env, work),
                "joblib": lambda: wall(multirun("joblib", f"n_jobs={SLOTS}"), env, work),
            },
            runs,
        )
    floor = got["submitit_local"]
    for name, seconds in got.items():
        print(f"{name:15s} {seconds:6.1f} s  {seconds / floor:.2f}x submitit_local")
    print(f"{n} no-op jobs, {SLOTS} ts slots / joblib workers; medians of {runs} "
          f"(target: ts <= 0.5x submitit_local)")  # fmt: skip


if __name__ == "__main__":
    main()
