"""`python -m tsq` / `tsq`: follow sweeps and collect their results from any shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tsq.errors import TsqError
from tsq.options import RetryCause
from tsq.render.views import attempt_json, counts, job_json, status_rows, sweep_line
from tsq.render.words import next_command, plural
from tsq.states import JobState

if TYPE_CHECKING:  # the store is imported only by the commands that open it
    from tsq.render.aggregate import SortKey
    from tsq.store import Job, Store, Sweep

RECENT_SECONDS = 24 * 3600
STATUS_WIDTH = 400  # status shows overrides and reasons whole; collect's table cuts values

EPILOG = """\
exit status: 0 ok; 1 a collected or awaited job failed, was lost or cancelled; 2 usage or input
error; 3 `wait --timeout` ran out; 130 Ctrl-C; 141 stdout closed early (`tsq status | head`).
the store: --store PATH, else $TSQ_STORE, else $XDG_STATE_HOME/tsq/tsq.db."""


def _open(args: argparse.Namespace) -> tuple[Store, set[str]]:
    """The store, brought up to date (`open_refreshed`); and the sweeps whose jobs that
    changed."""
    from tsq.refresh.update import open_refreshed

    store, report = open_refreshed(args.store)
    return store, report.changed_sweeps


def _is_sweep_ref(word: str) -> bool:
    """A word with `=` is an override filter, unless it names a directory or holds a path
    separator before its first `=`: sweep dirs may contain `=` (e.g. named after overrides,
    `.../lr=0.1,seed=1`), and a filter's value may be a path (`data=/mnt/x`)."""
    key = word.split("=", 1)[0]
    return "=" not in word or os.sep in key or os.path.isdir(word)


def _sweep_and_filters(words: Sequence[str]) -> tuple[str | None, list[tuple[str, str]]]:
    """`status [SWEEP] [KEY=VALUE ...]`: the sweep ref, and the override filters."""
    from tsq.render.tables import parse_override_filter

    refs = [w for w in words if _is_sweep_ref(w)]
    if len(refs) > 1:
        raise TsqError(f"one sweep at a time, got {len(refs)}: {' '.join(refs)}")
    filters = [parse_override_filter(w) for w in words if not _is_sweep_ref(w)]
    return (refs[0] if refs else None), filters


def cmd_status(args: argparse.Namespace) -> int:
    from tsq.render.tables import matches, parse_states, render_table

    sweep_ref, filters = _sweep_and_filters(args.targets)
    states = parse_states(args.state) if args.state else None
    store, changed = _open(args)
    if sweep_ref:
        sweeps = [store.find_sweep(sweep_ref)]
    else:
        since = None if args.all else time.time() - RECENT_SECONDS
        sweeps = store.sweeps(active_or_since=since)
        # An old sweep whose jobs this very refresh ended (e.g. marked lost) is news: show it.
        shown = {s.id for s in sweeps}
        sweeps += [store.find_sweep(sweep_id) for sweep_id in sorted(changed - shown)]
    jobs_by_sweep: dict[str, list[Job]] = {s.id: [] for s in sweeps}
    for job in store.jobs(list(jobs_by_sweep), history=args.attempts):
        jobs_by_sweep[job.sweep_id].append(job)

    def shown(jobs: list[Job]) -> list[Job]:
        return [
            j
            for j in jobs
            if (states is None or j.state in states) and matches(j.overrides, filters)
        ]

    now = time.time()
    if args.json:
        rows = []
        for sweep in sweeps:
            for job in shown(jobs_by_sweep[sweep.id]):
                row = job_json(sweep, job, now)
                if args.attempts:
                    row["attempts"] = [attempt_json(a) for a in job.history]
                rows.append(row)
        print(json.dumps(rows, indent=1))
        return 0
    if not sweeps:
        hint = "" if args.all else " in the last 24 hours (--all lists every sweep)"
        print(f"no sweeps{hint}")
        return 0
    from tsq.backends import backend_for
    from tsq.refresh.reach import Reach

    reach = Reach()
    for sweep in sweeps:
        asked = reach.backend(sweep.hostname, backend_for(sweep))
        print(sweep_line(sweep, jobs_by_sweep[sweep.id], queue_asked=asked))
        notifier = notify_line(sweep)
        if notifier is not None:
            print(f"  {notifier}")
        jobs = shown(jobs_by_sweep[sweep.id])
        if not jobs:
            print("  (no job matches the filters)")
            continue
        rows = status_rows(jobs, now, attempts=args.attempts)
        table = render_table(list(rows[0]), rows, max_width=STATUS_WIDTH)
        print("\n".join(f"  {line}" for line in table.splitlines()))
    return 0


