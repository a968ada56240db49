"""Settling (SPEC §3 "Ready"): a file is handled only once vodwatch saw it stop changing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodwatch.settle import STALE_RETRY_SECONDS, Pending, Settler

SETTLE = 10.0
MAX_WRITING = 3600.0
OLD_MTIME = 1_000_000_000_000_000_000  # 2001: a writer that keeps the source's mtime


def settler() -> Settler[str]:
    return Settler(SETTLE, MAX_WRITING)


def test_first_observation_starts_the_clock_whatever_the_mtime() -> None:
    """A file whose mtime is years old still waits settle_seconds from vodwatch's first look."""
    s = settler()
    s.observe("a.mp4", 100, OLD_MTIME, now=1000.0)
    assert s.ready(1000.0) == []
    s.observe("a.mp4", 100, OLD_MTIME, now=1009.9)
    assert s.ready(1009.9) == []
    s.observe("a.mp4", 100, OLD_MTIME, now=1010.0)
    assert s.ready(1010.0) == ["a.mp4"]


def test_time_alone_does_not_settle_a_file() -> None:
    """Without a later observation that finds it unchanged, a file is never ready."""
    s = settler()
    s.observe("a.mp4", 100, OLD_MTIME, now=0.0)
    assert s.ready(10_000.0) == []


def test_slow_writer_is_not_ready_until_it_stops() -> None:
    """A file growing a little every second for a minute settles 10 s after its last change."""
    s = settler()
    for second in range(60):
        s.observe("slow.mov", 1000 * (second + 1), second * 10**9, now=float(second))
        assert s.ready(float(second)) == []
    for second in range(60, 69):
        s.observe("slow.mov", 60_000, 59 * 10**9, now=float(second))
        assert s.ready(float(second)) == []
    s.observe("slow.mov", 60_000, 59 * 10**9, now=69.0)
    assert s.ready(69.0) == ["slow.mov"]


def test_size_change_with_unchanged_mtime_restarts_the_clock() -> None:
    """A writer that keeps an old mtime cannot hide that the size changed."""
    s = settler()
    s.observe("a.mp4", 100, OLD_MTIME, now=0.0)
    s.observe("a.mp4", 200, OLD_MTIME, now=9.0)
    s.observe("a.mp4", 200, OLD_MTIME, now=15.0)
    assert s.ready(15.0) == []
    s.observe("a.mp4", 200, OLD_MTIME, now=19.0)
    assert s.ready(19.0) == ["a.mp4"]


def test_mtime_change_with_same_size_restarts_the_clock() -> None:
    """Rewriting in place (same size, new mtime) counts as a change."""
    s = settler()
    s.observe("a.mp4", 100, 1, now=0.0)
    s.observe("a.mp4", 100, 2, now=9.0)
    s.observe("a.mp4", 100, 2, now=18.0)
    assert s.ready(18.0) == []
    s.observe("a.mp4", 100, 2, now=19.0)
    assert s.ready(19.0) == ["a.mp4"]


def test_replaced_file_restarts_the_clock() -> None:
    """A different inode under the same name (replaced by rename) is a new file to settle."""
    s = settler()
    s.observe("a.mp4", 100, 1, now=0.0, ino=7)
    s.observe("a.mp4", 100, 1, now=9.0, ino=8)
    s.observe("a.mp4", 100, 1, now=12.0, ino=8)
    assert s.ready(12.0) == []
    s.observe("a.mp4", 100, 1, now=19.0, ino=8)
    assert s.ready(19.0) == ["a.mp4"]


def test_close_and_reopen_within_settle_time_is_not_ready() -> None:
    """A writer pausing for less than settle_seconds and then appending is not cut short."""
    s = settler()
    s.observe("a.mp4", 100, 1, now=0.0)
    s.observe("a.mp4", 100, 1, now=8.0)
    s.observe("a.mp4", 150, 2, now=9.0)
    s.observe("a.mp4", 150, 2, now=12.0)
    assert s.ready(12.0) == []


def test_poke_never_settles_a_file_and_holds_it_until_looked_at() -> None:
    """A change event makes a settled-looking file wait for a fresh stat, without new clock."""
    s = settler()
    s.observe("a.mp4", 100, 1, now=0.0)
    s.observe("a.mp4", 100, 1, now=10.0)
    assert s.ready(10.0) == ["a.mp4"]
    s.poke("a.mp4", now=11.0)
    assert s.ready(11.0) == []
    assert s.next_check_at(11.0) == 11.0
    assert s.due(11.0) == ["a.mp4"]
    s.observe("a.mp4", 100, 1, now=11.5)
    assert s.ready(11.5) == ["a.mp4"]


