"""Status and collect at scale, over a floor of `python -c "import sqlalchemy.orm"`.

Stores are built through the package's own API (no Hydra jobs run):
- `status --json` over 1k, 10k and 100k terminal jobs (sweeps launched days ago): its cost must
  not grow with history, since a refresh only looks at jobs not yet terminal;
- `status --json` right after 1,000 jobs finished (their result files are there, ts has
  forgotten them), on top of 10k terminal jobs;
- `collect --json` of a sweep of 1,000 finished jobs, and `tsq.collect()` of it in-process.

    .venv/bin/python benchmarks/store_scale.py [RUNS]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from pathlib import Path

from _common import IMPORT_FLOOR, RUNS, interleaved, run_ts, sandbox, wall
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from tsq.files.results import write_result
from tsq.files.safeio import make_private_dir
from tsq.hosts import this_host
from tsq.store import Job, Store, Sweep

DAY = 24 * 3600


def sweep_of(sweep_id: str, work: Path, socket_path: str, njobs: int, age: float) -> Sweep:
    return Sweep(
        id=sweep_id, created_at=time.time() - age, task_name="bench", app="bench.py",
        cwd=str(work), sweep_dir=str(work / sweep_id),
        spool_dir=str(work / sweep_id / ".tsq" / sweep_id),
        backend_record={"binary": shutil.which("tsp") or "ts", "socket": socket_path},
        launcher_pid=1, hostname=this_host(), njobs=njobs,
    )  # fmt: skip


def jobs_of(sweep_id: str, njobs: int, state: str) -> list[Job]:
    return [
        Job(num=n, overrides=[f"x={n}", "model=small"], label=f"bench/{sweep_id}/{n}",
            queue_id=n, state=state, updated_at=time.time(), exit_code=0 if state == "completed"
            else None)
        for n in range(njobs)
    ]  # fmt: skip


def history(path: Path | str, work: Path, socket_path: str, jobs: int) -> None:
    store = Store.open(path, create=True)
    for s in range(jobs // 100):
        sweep_id = f"old{s:09d}"
        store.add_sweep(sweep_of(sweep_id, work, socket_path, 100, 3 * DAY),
                        jobs_of(sweep_id, 100, "completed"))  # fmt: skip
    store.close()


def finished_sweep(path: Path, work: Path, socket_path: str, state: str, pickles: bool) -> str:
    """A sweep of 1,000 jobs whose result files are all written; recorded in `state`."""
    store = Store.open(path, create=True)
    sweep = sweep_of("new000000001", work, socket_path, 1000, 60)
    store.add_sweep(sweep, jobs_of(sweep.id, 1000, state))
    store.close()
    spool = sweep.spool
    make_private_dir(spool.jobs)
    for n in range(1000):
        ret = JobReturn(overrides=[f"x={n}"], cfg=OmegaConf.create({"x": n}), task_name="bench",
                        status=JobStatus.COMPLETED, working_dir=str(work))  # fmt: skip
        ret.return_value = {"loss": 1.0 / (n + 1), "x": n}
        write_result(
            spool.result_pickle(n),
            spool.result_json(n),
            ret,
            started_at=time.time() - 2,
            ended_at=time.time(),
            output_dir=str(work),
        )
        if not pickles:
            spool.result_pickle(n).unlink()
    return sweep.id


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    with sandbox() as (work, env):
        run_ts(env, "-S", "1")  # a live, empty ts server: the jobs below are long gone from it
        sock = env["TS_SOCKET"]
        stores = {}
        for size in (1_000, 10_000, 100_000):
            stores[size] = work / f"history-{size}.db"
            history(stores[size], work, sock, size)
        fresh = work / "fresh.db"
        history(fresh, work, sock, 10_000)
        finished_sweep(fresh, work, sock, "queued", pickles=False)
        collectable = work / "collect.db"
        finished_sweep(collectable, work, sock, "completed", pickles=True)

        python = sys.executable
        floor = [python, "-c", IMPORT_FLOOR]

        def status(path: Path) -> float:
            return wall([python, "-m", "tsq", "status", "--json", "--store", str(path)], env)

        def after_finish() -> float:
            copy = work / "fresh-copy.db"
            shutil.copyfile(fresh, copy)
            return status(copy)

        measures = {"floor": lambda: wall(floor, env)}
        for size, path in stores.items():
            measures[f"status {size // 1000}k terminal"] = lambda p=path: status(p)
        measures["status, 1k just finished"] = after_finish
        measures["collect --json 1k"] = lambda: wall(
            [python, "-m", "tsq", "collect", "--json", "--store", str(collectable)], env
        )
        got = interleaved(measures, runs)

        import tsq

        in_process = []
        for _ in range(runs):
            start = time.perf_counter()
            returned = tsq.collect(store=str(collectable))
            in_process.append(time.perf_counter() - start)
        assert len(returned) == 1000 and returned[-1].return_value["x"] == 999
    floor_s = got.pop("floor")
    print(f"floor (python -c '{IMPORT_FLOOR}'): {floor_s * 1000:.0f} ms; medians of {runs}")
    for name, seconds in got.items():
        print(f"{name:28s} {seconds * 1000:6.0f} ms  {seconds / floor_s:.2f}x floor")
    print(f"{'tsq.collect() 1k in-process':28s} {statistics.median(in_process) * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
