"""Notifications to people: failures, pauses and outages of a folder set, sent to Apprise URLs.

A target is an Apprise URL. ``json://`` and ``jsons://`` (a plain JSON webhook) are
built in and post exactly the body Apprise's JSON plugin posts, so installing the
optional extra (``pip install 'vodwatch[notify]'``, i.e. apprise) never changes
what a config means; every other scheme (slack://, mailto://, ntfy://, ...) is
handed to apprise.

Nothing here ever delays an upload: every method only puts an item on a queue,
and one background thread sends, retrying each target on its own schedule so a
failing target holds up neither the caller nor the other targets. Target URLs
carry tokens: they are registered with :func:`vodwatch.log.add_secret` and only
ever shown as :func:`redact_url` writes them.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import structlog

from .log import add_secret, redact
from .words import printable

__all__ = [
    "BUILTIN_SCHEMES",
    "INSTALL_HINT",
    "Alerts",
    "SendError",
    "apprise_module",
    "json_request",
    "redact_url",
    "register_secrets",
    "send",
    "target_problem",
]

log = structlog.get_logger("vodwatch.alerts")

BUILTIN_SCHEMES = ("json", "jsons")
INSTALL_HINT = "pip install 'vodwatch[notify]'"
KINDS = ("info", "success", "warning", "failure")  # Apprise's notify types
JSON_VERSION = "1.0"  # of Apprise's JSON payload
METHODS = ("POST", "GET", "DELETE", "PUT", "HEAD", "PATCH")  # what Apprise's JSON plugin allows
TIMEOUT = (5.0, 15.0)  # connect, read: a notification is not worth waiting longer for
MAX_LISTED = 50  # failures listed by name in one message; the rest are counted
MAX_QUEUED = 1000  # beyond this, new notifications are dropped (and counted) rather than kept
# Path segments and query values kept out of logs: this long with a digit, or just long.
_TOKEN_LENGTH = 8
_LONG_TOKEN = 20

Sender = Callable[[str, str, str, str], None]


class SendError(Exception):
    """A notification was not accepted; the message never holds the target's tokens."""


# ---- URLs -----------------------------------------------------------------------------------


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: the URL without credentials, path, query or tokens.

    For json:// the host is shown; for other schemes only when it looks like a host
    name (has a dot), as many services put a token where the host would be.
    """
    scheme = _scheme(url)
    if not scheme:
        return "(not a URL)"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{printable(scheme)}://…"
    if scheme not in BUILTIN_SCHEMES and "." not in host:
        return f"{printable(scheme)}://…"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    if parts.path.strip("/") or parts.query or parts.fragment:
        shown += "/…"
    return printable(shown)


def register_secrets(url: str) -> None:
    """Make the log redaction catch the URL and the parts of it that may be tokens."""
    add_secret(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        add_secret(unquote(parts.password))
    pieces = [p for p in parts.path.split("/") if p]
    if _scheme(url) not in BUILTIN_SCHEMES and parts.hostname and "." not in parts.hostname:
        pieces.append(parts.netloc.rpartition("@")[2])  # a token may stand where the host would
    pieces += [pair.partition("=")[2] for pair in parts.query.split("&")]
    pieces.append(parts.fragment)
    for piece in pieces:
        if _looks_like_token(piece):
            add_secret(piece)
            add_secret(unquote(piece))


def _looks_like_token(piece: str) -> bool:
    """Long, or holding digits: a token rather than a word such as ``hooks`` or ``vodwatch``,
    which, registered as a secret, would be blanked out of every log line."""
    return len(piece) >= _LONG_TOKEN or (
        len(piece) >= _TOKEN_LENGTH and any(c.isdigit() for c in piece))


def apprise_module() -> ModuleType | None:
    """The apprise module when the optional extra is installed, else None."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


def target_problem(url: object) -> tuple[str, str] | None:
    """What is wrong with ``url`` as a notification target, as (problem, fix); None if fine.

    The problem never quotes the URL beyond :func:`redact_url`: it may hold a token.
    """
    example = "write it like json://hooks.example.com/vodwatch or slack://..."
    if not isinstance(url, str) or not url.strip():
        return "is not a URL", example
    scheme = _scheme(url.strip())
    if not scheme:
        return "has no scheme (such as json:// or slack://)", example
    shown = redact_url(url)
    if scheme in BUILTIN_SCHEMES:
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a port that is not a number
        except ValueError:
            return f"{shown} has a port that is not a number", "write host:port, e.g. :8080"
        if not parts.hostname:
            return f"{shown} has no host", "write it like json://hooks.example.com/path"
        method = _query(parts.query)[0].get("method", "POST").upper()
        if method not in METHODS:
            return (f"{shown} asks for method {printable(method)!r}",
                    "use one of " + ", ".join(METHODS))
        return None
    apprise = apprise_module()
    if apprise is None:
        return (f"{shown} needs apprise, the optional notifications extra, which is not "
                "installed", f"run {INSTALL_HINT}, or use a json:// webhook")
    try:
        understood = bool(apprise.Apprise().add(url))
    except Exception:  # a plugin that raises on a bad URL is a bad URL
        understood = False
    if not understood:
        return (f"{shown} is not a URL apprise understands",
                "check it against the Apprise wiki page of that service")
    return None