def test_poke_of_a_new_file_asks_for_a_look_but_is_not_pending() -> None:
    """An event for an unknown file only asks for a stat; it does not start the clock."""
    s = settler()
    s.poke("new.mp4", now=5.0)
    assert s.next_check_at(5.0) == 5.0
    assert s.due(5.0) == ["new.mp4"]
    assert s.ready(100.0) == [] and "new.mp4" not in s.pending()
    s.observe("new.mp4", 1, 1, now=6.0)
    assert s.due(6.0) == []
    assert s.pending()["new.mp4"].first_seen == 6.0


def test_forget_drops_a_file() -> None:
    """A forgotten file is neither ready nor pending nor due."""
    s = settler()
    s.observe("a.mp4", 100, 1, now=0.0)
    s.observe("a.mp4", 100, 1, now=10.0)
    s.poke("b.mp4", now=10.0)
    s.forget("a.mp4")
    s.forget("b.mp4")
    s.forget("never-seen")
    assert s.ready(10.0) == [] and s.pending() == {} and s.due(10.0) == []
    assert len(s) == 0 and s.next_check_at(10.0) is None


def test_next_check_at_is_when_a_file_could_settle() -> None:
    """The daemon is told when the next stat could make something ready, never a past time."""
    s = settler()
    assert s.next_check_at(0.0) is None
    s.observe("a.mp4", 1, 1, now=0.0)
    s.observe("b.mp4", 1, 1, now=3.0)
    assert s.next_check_at(1.0) == 10.0
    assert s.next_check_at(12.0) == 12.0
    assert s.due(12.0) == ["a.mp4"]
    s.observe("a.mp4", 1, 1, now=12.0)
    assert s.ready(12.0) == ["a.mp4"]
    assert s.next_check_at(12.0) == 13.0  # a settled file waiting to be taken is no reason


def test_a_settled_file_left_waiting_does_not_ask_for_checks() -> None:
    """A ready file kept back (its asset is busy) gives no wake-up time of its own."""
    s = settler()
    s.observe("a.mp4", 1, 1, now=0.0)
    s.observe("a.mp4", 1, 1, now=10.0)
    assert s.ready(10.0) == ["a.mp4"]
    assert s.next_check_at(20.0) is None and s.due(20.0) == []


def test_writing_too_long_reports_files_still_changing() -> None:
    """A file that keeps changing past max_writing_seconds is reported; a settled one is not."""
    s: Settler[str] = Settler(SETTLE, 100.0)
    for t in range(0, 101, 5):
        s.observe("endless.ts", t, t, now=float(t))
        s.observe("done.mp4", 1, 1, now=float(t))
        if t < 100:
            assert s.writing_too_long(float(t)) == []
    assert s.writing_too_long(100.0) == ["endless.ts"]
    assert s.ready(100.0) == ["done.mp4"]


def test_pending_describes_each_file() -> None:
    """pending() gives size, times, change count and whether the file settled."""
    s = settler()
    s.observe("a.mp4", 100, 1, now=0.0, ino=3, ctime_ns=5)
    s.observe("a.mp4", 200, 2, now=4.0, ino=3, ctime_ns=6)
    s.observe("a.mp4", 200, 2, now=14.0, ino=3, ctime_ns=6)
    assert s.pending() == {"a.mp4": Pending(size=200, mtime_ns=2, ctime_ns=6, ino=3,
                                            first_seen=0.0,
                                            stable_since=4.0, last_seen=14.0, changes=1,
                                            poked=False, settled=True)}


def test_settler_keys_can_be_any_hashable() -> None:
    """Keys are opaque: tuples of folder and name work as well as paths."""
    s: Settler[tuple[str, str]] = Settler(0.0, 1.0)
    s.observe(("inbox", "a.mp4"), 1, 1, now=0.0)
    assert s.ready(0.0) == [("inbox", "a.mp4")]
    assert ("inbox", "a.mp4") in s


def test_invalid_durations_are_refused() -> None:
    """Negative settle time or a non-positive writing limit is a programming error."""
    with pytest.raises(ValueError):
        Settler(-1.0, 10.0)
    with pytest.raises(ValueError):
        Settler(1.0, 0.0)


# ---- change time and fresh looks -------------------------------------------------------

def test_a_change_of_ctime_alone_restarts_the_clock() -> None:
    """Same size, mtime and inode but a new ctime means someone wrote: wait again."""
    s = settler()
    s.observe("a.mp4", 100, OLD_MTIME, 0.0, 7, ctime_ns=1)
    s.observe("a.mp4", 100, OLD_MTIME, 9.0, 7, ctime_ns=2)
    s.observe("a.mp4", 100, OLD_MTIME, 18.0, 7, ctime_ns=2)
    assert s.ready(18.0) == []
    s.observe("a.mp4", 100, OLD_MTIME, 19.0, 7, ctime_ns=2)
    assert s.ready(19.0) == ["a.mp4"]


