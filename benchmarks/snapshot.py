"""Code snapshot cost for a project of 1,000 source files / 20 MB in git.

Two measures, medians of RUNS, interleaved with their floors:
- `take()` alone, in a fresh process: cold (an empty snapshot store: every file hashed and
  copied) and warm (the project unchanged since the last snapshot: nothing hashed or copied),
  over the floor of the same process that only imports tsq.launch.snapshot;
- a whole launch of 10 no-op jobs into ts with the snapshot (warm) over the same launch with
  `hydra.launcher.snapshot=false`, the floor the snapshot adds to.

    .venv/bin/python benchmarks/snapshot.py [RUNS]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from _common import NOOP_APP, RUNS, interleaved, run_ts, sandbox, wall

FILES, SIZE = 1000, 20_000  # 1,000 files of 20 kB: 20 MB

TAKE = (
    "import sys\nfrom pathlib import Path\n"
    "from tsq.launch.snapshot import Limits, take\n"
    "if len(sys.argv) > 3:\n"
    "    take(Path(sys.argv[1]), None, Path(sys.argv[2]), Limits(10**7, 10**9), 'b', 'bench')\n"
)


CREATE = (
    "import os, sys\n"
    "os.makedirs(sys.argv[1])\n"
    f"for n in range({FILES}):\n"
    "    with open(os.path.join(sys.argv[1], str(n)), 'wb') as f:\n"
    f"        f.write(b'x' * {SIZE})\n"
)


def make_project(root: Path) -> None:
    for n in range(FILES):
        package = root / f"pkg{n // 100}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"mod{n}.py").write_text(f"# module {n}\n" + "x = 1\n" * (SIZE // 6))
    (root / "app.py").write_text(NOOP_APP)
    git = ["git", "-C", str(root), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    with sandbox() as (work, env):
        project = work / "project"
        make_project(project)
        store = work / "snapshots"
        python = [sys.executable, "-c", TAKE, str(project / "app.py")]

        def cold() -> float:
            shutil.rmtree(store, ignore_errors=True)
            return wall([*python, str(store), "take"], env)

        def files_floor() -> float:
            """What creating the same files costs on this disk, in the same process setup."""
            shutil.rmtree(work / "floor", ignore_errors=True)
            return wall([sys.executable, "-c", CREATE, str(work / "floor")], env)

        take = interleaved({
            "floor": lambda: wall(python, env),
            "python": lambda: wall([sys.executable, "-c", "import os, sys"], env),
            "files": files_floor,
            "cold": cold,
            "warm": lambda: wall([*python, str(store), "take"], env),
        }, runs)  # fmt: skip
        cold_s, warm_s = take["cold"] - take["floor"], take["warm"] - take["floor"]
        files_s = take["files"] - take["python"]
        print(
            f"take(), {FILES} files / {FILES * SIZE / 1e6:.0f} MB: cold {cold_s:.3f} s "
            f"(target <= 0.5 s; writing {FILES} files of that size on this disk takes "
            f"{files_s:.3f} s: ratio {cold_s / files_s:.2f}), warm {warm_s:.3f} s (target <= "
            f"0.05 s), over the import floor ({take['floor']:.3f} s); medians of {runs}"
        )

        run_ts(env, "-S", "1")
        blocker = run_ts(env, "sleep", "100000")  # the jobs stay queued while launches are timed
        counter = iter(range(10**6))

        def launch(*extra: str) -> float:
            argv = [sys.executable, "app.py", "-m", "hydra/launcher=ts", "+x=range(0,10)",
                    f"hydra.sweep.dir={work}/multirun/{next(counter)}", *extra]  # fmt: skip
            return wall(argv, {**env, "TSQ_SNAPSHOTS": str(store)}, cwd=project)

        launch()  # the first snapshot of the project: what follows is warm
        timed = interleaved({
            "floor": lambda: launch("hydra.launcher.snapshot=false"),
            "snapshot": launch,
        }, runs)  # fmt: skip
        floor, snap = timed["floor"], timed["snapshot"]
        print(
            f"launch of 10 jobs: snapshot=false {floor:.2f} s, snapshot (warm) {snap:.2f} s: "
            f"+{snap - floor:.3f} s, ratio {snap / floor:.3f} "
            f"(target <= 0.05 s + 1.05x: {0.05 + 1.05 * floor:.2f} s); medians of {runs}"
        )
        run_ts(env, "-k", blocker)


if __name__ == "__main__":
    main()
