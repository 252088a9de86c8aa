"""A queued job runs the config as it was when the sweep was launched."""

from __future__ import annotations

import json

from sweeps import Sandbox


def test_queued_jobs_ignore_config_edits_made_after_launch(sandbox: Sandbox) -> None:
    conf = sandbox.app_dir / "conf"
    blocker = sandbox.block_queue()
    sandbox.sweep("x=1,2")
    (conf / "config.yaml").write_text(
        (conf / "config.yaml").read_text().replace("message: from-yaml", "message: edited")
    )
    (conf / "db" / "sqlite.yaml").write_text("driver: edited-sqlite\n")
    assert [j["state"] for j in sandbox.status()] == ["queued", "queued"]
    sandbox.release(blocker)
    sandbox.wait_terminal()
    frozen = json.loads(sandbox.tsq("collect", "--json").stdout)
    assert [(r["return_value"]["message"], r["return_value"]["db"]) for r in frozen] == [
        ("from-yaml", "sqlite"),
        ("from-yaml", "sqlite"),
    ]

    sandbox.sweep("x=3")
    jobs = sandbox.wait_terminal()
    latest = json.loads(sandbox.tsq("collect", "--json").stdout)
    assert len(jobs) == 3
    assert (latest[0]["return_value"]["message"], latest[0]["return_value"]["db"]) == (
        "edited",
        "edited-sqlite",
    ), "a new sweep sees the edits"
