"""Code snapshots: a queued job imports the app's code as it was when the sweep was launched.

A job may start hours after its launch while its author keeps editing. The config is frozen at
submit time (`tsq.launch.compose`); this freezes the code. At launch, the app's project is
copied into a content-addressed store, and every job of the sweep (and every retry of it) imports
from that copy. The job's working directory stays the launch's, so relative data paths work as
before.

The snapshot holds every entry of the project (the directory holding the app), so paths found
relative to a module's `__file__` (`Path(__file__).parents[1] / "data"`) keep working; only code
is frozen:
- copied (frozen): in a git work tree holding the app's script, the tracked files plus the
  untracked files git does not ignore, as they are on disk at launch (uncommitted edits
  included), and the git-ignored `*.py` files git lists one by one (`local_settings.py`: code the
  app imports); the files of git submodules and of nested repositories, by the same rules. Outside
  git: the directory the app is imported from (the script's directory, or for `python -m pkg.app`
  the directory holding `pkg`), every file below it. Symbolic links are reproduced: a relative
  one that stays inside the project as it is (it then points at the snapshot's copy), any other
  one pointing at the live place.
- linked live (a symbolic link to the live path, never walked): files over `max_file_bytes`
  (data, checkpoints), other git-ignored entries (an ignored directory such as `data/` or `.venv/`
  is one link), Hydra's output dirs, and outside git hidden directories and virtual
  environments. Neither: `__pycache__` (a cache) and tsq's own files (the store, snapshots).
A copied part larger than `max_total_bytes` is refused, naming its biggest files. Installed
packages (site-packages) are not copied; a package installed editable from inside the project is
imported from the snapshot, one from outside it runs live (the launch says so).

Layout of the store (`root`): `objects/<2 hex>/<sha256>[x]` holds each file's content once (`x`:
executable); `<snapshot id>/code/` is a snapshot, its files hard links to the objects, with
`provenance.json` (and `uncommitted.patch` when the git tree was dirty) beside it, and `refs/`,
one file per sweep that uses it: `tsq forget` drops a sweep's and removes the snapshot once none
is left, `tsq gc` also those of sweeps their store no longer has. Launches hold the store's
`.lock` shared while they take and refer to a snapshot, removals hold it alone. The snapshot id
is the hash of the file list and contents, the links and their targets (and the git commit), so
launching ten sweeps of an unchanged project makes one snapshot, and a file already stored is
never copied again. A cache of (size, mtime, inode) -> hash per project lets a launch of an
unchanged project hash nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tsq.errors import TsqError
from tsq.files.jobspec import CodeSpec
from tsq.files.safeio import write_atomic
from tsq.render.views import Provenance
from tsq.render.words import plural

CODE = "code"
OBJECTS = "objects"
PROVENANCE = "provenance.json"
PATCH = "uncommitted.patch"
REFS = "refs"  # one file per sweep that uses the snapshot, naming the tsq store it is in
LOCK = ".lock"
_CHUNK = 1 << 20
_GIT_TIMEOUT = 60.0


class SnapshotError(TsqError):
    """The project cannot be snapshotted; nothing is queued."""


# Why an entry is linked live rather than copied (`Linked.why`).
LARGE = "large"  # a file over the per-file limit
IGNORED = "git-ignored"
OUTPUT = "Hydra output"  # a dir holding `.hydra/`, `multirun.yaml` or `.tsq/`
NOT_CODE = "hidden or virtualenv"  # outside git: hidden dirs and virtual environments
LIVE_SYMLINK = "symbolic link to a live path"  # absolute, or out of the project
# Kinds of entries besides those linked live.
FILE = "file"  # a regular file: copied, unless over the per-file limit
SYMLINK = "symlink"  # a symbolic link of the project: reproduced


@dataclass(frozen=True)
class Linked:
    """An entry of the project that the snapshot links to where it lives: jobs see it live."""

    path: str  # relative to the project; a directory is one entry
    why: str
    size: int = 0  # of a large file; 0 for the others (a linked dir is never walked)


@dataclass(frozen=True)
class Snapshot:
    """A taken snapshot: `project` as it was, copied to `code`."""

    id: str
    project: Path
    code: Path
    provenance: Provenance
    files: int
    size: int
    linked: tuple[Linked, ...]  # large files first, biggest first; then by path
    ignored_code: tuple[str, ...] = ()  # git-ignored `*.py` files that were copied
    live_packages: tuple[tuple[str, str], ...] = ()  # (name, path): editable, outside `code`
    package_roots: tuple[str, ...] = ()  # parents of editable packages inside the project

    def remap(self, path: str) -> str:
        """`path` inside the project, as the snapshot's copy; any other path, and one the
        snapshot only links to (ignored, too large), unchanged."""
        try:
            copy = self.code / Path(path).resolve().relative_to(self.project)
        except (ValueError, OSError):
            return path
        frozen = copy.exists() and Path(os.path.realpath(copy)).is_relative_to(self.code)
        return str(copy) if frozen else path

    def code_spec(self, main_file: str, top_level: bool) -> CodeSpec:
        """What a job imports from: the launch's `sys.path` with the project's entries pointed
        at the snapshot, led by the directories the app's own modules were imported from and
        the parents of the project's packages installed editable: their import-hook finders
        come after `sys.path` (setuptools appends them to `sys.meta_path`), so the snapshot's
        copy is found first, also for a package the task imports only in the job."""
        roots = [self.remap(str(root)) for root in _import_roots(self.project)]
        roots += [self.remap(root) for root in self.package_roots]
        paths = [self.remap(entry) for entry in sys.path]
        return CodeSpec(
            sys_path=list(dict.fromkeys([*roots, *paths])),
            main_file=self.remap(main_file),
            top_level=top_level,
            snapshot=str(self.code),
        )


def _import_roots(project: Path) -> list[Path]:
    """The directories inside `project` that the modules imported so far were found under.
    A prefix test first: of the thousand-odd modules loaded, a handful live in the project."""
    inside = os.fspath(project) + os.sep
    roots: dict[Path, None] = {}
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        if not isinstance(location, str) or not location.startswith(inside):
            continue
        if name in ("__main__", "__mp_main__"):
            continue
        path = Path(location)
        depth = name.count(".") + (1 if path.name == "__init__.py" else 0)
        if depth < len(path.parents) and path.parents[depth].is_relative_to(project):
            roots[path.parents[depth]] = None
    return list(roots)


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_total_bytes: int


def project_of(main_file: Path, module: str | None) -> tuple[Path, bool]:
    """(project directory, whether it is a git work tree) for the app's main file.

    `module` is `__main__.__spec__.name` for `python -m pkg.app` (None for a script): the
    project outside git is then the directory `pkg` is imported from.
    """
    start = main_file.resolve().parent
    top = _git(start, "rev-parse", "--show-toplevel", check=False)
    if top is not None and top.returncode == 0 and top.stdout.strip():
        return Path(top.stdout.strip()).resolve(), True
    levels = module.count(".") if module else 0
    if module and main_file.name == "__main__.py":
        levels += 1  # `python -m pkg` runs pkg/__main__.py
    project = start
    for _ in range(levels):
        project = project.parent
    return project, False


def take(
    main_file: Path,
    module: str | None,
    store: Path,
    limits: Limits,
    sweep: str,
    owner: str,
    exclude: Sequence[Path] = (),
) -> Snapshot:
    """Snapshot the project holding `main_file` into `store` for `sweep` (of the tsq store
    `owner`), reusing what is stored already; the snapshot records that the sweep uses it.

    Left out: the paths in `exclude` (tsq's own files: the store, the snapshots, which a
    project may hold). Linked live: Hydra's output dirs (a dir holding `.hydra/`,
    `multirun.yaml` or `.tsq/`, the sweep dir among them): outputs are not code, and change
    while jobs run. The project's root and the dirs holding `main_file` are never output dirs
    (`python app.py hydra.run.dir=.` leaves a `.hydra/` beside the script).
    """
    project, in_git = project_of(main_file, module)
    provenance = provenance_of(project, in_git)
    outputs = _Outputs(project, main_file)
    ignored_code: list[str] = []
    listed = _list_git(project, "", ignored_code) if in_git else _list_dir(project, outputs)
    entries = _arrange(project, listed, outputs, exclude)
    stats = _stat_all(project, [path for path, kind in entries.items() if kind == FILE])
    large = sorted(((p, s.st_size) for p, s in stats if s.st_size > limits.max_file_bytes),
                   key=lambda item: -item[1])  # fmt: skip
    kept = [(p, s) for p, s in stats if s.st_size <= limits.max_file_bytes]
    total = sum(s.st_size for _, s in kept)
    if total > limits.max_total_bytes:
        biggest = sorted(kept, key=lambda item: -item[1].st_size)[:5]
        named = ", ".join(f"{p} ({_mb(s.st_size)})" for p, s in biggest)
        raise SnapshotError(
            f"the code snapshot of {project} would hold {_mb(total)} in {len(kept)} files, over "
            f"the limit of {_mb(limits.max_total_bytes)}; biggest: {named}. Ignore them in "
            ".gitignore, or raise hydra.launcher.snapshot_max_mb, or set "
            "hydra.launcher.snapshot=false"
        )
    links = _links(project, entries, [path for path, _ in large])
    try:
        with _lock(store, fcntl.LOCK_SH):
            hashes = _hashes(project, store, kept)
            manifest = sorted((path, hashes[path]) for path, _ in kept)
            ident = _ident(manifest, links, provenance)
            snapshot = store / ident
            if not snapshot.is_dir():
                _build(project, store, snapshot, manifest, links, provenance, in_git)
            (snapshot / REFS).mkdir(mode=0o700, exist_ok=True)
            write_atomic(snapshot / REFS / sweep, owner.encode())
    except OSError as e:
        where = e.filename or store
        raise SnapshotError(
            f"cannot write the code snapshot in {store} ({where}: {e.strerror or e}); free "
            "space there, set TSQ_SNAPSHOTS or hydra.launcher.snapshot_dir to another place, or "
            "set hydra.launcher.snapshot=false"
        ) from None
    linked = [Linked(path, LARGE, size) for path, size in large]
    linked += [Linked(path, _why(path, kind, links)) for path, kind in
               sorted(entries.items()) if kind != FILE]  # fmt: skip
    taken = Snapshot(
        id=ident,
        project=project,
        code=snapshot / CODE,
        provenance=provenance,
        files=len(kept),
        size=total,
        linked=tuple(item for item in linked if item.why),
        ignored_code=tuple(sorted(set(ignored_code) & {path for path, _ in kept})),
    )
    roots, live = _editable_roots(taken, _editable_packages())
    return replace(taken, package_roots=roots, live_packages=live)


def snapshot_lines(snapshot: Snapshot) -> list[str]:
    """The launch's account of a snapshot, one line each: what was copied (frozen), what is
    linked live (by reason, the first few named), and each editable package that runs live."""
    copied = (
        f"snapshot {snapshot.code} ({plural(snapshot.files, 'file')} copied, {_mb(snapshot.size)}"
    )
    if snapshot.ignored_code:
        copied += f"; git-ignored code among them: {_few(list(snapshot.ignored_code))}"
    lines = [copied + ")"]
    groups: dict[str, list[Linked]] = {}
    for item in snapshot.linked:
        groups.setdefault(item.why, []).append(item)
    if groups:
        parts = []
        for why, items in groups.items():
            names = [f"{i.path} {_mb(i.size)}" if i.why == LARGE else i.path for i in items]
            parts.append(f"{len(items)} {why} ({_few(names)})")
        lines.append(f"linked live, not frozen: {'; '.join(parts)}")
    lines += [
        f"package {name} runs live from {path} (installed editable, not in the snapshot)"
        for name, path in snapshot.live_packages
    ]
    return lines


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _why(path: str, kind: str, links: dict[str, str]) -> str:
    """Why `path` is linked live; "" for a symbolic link of the project that stays in it."""
    if kind != SYMLINK:
        return kind
    return LIVE_SYMLINK if os.path.isabs(links[path]) else ""


def _editable_packages() -> dict[str, str]:
    """name -> path of each package that an import-hook finder of an editable install maps:
    setuptools' `__editable___<dist>_finder` puts its class on `sys.meta_path`, with a `MAPPING`
    dict in its module. Such a package is on no `sys.path` entry, and may be imported only by
    the task, in the job, never at launch."""
    found: dict[str, str] = {}
    for finder in sys.meta_path:
        module = sys.modules.get(getattr(finder, "__module__", None) or "")
        mapping = getattr(finder, "MAPPING", None) or getattr(module, "MAPPING", None)
        if isinstance(mapping, dict):
            found.update((str(name), str(path)) for name, path in mapping.items())
    return found


def _editable_roots(
    snapshot: Snapshot, packages: dict[str, str]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(the parent dirs to put first on the job's `sys.path`, so the snapshot's copy of each
    package is found before its finder's live one; the (name, path) of those that run live: out
    of the project, linked live, or in a dir not named as the package)."""
    roots: dict[str, None] = {}
    live = []
    for name, path in sorted(packages.items()):
        where = Path(path)
        leaf = name.rpartition(".")[2]
        if where.name in (leaf, f"{leaf}.py") and snapshot.remap(path) != path:
            roots[str(where.parent)] = None
        else:
            live.append((name, path))
    return tuple(roots), tuple(live)


