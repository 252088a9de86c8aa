"""`tsq ui` on a store of 10k+ jobs: the page and its data must each come in under a second.

One sweep of 10,000 finished jobs (lr x seed, each with a result file holding a loss, one in
fifty failed; ended by a real refresh, as a sweep's jobs end) on top of 10,000 jobs of older
sweeps. A real `tsq ui` serves it; each request is
timed from this process over loopback, against a floor: the same server's answer to a missing
page (an HTTP round trip that reads nothing).

    .venv/bin/python benchmarks/ui_scale.py [RUNS]
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

from _common import RUNS, interleaved, run_ts, sandbox
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from store_scale import history, sweep_of

from tsq.files.results import write_result
from tsq.files.safeio import make_private_dir
from tsq.refresh.update import refresh
from tsq.store import Job, Store

JOBS = 10_000
LIMIT = 1.0


def big_sweep(path, work, sock) -> tuple[str, float]:
    """The 10k-job sweep, recorded queued, its result files written, then ended by a real
    refresh (which keeps each summary's copy in the store); returns its id and the refresh's
    time."""
    store = Store.open(path, create=True)
    sweep = sweep_of("big000000001", work, sock, JOBS, 60)
    jobs = [
        Job(num=n, overrides=[f"lr={(n // 100) / 1000}", f"seed={n % 100}"],
            label=f"bench/{sweep.id}/{n}", queue_id=n, state="queued", updated_at=time.time())
        for n in range(JOBS)
    ]  # fmt: skip
    store.add_sweep(sweep, jobs)
    make_private_dir(sweep.spool.jobs)
    for n in range(JOBS):
        ok = n % 50 != 7
        ret = JobReturn(overrides=jobs[n].overrides, cfg=OmegaConf.create({}), task_name="bench",
                        status=JobStatus.COMPLETED if ok else JobStatus.FAILED,
                        working_dir=str(work))  # fmt: skip
        ret.return_value = {"loss": 1.0 / (n + 1)} if ok else ValueError("diverged")
        write_result(
            sweep.spool.result_pickle(n),
            sweep.spool.result_json(n),
            ret,
            started_at=time.time() - 100 + n * 0.01,
            ended_at=time.time() - 99 + n * 0.01,
            output_dir=str(work),
        )
        sweep.spool.result_pickle(n).unlink()
    start = time.perf_counter()
    refresh(store)
    took = time.perf_counter() - start
    ended = sum(job.state.terminal for job in store.jobs([sweep.id]))
    store.close()
    assert ended == JOBS, f"the refresh ended {ended} of {JOBS} jobs"
    return sweep.id, took


def fetch(url: str) -> float:
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
    except urllib.error.HTTPError as e:
        e.read()
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    with sandbox() as (work, env):
        run_ts(env, "-S", "1")
        path = work / "ui.db"
        history(path, work, env["TS_SOCKET"], 10_000)
        sweep, refreshed = big_sweep(path, work, env["TS_SOCKET"])
        proc = subprocess.Popen(
            [sys.executable, "-m", "tsq", "ui", "--port", "0", "--store", str(path)],
            env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            base = re.search(r"serving (\S+)", proc.stdout.readline()).group(1)
            cold = fetch(f"{base}api/sweep?id={sweep}")  # reads the 10k result files once
            with urllib.request.urlopen(f"{base}api/sweep?id={sweep}") as response:
                size = len(response.read())
            got = interleaved({
                "floor": lambda: fetch(f"{base}missing"),
                "page /": lambda: fetch(base),
                "plotly.min.js": lambda: fetch(f"{base}plotly.min.js"),
                "/api/sweeps": lambda: fetch(f"{base}api/sweeps"),
                "/api/sweep 10k": lambda: fetch(f"{base}api/sweep?id={sweep}"),
                "/api/sweep regrouped": lambda: fetch(f"{base}api/sweep?id={sweep}&by=seed"),
            }, runs)  # fmt: skip
        finally:
            proc.terminate()
            proc.wait()
    floor = got.pop("floor")
    print(f"the refresh that ended the 10k jobs: {refreshed:.1f} s (reads each result file once)")
    print(f"floor (a 404 from the same server): {floor * 1000:.1f} ms; medians of {runs}")
    print(
        f"{'/api/sweep 10k, first read':28s} {cold * 1000:7.0f} ms  {cold / floor:7.1f}x floor"
        f"  ({size / 1e6:.1f} MB)"
    )
    for name, seconds in got.items():
        print(f"{name:28s} {seconds * 1000:7.0f} ms  {seconds / floor:7.1f}x floor")
    worst = max(cold, *got.values())
    print(f"slowest {worst * 1000:.0f} ms: {'within' if worst <= LIMIT else 'OVER'} {LIMIT:g} s")
    sys.exit(0 if worst <= LIMIT else 1)


if __name__ == "__main__":
    main()
