"""The bandwidth timetable of ``upload.bandwidth_limit_mbps``, in rclone's spirit.

Grammar (entries separated by spaces; days and ``off`` in any case)::

    timetable = entry { " " entry }
    entry     = [ day "-" ] time "," limit
    day       = Mon | Tue | Wed | Thu | Fri | Sat | Sun   (or the full name: Monday, ...)
    time      = H:MM or HH:MM, from 00:00 to 23:59 (local time)
    limit     = megabits per second, a number greater than 0, or off (no limit; 0 too)

Each entry starts its limit at its time, on its day or (without a day) every day;
the limit holds until the next entry starts. Before the first entry of a day (or of
the week), the last one still holds: the timetable wraps around. Examples::

    08:00,40 19:00,off                 40 Mbit/s from 08:00 to 19:00, no limit at night
    Mon-08:00,40 Sat-00:00,off         40 Mbit/s through the working week

Pure functions of the text and the time passed in: ``parse``, ``Timetable.limit_at``,
``Timetable.next_boundary``.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEK_MINUTES = 7 * 24 * 60
_ENTRY = re.compile(r"^(?:(?P<day>[A-Za-z]+)-)?(?P<h>\d{1,2}):(?P<m>\d{2}),(?P<limit>[^,\s]+)$")
EXAMPLE = '"08:00,40 19:00,off" or "Mon-08:00,40 Sat-00:00,off"'


class TimetableError(ValueError):
    """What is wrong with a timetable's text; the message names the entry at fault."""


@dataclass(frozen=True)
class Entry:
    """One entry: from ``minute`` of the day (on ``day``, 0 = Monday, or daily) ``limit``
    megabits per second, None for no limit."""

    day: int | None
    minute: int
    limit: float | None

    def __str__(self) -> str:
        day = "" if self.day is None else DAYS[self.day].capitalize() + "-"
        limit = "off" if self.limit is None else f"{self.limit:g}"
        return f"{day}{self.minute // 60:02d}:{self.minute % 60:02d},{limit}"


@dataclass(frozen=True)
class Timetable:
    """Entries as written; ``limit_at`` and ``next_boundary`` answer for a local time."""

    entries: tuple[Entry, ...]

    def __str__(self) -> str:
        return " ".join(str(e) for e in self.entries)

    def _week(self) -> list[tuple[int, float | None]]:
        """(minute of the week, limit) for every start, sorted; daily entries on every day."""
        starts: dict[int, float | None] = {}
        for e in self.entries:
            if e.day is None:
                for day in range(7):
                    starts.setdefault(day * 1440 + e.minute, e.limit)
        for e in self.entries:
            if e.day is not None:
                starts[e.day * 1440 + e.minute] = e.limit  # a day's own entry wins
        return sorted(starts.items())

    def limit_at(self, when: datetime) -> float | None:
        """The limit in Mbit/s at ``when`` (local time), None for no limit."""
        week = self._week()
        minute = when.weekday() * 1440 + when.hour * 60 + when.minute
        i = bisect.bisect_right([start for start, _ in week], minute) - 1
        return week[i][1]  # i == -1: the week's last entry still holds

    def next_boundary(self, when: datetime) -> datetime:
        """The first start of an entry after ``when`` (same tzinfo as ``when``)."""
        minute = when.weekday() * 1440 + when.hour * 60 + when.minute
        ahead = min((start - minute) % WEEK_MINUTES or WEEK_MINUTES for start, _ in self._week())
        return when.replace(second=0, microsecond=0) + timedelta(minutes=ahead)


def _day(word: str, entry: str) -> int:
    low = word.lower()
    if low in DAYS:
        return DAYS.index(low)
    if low in _FULL:
        return _FULL.index(low)
    raise TimetableError(f"{entry!r}: {word!r} is not a day; write Mon, Tue, Wed, Thu, Fri, "
                         "Sat or Sun")


def _limit(word: str, entry: str) -> float | None:
    if word.lower() == "off":
        return None
    try:
        value = float(word)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise TimetableError(f"{entry!r}: the limit {word!r} is not a number of megabits per "
                             "second (or off)")
    return value or None  # 0 means no limit, as for a plain number


def parse(text: str) -> Timetable:
    """The timetable written in ``text``; TimetableError says which entry is wrong and why."""
    words = text.split()
    if not words:
        raise TimetableError(f"the timetable is empty; write for example {EXAMPLE}")
    entries: list[Entry] = []
    seen: dict[tuple[int | None, int], str] = {}
    for word in words:
        match = _ENTRY.match(word)
        if match is None:
            raise TimetableError(f"{word!r} is not an entry like 08:00,40 or Mon-08:00,off "
                                 "([day-]HH:MM,megabits or off)")
        day = _day(match["day"], word) if match["day"] else None
        hour, minute = int(match["h"]), int(match["m"])
        if hour > 23 or minute > 59:
            raise TimetableError(f"{word!r}: {match['h']}:{match['m']} is not a time of day "
                                 "(00:00 to 23:59)")
        at = (day, hour * 60 + minute)
        if at in seen:
            raise TimetableError(f"{word!r}: {seen[at]!r} already starts at that time")
        seen[at] = word
        entries.append(Entry(day, hour * 60 + minute, _limit(match["limit"], word)))
    return Timetable(tuple(entries))


def bandwidth_setting(value: float | Timetable, when: datetime) -> tuple[float | None,
                                                                         datetime | None]:
    """The limit (Mbit/s, None for none) in force at ``when`` and when it may change next
    (None: never), for a plain number or a timetable."""
    if isinstance(value, Timetable):
        return value.limit_at(when), value.next_boundary(when)
    return (float(value) or None), None