def snapshot_store(configured: str | None, store_file: Path | None) -> Path:
    """Where a launch keeps its snapshots: `hydra.launcher.snapshot_dir`, else $TSQ_SNAPSHOTS,
    else `snapshots/` beside the store's file (the per-user store's: in the XDG state dir), so
    each store's `tsq gc` sees the snapshots its sweeps use."""
    chosen = configured or os.environ.get("TSQ_SNAPSHOTS")
    if chosen:
        return Path(chosen).expanduser().resolve()
    if store_file is not None:
        return store_file.parent / "snapshots"
    state_home = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(state_home):
        state_home = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state_home, "tsq", "snapshots")


def release(code: Path, sweep_id: str) -> bool:
    """Drop `sweep_id`'s reference to the snapshot whose code dir is `code`; remove the snapshot
    (and the objects only it used) once no sweep refers to it. True if it was removed."""
    snapshot = code.parent
    store = snapshot.parent
    if not snapshot.is_dir():
        return False
    with _lock(store, fcntl.LOCK_EX):
        (snapshot / REFS / sweep_id).unlink(missing_ok=True)
        if _refs(snapshot):
            return False
        shutil.rmtree(snapshot, ignore_errors=True)
        _remove_orphan_objects(store)
    return True


def collect_garbage(store: Path, owner: str, sweeps: set[str]) -> tuple[int, int]:
    """Remove the snapshots of `store` that no sweep uses: references that `owner` (a tsq
    store) made for sweeps it no longer has are dropped first. Returns (snapshots removed,
    bytes freed)."""
    removed, freed = 0, 0
    if not store.is_dir():
        return 0, 0
    with _lock(store, fcntl.LOCK_EX):
        before = _size(store / OBJECTS)
        for snapshot in store.iterdir():
            if not (snapshot / CODE).is_dir():
                continue
            for ref in _refs(snapshot):
                if ref.name not in sweeps and _read(ref) == owner:
                    ref.unlink(missing_ok=True)
            if not _refs(snapshot):
                shutil.rmtree(snapshot, ignore_errors=True)
                removed += 1
        _remove_orphan_objects(store)
        freed = before - _size(store / OBJECTS)
    return removed, freed