# ---- sending --------------------------------------------------------------------------------


def _query(query: str) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """Apprise's query arguments: (general, +headers, -GET params, :payload extras).

    ``+`` is taken literally (Apprise writes headers as ``?+X-Token=...``), not as a space.
    """
    general: dict[str, str] = {}
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    extras: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        key, value = unquote(raw_key), unquote(raw_value)
        if key[:1] == "+" and key[1:]:
            headers[key[1:]] = value
        elif key[:1] == "-" and key[1:]:
            params[key[1:]] = value
        elif key[:1] == ":" and key[1:]:
            extras[key[1:]] = value
        else:
            general[key.lower()] = value
    return general, headers, params, extras


def json_request(url: str, title: str, body: str, kind: str) -> dict[str, Any]:
    """The request Apprise's JSON plugin makes for ``url``, as keyword arguments of
    ``requests.request``: method, url, data, params, headers, auth, verify, timeout."""
    parts = urlsplit(url)
    general, headers, params, extras = _query(parts.query)
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
    secure = _scheme(url) == "jsons"
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
    if _scheme(url) in BUILTIN_SCHEMES:
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


def _describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, SendError) else (str(exc) or type(exc).__name__)
    return printable(redact(text))


# ---- the queues and their threads -----------------------------------------------------------


@dataclass(frozen=True)
class _Message:
    title: str
    body: str
    kind: str


@dataclass(frozen=True)
class _Failure:
    file: str
    sentence: str


@dataclass(frozen=True)
class _Close:
    pass


_CLOSE = _Close()
_STOPPED = "not sent before vodwatch stopped"


class _Target:
    """One target's own queue and sending thread, so a slow or failing target holds up no other."""

    def __init__(self, url: str, alerts: Alerts) -> None:
        self.url = url
        self.shown = redact_url(url)
        self.queue: queue.Queue[_Message | _Close] = queue.Queue(MAX_QUEUED)
        self._alerts = alerts
        self.thread = threading.Thread(target=self._run, name=f"vodwatch-alerts {self.shown}",
                                       daemon=True)

    def put(self, item: _Message | _Close) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            self._alerts._failed_send(f"{self.shown}: too many notifications waiting; "
                                      "one was dropped")

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if isinstance(item, _Close):
                return
            try:
                self._deliver(item)
            except Exception:  # a bug here must not end notifications for good
                log.exception("notification thread error", target=self.shown)

    def _deliver(self, message: _Message) -> None:
        alerts = self._alerts
        for attempt in range(1, alerts.attempts + 1):
            if alerts.past_deadline():
                alerts._failed_send(f"{self.shown}: {_STOPPED}")
                return
            try:
                alerts.sender(self.url, message.title, message.body, message.kind)
            except Exception as exc:
                error = f"{self.shown}: {_describe(exc)}"
                if attempt == alerts.attempts:
                    log.warning("notification not sent", target=self.shown, error=error,
                                attempts=attempt, title=message.title)
                    alerts._failed_send(error)
                    return
                delay = alerts.backoff * 2 ** (attempt - 1)
                log.info("notification not sent, will try again", target=self.shown,
                         error=error, attempt=attempt, retry_in_seconds=delay)
                if not alerts.sleep(delay):
                    log.warning("notification not sent", target=self.shown, error=error,
                                attempts=attempt, title=message.title)
                    alerts._failed_send(f"{error}; {_STOPPED}")
                    return
            else:
                log.debug("notification sent", target=self.shown, title=message.title)
                return


