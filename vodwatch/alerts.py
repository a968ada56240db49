"""Notifications to people: failures, pauses and outages of a folder set, queued
and sent in the background to their targets (Apprise URLs).

Nothing here ever delays an upload: every method only puts an item on a queue,
and one background thread groups failures and hands each message to every
target's own thread, which retries on its own schedule, so a failing target
holds up neither the caller nor the other targets. Which URLs are valid targets
and how they are shown is alert_targets.py; sending one message is alert_send.py.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from .alert_send import Sender, SendError, describe_error, json_request, send
from .alert_targets import (
    BUILTIN_SCHEMES,
    INSTALL_HINT,
    apprise_module,
    redact_url,
    register_secrets,
    target_problem,
)
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

MAX_LISTED = 50  # failures listed by name in one message; the rest are counted
MAX_QUEUED = 1000  # beyond this, new notifications are dropped (and counted) rather than kept


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
                error = f"{self.shown}: {describe_error(exc)}"
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
                results.append((shown, describe_error(exc)))
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