@contextmanager
def _lock(store: Path, mode: int) -> Iterator[None]:
    """Launches share the store (LOCK_SH) while they take or reuse a snapshot and refer to it;
    removing snapshots takes it alone (LOCK_EX), so nothing is removed under a launch."""
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(store / LOCK, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def _refs(snapshot: Path) -> list[Path]:
    try:
        return list((snapshot / REFS).iterdir())
    except FileNotFoundError:
        return []


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _remove_orphan_objects(store: Path) -> None:
    """Objects that no snapshot links to any more (their only link is the store's own)."""
    for obj in (store / OBJECTS).glob("*/*"):
        with suppress(OSError):
            if obj.stat().st_nlink == 1:
                obj.unlink()


def _size(directory: Path) -> int:
    total = 0
    for path in directory.glob("*/*"):
        with suppress(OSError):
            total += path.stat().st_size
    return total


# --- git -----------------------------------------------------------------------------------


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str] | None:
    """Run git; None when git is not installed."""
    try:
        result = subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            stdin=subprocess.DEVNULL,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        raise SnapshotError(f"`git {' '.join(args)}` in {cwd} did not answer") from None
    if check and result.returncode != 0:
        message = result.stderr.strip().splitlines()[:1] or ["no message"]
        raise SnapshotError(f"`git {' '.join(args)}` failed in {cwd}: {message[0]}")
    return result


