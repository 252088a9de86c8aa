"""Code snapshots on real git repositories and plain directories made in a temp dir."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sweeps import ReadOnly, Sandbox

from tsq.snapshot import (
    LARGE,
    NOT_CODE,
    Limits,
    Linked,
    SnapshotError,
    collect_garbage,
    project_of,
    release,
)
from tsq.snapshot import take as take_for

LIMITS = Limits(max_file_bytes=100_000, max_total_bytes=1_000_000)


def take(main_file: Path, module: str | None, store: Path, limits: Limits, sweep: str = "s1"):
    return take_for(main_file, module, store, limits, sweep=sweep, owner="/the/store.db")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project in git: a committed app and module, a data file git ignores."""
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("import pkg.model\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "model.py").write_text("SIZE = 1\n")
    (root / ".gitignore").write_text("data/\n")
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(b"\0" * 10)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def files_in(code: Path) -> set[str]:
    """The files the snapshot holds a frozen copy of."""
    return {str(p.relative_to(code)) for p in code.rglob("*") if p.is_file() and not p.is_symlink()}


def links_in(code: Path) -> dict[str, str]:
    """The snapshot's symbolic links (never followed) -> their targets."""
    return {str(p.relative_to(code)): os.readlink(p) for p in code.rglob("*") if p.is_symlink()}


def test_a_git_project_is_copied_with_uncommitted_edits_and_provenance(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "pkg" / "model.py").write_text("SIZE = 2\n")  # a dirty edit
    (repo / "notes.py").write_text("untracked = True\n")
    snap = take(repo / "train.py", None, tmp_path / "store", LIMITS)
    assert snap.project == repo.resolve()
    assert files_in(snap.code) == {".gitignore", "train.py", "pkg/__init__.py",
                                   "pkg/model.py", "notes.py"}, "ignored: not copied"  # fmt: skip
    assert links_in(snap.code) == {"data": str(repo / "data")}, "but linked, as one entry"
    assert (snap.code / "pkg" / "model.py").read_text() == "SIZE = 2\n", "as on disk"
    p = snap.provenance
    assert (p.git_commit, p.git_branch, p.git_dirty) == (git(repo, "rev-parse", "HEAD"), "main",
                                                         True)  # fmt: skip
    assert json.loads((snap.code.parent / "provenance.json").read_text())["git_dirty"] is True
    patch = (snap.code.parent / "uncommitted.patch").read_text()
    assert "-SIZE = 1" in patch and "+SIZE = 2" in patch
    assert p.describe().startswith(f"git {p.git_commit[:12]} (main, uncommitted changes) in ")
    assert snap.remap(str(repo / "pkg")) == str(snap.code / "pkg")
    assert snap.remap("/usr/lib/python3") == "/usr/lib/python3"
    ignored = str(repo / "data" / "big.bin")
    assert snap.remap(ignored) == ignored, "only linked: imported from where it is"


def test_snapshots_are_shared_and_only_new_content_is_stored(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"

    def objects() -> list[Path]:
        return sorted(p for p in (store / "objects").rglob("*") if p.is_file())

    first = take(repo / "train.py", None, store, LIMITS)
    stored = objects()
    again = take(repo / "train.py", None, store, LIMITS)
    assert again.id == first.id and again.code == first.code, "an unchanged project: one copy"
    assert objects() == stored
    (repo / "pkg" / "model.py").write_text("SIZE = 3\n")
    edited = take(repo / "train.py", None, store, LIMITS)
    assert edited.id != first.id
    assert (first.code / "pkg" / "model.py").read_text() == "SIZE = 1\n", "the old one stays"
    assert (edited.code / "pkg" / "model.py").read_text() == "SIZE = 3\n"
    same = (first.code / "train.py").stat(), (edited.code / "train.py").stat()
    assert same[0].st_ino == same[1].st_ino, "an unchanged file is stored once"
    assert len(objects()) == len(stored) + 1

    take(repo / "train.py", None, store, LIMITS, sweep="s2")  # a second sweep uses it
    assert not release(edited.code, "s1") and edited.code.exists(), "s2 still uses it"
    assert release(first.code, "s1"), "no sweep uses the first one any more"
    assert not first.code.exists() and (edited.code / "pkg" / "model.py").exists()
    assert len(objects()) == len(stored), "the old model.py went with it, nothing else"
    assert collect_garbage(store, "/the/store.db", {"s1", "s2"}) == (0, 0)
    assert collect_garbage(store, "/other/store.db", set()) == (0, 0), "not its sweeps"
    size = sum(p.stat().st_size for p in objects())
    assert collect_garbage(store, "/the/store.db", set()) == (1, size)
    assert objects() == [] and not edited.code.exists()


def test_large_files_are_linked_live_and_a_large_copy_is_refused(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "weights.pt").write_bytes(b"w" * 200_000)
    snap = take(repo / "train.py", None, tmp_path / "store", LIMITS)
    assert "weights.pt" not in files_in(snap.code)
    assert links_in(snap.code)["weights.pt"] == str(repo / "weights.pt")
    assert snap.linked[0] == Linked("weights.pt", LARGE, 200_000), "large files first"
    for n in range(10):  # linked, not copied: they do not count against the limit
        (repo / f"weights{n}.pt").write_bytes(b"w" * 200_000)
    take(repo / "train.py", None, tmp_path / "store", LIMITS)
    for n in range(12):
        (repo / f"table{n}.py").write_text("x" * 90_000)
    with pytest.raises(SnapshotError) as refused:
        take(repo / "train.py", None, tmp_path / "store2", LIMITS)
    message = str(refused.value)
    assert "over the limit of 1.0 MB" in message and "table" in message
    assert "snapshot_max_mb" in message and "snapshot=false" in message
    assert not (tmp_path / "store2").exists() or not any((tmp_path / "store2").iterdir())


def test_outside_git_the_import_directory_is_copied(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "app.py").write_text("")
    (root / "helpers.py").write_text("")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.py").write_text("")
    (root / "venv").mkdir()
    (root / "venv" / "pyvenv.cfg").write_text("")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "a.pyc").write_text("")
    assert project_of(root / "pkg" / "sub" / "app.py", "pkg.sub.app") == (root, False)
    assert project_of(root / "helpers.py", None) == (root, False)
    snap = take(root / "pkg" / "sub" / "app.py", "pkg.sub.app", tmp_path / "store", LIMITS)
    assert files_in(snap.code) == {"pkg/__init__.py", "pkg/sub/app.py", "helpers.py"}
    assert links_in(snap.code) == {".hidden": str(root / ".hidden"), "venv": str(root / "venv")}
    assert {(item.path, item.why) for item in snap.linked} == {(".hidden", NOT_CODE),
                                                               ("venv", NOT_CODE)}  # fmt: skip
    assert snap.provenance.git_commit is None
    assert snap.provenance.note == "not a git repository"
    assert "(not a git repository)" in snap.provenance.describe()


def test_without_git_installed_the_directory_rule_applies(repo: Path, tmp_path: Path) -> None:
    probe = (
        "import json, sys\nfrom pathlib import Path\nfrom tsq.snapshot import Limits, take\n"
        "s = take(Path(sys.argv[1]), None, Path(sys.argv[2]), Limits(10**6, 10**7), 's', 'o')\n"
        "print(json.dumps([s.provenance.note, sorted(p.name for p in s.code.rglob('*.py'))]))"
    )
    env = {**os.environ, "PATH": str(tmp_path / "no-bin")}
    out = subprocess.run([sys.executable, "-c", probe, str(repo / "train.py"),
                          str(tmp_path / "store")], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    note, names = json.loads(out)
    assert note == "git is not installed"
    assert names == ["__init__.py", "model.py", "train.py"]


def test_an_unreadable_file_is_one_clear_error(repo: Path, tmp_path: Path) -> None:
    """Root reads every file; so the probe runs as root without the capabilities that let it
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), on a file another user owns, mode 0600."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop the right to read every file")
    secret = repo / "pkg" / "secret.py"
    secret.write_text("KEY = 1\n")
    shutil.chown(secret, "nobody")
    secret.chmod(0o600)
    probe = (
        "import sys\nfrom pathlib import Path\nfrom tsq.snapshot import Limits, take\n"
        "from tsq.errors import TsqError\n"
        "try:\n    take(Path(sys.argv[1]), None, Path(sys.argv[2]), Limits(10**6, 10**7),"
        " 's', 'o')\n"
        "except TsqError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", sys.executable,
         "-c", probe, str(repo / "train.py"), str(tmp_path / "store")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.startswith(f"cannot snapshot {secret}: Permission denied"), out
    assert "snapshot=false" in out


def test_a_read_only_store_is_one_clear_error(
    repo: Path, tmp_path: Path, read_only: ReadOnly
) -> None:
    store = read_only(tmp_path / "ro")
    with pytest.raises(SnapshotError) as refused:
        take(repo / "train.py", None, store, LIMITS)
    assert "cannot write the code snapshot in" in str(refused.value)
    assert "Read-only file system" in str(refused.value)


# --- end to end: sweeps queued behind a blocker, edited before their jobs start ---------------

APP = """\
import sys

import hydra

import helper
from lib import util

sys.setrecursionlimit(4321)  # module level: must take effect in the job too


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return {"helper": helper.VALUE, "util": util.VALUE, "limit": sys.getrecursionlimit()}


if __name__ == "__main__":
    main()
"""

PKG_APP = """\
import hydra

from pkg import metrics


@hydra.main(version_base="1.3", config_path=None)
def main(cfg):
    return metrics.NAME


if __name__ == "__main__":
    main()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's git project: an app, a sibling module, a package in a subfolder, a package app
    run with `python -m`, an ignored data dir; committed, then edited without committing."""
    root = tmp_path / "project"
    (root / "lib").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "data").mkdir()
    (root / "app.py").write_text(APP)
    (root / "helper.py").write_text('VALUE = "committed"\n')
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "util.py").write_text('VALUE = "lib as launched"\n')
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "app.py").write_text(PKG_APP)
    (root / "pkg" / "metrics.py").write_text('NAME = "metrics as launched"\n')
    (root / "data" / "table.csv").write_text("a,b\n")
    (root / ".gitignore").write_text("data/\nmultirun/\n")
    git(root, "init", "-q", "-b", "exp")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    (root / "helper.py").write_text('VALUE = "as launched"\n')  # uncommitted
    return root


def _launch(sandbox: Sandbox, project: Path, argv: list[str], *overrides: str) -> str:
    subprocess.run([sys.executable, *argv, "-m", "hydra/launcher=ts", *overrides],
                   cwd=project, env=sandbox.env, check=True, capture_output=True)  # fmt: skip
    return sandbox.status()[-1]["sweep"]


def _collected(sandbox: Sandbox, sweep: str) -> list:
    return [r["return_value"] for r in json.loads(sandbox.tsq("collect", sweep, "--json").stdout)]


def test_a_sweep_queued_before_an_edit_runs_the_code_it_was_launched_with(
    sandbox: Sandbox, project: Path
) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, project, ["app.py"], "+x=1,2")
    (project / "helper.py").write_text('VALUE = "edited after launch"\n')
    (project / "lib" / "util.py").write_text('VALUE = "lib edited"\n')
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert (
        _collected(sandbox, sweep)
        == [{"helper": "as launched", "util": "lib as launched", "limit": 4321}] * 2
    ), "the launched code, and the script's top level ran in the job"
    job = sandbox.status(sweep)[0]
    assert (job["git_commit"], job["git_dirty"]) == (git(project, "rev-parse", "HEAD"), True)
    line = sandbox.tsq("status", sweep).stdout.splitlines()[2]
    assert line.strip().startswith(f"code: git {job['git_commit'][:12]} (exp, uncommitted")
    assert json.loads(sandbox.tsq("collect", sweep, "--json").stdout)[0]["git_dirty"] is True

    retried = sandbox.tsq("retry", sweep, "0").stdout
    assert "with the code as launched" in retried
    sandbox.wait_terminal()
    assert _collected(sandbox, sweep)[0]["helper"] == "as launched", "a retry too"


def test_a_package_run_with_python_m_runs_its_launched_modules(
    sandbox: Sandbox, project: Path
) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, project, ["-m", "pkg.app"], "+x=1")
    (project / "pkg" / "metrics.py").write_text('NAME = "edited"\n')
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert _collected(sandbox, sweep) == ["metrics as launched"]


def test_without_a_snapshot_a_job_runs_the_code_on_disk(sandbox: Sandbox, project: Path) -> None:
    blocker = sandbox.block_queue()
    sweep = _launch(sandbox, project, ["app.py"], "+x=1", "hydra.launcher.snapshot=false")
    (project / "helper.py").write_text('VALUE = "edited after launch"\n')
    sandbox.release(blocker)
    sandbox.wait_terminal()
    assert _collected(sandbox, sweep)[0]["helper"] == "edited after launch"
    job = sandbox.status(sweep)[0]
    assert job["git_commit"] == git(project, "rev-parse", "HEAD"), "provenance all the same"


def test_a_project_over_the_limit_is_refused_before_anything_is_queued(
    sandbox: Sandbox, project: Path
) -> None:
    (project / "model.ckpt").write_bytes(b"\0" * 3_000_000)  # left out: over the per-file rule
    (project / "vendored.py").write_text("#" * 1_500_000)
    proc = subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=ts", "+x=1",
         "hydra.launcher.snapshot_max_mb=1"],
        cwd=project, env=sandbox.env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = next(line for line in proc.stderr.splitlines() if "tsq:" in line)
    assert "vendored.py (1.5 MB)" in line and "model.ckpt" not in line
    assert "hydra.launcher.snapshot_max_mb" in line
    assert sandbox.tsp("-l").stdout.splitlines()[1:] == [] and sandbox.status() == []


def test_hydra_outputs_and_tsqs_own_files_are_not_code(tmp_path: Path) -> None:
    """An app run from its own directory: Hydra writes outputs/ and multirun/ there, and a
    user may keep the store there too; none of it is copied (it changes as jobs run): the
    dirs holding outputs only are one live link each, tsq's files are left out."""
    root = tmp_path / "app"
    run = root / "outputs" / "2026-11-28" / "16-40-00"
    sweep = root / "multirun" / "2026-11-28" / "16-41-00"
    for directory in (run / ".hydra", sweep / "0", sweep / ".tsq" / "abc", root / "store"):
        directory.mkdir(parents=True)
    (root / "app.py").write_text("")
    (run / "app.log").write_text("log")
    (sweep / "multirun.yaml").write_text("")
    (sweep / "0" / "model.pt").write_text("w")
    (root / "store" / "tsq.db").write_text("db")
    (root / "store" / "tsq.db-wal").write_text("wal")
    snap = take_for(root / "app.py", None, root / "store" / "snapshots", LIMITS, sweep="s",
                    owner="o", exclude=[root / "store" / "tsq.db", root / "store" / "tsq.db-wal",
                                        root / "store" / "snapshots"])  # fmt: skip
    assert files_in(snap.code) == {"app.py"}
    assert links_in(snap.code) == {"outputs": str(root / "outputs"),
                                   "multirun": str(root / "multirun")}  # fmt: skip
    (root / "multirun" / "2026-11-28" / "16-42-00" / ".tsq").mkdir(parents=True)  # a new sweep
    again = take_for(root / "app.py", None, root / "store" / "snapshots", LIMITS, sweep="s2",
                     owner="o", exclude=[root / "store" / "tsq.db", root / "store" / "tsq.db-wal",
                                         root / "store" / "snapshots"])  # fmt: skip
    assert again.id == snap.id, "the snapshots themselves are not snapshotted"