def notify_line(sweep: Sweep) -> str | None:
    """The sweep's `notify` watcher as `status` shows it; None without one."""
    from tsq.files.safeio import NotYours
    from tsq.ops.notify import describe, read_record

    try:
        return describe(read_record(sweep.spool.root), sweep.spool.root)
    except NotYours as e:
        return f"notify: {e}"


def cmd_collect(args: argparse.Namespace) -> int:
    from tsq.ops.collector import finished
    from tsq.render.tables import collect_rows, render_csv, render_json, render_table

    grouping = _grouping(args)
    store, _ = _open(args)
    sweep = store.find_sweep(args.sweep)
    jobs = store.jobs([sweep.id])
    done, pending = finished(sweep, jobs)
    items = [item.as_json() for item in done]
    form = "json" if args.json else args.format
    if grouping is not None:
        _print_aggregate(sweep, jobs, items, form, *grouping)
    elif form == "json":
        print(render_json(items))
    elif form == "csv":
        sys.stdout.write(render_csv(*collect_rows(items)))
    elif done:
        columns, rows = collect_rows(items)
        print(f"sweep {sweep.id}  {sweep.task_name}  {sweep.sweep_dir}")
        print(render_table([c for c in columns if c != "sweep"], rows))
    if pending:
        left = [j for j in jobs if not j.state.terminal]
        print(
            f"tsq: not finished yet: {pending} of {plural(len(jobs), 'job')} of sweep "
            f"{sweep.id} ({counts(left)}); collect again later",
            file=sys.stderr,
        )
    return 1 if any(item.error for item in done) else 0


def _grouping(
    args: argparse.Namespace,
) -> tuple[list[str], SortKey | None, int | None] | None:
    """`--by`, `--sort`, `--top`, checked before the store is opened."""
    from tsq.render.aggregate import grouping

    return grouping(args.by, args.sort, args.top)


def _print_aggregate(
    sweep: Sweep,
    jobs: list[Job],
    items: list[dict[str, object]],
    form: str,
    by: list[str],
    sort: SortKey | None,
    top: int | None,
) -> None:
    from tsq.render.aggregate import aggregate, format_number
    from tsq.render.tables import render_csv, render_table, strict_json

    if not items:
        raise TsqError(
            f"sweep {sweep.id} has no finished job yet ({counts(jobs)}): nothing to aggregate"
        )
    result = aggregate(items, by, sort, top)
    if form == "json":
        print(strict_json({"sweep": sweep.id, **result.as_json()}, indent=1))
    elif form == "csv":
        sys.stdout.write(render_csv(result.columns(), result.rows()))
    else:
        rows = [{k: format_number(v) for k, v in row.items()} for row in result.rows()]
        print(f"sweep {sweep.id}  {sweep.task_name}  {sweep.sweep_dir}")
        print(render_table(result.columns(), rows))
        failed = [(g, n) for g in result.groups for n in g.failed]
        if failed:
            nums = " ".join(str(n) for _, n in failed)
            print(f"not averaged: {plural(len(failed), 'job')} did not complete ({nums})")


def cmd_diff(args: argparse.Namespace) -> int:
    from tsq.ops.diff import render_text, sweep_diff
    from tsq.render.aggregate import parse_keys
    from tsq.render.tables import strict_json

    by = parse_keys(args.by) if args.by else []
    store, _ = _open(args)
    a, b = store.find_sweep(args.a), store.find_sweep(args.b)
    diff = sweep_diff(a, store.jobs([a.id]), b, store.jobs([b.id]), by)
    print(strict_json(diff, indent=1) if args.json else render_text(diff))
    return 0


def _job(store: Store, ref: str) -> tuple[Sweep, Job]:
    """`SWEEP:NUM` -> (sweep, job)."""
    sweep_ref, sep, num = ref.rpartition(":")
    if not sep or not num.isdigit():
        raise TsqError(f"{ref!r} is not a job: write SWEEP:NUM, e.g. 3f9a:0")
    sweep = store.find_sweep(sweep_ref or None)
    job = next((j for j in store.jobs([sweep.id]) if j.num == int(num)), None)
    if job is None:
        raise TsqError(f"sweep {sweep.id} has no job {num} (it has {sweep.njobs})")
    return sweep, job


