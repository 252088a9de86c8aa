"""The live page in a real browser (Debian's chromium, headless, via chromedriver) over a real
`tsq ui` and a real sweep: rows appear and change state without a reload, the plots draw one
point per completed job, a failed job's log opens, and a screenshot is kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser, NoBrowser
from sweeps import Sandbox
from uiserver import tsq_ui

STATES = (
    "return [...document.querySelectorAll('#jobs tr.job-row td.state')].map(c => c.textContent)"
)
POINTS = """return [...document.querySelectorAll('#plot-key-' + arguments[0] +
    ' .scatterlayer .trace')].map(t => t.querySelectorAll('path.point').length)"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    try:
        chrome = Browser(tmp_path / "chromium-profile")
    except NoBrowser as e:
        pytest.skip(str(e))
    yield chrome
    chrome.close()


def test_the_live_page_in_chromium(sandbox: Sandbox, browser: Browser, tmp_path: Path) -> None:
    blocker = sandbox.block_queue()
    # loss = 10 * lr + seed; seed 2 fails: 4 completed jobs, 2 failed.
    sandbox.sweep("lr=0.1,0.3", "seed=0,1,2", "fail_seed=2", "sleep=0.5", script="metrics.py")
    with tsq_ui(sandbox, "--refresh", "0.5") as ui:
        browser.open(ui.url)
        queued = browser.wait_for(
            f"const s = (() => {{ {STATES} }})(); return s.length === 6 && s;", what="6 jobs"
        )
        assert queued == ["queued"] * 6
        assert "0/6" in browser.run("return document.querySelector('#sweeps tbody').innerText")

        sandbox.release(blocker)
        seen: set[str] = set()
        for _ in range(600):
            states = browser.run(STATES)
            seen.update(states)
            if states == ["completed", "completed", "failed"] * 2:
                break
            browser.run("return new Promise(r => setTimeout(() => r(1), 100))")
        assert states == ["completed", "completed", "failed"] * 2, states
        assert {"queued", "completed", "failed"} <= seen, "the same page followed the change"
        browser.wait_for("return document.querySelector('#sweeps tbody').innerText.includes('6/6')")
        # One point per completed job with a loss, then the mean of each lr.
        on_lr = POINTS.replace("arguments[0]", "'lr'")
        points = browser.wait_for(
            f"const p = (() => {{ {on_lr} }})(); return p.length === 2 && p[0] === 4 && p;",
            what="the loss-vs-lr plot",
        )
        assert points == [4, 2]
        assert browser.run("return !!document.querySelector('#plot-parcoords .main-svg')")
        bars = browser.run("return document.querySelectorAll('#plot-timeline .bars path').length")
        assert bars == 6, "one bar per job in the timeline"
        aggregate = browser.run("return document.querySelector('#aggregate').innerText")
        assert "loss.mean" in aggregate and "1.5" in aggregate and "3.5" in aggregate

        browser.run("document.getElementById('job-2').click(); return 1")
        log = browser.wait_for(
            "const t = document.getElementById('log').textContent; "
            "return t.includes('diverged on purpose') && t;",
            what="the failed job's log",
        )
        assert "RuntimeError: seed 2 diverged on purpose" in log

        shot = browser.screenshot(tmp_path / "tsq-ui.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        keep = os.environ.get("TSQ_UI_SCREENSHOT")
        if keep:
            shutil.copyfile(shot, keep)
