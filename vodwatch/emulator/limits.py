"""Per-tenant flow control like VOD's (VOD-API.md §6.4): a sliding window per group."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping

# Which limit group each VOD operation counts against.
GROUP_OF = {
    "update_asset": "update_asset",
    "authority": "upload",
    "confirm": "upload",
    "create_asset": "upload",
    "asset_info": "query",
    "asset_details": "query",
    "list_assets": "query",
    # "media upload (other)": 100/min per tenant (VOD-API.md §6.4).
    "check_md5_duplication": "upload_other",
}
GROUPS = ("update_asset", "upload", "query", "upload_other")


class RateLimiter:
    """Counts accepted calls per group in a sliding window; thread-safe.

    ``limits`` maps a group to ``(count, window_seconds)``; groups not named
    are unlimited. Rejected calls are not counted against the window.
    """

    def __init__(self, limits: Mapping[str, tuple[int, float]] | None,
                 clock: Callable[[], float]) -> None:
        self._limits = dict(limits or {})
        unknown = set(self._limits) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown limit group(s) {sorted(unknown)}; known: {GROUPS}")
        self._clock = clock
        self._seen: dict[str, deque[float]] = {group: deque() for group in GROUPS}
        self._throttled = 0
        self._lock = threading.Lock()

    def admit(self, operation: str) -> float | None:
        """None if the call may go ahead, else seconds until the window has room."""
        group = GROUP_OF.get(operation)
        if group is None or group not in self._limits:
            return None
        count, window = self._limits[group]
        now = self._clock()
        with self._lock:
            seen = self._seen[group]
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) < count:
                seen.append(now)
                return None
            self._throttled += 1
            return max(0.0, seen[0] + window - now)

    def set_limit(self, group: str, count: int, window: float) -> None:
        """Change (or add) one group's limit at run time."""
        if group not in GROUPS:
            raise ValueError(f"unknown limit group {group!r}; known: {GROUPS}")
        with self._lock:
            self._limits[group] = (count, window)

    @property
    def throttled(self) -> int:
        """How many calls were refused so far."""
        return self._throttled


def parse_limit(text: str) -> tuple[str, tuple[int, float]]:
    """Parse ``GROUP=COUNT/SECONDS`` (e.g. ``update_asset=100/60``); raises ValueError."""
    group, sep, rest = text.partition("=")
    count, slash, seconds = rest.partition("/")
    if not sep or not slash or group not in GROUPS:
        raise ValueError(f"expected GROUP=COUNT/SECONDS with GROUP in {', '.join(GROUPS)},"
                         f" got {text!r}")
    number, window = int(count), float(seconds)
    if number < 0 or not math.isfinite(window) or window <= 0:
        raise ValueError(f"count must be >= 0 and seconds > 0 in {text!r}")
    return group, (number, window)