class Alerts:
    """Notifications of one folder set to its targets, sent in the background.

    ``failed`` reports are grouped: the first opens a window of ``group_seconds``
    (measured by ``clock``) and one message at its end lists every failure in it.
    Each message is tried ``attempts`` times per target, waiting ``backoff``
    seconds, doubling, between tries; each target has its own thread, so one that
    hangs or fails delays no other. ``sender(url, title, body, kind)`` replaces
    the real sending (tests).
    """

    def __init__(self, targets: Sequence[str], folder: str, *, deliveries: bool = False,
                 clock: Callable[[], float] = time.monotonic, group_seconds: float = 60.0,
                 attempts: int = 3, backoff: float = 2.0, sender: Sender | None = None) -> None:
        self.targets = tuple(targets)
        for url in self.targets:
            register_secrets(url)
        self.shown = tuple(redact_url(url) for url in self.targets)
        self.folder = printable(folder)
        self.deliveries = deliveries
        self.failures = 0
        self.last_error: str | None = None
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sender: Sender = sender or send
        self._clock = clock
        self._group_seconds = group_seconds
        self._queue: queue.Queue[_Message | _Failure | _Close] = queue.Queue(MAX_QUEUED)
        self._lock = threading.Lock()
        self._closed = False
        self._closing = threading.Event()
        self._deadline = float("inf")  # time.monotonic() when close() gives up
        self._group: list[_Failure] = []
        self._group_due = 0.0
        self._sinks = [_Target(url, self) for url in self.targets]
        self._thread: threading.Thread | None = None
        if self.targets:
            for sink in self._sinks:
                sink.thread.start()
            self._thread = threading.Thread(target=self._run, name="vodwatch-alerts",
                                            daemon=True)
            self._thread.start()

    # -- what the daemon reports: each only queues ----------------------------------------

    def failed(self, file: str, sentence: str) -> None:
        """A file failed; grouped with the other failures of the next ``group_seconds``."""
        self._put(_Failure(printable(file), printable(sentence)))

    def paused(self, why: str) -> None:
        """Uploads from this folder set are paused (e.g. credentials rejected)."""
        self._put(_Message(f"vodwatch: uploads from {self.folder} are paused",
                           f"Uploads from {self.folder} are paused: {printable(why)}",
                           "warning"))

    def unavailable(self, why: str) -> None:
        """The folder set cannot be used (share gone, folder missing, state unwritable)."""
        self._put(_Message(f"vodwatch: {self.folder} is not available",
                           f"{self.folder} is not available: {printable(why)}", "warning"))

    def resumed(self) -> None:
        """The folder set works again after a pause or an outage."""
        self._put(_Message(f"vodwatch: {self.folder} works again",
                           f"{self.folder} works again: files dropped there are uploaded.",
                           "success"))

    def delivered(self, file: str, asset_id: str) -> None:
        """A file reached its asset; sent only when deliveries are on."""
        if not self.deliveries:
            return
        name = printable(file)
        self._put(_Message(f"vodwatch: {name} delivered",
                           f"{name} delivered to VOD (asset {printable(asset_id)}).", "success"))

    # -- synchronous, for ``vodwatch check --online`` -------------------------------------

    def send_test(self) -> list[tuple[str, str | None]]:
        """Send a test message to every target now, once each: (redacted URL, error or None)."""
        title = f"vodwatch: test message for {self.folder}"
        body = (f"This is a test from vodwatch check. Failed files, pauses and outages of "
                f"{self.folder} will be reported here.")
        results: list[tuple[str, str | None]] = []
        for url, shown in zip(self.targets, self.shown, strict=True):
            try:
                self.sender(url, title, body, "info")
            except Exception as exc:
                results.append((shown, _describe(exc)))
            else:
                results.append((shown, None))
        return results

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, the pending failure group too, for at most ``timeout`` s; stop.

        What is still unsent then is counted in ``failures``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is None:
            return
        self._deadline = time.monotonic() + max(0.0, timeout)
        self._closing.set()  # cuts short the retry waits
        with contextlib.suppress(queue.Full):
            self._queue.put(_CLOSE, timeout=max(0.0, timeout))
        give_up = self._deadline + 0.5  # a send in flight at the deadline may finish
        for thread in (self._thread, *(sink.thread for sink in self._sinks)):
            thread.join(max(0.0, give_up - time.monotonic()))

    # -- for the sending threads ------------------------------------------------------------

    def past_deadline(self) -> bool:
        return self._closing.is_set() and time.monotonic() >= self._deadline

    def sleep(self, delay: float) -> bool:
        """Wait out a retry delay; False when close()'s deadline comes first."""
        end = time.monotonic() + delay
        if not self._closing.wait(delay):
            return True
        time.sleep(max(0.0, min(end, self._deadline) - time.monotonic()))
        return end <= self._deadline

    def _failed_send(self, error: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = error

    # -- internals ------------------------------------------------------------------------

    def _put(self, item: _Message | _Failure) -> None:
        if not self.targets or self._closed:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._failed_send("too many notifications waiting; one was dropped")

    def _group_message(self) -> _Message:
        group, self._group = self._group, []
        count = len(group)
        title = (f"vodwatch: 1 file failed in {self.folder}" if count == 1
                 else f"vodwatch: {count} files failed in {self.folder}")
        lines = [f"{f.file}: {f.sentence}" for f in group[:MAX_LISTED]]
        if count > MAX_LISTED:
            lines.append(f"... and {count - MAX_LISTED} more")
        lines += ["", "Each one is in the failed folder, beside a .error.txt file that says "
                  "what to do."]
        return _Message(title, "\n".join(lines), "failure")

    def _fan_out(self, item: _Message | _Close) -> None:
        for sink in self._sinks:
            sink.put(item)

    def _run(self) -> None:
        """Group failures and hand every message to each target's thread."""
        while True:
            try:
                if self._group and self._clock() >= self._group_due:
                    self._fan_out(self._group_message())
                wait = self._group_due - self._clock() if self._group else 1.0
                try:
                    item = self._queue.get(timeout=min(max(wait, 0.0), 1.0))
                except queue.Empty:
                    continue
                if isinstance(item, _Close):
                    if self._group:
                        self._fan_out(self._group_message())
                    self._fan_out(item)
                    return
                if isinstance(item, _Failure):
                    if not self._group:
                        self._group_due = self._clock() + self._group_seconds
                    self._group.append(item)
                else:
                    self._fan_out(item)
            except Exception:  # a bug here must not end notifications for good
                log.exception("notification thread error")
                time.sleep(0.1)
