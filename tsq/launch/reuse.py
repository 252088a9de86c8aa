"""Reusing completed jobs (`hydra.launcher.reuse=true`): a job that computes what a job of the
same store already computed, and completed, is not queued; it takes that job's result.

What a job computes is its key (`Job.reuse_key`, recorded for every job, so that a later launch
with `reuse=true` can reuse the jobs of a launch without it), the sha256 of:

- its code: the snapshot's id (`tsq.launch.snapshot`: the hash of the project's files as they
  were, uncommitted edits included, its links and the git commit) and the task's entry (its
  script and function), so two apps of one project never share results. Not the git commit
  alone: uncommitted edits change what runs. Without a snapshot the code is not known, and
  `reuse=true` is refused;
- its task config: the job's composed config without its `hydra` node, unresolved, as Hydra
  writes it to the job's `.hydra/config.yaml`. Not `hydra`: it holds what differs between any
  two sweeps (the sweep dir, the job's number and id, `${now:}` output dirs, the launcher's
  options) and not what the task computes; with it, nothing would ever be reused. Unresolved:
  resolved, interpolations of those same fields (`${hydra:runtime.output_dir}`, `${now:...}`)
  would differ as well. A task config that interpolates the job's number or id
  (`seed: ${hydra:job.num}`) computes something else at another number: its number is part of
  its key. Values a config takes from outside itself (`${oc.env:...}`, a custom resolver) are
  compared as written.

A reused job owns its result: the summary and pickle of the job it reuses are hard-linked (on
another file system, copied) into its own spool dir under its own number, so `collect`, the page
and `tsq.collect()` read it as any other job's, and `tsq forget` of the original sweep (or the
removal of its dir) takes nothing from it. Its row is recorded queued like every job, then ends
`completed` through the transition table (`Store.apply`), with a copy of the summary, the
original's output dir, and the reason "reused from <sweep>:<num>".
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tsq.errors import SpecError
from tsq.files.safeio import make_private_dir, open_private, write_atomic
from tsq.files.spool import SpoolDir
from tsq.render.words import plural
from tsq.states import JobState, JobUpdate

if TYPE_CHECKING:
    from tsq.store import Job, Reusable, Store

# Part of every key: raised when what goes into a key changes, so old keys match nothing.
KEY_VERSION = 1
# `${hydra:job.num}`, `${hydra:job.id}` (spaces allowed): the task config depends on the number.
_BY_NUM = re.compile(r"\$\{\s*hydra:\s*job\.(num|id)\s*\}")
# A hard link fails across file systems, on a file system without them, or past a link limit:
# the result is copied instead.
_CANNOT_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


class TaskConfig(NamedTuple):
    """A job's task config as it goes into its key: its digest, and whether it depends on the
    job's number (`${hydra:job.num}`)."""

    digest: str
    by_num: bool


def task_config(config: Any) -> TaskConfig | None:
    """The task config of a job's composed `config` (a DictConfig), without `hydra` and
    unresolved; None when it cannot be written down (the job is then never reused)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    try:
        # Node by node, not a masked copy of the config: that rebuilds every node, 100 times
        # slower (4 ms a job, measured), on a launch that pays for every job.
        plain = {}
        for key in config:
            if key == "hydra":
                continue
            node = config._get_node(key)
            plain[str(key)] = (
                OmegaConf.to_container(node, resolve=False, enum_to_str=True)
                if isinstance(node, (DictConfig, ListConfig))
                else node._value()
            )
        text = json.dumps(plain, default=repr)
    except Exception:  # OmegaConf's own errors, keys JSON cannot hold: no key, no reuse
        return None
    return TaskConfig(hashlib.sha256(text.encode()).hexdigest(), bool(_BY_NUM.search(text)))


def reuse_key(code: str, config: TaskConfig | None, num: int) -> str | None:
    """The key of job `num` (`Job.reuse_key`); `code` is the code's identity (`code_identity`)."""
    if config is None:
        return None
    material = [KEY_VERSION, code, config.digest, num if config.by_num else None]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def code_identity(snapshot_id: str, project: Path, script: str, task: Any) -> str:
    """The code a job runs: the snapshot's id and the task's entry (its script, relative to
    the project, and its function's qualified name)."""
    where = os.path.relpath(script, project)
    name = f"{getattr(task, '__module__', '')}.{getattr(task, '__qualname__', '')}"
    return json.dumps([snapshot_id, where, name])