def cmd_wait(args: argparse.Namespace) -> int:
    from tsq.ops.wait import Progress, wait_for_jobs
    from tsq.store import LONG_PATIENCE_S, Store

    # Not _open: the wait loop refreshes, and says each note once. Patient: a database server
    # restarting while it waits is not the end of the jobs it follows.
    store = Store.open(args.store, patience=LONG_PATIENCE_S)
    sweep = store.find_sweep(args.sweep)
    nums = [job.num for job in store.jobs([sweep.id])]
    progress = Progress(f"tsq: sweep {sweep.id}")
    jobs = wait_for_jobs(store, sweep.id, nums, progress, timeout=args.timeout)
    return 0 if all(job.state is JobState.COMPLETED for job in jobs) else 1


def cmd_logs(args: argparse.Namespace) -> int:
    from tsq.ops import logs

    store, _ = _open(args)
    sweep, job = _job(store, args.job)
    if args.follow:
        logs.follow(store, sweep, job, sys.stdout, sys.stderr)
    else:
        logs.show(sweep, job, sys.stdout)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from tsq.ops.cancel import cancel

    store, _ = _open(args)
    if ":" in args.target:
        sweep, job = _job(store, args.target)
        jobs = [job]
    else:
        sweep = store.find_sweep(args.target)
        jobs = store.jobs([sweep.id])
    report = cancel(store, jobs)
    print(report.summary(sweep.id))
    for note in report.notes:
        print(f"tsq: {note}", file=sys.stderr)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from tsq.ops.retry import retry, select

    store, _ = _open(args)
    sweep = store.find_sweep(args.sweep)
    states = frozenset(
        state for state in JobState if state.terminal and getattr(args, state.value, False)
    )
    chosen = select(store.jobs([sweep.id]), states, args.nums, frozenset(args.cause))
    if not chosen:
        print(f"sweep {sweep.id}: nothing to retry")
        return 0
    follow = next_command("status", sweep.id, store.display if args.store else None)
    renewed = retry(store, sweep, chosen, follow)
    nums = " ".join(str(job.num) for job in renewed)
    said = f"sweep {sweep.id}: queued {plural(len(renewed), 'job')} again ({nums})"
    if sweep.snapshot:
        said += f" with the code as launched (snapshot {Path(sweep.snapshot).parent.name})"
    print(said)
    return 0


def _causes(text: str) -> list[RetryCause]:
    """`--cause timeout,lost`."""
    try:
        return [RetryCause(word.strip()) for word in text.split(",") if word.strip()]
    except ValueError:
        known = ", ".join(c.value for c in RetryCause)
        raise argparse.ArgumentTypeError(f"{text!r}: the causes are {known}") from None