def provenance_of(project: Path, in_git: bool) -> Provenance:
    """The git state of `project` (a few git calls): what the sweep records."""
    if not in_git:
        has_git = shutil.which("git") is not None
        note = "not a git repository" if has_git else "git is not installed"
        return Provenance(project=str(project), note=note)
    head = _git(project, "rev-parse", "--verify", "-q", "HEAD", check=False)
    commit = head.stdout.strip() if head is not None and head.returncode == 0 else None
    branch = _git(project, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    name = branch.stdout.strip() if branch is not None and branch.returncode == 0 else None
    status = _git(project, "status", "--porcelain", "--untracked-files=normal")
    dirty = bool(status.stdout.strip()) if status is not None else None
    note = None if commit else "no commit yet"
    return Provenance(str(project), commit, name, dirty, note)


def _list_git(root: Path, prefix: str, ignored_code: list[str]) -> dict[str, str]:
    """path (relative to the project, `prefix` + relative to `root`) -> kind, of the git work
    tree `root`: what git tracks or would (`--others`) and, one entry per ignored directory and
    never walked (`--directory`), what it ignores. A submodule (a gitlink) or a nested repository
    is listed by the same rules; its ignored `*.py` files git lists one by one are code, added to
    `ignored_code` and copied."""
    entries: dict[str, str] = {}
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    assert listed is not None
    for name in sorted(set(listed.stdout.split("\0")) - {""}):
        path = prefix + name.rstrip("/")
        full = root / name
        try:
            st = full.lstat()
        except FileNotFoundError:  # listed by git, deleted since: not part of the tree on disk
            continue
        except OSError as e:
            raise SnapshotError(_unreadable(full, e)) from None
        if stat.S_ISLNK(st.st_mode):
            entries[path] = SYMLINK
        elif stat.S_ISDIR(st.st_mode):
            if (full / ".git").exists():  # an uninitialised submodule is an empty dir
                entries.update(_list_git(full, path + "/", ignored_code))
        else:
            entries[path] = FILE
    ignored = _git(
        root, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"
    )
    assert ignored is not None
    for name in set(ignored.stdout.split("\0")) - {""}:
        path = prefix + name.rstrip("/")
        if path.rpartition("/")[2] == "__pycache__" or name.endswith(".pyc"):
            continue  # a cache: the job writes its own
        if name.endswith(".py"):
            entries[path] = FILE
            ignored_code.append(path)
        else:
            entries[path] = IGNORED
    return entries


class _Outputs:
    """Which dirs of the project are Hydra output dirs: those holding `.hydra/`,
    `multirun.yaml` or `.tsq/`, except the project's root and the dirs holding the main file
    (a plain run with `hydra.run.dir=.` leaves `.hydra/` beside the script, which is code)."""

    MARKERS = (".hydra", "multirun.yaml", ".tsq")

    def __init__(self, project: Path, main_file: Path) -> None:
        self.base = os.fspath(project)
        self.verdicts: dict[str, bool] = {"": False}
        here = os.path.relpath(os.path.realpath(main_file.parent), self.base)
        if not here.startswith(".."):
            parts = [] if here == "." else here.split(os.sep)
            self.verdicts |= {"/".join(parts[: n + 1]): False for n in range(len(parts))}

    def is_output(self, directory: str) -> bool:
        if directory not in self.verdicts:
            full = os.path.join(self.base, directory)
            self.verdicts[directory] = any(
                os.path.exists(os.path.join(full, marker)) for marker in self.MARKERS
            )
        return self.verdicts[directory]

    def outermost(self, path: str) -> str | None:
        """The shallowest output dir holding `path`, if any. Plain string work: a project
        has thousands of files."""
        parts = path.split("/")[:-1]
        for depth in range(len(parts)):
            directory = "/".join(parts[: depth + 1])
            if self.is_output(directory):
                return directory
        return None


def _arrange(
    project: Path, listed: dict[str, str], outputs: _Outputs, exclude: Sequence[Path]
) -> dict[str, str]:
    """`listed` without what is under an excluded path (tsq's own files come and go as tsq
    runs: the store's `-wal`, the snapshots made since), what is under an output dir replaced by
    one live link to the outermost dir that holds outputs only (`multirun/`, so a new sweep dir
    leaves the snapshot as it was), and nothing under a link (a live one, or a symbolic link of
    the project): building the snapshot never writes through one."""
    base = os.fspath(project)
    own = []
    for path in exclude:
        relative = os.path.relpath(os.path.abspath(path), base)
        if relative != "." and not relative.startswith(".."):
            own.append(relative.replace(os.sep, "/"))
    entries: dict[str, str] = {}
    for path, kind in listed.items():
        if any(path == prefix or path.startswith(prefix + "/") for prefix in own):
            continue
        output = outputs.outermost(path)
        entries[path if output is None else output] = kind if output is None else OUTPUT
    holding = {"/".join(path.split("/")[:n]) for path, kind in entries.items() if kind != OUTPUT
               for n in range(path.count("/") + 1)}  # fmt: skip
    for path in [path for path, kind in entries.items() if kind == OUTPUT]:
        parts = path.split("/")
        outer = next("/".join(parts[:n]) for n in range(1, len(parts) + 1)
                     if "/".join(parts[:n]) not in holding)  # fmt: skip
        del entries[path]
        entries[outer] = OUTPUT
    links = {path for path, kind in entries.items() if kind != FILE}
    return {
        path: kind
        for path, kind in entries.items()
        if not any("/".join(path.split("/")[:n]) in links for n in range(1, path.count("/") + 1))
    }


def _list_dir(project: Path, outputs: _Outputs) -> dict[str, str]:
    """path -> kind, of the project outside git: every file, hidden dirs, virtualenvs and
    output dirs as one live link each, never walked."""
    entries: dict[str, str] = {}
    for directory, dirs, names in os.walk(project):
        relative = os.path.relpath(directory, project)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        walked = []
        for name in sorted(dirs):
            full = os.path.join(directory, name)
            if name == "__pycache__":
                continue
            if os.path.islink(full):
                entries[prefix + name] = SYMLINK
            elif name.startswith(".") or os.path.exists(os.path.join(full, "pyvenv.cfg")):
                entries[prefix + name] = NOT_CODE
            elif outputs.is_output(prefix + name):
                entries[prefix + name] = OUTPUT
            else:
                walked.append(name)
        dirs[:] = walked
        for name in names:
            if not name.endswith(".pyc"):
                link = os.path.islink(os.path.join(directory, name))
                entries[prefix + name] = SYMLINK if link else FILE
    return entries


def _links(project: Path, entries: dict[str, str], large: list[str]) -> dict[str, str]:
    """path -> target of each symbolic link the snapshot holds: the project's own links, a
    relative one that stays in the project as it is (it then points at the snapshot's copy), any
    other one at the live place; and a link to the live path of everything else not copied."""
    base = os.fspath(project)
    links = {path: os.path.join(base, path) for path in large}
    for path, kind in entries.items():
        live = os.path.join(base, path)
        if kind == FILE:
            continue
        if kind != SYMLINK:
            links[path] = live
            continue
        target = os.readlink(live)
        if not os.path.isabs(target):
            resolved = os.path.normpath(os.path.join(os.path.dirname(live), target))
            if not (resolved == base or resolved.startswith(base + os.sep)):
                target = resolved
        links[path] = target
    return dict(sorted(links.items()))


def _stat_all(project: Path, files: list[str]) -> list[tuple[str, os.stat_result]]:
    """Regular files only (a fifo or socket has no content to copy); a file listed but deleted
    since is not part of the tree on disk."""
    stats = []
    base = os.fspath(project)
    for path in files:
        try:
            st = os.stat(os.path.join(base, path))
        except FileNotFoundError:
            continue
        except OSError as e:
            raise SnapshotError(_unreadable(project / path, e)) from None
        if stat.S_ISREG(st.st_mode):
            stats.append((path, st))
    return stats


def _unreadable(path: Path, error: OSError) -> str:
    return (
        f"cannot snapshot {path}: {error.strerror or error}; make it readable, ignore it in "
        ".gitignore, or set hydra.launcher.snapshot=false"
    )


# --- content-addressed store ---------------------------------------------------------------


def _key(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_mode & 0o111 != 0:d}"


def _hashes(project: Path, store: Path, kept: list[tuple[str, os.stat_result]]) -> dict[str, str]:
    """path -> object name. A file whose (size, mtime, inode) changed since the last snapshot
    of this project is read once: hashed and stored as it is copied in."""
    cache_path = store / f".stat-{hashlib.sha256(str(project).encode()).hexdigest()[:16]}.json"
    try:
        cache: dict[str, list[str]] = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    hashes: dict[str, str] = {}
    fresh: dict[str, list[str]] = {}
    base = os.fspath(project)
    for path, st in kept:
        key = _key(st)
        known = cache.get(path)
        if known is not None and known[0] == key:
            digest = known[1]
        else:
            digest = _ingest(store, os.path.join(base, path), st.st_mode & 0o111 != 0)
        hashes[path] = digest
        fresh[path] = [key, digest]
    if fresh != cache:
        write_atomic(cache_path, json.dumps(fresh).encode())
    return hashes


def _ingest(store: Path, source: str, executable: bool, expected: str | None = None) -> str:
    """Copy `source` into the object store, hashing what is copied, and return its object
    name: an object holds exactly the bytes its name says, whatever the source did meanwhile.
    With `expected`, a source that no longer has that content is refused."""
    objects = os.path.join(store, OBJECTS)
    tmp = os.path.join(objects, f".tmp-{os.getpid()}-{next(_COUNTER)}")
    digest = hashlib.sha256()
    os.makedirs(objects, mode=0o700, exist_ok=True)
    try:
        with open(source, "rb") as f, open(tmp, "wb") as out:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as e:
        with suppress(OSError):
            os.unlink(tmp)
        if e.filename == source:
            raise SnapshotError(_unreadable(Path(source), e)) from None
        raise
    name = digest.hexdigest() + ("x" if executable else "")
    try:
        if expected is not None and name != expected:
            raise SnapshotError(f"{source} changed while it was snapshotted; launch again")
        directory = os.path.join(objects, name[:2])
        final = os.path.join(directory, name)
        if not os.path.exists(final):  # stored already (another project, or a lost cache)
            os.chmod(tmp, 0o555 if executable else 0o444)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.replace(tmp, final)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
    return name


_COUNTER = itertools.count()


def _ident(manifest: list[tuple[str, str]], links: dict[str, str], provenance: Provenance) -> str:
    """Two projects that differ only in a link, or in where their links point, are two
    snapshots."""
    digest = hashlib.sha256(json.dumps([provenance.git_commit, manifest, links]).encode())
    return digest.hexdigest()[:20]


def _build(
    project: Path,
    store: Path,
    snapshot: Path,
    manifest: list[tuple[str, str]],
    links: dict[str, str],
    provenance: Provenance,
    in_git: bool,
) -> None:
    """Link the objects into a temporary tree, then rename it into place: a snapshot dir that
    exists is complete, whoever built it. An object removed since the stat cache named it
    (`tsq gc`) is copied in again, if the file still holds the same bytes."""
    building = Path(tempfile.mkdtemp(dir=store, prefix=".building-"))
    code = os.path.join(building, CODE)
    objects = os.path.join(store, OBJECTS)
    made: set[str] = set()
    try:
        for path, name in manifest:
            obj = os.path.join(objects, name[:2], name)
            target = os.path.join(code, path)
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            try:
                os.link(obj, target)
            except FileNotFoundError:
                source = os.path.join(project, path)
                _ingest(store, source, name.endswith("x"), expected=name)
                os.link(obj, target)
        for path, target in links.items():
            link = os.path.join(code, path)
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(target, link)
        (building / PROVENANCE).write_text(json.dumps(asdict(provenance)))
        if in_git and provenance.git_dirty and provenance.git_commit:
            patch = _git(project, "diff", "--binary", "HEAD")
            if patch is not None and patch.stdout:
                (building / PATCH).write_text(patch.stdout, errors="surrogateescape")
        os.chmod(building, 0o700)
        try:
            os.rename(building, snapshot)
        except OSError:
            if not snapshot.is_dir():  # another launch built the same snapshot first: fine
                raise
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
