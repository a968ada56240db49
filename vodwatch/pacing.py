"""Staying under VOD's per-minute call limits (SPEC §4a, VOD-API.md §6.4).

One ``TokenBucket`` per limit group, shared by every thread that calls into the
group. Tokens refill at ``per_minute / 60`` a second after a first ``burst``, and
the grants of the last 60 seconds are remembered: a call that would make them
more than ``per_minute`` waits. So no window of 60 seconds ever sees more than
the limit, and a long queue still goes at the full configured rate.

Throttling that still happens (``throttled()``) stops the whole group until
``now + max(Retry-After, backoff)``, empties the bucket and halves the rate; the
rate climbs back to full over ``recover_seconds`` without further throttling.
Throttle reports that arrive while the group is already paused came from calls
sent before the pause and only extend it. So the rate falls by half at each throttle
(multiplicative decrease) and climbs back linearly (additive increase).

The limits are the tenant's: ``share(n)`` paces each group at ``limit / n`` while
``n`` daemons of the tenant are alive (tenant.py counts them and passes throttling
on between them).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .retry import RETRY_AFTER_CAP

GROUPS = ("update_asset", "upload", "query")
_MIN_WAIT = 1e-6  # rounding must never make a waiter spin without time passing


def default_burst(per_minute: float) -> int:
    """A small burst: 10% of the limit, at least 1, at most 5."""
    return max(1, min(5, int(per_minute // 10)))


def upload_burst(per_minute: float) -> int:
    """The burst of the upload group (authority + confirm): one second of the limit
    (23 at 1400/min), at least the default. A multipart upload on P connections asks
    for 2 P signed URLs at its start (each connection's part and the next one); with
    a burst of 5 the later connections started up to 43 ms apart each, for nothing:
    the grants of any 60 s still stay within the limit."""
    return max(default_burst(per_minute), int(per_minute // 60))


@dataclass(frozen=True)
class BucketState:
    """A snapshot of one group's pacing, for status and metrics."""

    per_minute: float  # the configured limit
    current_per_minute: float  # the refill rate now, after throttling
    paused_for: float  # seconds until the group may call again (0 if not paused)
    tokens: float
    granted: int  # calls allowed since start
    throttles: int  # throttled() reports that paused the group
    daemons: int = 1  # the limit is shared by this many live daemons of the tenant


class TokenBucket:
    """A thread-safe token bucket with group-wide backoff; clock and sleep injectable.

    ``sleep=None`` means real waiting, interruptible through the ``stop`` event; an
    injected ``sleep(seconds)`` is used instead and ``stop`` is checked around it.
    """

    def __init__(self, per_minute: float, burst: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] | None = None,
                 recover_seconds: float = 60.0, min_factor: float = 1 / 16,
                 backoff_base: float = 1.0, backoff_cap: float = 60.0) -> None:
        if per_minute <= 0:
            raise ValueError("a call limit per minute must be positive")
        self.limit = float(per_minute)  # for the tenant; per_minute is this daemon's share
        self.per_minute = float(per_minute)
        self.burst = default_burst(per_minute) if burst is None else burst
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._full_burst = self.burst
        self.daemons = 1
        self._rate = per_minute / 60.0  # tokens per second
        # Grant times of the last 60 s: whatever the refill, no minute exceeds the limit.
        self._recent: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._recover = recover_seconds
        self._min_factor = min_factor
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._last = clock()
        self._paused_until = float("-inf")
        self._low_factor = 1.0  # rate factor right after the latest throttle
        self._backoff = 0.0  # 0: not recovering from a throttle
        self._granted = 0
        self._throttles = 0

    # -- state, always under the lock

    def _factor(self, now: float) -> float:
        if self._backoff == 0.0:
            return 1.0
        progress = (now - self._paused_until) / self._recover if self._recover > 0 else 1.0
        if progress >= 1.0:
            self._backoff = 0.0  # a full recovery period without throttling
            self._low_factor = 1.0
            return 1.0
        return self._low_factor + (1.0 - self._low_factor) * max(progress, 0.0)

    def _refill(self, now: float) -> None:
        start = max(self._last, self._paused_until)
        if now > start:
            # The factor only grows while recovering, and never past 1, so using its
            # value at the end of the interval can never exceed the full rate.
            gained = (now - start) * self._rate * self._factor(now)
            self._tokens = min(float(self.burst), self._tokens + gained)
        self._last = max(self._last, now)

    def _take(self, now: float) -> float:
        """Take a token and return 0, or return how long to wait before asking again."""
        self._refill(now)
        if now < self._paused_until:
            return self._paused_until - now
        while self._recent and self._recent[0] <= now - 60.0:
            self._recent.popleft()
        if len(self._recent) + 1 > self.per_minute:
            return max(self._recent[0] + 60.0 - now, 0.0) + _MIN_WAIT
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self._granted += 1
            self._recent.append(now)
            return 0.0
        return max((1.0 - self._tokens) / (self._rate * self._factor(now)), _MIN_WAIT)

    # -- public

    def share(self, daemons: int) -> None:
        """Pace at ``limit / daemons``: the tenant's limit shared by its live daemons.
        Grants already made stay in the 60 s window, so a daemon that used its whole
        share waits for the window to pass below its new share."""
        daemons = max(1, int(daemons))
        with self._lock:
            self._refill(self._clock())
            self.daemons = daemons
            self.per_minute = self.limit / daemons
            self._rate = self.per_minute / 60.0
            self.burst = max(1, self._full_burst // daemons)
            self._tokens = min(self._tokens, float(self.burst))

    def try_acquire(self) -> bool:
        """Take a token if one is available now, without waiting."""
        with self._lock:
            return self._take(self._clock()) == 0.0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is taken (True) or ``stop`` is set (False)."""
        while True:
            if stop is not None and stop.is_set():
                return False
            with self._lock:
                wait = self._take(self._clock())
            if wait == 0.0:
                return True
            if self._sleep is not None:
                self._sleep(wait)
            elif stop is not None:
                if stop.wait(wait):
                    return False
            else:
                time.sleep(wait)

    def throttled(self, retry_after: float | None = None) -> None:
        """The server said "too many requests": the whole group backs off."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            asked = min(max(retry_after or 0.0, 0.0), RETRY_AFTER_CAP)
            if now < self._paused_until:
                self._paused_until = max(self._paused_until, now + asked)
                return
            factor = self._factor(now)
            if self._backoff == 0.0:
                self._backoff = self._backoff_base
                self._low_factor = 0.5
            else:
                self._backoff = min(self._backoff * 2.0, self._backoff_cap)
                self._low_factor = max(self._min_factor, factor / 2.0)
            self._paused_until = now + max(asked, self._backoff)
            self._tokens = 0.0
            self._throttles += 1

    def state(self) -> BucketState:
        """A snapshot for status and metrics."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            return BucketState(
                per_minute=self.per_minute,
                current_per_minute=self._rate * 60.0 * self._factor(now),
                paused_for=max(0.0, self._paused_until - now),
                tokens=self._tokens,
                granted=self._granted,
                throttles=self._throttles,
                daemons=self.daemons,
            )


class LimitSettingsLike(Protocol):
    """The ``limits`` part of the configuration (config.LimitSettings fits)."""

    @property
    def update_asset_per_minute(self) -> float: ...
    @property
    def upload_calls_per_minute(self) -> float: ...
    @property
    def asset_query_per_minute(self) -> float: ...


class Pacer:
    """The limit groups of one VOD tenant: "update_asset", "upload" and "query"."""

    def __init__(self, buckets: Mapping[str, TokenBucket]) -> None:
        missing = set(GROUPS) - set(buckets)
        if missing:
            raise ValueError(f"pacing groups missing: {', '.join(sorted(missing))}")
        self._buckets = dict(buckets)

    @classmethod
    def from_limits(cls, limits: LimitSettingsLike, *,
                    clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], object] | None = None) -> Pacer:
        """One bucket per group from the configured per-minute limits."""
        per_minute = {
            "update_asset": limits.update_asset_per_minute,
            "upload": limits.upload_calls_per_minute,
            "query": limits.asset_query_per_minute,
        }
        return cls({group: TokenBucket(limit, upload_burst(limit) if group == "upload" else None,
                                       clock=clock, sleep=sleep)
                    for group, limit in per_minute.items()})

    def __getitem__(self, group: str) -> TokenBucket:
        return self._buckets[group]

    def acquire(self, group: str, stop: threading.Event | None = None) -> bool:
        """Wait for a call slot in ``group``; False if ``stop`` was set first."""
        return self._buckets[group].acquire(stop)

    def throttled(self, group: str, retry_after: float | None = None) -> None:
        """Report throttling of a call in ``group``: the whole group backs off."""
        self._buckets[group].throttled(retry_after)

    def share(self, daemons: int) -> None:
        """Every group paces at its limit divided by the tenant's live daemons."""
        for bucket in self._buckets.values():
            bucket.share(daemons)

    def state(self) -> dict[str, BucketState]:
        """A snapshot of every group."""
        return {group: bucket.state() for group, bucket in self._buckets.items()}
