"""The bandwidth timetable: its grammar, the limit at a time, the next boundary, and a
boundary crossed while running changes the shared rate (the clock passed in)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from vodwatch.bandwidth import Bandwidth
from vodwatch.config import checks
from vodwatch.timetable import Entry, TimetableError, parse
from vodwatch.upload import RateLimit

# 2026-03-02 is a Monday.
MON = datetime(2026, 3, 2)


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return MON + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


@pytest.mark.parametrize("text, entries", [
    ("08:00,40 19:00,off", [Entry(None, 480, 40.0), Entry(None, 1140, None)]),
    ("Mon-08:00,40 Sat-00:00,off", [Entry(0, 480, 40.0), Entry(5, 0, None)]),
    ("  8:30,2.5\t", [Entry(None, 510, 2.5)]),
    ("sunday-23:59,OFF", [Entry(6, 1439, None)]),
    ("00:00,0", [Entry(None, 0, None)]),  # 0 means no limit, as a plain number does
])
def test_parse(text: str, entries: list[Entry]) -> None:
    assert list(parse(text).entries) == entries


@pytest.mark.parametrize("text, message", [
    ("", "the timetable is empty"),
    ("08:00", "'08:00' is not an entry like 08:00,40"),
    ("08:00;40", "is not an entry like"),
    ("24:00,10", "'24:00,10': 24:00 is not a time of day (00:00 to 23:59)"),
    ("08:60,10", "08:60 is not a time of day"),
    ("Mun-08:00,10", "'Mun' is not a day; write Mon, Tue"),
    ("08:00,fast", "the limit 'fast' is not a number of megabits per second (or off)"),
    ("08:00,-4", "the limit '-4' is not a number"),
    ("08:00,nan", "the limit 'nan' is not a number"),
    ("08:00,4 08:00,off", "'08:00,off': '08:00,4' already starts at that time"),
])
def test_bad_input_says_which_entry_and_why(text: str, message: str) -> None:
    with pytest.raises(TimetableError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_daily_limits_wrap_around_midnight() -> None:
    table = parse("08:00,40 19:00,off")
    assert table.limit_at(at(0, 7, 59)) is None  # the night: the last entry still holds
    assert table.limit_at(at(0, 8)) == 40.0
    assert table.limit_at(at(3, 18, 59, 59)) == 40.0
    assert table.limit_at(at(6, 19)) is None
    assert table.next_boundary(at(0, 7, 59, 30)) == at(0, 8)
    assert table.next_boundary(at(0, 8)) == at(0, 19)  # at a boundary: the next one
    assert table.next_boundary(at(0, 20)) == at(1, 8)


def test_weekly_entries_and_daily_ones_together() -> None:
    table = parse("Mon-08:00,40 Sat-00:00,off")
    assert table.limit_at(at(0, 7)) is None  # Monday early: Saturday's off still holds
    assert table.limit_at(at(2, 3)) == 40.0  # Wednesday night: still the week's 40
    assert table.limit_at(at(5, 12)) is None
    assert table.next_boundary(at(2, 3)) == at(5, 0)
    assert table.next_boundary(at(6, 23, 59, 59)) == at(7, 8)  # next Monday
    mixed = parse("08:00,40 19:00,off Sun-08:00,off")  # Sunday's own entry wins
    assert mixed.limit_at(at(6, 12)) is None and mixed.limit_at(at(5, 12)) == 40.0


def test_timetable_text_round_trips() -> None:
    assert str(parse("mon-8:00,40   19:00,OFF")) == "Mon-08:00,40 19:00,off"


def test_config_check_accepts_numbers_and_timetables_with_a_clear_message() -> None:
    base = Path("/")
    assert checks.bandwidth(40, base) == 40.0
    assert checks.bandwidth("40", base) == 40.0
    assert checks.bandwidth("08:00,40 19:00,off", base) == parse("08:00,40 19:00,off")
    with pytest.raises(checks.Bad) as caught:
        checks.bandwidth("08:00,40 25:00,off", base)
    assert "is not a valid timetable: '25:00,off': 25:00 is not a time of day" in (
        caught.value.problem)
    assert caught.value.fix is not None and "08:00,40 19:00,off" in caught.value.fix
    with pytest.raises(checks.Bad):
        checks.bandwidth(-1, base)


def test_a_boundary_crossed_while_running_changes_the_rate() -> None:
    now = [at(0, 18, 59, 58)]
    rate = RateLimit(0.0)
    bw = Bandwidth(parse("08:00,40 19:00,8"), rate, clock=lambda: now[0])
    assert rate.rate == 40e6 / 8 and bw.view()["next_limit_mbps"] == 8.0
    assert bw.apply() is False  # before the boundary nothing changes
    now[0] = at(0, 19, 0, 1)
    assert bw.apply() is True
    assert rate.rate == 8e6 / 8
    assert bw.view() == {"limit_mbps": 8.0, "timetable": "08:00,40 19:00,8",
                         "next_change": at(1, 8).timestamp(), "next_limit_mbps": 40.0}
    bw.set(0.0)  # a reload to a plain number: unlimited, no boundary any more
    assert rate.rate == 0.0 and bw.view()["next_change"] is None


def test_status_shows_the_limit_now_and_the_next_change() -> None:
    from vodwatch.status_text import bandwidth_line
    line = bandwidth_line({"limit_mbps": 40.0, "timetable": "08:00,40 19:00,off",
                           "next_change": at(0, 19).timestamp(), "next_limit_mbps": None})
    assert line == ("bandwidth: 40 Mbit/s until Mon 19:00 (then no limit), "
                    "timetable 08:00,40 19:00,off")
    assert bandwidth_line({"limit_mbps": None, "timetable": None}) == "bandwidth: no limit"
