"""`Store.reusable`: the completed jobs a launch with `reuse=true` may reuse, found for a whole
batch in one query over the indexed key (`tsq.launch.reuse`), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import event

from tsq.states import JobState
from tsq.store import Job, Store, Sweep


def test_a_batch_is_looked_up_in_one_indexed_query(store_location: str) -> None:
    """3,000 keys, 2,000 of them completed (one twice), 500 failed: one SELECT, over the index;
    the summaries of the jobs taken, one more."""
    store = Store.open(store_location, create=True)

    def sweep(name: str, states: list[JobState]) -> None:
        row = Sweep(id=name, created_at=0.0, task_name="t", app="a", cwd="/", sweep_dir="/s",
                    spool_dir=f"/s/.tsq/{name}", backend_record={},
                    launcher_pid=1, hostname="h", njobs=len(states))  # fmt: skip
        jobs = [Job(num=n, overrides=[], label=f"t/{name}/{n}", state=state, reuse_key=f"{n:064x}",
                    result_summary=f"{name} {n}") for n, state in enumerate(states)]  # fmt: skip
        store.add_sweep(row, jobs)

    sweep("old", [JobState.COMPLETED] * 2000 + [JobState.FAILED] * 500)
    sweep("new", [JobState.COMPLETED])
    statements: list[str] = []
    event.listen(
        store._engine, "before_cursor_execute", lambda _c, _k, sql, *_: statements.append(sql)
    )
    found = store.reusable([f"{n:064x}" for n in range(3000)])
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert len(found) == 2000, "the failed and the unknown keys find nothing"
    assert [(r.sweep_id, r.num) for r in found[f"{0:064x}"]] == [("new", 0), ("old", 0)]
    statements.clear()
    taken = [candidates[-1].job_id for candidates in found.values()]
    summaries = store.result_summaries(taken)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert sorted(summaries.values()) == sorted(f"old {n}" for n in range(2000))
    if store_location.startswith("postgresql"):
        return
    with store._engine.connect() as connection:
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE reuse_key IN ('a', 'b')"
        ).all()
    assert "ix_jobs_reuse_key" in str(plan), plan
