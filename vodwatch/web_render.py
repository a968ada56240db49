"""The control room page as HTML, from the ``status --json`` document (pure).

The page is readable as served, without JavaScript; ``/app.js`` then replaces
the body of ``<main>`` every couple of seconds from ``/status.json`` with the same
structure. Every text from the document goes through ``html.escape``: a file name
is text, never markup. No inline script or style (the CSP forbids them): progress
bars are ``<progress>`` elements.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from html import escape
from typing import Any

from .status_text import duration, size


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _when(at: float | None) -> str:
    if at is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def folder_state(folder: Mapping[str, Any]) -> tuple[str, str]:
    """("working" | "paused" | "unavailable", why) of one folder set."""
    if folder.get("available") is False:
        return "unavailable", str(folder.get("unavailable") or "the folder cannot be read")
    paused = folder.get("paused")
    if paused:
        since = f" since {_when(paused['since'])}" if paused.get("since") else ""
        detail = f": {paused['detail']}" if paused.get("detail") else ""
        return "paused", f"{paused['reason']}{since}{detail}"
    return "working", ""


def _upload(u: Mapping[str, Any]) -> str:
    rate = f"{size(u['rate_bytes_per_s'])}/s" if u.get("rate_bytes_per_s") else "…"
    eta = duration(u["eta_s"]) if u.get("eta_s") is not None else "…"
    return (f'<li class="upload" data-asset="{_e(u["asset_id"])}"><span class="file">'
            f'{_e(u["file"])}</span> <progress max="100" value="{float(u["percent"]):.1f}">'
            f'{float(u["percent"]):.1f}%</progress> <span class="pct">'
            f'{float(u["percent"]):.1f}%</span> <span class="meta">{_e(size(u["sent"]))} of '
            f'{_e(size(u["total"]))}, {_e(rate)}, ETA {_e(eta)}</span></li>')


def _list(title: str, cls: str, items: list[str], empty: str) -> str:
    body = "".join(items) if items else f'<li class="empty">{_e(empty)}</li>'
    return f'<section class="{cls}"><h3>{_e(title)}</h3><ul>{body}</ul></section>'


def render_folder(f: Mapping[str, Any]) -> str:
    state, why = folder_state(f)
    label = f.get("label") or f["name"]
    name = _e(f["name"])
    paused = state == "paused"
    action = "resume" if paused else "pause"
    button = (f'<button type="button" class="act" data-action="{action}" '
              f'data-folder="{name}">{"Resume" if paused else "Pause"}</button>')
    queue = [f'<li><span class="file">{_e(q["file"])}</span> <span class="meta">'
             f'{_e(size(q["size"]))}, {"settled" if q["settled"] else "settling"}</span></li>'
             for q in f.get("queue") or []]
    waiting = [f'<li><span class="file">{_e(", ".join(w["files"]))}</span> <span class="meta">'
               f'retry in {_e(duration(w["retry_in_s"]))}: {_e(w["reason"])}</span></li>'
               for w in f.get("waiting") or []]
    done = [f'<li><span class="when">{_e(_when(o["at"]))}</span> <span class="file">'
            f'{_e(o["file"])}</span> <span class="meta">{_e(o["asset_id"])}</span></li>'
            for o in f.get("recent_done") or []]
    failed = [f'<li><span class="when">{_e(_when(o["at"]))}</span> <span class="file">'
              f'{_e(o["file"])}</span> <span class="why">{_e(o["detail"])}</span> '
              f'<button type="button" class="act" data-action="retry" data-folder="{name}" '
              f'data-file="{_e(o["file"])}">Retry</button></li>'
              for o in f.get("recent_failed") or []]
    titles = [f'<li><span class="file">{_e(t["title"])}</span> <span class="meta">'
              + (_e(t["asset_id"]) if t["asset_id"] else
                 f'being created since {_e(_when(t["since"]))}') + '</span></li>'
              for t in f.get("titles") or []]
    why_html = f' <span class="why">{_e(why)}</span>' if why else ""
    return (f'<article class="folder {state}" data-folder="{name}"><h2>{_e(label)} '
            f'<span class="state">{state}</span>{why_html} {button}</h2>'
            f'<p class="path">{_e((f.get("paths") or {}).get("inbox", f["name"]))}</p>'
            + _list("Uploading", "uploads", [_upload(u) for u in f.get("in_flight") or []],
                    "nothing is being uploaded")
            + _list("Queue", "queue", queue, "empty")
            + (_list("Waiting to retry", "waiting", waiting, "") if waiting else "")
            + _list("Failed", "failed", failed, "no failed files")
            + _list("Done", "done", done, "nothing yet")
            + (_list("Titles created here", "titles", titles, "") if titles else "")
            + "</article>")


def render_main(data: Mapping[str, Any]) -> str:
    """The inside of ``<main>``: what app.js replaces at each refresh."""
    daemon = data.get("daemon") or {}
    problems = data.get("problems") or []
    head = (f'<p class="daemon">vodwatch is <strong>{_e(daemon.get("status", "unknown"))}'
            f'</strong>; as of {_e(_when(data.get("now")))}</p>')
    if problems:
        head += '<ul class="problems">' + "".join(
            f"<li>{_e(p)}</li>" for p in problems) + "</ul>"
    return head + "".join(render_folder(f) for f in data.get("folders") or [])


def render_page(data: Mapping[str, Any], actions: bool) -> str:
    """The whole page; ``actions``: a token is configured, so the buttons can work."""
    token = ('<form class="token" id="token-form"><label>Token <input type="password" '
             'id="token" autocomplete="current-password"></label> <span id="said" '
             'role="status"></span></form>' if actions else
             '<p class="readonly">Read-only: set web.token to pause, resume and retry '
             'from here.</p>')
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>vodwatch control room</title>'
            '<link rel="stylesheet" href="/app.css"><script src="/app.js" defer></script>'
            f'</head><body class="{"actions" if actions else "readonly"}">'
            f'<header><h1>vodwatch control room</h1>{token}</header>'
            f'<main id="main" aria-live="polite">{render_main(data)}</main></body></html>')