def _confirm(question: str) -> bool:
    """Ask on the terminal; end of input (Ctrl-D) is a no, as an empty answer is."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        print()  # end the prompt's line
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_adopt(args: argparse.Namespace) -> int:
    from tsq.launch.adopt import adopt, spool_dirs, summary
    from tsq.refresh.update import refresh
    from tsq.store import Store

    directory = Path(args.dir).expanduser().resolve()
    spool_dirs(directory)  # refuse a directory that is no sweep's before making a store
    store = Store.open(args.store, create=True)
    adopted = adopt(store, directory)
    for sweep_id in adopted.sweeps:
        for message in refresh(store, sweep_id).messages():
            print(f"tsq: {message}", file=sys.stderr)
    for line in summary(store, adopted):
        print(line)
    for note in adopted.notes:
        print(f"tsq: {note}", file=sys.stderr)
    if not adopted.sweeps:
        print(f"nothing adopted from {directory}")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    store, _ = _open(args)
    sweep = store.find_sweep(args.sweep)
    jobs = store.jobs([sweep.id])
    active = [j for j in jobs if not j.state.terminal]
    if active and not args.cancel:
        raise TsqError(_still_active(sweep, active))
    what = f"sweep {sweep.id} ({sweep.task_name}, {plural(len(jobs), 'job')}, {sweep.sweep_dir})"
    if active:
        what += f"; its {plural(len(active), 'queued or running job')} will be cancelled first"
    if not args.yes:
        if not sys.stdin.isatty():
            raise TsqError(f"would forget {what}: confirm with --yes")
        if not _confirm(f"forget {what}? Its files stay."):
            print("nothing forgotten")
            return 0
    if active:
        from tsq.ops.cancel import cancel

        report = cancel(store, active)
        print(report.summary(sweep.id))
        for note in report.notes:
            print(f"tsq: {note}", file=sys.stderr)
        left = [j for j in store.jobs([sweep.id]) if not j.state.terminal]
        if left:
            raise TsqError(_still_active(sweep, left))
    store.forget(sweep.id)
    records = plural(len(jobs), "job record")
    said = f"forgot sweep {sweep.id}: {records} dropped; its files are untouched"
    if sweep.snapshot:
        from tsq.launch.snapshot import release

        if release(Path(sweep.snapshot), sweep.id):
            said += f"; its code snapshot {Path(sweep.snapshot).parent} is removed"
    print(said)
    return 0


def _still_active(sweep: Sweep, active: list[Job]) -> str:
    """Why `forget` keeps a sweep whose jobs may still run: their code snapshot and the record
    of how they end would go, and they would fail unrecorded."""
    return (
        f"sweep {sweep.id} has {plural(len(active), 'job')} queued or running "
        f"({counts(active)}); forgetting it now would remove the code they need, and they "
        f"would end unrecorded: cancel them first (tsq cancel {sweep.id}), or forget --cancel"
    )


def cmd_gc(args: argparse.Namespace) -> int:
    from tsq.launch.snapshot import collect_garbage, snapshot_store

    store, _ = _open(args)
    sweeps = store.sweeps()
    places = {Path(s.snapshot).parent.parent for s in sweeps if s.snapshot}
    places.add(snapshot_store(None, store.path))
    removed, freed = 0, 0
    for place in sorted(places):
        count, size = collect_garbage(place, store.display, {s.id for s in sweeps})
        removed, freed = removed + count, freed + size
    print(f"removed {plural(removed, 'code snapshot')} no sweep uses ({freed / 1e6:.1f} MB freed)")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from tsq.ui.server import serve

    if args.refresh < 0.5:
        raise TsqError(f"--refresh {args.refresh:g}: at least 0.5 s between store refreshes")
    return serve(args.store, args.host, args.port, args.refresh, sys.stdout)


def cmd_report(args: argparse.Namespace) -> int:
    from tsq.render.aggregate import parse_keys
    from tsq.ui.page import report

    by = parse_keys(args.by) if args.by else None
    sweep_id, body = report(args.store, args.sweep, by)
    out = Path(args.output)
    try:
        out.write_bytes(body)
    except OSError as e:
        raise TsqError(f"cannot write {out}: {e.strerror or e}") from None
    print(f"wrote the report of sweep {sweep_id} to {out} ({len(body) / 1e6:.1f} MB)")
    return 0


STORE_HELP = (
    "store path, sqlite:/// or postgresql:// URL (default: $TSQ_STORE, else the per-user store)"
)
SWEEP_HELP = "sweep id, unique prefix of one, or sweep dir"
LATEST_HELP = f"{SWEEP_HELP} (default: the latest sweep)"


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace], int],
    summary: str,
    description: str,
    *examples: str,
) -> argparse.ArgumentParser:
    # --store is also accepted after the command; SUPPRESS keeps it from resetting one given
    # before the command.
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--store", default=argparse.SUPPRESS, help=STORE_HELP)
    command = commands.add_parser(
        name,
        parents=[store],
        help=summary,
        description=description,
        epilog="\n".join(f"example: {example}" for example in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(run=run)
    return command


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="tsq",
        description="Follow, operate and collect Hydra sweeps queued in task-spooler with "
        "hydra/launcher=ts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--store", help=STORE_HELP)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = _command(
        commands, "status", cmd_status, "show where jobs stand",
        "Show sweeps and their jobs: state, ts id, exit code or signal, duration, overrides. "
        "Refreshes the store from task-spooler and the jobs' result files first.",
        "python -m tsq status 3f9a --json",
        "python -m tsq status 3f9a lr=0.1 --state failed,lost",
    )  # fmt: skip
    status.add_argument(
        "targets",
        nargs="*",
        metavar="SWEEP|KEY=VALUE",
        help=f"{SWEEP_HELP} (default: unfinished sweeps and those of the last 24 hours); "
        "KEY=VALUE shows only the jobs with that override (e.g. lr=0.1); a word that names a "
        "directory or holds a / is the sweep dir, even with = in it",
    )
    status.add_argument(
        "--state", metavar="STATE[,STATE]", help="only jobs in these states, e.g. failed,lost"
    )
    status.add_argument("--all", action="store_true", help="list every sweep in the store")
    status.add_argument("--json", action="store_true", help="print a JSON array, one per job")
    status.add_argument(
        "--attempts",
        action="store_true",
        help="also show each job's earlier attempts (`tsq retry`, a job Slurm ran again), "
        'oldest first; with --json, as each job\'s "attempts"',
    )

    collect = _command(
        commands, "collect", cmd_collect, "show finished jobs' results",
        "Print the finished jobs of a sweep with their overrides and return value or error; "
        "says on stderr how many are not finished yet. In Python: tsq.collect(sweep) returns "
        "Hydra JobReturns.",
        "python -m tsq collect 3f9a --format csv > results.csv",
        "python -m tsq collect 3f9a --by lr,model --sort loss --top 3",
    )  # fmt: skip
    collect.add_argument("sweep", nargs="?", help=LATEST_HELP)
    collect.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="table (default); json: one object per job, values as returned; csv: one column "
        "per override and, when jobs return mappings, one per returned key",
    )
    collect.add_argument("--json", action="store_true", help="same as --format json")
    collect.add_argument(
        "--by",
        metavar="KEY[,KEY]",
        help="group finished jobs by these overrides and aggregate over the others (e.g. "
        "seed): per group and numeric metric n, NaN count, mean, std, min, max, and the best "
        "job; failed jobs are counted, never averaged",
    )
    collect.add_argument(
        "--sort",
        metavar="METRIC[:max]",
        help="with --by: order groups by this metric's mean, lowest first (:max highest "
        "first); the best job of a group is the one with the lowest (highest) value",
    )
    collect.add_argument(
        "--top", type=int, metavar="N", help="with --by and --sort: the first N groups only"
    )

    diff = _command(
        commands, "diff", cmd_diff, "show what changed between two sweeps",
        "Compare sweep A with sweep B: their code (a diff of their code snapshots), their "
        "config (each key whose values differ between their jobs' configs, swept or not, "
        "launcher options included) and their results (collect --by aggregates side by side, "
        "with the difference of the means, B - A).",
        "python -m tsq diff 3f9a 7b2e --by lr",
    )  # fmt: skip
    diff.add_argument("a", metavar="A", help=SWEEP_HELP)
    diff.add_argument("b", metavar="B", help=SWEEP_HELP)
    diff.add_argument(
        "--by",
        metavar="KEY[,KEY]",
        help="compare results per group of these overrides, as collect --by groups them "
        "(default: each sweep as one group)",
    )
    diff.add_argument("--json", action="store_true", help="print one JSON object")

    wait = _command(
        commands, "wait", cmd_wait, "block until a sweep has ended",
        "Block until every job of the sweep has ended, with progress on stderr (a bar on a "
        "terminal, a line per change otherwise). Exit status: 0 all completed, 1 any failed, "
        "was lost or cancelled, 3 the timeout ran out first.",
        "python -m tsq wait 3f9a --timeout 3600 && python -m tsq collect 3f9a",
    )  # fmt: skip
    wait.add_argument("sweep", nargs="?", help=LATEST_HELP)
    wait.add_argument("--timeout", type=float, metavar="S", help="give up after S seconds")

    logs = _command(
        commands, "logs", cmd_logs, "show a job's output",
        "Print a job's output (what ts captured of its stdout and stderr), its Hydra job log "
        "and, if it failed, its traceback; also for jobs that failed before their task "
        "started, and after ts has forgotten the job.",
        "python -m tsq logs 3f9a:2 -f",
    )  # fmt: skip
    logs.add_argument("job", help="SWEEP:NUM, NUM being the Hydra job number")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="follow the job's output until it ends (a queued job: wait for it to start)",
    )

    cancel = _command(
        commands, "cancel", cmd_cancel, "cancel a sweep's or a job's unfinished jobs",
        "Remove queued jobs from ts and stop running ones (SIGTERM), and mark them cancelled. "
        "Touches nothing else: finished jobs, other sweeps, ts jobs tsq did not queue.",
        "python -m tsq cancel 3f9a      (or 3f9a:4 for one job)",
    )  # fmt: skip
    cancel.add_argument("target", metavar="SWEEP|JOB", help=f"{SWEEP_HELP}; or SWEEP:NUM")

    retry = _command(
        commands, "retry", cmd_retry, "queue ended jobs again",
        "Queue jobs of a sweep again, as new attempts: same overrides, job number, output dir "
        "and config (as frozen at launch). Without NUM, state flags or --cause: every job that "
        "failed, was lost or cancelled. The store keeps every attempt; status shows the latest "
        "and counts them, collect returns the latest result. hydra.launcher.retry makes the "
        "same retries by cause on its own.",
        "python -m tsq retry 3f9a --failed      (or: 3f9a 4 7; 3f9a --cause timeout,lost)",
    )  # fmt: skip
    retry.add_argument("sweep", help=SWEEP_HELP)
    retry.add_argument("nums", nargs="*", type=int, metavar="NUM", help="job numbers to retry")
    for state in ("failed", "lost", "cancelled"):
        retry.add_argument(f"--{state}", action="store_true", help=f"retry the {state} jobs")
    retry.add_argument(
        "--cause",
        type=_causes,
        default=[],
        metavar="CAUSE,...",
        help="retry the jobs that ended for one of these causes: "
        f"{', '.join(c.value for c in RetryCause)} (as hydra.launcher.retry.causes; "
        "`status --attempts --json` shows each attempt's)",
    )

    forget = _command(
        commands, "forget", cmd_forget, "drop a sweep's records from the store",
        "Drop a sweep and its jobs from the store, and its code snapshot unless another sweep "
        "shares it. Its files (outputs, results) are never touched. Asks for confirmation "
        "unless --yes. Refused while the sweep has jobs queued or running (their code and "
        "record would go): cancel them first, or give --cancel.",
        "python -m tsq forget 3f9a --yes",
    )  # fmt: skip
    forget.add_argument("sweep", help=SWEEP_HELP)
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.add_argument(
        "--cancel",
        action="store_true",
        help="cancel the sweep's queued and running jobs first (as `tsq cancel`), then forget it",
    )

    adopt = _command(
        commands, "adopt", cmd_adopt, "record a sweep again from its files (a lost store)",
        "Record in the store the sweeps whose files DIR holds and the store does not know (it "
        "was deleted, or re-created empty): their jobs, each at its latest attempt, with the "
        "states a refresh then decides from their files and queue. Earlier attempts of retried "
        "jobs are not recorded again (their files stay). Creates the store if there is none.",
        "python -m tsq adopt multirun/2026-12-05/09-00-00",
    )  # fmt: skip
    adopt.add_argument("dir", help="a sweep dir, or one sweep's spool dir (<sweep dir>/.tsq/ID)")

    _command(
        commands, "gc", cmd_gc, "remove code snapshots no sweep uses",
        "Remove the code snapshots that no sweep of this store uses any more (`forget` removes "
        "a sweep's own when no other sweep shares it), and the file copies only they held.",
        "python -m tsq gc",
    )  # fmt: skip
    ui = _command(
        commands, "ui", cmd_ui, "serve a live page of the sweeps (needs tsq[ui])",
        "Serve a read-only web page: the sweeps with their progress, each sweep's jobs with "
        "their states, durations, attempts and logs, the results aggregated by group, and "
        "plots (each metric against each swept override with its spread over seeds, parallel "
        "coordinates, a timeline). On 127.0.0.1 by default; on another address every request "
        "needs the access token printed on start. Refreshes the store as `status` does, at "
        "most once every --refresh seconds whatever the number of pages open.",
        "python -m tsq ui --port 8765",
    )  # fmt: skip
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: a free one)")
    ui.add_argument(
        "--refresh", type=float, default=2.0, metavar="S",
        help="refresh the store at most once every S seconds (default 2)",
    )  # fmt: skip

    report = _command(
        commands, "report", cmd_report, "write a sweep's results page as one HTML file",
        "Write the results view of `tsq ui` for one sweep (results aggregated by group, plots, "
        "jobs) as one self-contained HTML file, charts included, to send or archive.",
        "python -m tsq report 3f9a -o report.html --by lr",
    )  # fmt: skip
    report.add_argument("sweep", nargs="?", help=LATEST_HELP)
    report.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file")
    report.add_argument(
        "--by", metavar="KEY[,KEY]",
        help="group by these overrides (default: every swept override but seeds)",
    )  # fmt: skip
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TsqError as e:
        print(f"tsq: {e}", file=sys.stderr)
        return e.exit_code
