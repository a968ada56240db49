"""VOD's limits are per tenant: the daemons of one tenant that share a folder set share them.

Each daemon sees its peers' leases on the share (claim.py); while ``n`` daemons are
alive each paces at ``limit / n`` (``Pacer.share``), re-divided when one appears or
dies. A throttling answer seen by one daemon is told to the others through
``<inbox>/.vodwatch/throttle``, a small JSON file rewritten on each throttle::

    {"by": "<daemon id>", "at": <unix time>, "group": "update_asset", "retry_after": 2.0}

A peer that reads a new one backs off as if it had been throttled itself (the rate
halves and climbs back: pacing.py). The file's first content seen at start is old
news and is not applied; nor is one older than ``STALE_SECONDS`` by our clock.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog

from .claim import Claims
from .pacing import GROUPS, Pacer
from .share import read_or_none, write_atomic

log = structlog.get_logger("vodwatch.tenant")

THROTTLE_FILE = "throttle"
STALE_SECONDS = 120.0
EXCHANGE_SECONDS = 0.5  # how often the throttle files are looked at


class Tenant:
    """This daemon's view of its tenant: live peers, and throttles told and heard."""

    def __init__(self, daemon_id: str, wall: Callable[[], float] = time.time) -> None:
        self.daemon_id = daemon_id
        self.daemons = 1
        self.pacer: Pacer | None = None
        self._wall = wall
        self._lock = threading.Lock()
        self._pending: tuple[str, float | None] | None = None
        self._seen: dict[Path, str | None] = {}
        self._last_exchange = float("-inf")
        self.heard = 0  # throttles applied from peers

    def attach(self, pacer: Pacer) -> Pacer:
        """Pace ``pacer`` at this daemon's share (again after a reload builds a new one)."""
        self.pacer = pacer
        pacer.share(self.daemons)
        return pacer

    def throttled(self, group: str, retry_after: float | None) -> None:
        """We were throttled (any thread): the peers are told at the next exchange."""
        with self._lock:
            self._pending = (group, retry_after)

    def turn(self, now: float, claims: Iterable[Claims]) -> None:
        """Each turn of the daemon's loop: count the live daemons, exchange throttles."""
        claims = list(claims)
        peers: set[str] = set()
        for c in claims:
            peers |= c.alive_peer_ids()
        self.set_daemons(1 + len(peers - {self.daemon_id}))
        if now - self._last_exchange >= EXCHANGE_SECONDS:
            self._last_exchange = now
            self.exchange([c.root for c in claims])

    def set_daemons(self, daemons: int) -> None:
        if daemons == self.daemons:
            return
        log.info("tenant.share", daemons=daemons, was=self.daemons,
                 hint="VOD's limits are per tenant: each live daemon paces at its share")
        self.daemons = daemons
        if self.pacer is not None:
            self.pacer.share(daemons)

    def exchange(self, roots: Iterable[Path]) -> None:
        """Write our latest throttle to every hidden folder; apply a peer's new one."""
        with self._lock:
            pending, self._pending = self._pending, None
        text = None
        if pending is not None:
            text = json.dumps({"by": self.daemon_id, "at": round(self._wall(), 3),
                               "group": pending[0], "retry_after": pending[1]})
        for root in roots:
            path = root / THROTTLE_FILE
            if text is not None:
                with contextlib.suppress(OSError):  # the share's trouble shows elsewhere
                    write_atomic(path, text + "\n")
                    self._seen[path] = text + "\n"
                continue
            with contextlib.suppress(OSError):
                found = read_or_none(path)
                first = path not in self._seen
                if found == self._seen.get(path) and not first:
                    continue
                self._seen[path] = found
                if not first and found is not None:
                    self._heard(found)

    def _heard(self, text: str) -> None:
        try:
            news = json.loads(text)
            by, at, group = str(news["by"]), float(news["at"]), str(news["group"])
            after = news.get("retry_after")
            retry_after = float(after) if after is not None else None
        except (ValueError, KeyError, TypeError):
            return  # a torn or foreign file: nothing to act on
        if by == self.daemon_id or group not in GROUPS or (
                self._wall() - at > STALE_SECONDS):
            return
        self.heard += 1
        log.warning("tenant.throttled_peer", group=group, peer=by, retry_after=retry_after,
                    hint="a daemon of this tenant was throttled: every daemon backs off")
        if self.pacer is not None:
            self.pacer.throttled(group, retry_after)
