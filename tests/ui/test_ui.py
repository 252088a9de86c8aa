"""`tsq ui` over HTTP and `tsq report`: what the page is served, who may read it, and the
one-line refusals. The page itself, in a browser: tests/ui/test_ui_browser.py."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from sweeps import Sandbox
from uiserver import tsq_ui


def _metrics_sweep(sandbox: Sandbox) -> str:
    sandbox.sweep("lr=0.1,0.3", "seed=0,1,2", "fail_seed=2", script="metrics.py")
    jobs = sandbox.wait_terminal()
    return jobs[0]["sweep"]


def test_ui_serves_the_page_sweeps_results_and_logs(sandbox: Sandbox) -> None:
    sweep = _metrics_sweep(sandbox)
    with tsq_ui(sandbox) as ui:
        assert ui.url.startswith("http://127.0.0.1:")
        status, page, headers = ui.get("/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'<script src="plotly.min.js">' in page and b"https://" not in page
        status, js, _ = ui.get("/plotly.min.js")
        assert status == 200 and b"plotly.js v" in js[:200] and len(js) > 1_000_000

        listing = json.loads(ui.get("/api/sweeps")[1])["sweeps"]
        assert [(s["id"], s["jobs"], s["ended"], s["counts"]) for s in listing] == [
            (sweep, 6, 6, {"completed": 4, "failed": 2})
        ]
        doc = json.loads(ui.get(f"/api/sweep?id={sweep[:5]}")[1])
        assert doc["keys"] == ["lr", "seed"] and doc["by"] == ["lr"]
        assert doc["jobs"]["state"] == ["completed", "completed", "failed"] * 2
        assert doc["values"]["loss"] == [1.0, 2.0, None, 3.0, 4.0, None]
        groups = doc["aggregate"]["groups"]
        assert [(g["by"], g["failed_nums"], g["metrics"]["loss"]["mean"]) for g in groups] == [
            ({"lr": "0.1"}, [2], 1.5), ({"lr": "0.3"}, [5], 3.5)
        ]  # fmt: skip
        unchanged = json.loads(ui.get(f"/api/sweep?id={sweep}&v={doc['version']}")[1])
        assert unchanged == {"unchanged": True, "version": doc["version"]}
        regrouped = json.loads(ui.get(f"/api/sweep?id={sweep}&by=lr,seed")[1])
        assert len(regrouped["aggregate"]["groups"]) == 6

        status, log, _ = ui.get(f"/api/log?id={sweep}&num=2")
        assert status == 200 and b"RuntimeError: seed 2 diverged on purpose" in log
        status, body, _ = ui.get(f"/api/log?id={sweep}&num=99")
        assert status == 404 and json.loads(body) == {"error": f"sweep {sweep} has no job 99"}
        status, body, _ = ui.get("/api/sweep?id=ffffff")
        assert status == 404 and "ffffff" in json.loads(body)["error"]

        status, _, _ = ui.get("/api/sweeps", {"Host": "attacker.example:80"})
        assert status == 403, "a loopback server answers loopback host names only"


FORBIDDEN = {"error": "forbidden: open the address tsq ui printed"}


def test_a_loopback_server_answers_loopback_host_names_only(sandbox: Sandbox) -> None:
    """A DNS name is refused however it is spelt (DNS rebinding: `127.0.0.1.evil.example` may
    resolve here); loopback names and addresses are answered, with or without a port."""
    sweep = _metrics_sweep(sandbox)
    with tsq_ui(sandbox) as ui:
        port = urlsplit(ui.url).port
        allowed = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.1.2.3"]
        refused = [
            "127.0.0.1.evil.example",
            f"127.0.0.1.evil.example:{port}",
            "localhost.evil.example",
            f"127.evil.example:{port}",
            "",
            f"::1:{port}",
        ]
        for host in allowed:
            for target in ("/api/sweeps", f"/api/sweep?id={sweep}", f"/api/log?id={sweep}&num=0"):
                assert ui.raw(target, host)[0] == 200, (host, target)
        for host in [*refused, None]:
            for target in ("/api/sweeps", f"/api/sweep?id={sweep}", f"/api/log?id={sweep}&num=0"):
                status, body = ui.raw(target, host)
                assert (status, json.loads(body)) == (403, FORBIDDEN), (host, target)
    assert ui.stderr() == ""


def test_query_values_the_page_never_sends_get_one_line_answers(sandbox: Sandbox) -> None:
    """Non-ASCII tokens, Unicode digits, NULs, huge numbers: a 400/403/404 in the usual shape
    and nothing on the server's stderr (it printed tracebacks and dropped the connection)."""
    sweep = _metrics_sweep(sandbox)
    with tsq_ui(sandbox) as ui:
        host = f"127.0.0.1:{urlsplit(ui.url).port}"
        for num in ("%C2%B2", "%D9%A3", "-1", "1.0", "", "9" * 5000):
            status, body = ui.raw(f"/api/log?id={sweep}&num={num}", host)
            assert status == 400, (num, status, body)
            assert json.loads(body)["error"].startswith("bad job number "), body
        status, body = ui.raw(f"/api/log?id={sweep}&num=99", host)
        assert (status, json.loads(body)) == (404, {"error": f"sweep {sweep} has no job 99"})
        for target in (f"/api/sweep?id=%00{sweep}", "/api/log?id=%00&num=0"):
            status, body = ui.raw(target, host)
            assert (status, list(json.loads(body))) == (400, ["error"]), target
        for target in ("/api/sweep?id=%C3%A9", "/api/log?id=%C3%A9&num=0"):
            status, body = ui.raw(target, host)
            assert (status, list(json.loads(body))) == (404, ["error"]), target
        for by in ("%C3%A9", "%00"):  # the sweep, and why it has no aggregate
            status, body = ui.raw(f"/api/sweep?id={sweep}&by={by}", host)
            assert status == 200, body
            assert json.loads(body)["aggregate"]["error"].startswith("unknown key ")
        status, body = ui.raw(f"/api/sweep?id={sweep}&v=%C3%A9", host)
        assert status == 200 and json.loads(body)["jobs"]["state"][0] == "completed"
    assert ui.stderr() == ""

    with tsq_ui(sandbox, "--host", "0.0.0.0") as ui:
        token = ui.url.split("?token=")[1]
        for given in ("%C3%A9", "%FF", token[:-1] + "%C3%A9", "%00"):
            status, body = ui.raw(f"/api/sweeps?token={given}", "example.org")
            assert (status, json.loads(body)) == (403, FORBIDDEN), given
        status, body = ui.raw("/api/sweeps", "example.org", {"Cookie": "tsq_token=\xe9t\xe9"})
        assert (status, json.loads(body)) == (403, FORBIDDEN)
        assert ui.raw(f"/api/sweeps?token={token}", "example.org")[0] == 200
    assert ui.stderr() == ""


