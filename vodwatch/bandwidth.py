"""Applies ``upload.bandwidth_limit_mbps`` (a number or a timetable) to the shared RateLimit,
at each boundary of the timetable, without a restart. The daemon calls ``apply`` each turn
of its loop: cheap, it only compares the time with the next boundary."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from .timetable import Timetable, bandwidth_setting
from .upload import RateLimit

log = structlog.get_logger("vodwatch.bandwidth")


def local_now() -> datetime:
    return datetime.now().astimezone()


class Bandwidth:
    """The bandwidth setting in force, applied to ``rate`` (bytes/s; 0 = unlimited)."""

    def __init__(self, setting: float | Timetable, rate: RateLimit,
                 clock: Callable[[], datetime] = local_now) -> None:
        self.rate = rate
        self._clock = clock
        self.setting: float | Timetable = setting
        self.mbps: float | None = None
        self.next_change: datetime | None = None
        self._apply(clock(), force=True)

    def set(self, setting: float | Timetable) -> None:
        """A new setting (config reload): in force at once."""
        self.setting = setting
        self._apply(self._clock(), force=True)

    def apply(self) -> bool:
        """Apply the timetable if a boundary has passed; True if the limit changed."""
        return self._apply(self._clock())

    def _apply(self, now: datetime, force: bool = False) -> bool:
        if not force and (self.next_change is None or now < self.next_change):
            return False
        mbps, self.next_change = bandwidth_setting(self.setting, now)
        changed = mbps != self.mbps
        self.mbps = mbps
        self.rate.rate = (mbps or 0.0) * 1e6 / 8
        if changed and isinstance(self.setting, Timetable):
            log.info("bandwidth.changed", limit_mbps=mbps if mbps is not None else "off",
                     until=self.next_change.isoformat(timespec="minutes")
                     if self.next_change else "")
        return changed

    def view(self) -> dict[str, Any]:
        """For the snapshot and ``status``: the limit now, the timetable, the next change."""
        table = self.setting if isinstance(self.setting, Timetable) else None
        nxt = self.next_change
        return {"limit_mbps": self.mbps,
                "timetable": str(table) if table is not None else None,
                "next_change": nxt.timestamp() if nxt is not None else None,
                "next_limit_mbps": table.limit_at(nxt) if table is not None and nxt else None}
