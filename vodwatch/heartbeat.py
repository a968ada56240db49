"""An optional heartbeat URL (healthchecks.io style, ``metrics.heartbeat_url``).

Every ``interval`` seconds, in a thread of its own (a slow receiver never holds up
the loop): ``GET <url>`` while the daemon is healthy, ``POST <url>/fail`` with the
reason as the body while it is not. The URL holds a token: it is registered as a
secret, so no log line shows it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog

from .log import add_secret

log = structlog.get_logger("vodwatch.heartbeat")

Health = Callable[[], tuple[bool, Mapping[str, Any]]]


def reason(info: Mapping[str, Any]) -> str:
    """What is wrong, in one line, from ``report.health``'s details."""
    parts = [f"{name}: paused ({why})" for name, why in (info.get("paused") or {}).items()]
    parts += [f"{name}: unavailable ({why})"
              for name, why in (info.get("unavailable") or {}).items()]
    if info.get("state") not in (None, "ok"):
        parts.append(f"state folder: {info['state']}")
    return "; ".join(parts) or "not healthy (stopping)"


class Heartbeat:
    """Pings ``url`` every ``interval`` seconds until ``stop``."""

    def __init__(self, url: str, health: Health, interval: float = 60.0,
                 timeout: float = 10.0) -> None:
        add_secret(url)
        self.url = url.rstrip("/")
        # The URL's path is often the check's secret token: hidden wherever it shows up.
        path = urlsplit(self.url).path.strip("/")
        if path:
            add_secret(path)
        self.health = health
        self.interval = interval
        self.timeout = timeout
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def ping(self) -> None:
        """One ping: the plain URL while healthy, ``/fail`` with the reason otherwise."""
        try:
            ok, info = self.health()
        except Exception as exc:  # the health check itself failed: that is news too
            ok, info = False, {"state": f"health check failed: {exc}"}
        try:
            if ok:
                requests.get(self.url, timeout=self.timeout)
            else:
                requests.post(self.url + "/fail", data=reason(info).encode(),
                              headers={"Content-Type": "text/plain; charset=utf-8"},
                              timeout=self.timeout)
            self.sent += 1
            if self._failing:
                log.info("heartbeat.delivered_again")
            self._failing = False
        except requests.RequestException as exc:
            if not self._failing:  # once, not every minute
                log.warning("heartbeat.not_delivered", error=type(exc).__name__,
                            hint="check metrics.heartbeat_url and the network")
            self._failing = True

    def _run(self) -> None:
        while True:
            self.ping()
            if self._stop.wait(self.interval):
                return