@dataclass(frozen=True)
class Reused:
    """A job of the launch that takes the result of `source` (and the store's copy of its
    summary, if it has one)."""

    job: Job
    source: Reusable
    summary: str | None = None


def take_results(store: Store, spool: SpoolDir, jobs: Sequence[Job]) -> list[Reused]:
    """The jobs among `jobs` that a completed job of the store computed already, each with that
    job's result linked into `spool` as its own first attempt's. One query for the batch (the
    key is indexed) and one for the summaries of the jobs taken; of several candidates the
    newest whose result files can be read wins, and a job none can give a result to is queued
    as usual."""
    keyed = [job for job in jobs if job.reuse_key is not None]
    if not keyed:
        return []
    found = store.reusable([job.reuse_key for job in keyed if job.reuse_key])
    if not found:
        return []
    make_private_dir(spool.jobs)
    linked = []
    for job in keyed:
        for source in found.get(job.reuse_key or "", []):
            if _link_result(source, spool, job.num):
                linked.append((job, source))
                break
    summaries = store.result_summaries([source.job_id for _, source in linked]) if linked else {}
    return [Reused(job, source, summaries.get(source.job_id)) for job, source in linked]


def _link_result(source: Reusable, spool: SpoolDir, num: int) -> bool:
    """Give job `num` of `spool` the result files of `source`; False (and nothing left behind)
    when they cannot be read here: its sweep dir is gone, or they are not this user's."""
    origin = SpoolDir.at(source.spool_dir)
    pairs = [
        (origin.result_pickle(source.num, source.attempt), spool.result_pickle(num)),
        (origin.result_json(source.num, source.attempt), spool.result_json(num)),
    ]
    try:
        for found, own in pairs:
            _own_copy(found, own)
    except (OSError, SpecError):
        for _, own in pairs:
            own.unlink(missing_ok=True)
        return False
    return True


def _own_copy(found: Path, own: Path) -> None:
    """`own` holds what `found` holds: the same file (a hard link: no bytes copied, and it
    stays when `found` is removed), or on another file system a copy. `found` must be a file
    tsq would read (`open_private`: this user's, not writable by others)."""
    fd = open_private(found)
    try:
        try:
            os.link(found, own)
        except OSError as e:
            if e.errno not in _CANNOT_LINK:
                raise
        else:
            if os.stat(own).st_ino == os.fstat(fd).st_ino:
                return
            own.unlink()  # `found` was replaced between the check and the link
            raise OSError(errno.ESTALE, "the result file changed while it was linked", found)
        with os.fdopen(os.dup(fd), "rb") as f:
            write_atomic(own, f.read())
    finally:
        os.close(fd)


def completions(reused: Sequence[Reused]) -> list[JobUpdate]:
    """The reused jobs, recorded queued, ending `completed` with their sources' results."""
    at = time.time()
    return [
        JobUpdate.of(
            item.job,
            JobState.COMPLETED,
            reason=f"reused from {item.source.sweep_id}:{item.source.num}",
            exit_code=item.source.exit_code if item.source.exit_code is not None else 0,
            started_at=at,
            ended_at=at,
            output_dir=item.source.output_dir,
            result_summary=item.summary,
            release=True,
        )
        for item in reused
    ]


def reused_line(reused: Sequence[Reused], considered: int) -> str:
    """The launch summary's account of reuse, for a batch of `considered` jobs."""
    if not reused:
        return (
            f"none of {plural(considered, 'job')}: no completed job of the store has the "
            "same config and code"
        )
    sources = Counter(item.source.sweep_id for item in reused)
    named = ", ".join(f"{count} from sweep {sweep}" for sweep, count in sources.most_common())
    return (
        f"{plural(len(reused), 'job')} completed before with the same config and code, not "
        f"queued ({named})"
    )
