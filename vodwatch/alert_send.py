"""Sending one notification now: the JSON webhook request (exactly what Apprise's
JSON plugin posts) or, for other schemes, apprise itself; failures become
SendError with a reason that never holds the target's tokens.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from .alert_targets import BUILTIN_SCHEMES, INSTALL_HINT, apprise_module, apprise_query, url_scheme
from .log import redact
from .words import printable

KINDS = ("info", "success", "warning", "failure")  # Apprise's notify types
JSON_VERSION = "1.0"  # of Apprise's JSON payload
TIMEOUT = (5.0, 15.0)  # connect, read: a notification is not worth waiting longer for

Sender = Callable[[str, str, str, str], None]


class SendError(Exception):
    """A notification was not accepted; the message never holds the target's tokens."""


def json_request(url: str, title: str, body: str, kind: str) -> dict[str, Any]:
    """The request Apprise's JSON plugin makes for ``url``, as keyword arguments of
    ``requests.request``: method, url, data, params, headers, auth, verify, timeout."""
    parts = urlsplit(url)
    general, headers, params, extras = apprise_query(parts.query)
    payload: dict[str, Any] = {"version": JSON_VERSION, "title": title, "message": body,
                               "attachments": [], "type": kind}
    for key, value in extras.items():  # Apprise: rename a field, drop it (empty), or add one
        if key in payload:
            if value:
                payload[value] = payload.pop(key)
            else:
                del payload[key]
        else:
            payload[key] = value
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    secure = url_scheme(url) == "jsons"
    target = f"{'https' if secure else 'http'}://{host}"
    if parts.port is not None:
        target += f":{parts.port}"
    target += parts.path
    auth = None
    if parts.username:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    return {
        "method": general.get("method", "POST").upper(),
        "url": target,
        "data": json.dumps(payload),
        "params": params or None,
        "headers": {"User-Agent": "vodwatch", "Content-Type": "application/json", **headers},
        "auth": auth,
        "verify": general.get("verify", "yes").lower() not in ("no", "false", "0", "off"),
        "timeout": TIMEOUT,
    }


def _reason(exc: BaseException) -> str:
    """A short reason for a failed request, without the URL (it may hold tokens)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS failed (certificate or protocol)"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time"
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.strerror:
            return f"cannot connect: {item.strerror}"
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "cannot connect"
    return f"request failed ({type(exc).__name__})"


def send(url: str, title: str, body: str, kind: str) -> None:
    """Send one notification now; raise SendError (without the URL's tokens) if not accepted."""
    if url_scheme(url) in BUILTIN_SCHEMES:
        try:
            answer = requests.request(**json_request(url, title, body, kind))
        except requests.RequestException as exc:
            raise SendError(_reason(exc)) from None
        with contextlib.closing(answer):
            if not 200 <= answer.status_code < 300:
                raise SendError(f"HTTP {answer.status_code}")
        return
    apprise = apprise_module()
    if apprise is None:
        raise SendError(f"apprise is not installed ({INSTALL_HINT})")
    sender = apprise.Apprise()
    if not sender.add(url):
        raise SendError("apprise does not understand the URL")
    notify_type = getattr(apprise.NotifyType, kind.upper(), kind)
    if not sender.notify(title=title, body=body, notify_type=notify_type):
        raise SendError("the service did not accept the message (apprise logs why)")


def describe_error(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, SendError) else (str(exc) or type(exc).__name__)
    return printable(redact(text))
