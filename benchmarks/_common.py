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
from dataclasses import dataclass
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


def measured(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, max RSS in KiB) of one command, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.stderr is not None
    said = proc.stderr.read()  # before waiting: a full pipe would stall the command
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {said.decode(errors='replace')[-1500:]}")
    return elapsed, usage.ru_maxrss


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


@dataclass(frozen=True)
class Paired:
    """Two measures taken side by side: their medians, and the median of the round-by-round
    ratios `other / base` with the lowest and highest."""

    base: float
    other: float
    ratio: float
    low: float
    high: float

    def ratios(self) -> str:
        return f"{self.ratio:.2f}x (median of the rounds' ratios; {self.low:.2f}-{self.high:.2f})"


def paired(base: Callable[[], float], other: Callable[[], float], runs: int) -> Paired:
    """`runs` rounds of both measures back to back, the order alternating from round to round.

    On this machine the speed drifts: one command took 8.4 to 12.7 s within minutes, while the
    two launchers of one round differ by a few per cent. The ratio of two adjacent measures
    cancels that drift better than the ratio of two medians, and with the order alternating
    neither measure always runs in the other's wake (its page cache, its clean-up)."""
    pairs = []
    for i in range(runs):
        if i % 2 == 0:
            b = base()
            pairs.append((b, other()))
        else:
            o = other()
            pairs.append((base(), o))
    ratios = sorted(o / b for b, o in pairs)
    return Paired(
        statistics.median(b for b, _ in pairs),
        statistics.median(o for _, o in pairs),
        statistics.median(ratios),
        ratios[0],
        ratios[-1],
    )


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
