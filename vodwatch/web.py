"""The control room: a web page at ``/`` on ``metrics.address`` for the operator.

``/`` (HTML, already showing the state), ``/status.json`` (the very document of
``vodwatch status --json``: ``status_collect.collect``), ``/app.js``, ``/app.css``.
Read-only for anyone who can reach it. The actions (``POST /api/pause``,
``/api/resume``, ``/api/retry``) need ``web.token`` in the ``X-Vodwatch-Token``
header, a JSON body, and a same-origin request (Origin and Sec-Fetch-Site are
checked), so another site cannot make a browser act.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from . import pause
from .config import Config
from .finish import move_no_replace, remove_stale_error_file
from .journal import Journal
from .log import add_secret
from .status_collect import clean, collect
from .web_assets import APP_CSS, APP_JS
from .web_render import render_page

log = structlog.get_logger("vodwatch.web")

TOKEN_HEADER = "X-Vodwatch-Token"
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass
class Response:
    code: int
    ctype: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def web_token(config: Config) -> str | None:
    """The token from ``web.token`` or ``web.token_file`` (registered as a secret)."""
    token = config.web.token
    if not token and config.web.token_file is not None:
        try:
            token = config.web.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            log.error("web.token_unreadable", path=str(config.web.token_file),
                      error=exc.strerror, hint="the web page stays read-only")
            return None
    if token:
        add_secret(token)
    return token or None


def is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_exposed(config: Config) -> None:
    address = config.metrics.address
    if address and not is_loopback(address) and web_token(config) is None:
        log.warning("web.exposed_without_token", address=address,
                    hint="anyone who can reach this address sees file names; set web.token "
                    "to allow actions, or bind metrics.address to 127.0.0.1")


def _json(code: int, data: Mapping[str, Any]) -> Response:
    return Response(code, "application/json", json.dumps(data).encode())


class WebApp:
    """Answers the page's requests; ``config`` gives the config in force (reloads)."""

    def __init__(self, config: Callable[[], Config],
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock

    def document(self) -> dict[str, Any]:
        config = self._config()
        journal = Journal.open(config.state_dir, readonly=True)
        try:
            return collect(journal, config, self._clock())
        finally:
            journal.close()

    def get(self, path: str) -> Response | None:
        if path == "/":
            page = render_page(self.document(), web_token(self._config()) is not None)
            return Response(200, "text/html; charset=utf-8", page.encode())
        if path == "/status.json":
            return Response(200, "application/json", json.dumps(self.document()).encode())
        if path == "/app.js":
            return Response(200, "text/javascript; charset=utf-8", APP_JS.encode())
        if path == "/app.css":
            return Response(200, "text/css; charset=utf-8", APP_CSS.encode())
        return None

    def post(self, path: str, headers: Mapping[str, str], body: bytes) -> Response:
        refused = self._refused(headers)
        if refused is not None:
            log.warning("web.action_refused", path=path, why=refused)
            return _json(403, {"error": refused})
        try:
            data = json.loads(body or b"{}")
            folder = str(data["folder"])
        except (ValueError, KeyError, TypeError):
            return _json(400, {"error": "send a JSON object with the folder set's name"})
        chosen = pause.match(self._config().folders, folder)
        if len(chosen) != 1:
            return _json(404, {"error": f"no folder set {clean(folder)}"})
        folder_set = chosen[0]
        try:
            if path == "/api/pause":
                held = pause.write_marker(folder_set.inbox, f"web page ({headers.get('Host', '')})",
                                          str(data.get("why") or ""))
                message = f"{folder_set.label}: {held.reason}"
            elif path == "/api/resume":
                pause.resume(folder_set.inbox)
                message = f"{folder_set.label}: resumed"
            elif path == "/api/retry":
                message = _retry(folder_set.failed, folder_set.inbox, str(data.get("file") or ""))
            else:
                return _json(404, {"error": "no such action"})
        except FileNotFoundError as exc:
            return _json(404, {"error": clean(exc)})
        except (OSError, ValueError) as exc:
            return _json(409, {"error": clean(exc)})
        log.info("web.action", path=path, folder=folder_set.name)
        return _json(200, {"ok": True, "message": clean(message)})

    def _refused(self, headers: Mapping[str, str]) -> str | None:
        """Why a POST is refused (cross-site, no or wrong token), or None."""
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return "cross-site request"
        origin = headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != headers.get("Host", ""):
            return "cross-origin request"
        if not (headers.get("Content-Type") or "").startswith("application/json"):
            return "actions take a JSON body"
        token = web_token(self._config())
        if token is None:
            return "actions are off: set web.token (or web.token_file) in the config"
        given = headers.get(TOKEN_HEADER) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return "wrong or missing token"
        return None


def _retry(failed: Path, inbox: Path, name: str) -> str:
    """Move one failed file back to the inbox (as ``vodwatch retry`` does)."""
    if not name or "/" in name or name.startswith(".") or name in ("..",):
        raise ValueError("give the name of a file in failed/")
    src = failed / name
    if not src.is_file():
        raise FileNotFoundError(f"{name} is not in failed/ (retried already?)")
    try:
        move_no_replace(src, inbox / name)
    except FileExistsError:
        raise ValueError(f"{name} is already in the inbox") from None
    remove_stale_error_file(src)
    return f"{name} moved back to the inbox"