def test_ui_elsewhere_needs_the_printed_token(sandbox: Sandbox) -> None:
    with tsq_ui(sandbox, "--host", "0.0.0.0") as ui:
        assert "?token=" in ui.url
        token = ui.url.split("?token=")[1]
        assert ui.get("/api/sweeps")[0] == 403
        assert ui.get("/api/sweeps?token=wrong")[0] == 403
        status, _, headers = ui.get(f"/?token={token}")
        assert status == 200 and f"tsq_token={token}" in headers["Set-Cookie"]
        assert ui.get("/api/sweeps", {"Cookie": f"tsq_token={token}"})[0] == 200


def test_ui_refuses_a_port_in_use_and_a_bad_store_in_one_line(sandbox: Sandbox) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = sandbox.tsq("ui", "--port", str(port), check=False)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"tsq: cannot serve on 127.0.0.1:{port}: the port is in use; pick another with --port\n"
    )
    garbage = sandbox.root / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    proc = sandbox.tsq("ui", "--port", "0", "--store", str(garbage), check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("tsq: ") and proc.stderr.count("\n") == 1, proc.stderr


def test_the_store_is_refreshed_at_most_once_per_period(sandbox: Sandbox) -> None:
    from tsq.store import Store
    from tsq.ui.server import View

    sweep = _metrics_sweep(sandbox)
    view = View(Store.open(sandbox.store), every=60)
    for _ in range(5):
        view.sweeps()
        view.sweep(sweep, None)
    assert view.refreshes == 1


def test_report_is_one_self_contained_file(sandbox: Sandbox, tmp_path: Path) -> None:
    sweep = _metrics_sweep(sandbox)
    out = tmp_path / "report.html"
    proc = sandbox.tsq("report", sweep, "-o", str(out), "--by", "seed")
    assert proc.stdout.startswith(f"wrote the report of sweep {sweep} to {out} (")
    text = out.read_text()
    from tsq.ui.page import plotly_js

    # plotly.js itself, inline (its text names CDNs for features the page does not use).
    assert '<script src="plotly.min.js">' not in text and len(text) > 4_000_000
    assert plotly_js().read_text()[-2000:].replace("</", "<\\/") in text
    data = text.split("const STATIC = ", 1)[1].split(";</script>", 1)[0]
    static = json.loads(data.replace("<\\/", "</"))
    assert static["sweep"]["by"] == ["seed"] and len(static["sweep"]["aggregate"]["groups"]) == 3
    bad = sandbox.tsq("report", sweep, "-o", str(out), "--by", "optim", check=False)
    assert (bad.returncode, bad.stderr) == (
        2, "tsq: unknown key 'optim' for --by; the sweep's override keys: lr, seed, fail_seed\n"
    )  # fmt: skip


def test_no_other_command_imports_the_ui(sandbox: Sandbox) -> None:
    _metrics_sweep(sandbox)
    for args in (["status"], ["collect", "--by", "lr"], ["--help"]):
        proc = sandbox.run([sys.executable, "-X", "importtime", "-m", "tsq", *args], check=False)
        modules = {
            line.rsplit("|", 1)[1].strip()
            for line in proc.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert not {m for m in modules if m.startswith(("tsq.ui", "plotly"))}, args


def test_the_page_knows_every_job_state_from_tsq_states() -> None:
    """The page's state filter and its "ended" test use tsq's own vocabulary, filled in when the
    page is built: every job state, the terminal ones as ended, in the order `status` counts."""
    import re

    from tsq.render.views import ORDER
    from tsq.states import JobState
    from tsq.ui.page import html

    text = html().decode()
    states = json.loads(re.search(r"const STATES = (\[.*?\]);", text).group(1))  # type: ignore[union-attr]
    ended = json.loads(re.search(r"const TERMINAL = new Set\((\[.*?\])\);", text).group(1))  # type: ignore[union-attr]
    assert states == [str(state) for state in ORDER]
    assert sorted(states) == sorted(state.value for state in JobState)
    assert sorted(ended) == sorted(state.value for state in JobState if state.terminal)