def test_a_writer_that_fakes_mtime_never_settles_while_ctime_moves() -> None:
    """Final size first, in-place writes, old mtime put back: ctime still moves each time."""
    s = settler()
    for second in range(0, 120, 3):  # a write every 3 s, looked at every 3 s
        s.observe("copy.mov", 3_000_000, OLD_MTIME, float(second), 42,
                  ctime_ns=second * 10**9 + 1)
        assert s.ready(float(second)) == []
    s.observe("copy.mov", 3_000_000, OLD_MTIME, 130.0, 42, ctime_ns=117 * 10**9 + 1)
    assert s.ready(130.0) == ["copy.mov"]


def test_a_scan_look_starts_the_clock_but_only_a_fresh_look_settles() -> None:
    """Attributes that may come from a network client's cache never settle a file."""
    s = settler()
    s.observe("a.mp4", 100, 1, 0.0, 7, ctime_ns=1, fresh=False)
    s.observe("a.mp4", 100, 1, 20.0, 7, ctime_ns=1, fresh=False)
    assert s.ready(20.0) == []
    assert s.due(20.0) == ["a.mp4"]
    s.observe("a.mp4", 100, 1, 20.0, 7, ctime_ns=1)
    assert s.ready(20.0) == ["a.mp4"]


def test_a_failing_fresh_look_is_retried_without_spinning() -> None:
    """When only stale looks come back, the next wake-up is a second later, not at once."""
    s = settler()
    s.observe("a.mp4", 100, 1, 0.0, 7, ctime_ns=1, fresh=False)
    assert s.next_check_at(0.0) == SETTLE
    s.observe("a.mp4", 100, 1, 10.0, 7, ctime_ns=1, fresh=False)
    assert s.ready(10.0) == []
    assert s.next_check_at(10.0) == 10.0 + STALE_RETRY_SECONDS
    assert s.due(10.0) == ["a.mp4"]
    s.observe("a.mp4", 100, 1, 11.0, 7, ctime_ns=1)
    assert s.ready(11.0) == ["a.mp4"]


def test_a_stale_look_that_differs_restarts_the_clock() -> None:
    """A scan showing other attributes than the last fresh look counts as a change."""
    s = settler()
    s.observe("a.mp4", 100, 1, 0.0, 7, ctime_ns=1)
    s.observe("a.mp4", 100, 1, 12.0, 7, ctime_ns=2, fresh=False)
    s.observe("a.mp4", 100, 1, 12.0, 7, ctime_ns=2)
    assert s.ready(12.0) == []
    s.observe("a.mp4", 100, 1, 22.0, 7, ctime_ns=2)
    assert s.ready(22.0) == ["a.mp4"]


_SIGNATURE = st.tuples(*(st.integers(0, 2**63 - 1) for _ in range(4)))


@given(first=_SIGNATURE, field=st.integers(0, 3), delta=st.integers(1, 2**40),
       gap=st.integers(0, 30).map(float))
def test_any_change_in_any_field_restarts_stability(first: tuple[int, int, int, int],
                                                    field: int, delta: int, gap: float) -> None:
    """Changing size, mtime, ctime or inode, by any amount, makes the file wait again."""
    changed = list(first)
    changed[field] = (changed[field] + delta) % 2**63
    s = settler()

    def look(sig: tuple[int, int, int, int] | list[int], now: float) -> None:
        size, mtime_ns, ctime_ns, ino = sig
        s.observe("f", size, mtime_ns, now, ino, ctime_ns=ctime_ns)

    look(first, 0.0)
    look(first, SETTLE)
    assert s.ready(SETTLE) == ["f"]
    look(changed, SETTLE + gap)
    assert s.ready(SETTLE + gap) == []
    assert s.pending()["f"].stable_since == SETTLE + gap
    look(changed, 2 * SETTLE + gap)
    assert s.ready(2 * SETTLE + gap) == ["f"]


def test_a_first_look_by_scan_does_not_hold_back_the_fresh_look_when_settle_is_short() -> None:
    """Found measuring start-up: with settle_seconds 0.5 the first fresh look at a file
    found by the start-up scan came a full STALE_RETRY_SECONDS later (1 s), doubling the
    wait. The fresh look is due when the file could settle."""
    s = Settler(0.5, MAX_WRITING)
    s.observe("a.mp4", 100, 1, 0.0, 7, ctime_ns=1, fresh=False)
    assert s.next_check_at(0.0) == 0.5
    assert s.due(0.5) == ["a.mp4"]
    s.observe("a.mp4", 100, 1, 0.5, 7, ctime_ns=1)
    assert s.ready(0.5) == ["a.mp4"]
