"""The page's HTML, for `tsq ui` (served, live) and `tsq report` (one self-contained file).

Charts are drawn by plotly.js, taken from the `plotly` Python package's wheel (it carries
`package_data/plotly.min.js`, MIT licensed): found without importing plotly, never fetched from
a CDN. The page is one template, `page.html`; the report inlines plotly.js and the sweep's data.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from tsq.errors import TsqError
from tsq.render.tables import strict_json
from tsq.render.views import ORDER

INSTALL = "pip install 'tsq[ui]'"


def plotly_js() -> Path:
    """plotly.min.js from the installed plotly package; a one-line error without it."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise TsqError(f"plotly is not installed (the page draws its charts with it): {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise TsqError(f"plotly's JavaScript is missing ({path}): reinstall it, {INSTALL}")
    return path


def _template() -> str:
    return (Path(__file__).parent / "page.html").read_text(encoding="utf-8")


def _script(text: str) -> str:
    """Text safe inside <script>: no `</script>` (nor `<!--`) can end it early."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def html(static: dict[str, Any] | None = None, inline_js: str | None = None) -> bytes:
    """The page: live (polls the server's /api) or, with `static`, showing that data only."""
    plotly = (
        '<script src="plotly.min.js"></script>'
        if inline_js is None
        else f"<script>{_script(inline_js)}</script>"
    )
    data = "null" if static is None else _script(strict_json(static))
    text = _template().replace("<!--PLOTLY-->", plotly, 1)
    text = text.replace("/*STATIC*/null", data, 1)
    text = text.replace("/*STATES*/[]", json.dumps([str(s) for s in ORDER]), 1)
    text = text.replace("/*TERMINAL*/[]", json.dumps([str(s) for s in ORDER if s.terminal]), 1)
    return text.encode("utf-8")


def report(
    store_location: str | None, sweep_ref: str | None, by: list[str] | None
) -> tuple[str, bytes]:
    """`tsq report`: the sweep's id and its results page as one self-contained HTML file."""
    from tsq.refresh.update import open_refreshed
    from tsq.ui.data import Results, job_rows, sweep_payload, sweeps_payload

    plotly = plotly_js()
    store, _ = open_refreshed(store_location, warn=False)
    try:
        sweep = store.find_sweep(sweep_ref)
        jobs = job_rows(store, sweep.id)
        if by is not None:
            known = list(dict.fromkeys(k for job in jobs for k in _keys(job.overrides)))
            for key in by:
                if key not in known:
                    raise TsqError(
                        f"unknown key {key!r} for --by; the sweep's override keys: "
                        f"{', '.join(known) or 'none'}"
                    )
        doc = sweep_payload(sweep, jobs, Results(), by)
        listing = sweeps_payload([sweep], store.state_counts())
    finally:
        store.close()
    static = {"sweeps": listing, "sweep": doc}
    return sweep.id, html(static, plotly.read_text(encoding="utf-8"))


def _keys(overrides: list[str]) -> list[str]:
    from tsq.render.tables import override_dict

    return list(override_dict(overrides))
