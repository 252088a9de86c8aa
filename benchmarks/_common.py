"""What every benchmark here shares: timing commands side by side, a private ts and store."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

RUNS = 5

# The launch benchmarks' floor launcher (`hydra/launcher=floor`): put it on PYTHONPATH.
FLOOR_PLUGIN = Path(__file__).resolve().parent / "floor_plugin"

# The CLI floor: what any command reading the store pays before doing anything.
IMPORT_FLOOR = "import sqlalchemy.orm"

# A Hydra app whose jobs do nothing but return their `x`: what launch and end-to-end sweep.
NOOP_APP = textwrap.dedent("""
    import hydra

    @hydra.main(version_base="1.3", config_path=None)
    def main(cfg):
        return cfg.x

    if __name__ == "__main__":
        main()
""")


def wall(argv: Sequence[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def run_ts(env: dict[str, str], *args: str) -> str:
    tsp = shutil.which("tsp") or "ts"
    return subprocess.run([tsp, *args], env=env, check=True, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL).stdout.strip()  # fmt: skip


def interleaved(measures: dict[str, Callable[[], float]], runs: int = RUNS) -> dict[str, float]:
    """Medians of `runs` rounds, each round running every measure once: a noisy machine slows
    all of them alike, so their ratios hold."""
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(runs):
        for name, measure in measures.items():
            samples[name].append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


@contextmanager
def sandbox() -> Iterator[tuple[Path, dict[str, str]]]:
    """A temp dir with its own ts socket and store; the ts server is killed at the end."""
    work = Path(tempfile.mkdtemp(prefix="tsq-bench-"))
    env = dict(os.environ, TS_SOCKET=str(work / "socket"), TSQ_STORE=str(work / "tsq.db"))
    try:
        yield work, env
    finally:
        tsp = shutil.which("tsp") or "ts"
        subprocess.run([tsp, "-K"], env=env, capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
