"""Create mode's recovery rules that need no VOD: which listed asset is ours, and the
plain wait while VOD may still be creating it (vodwatch.step_create, vodwatch.decide)."""

from __future__ import annotations

from vodwatch.decide import Later, Next, Situation, decide
from vodwatch.retry import RetryPolicy
from vodwatch.states import JobState
from vodwatch.step_create import CHECKING, created_ids


def _record(asset_id: str, title: str, created: str) -> dict[str, object]:
    return {"asset_id": asset_id, "title": title, "create_time": created}


def test_only_records_titled_as_sent_count_oldest_first() -> None:
    """A list whose filter VOD ignored holds strangers: they are never adopted; of two
    assets of ours (a duplicate), the first create wins."""
    records = [
        _record("c" * 32, "Episode 12", "20261130080500"),
        _record("s" * 32, "Episode 12 extended", "20261130080000"),
        _record("a" * 32, "Episode 12", "20261130080100"),
        _record("x" * 32, "Another", "20261130070000"),
        {"title": "Episode 12"}, "junk",
    ]
    assert created_ids(records, "Episode 12") == ["a" * 32, "c" * 32]
    assert created_ids(records, "Nothing") == []
    assert created_ids(None, "Episode 12") == []


def test_titles_compare_in_one_unicode_form() -> None:
    assert created_ids([_record("a" * 32, "Cafe\u0301", "1")], "Caf\u00e9") == ["a" * 32]


def test_later_is_a_plain_wait_from_the_same_state() -> None:
    verdict = decide(Situation(Later(CHECKING, 5.0), JobState.CREATING, 3), RetryPolicy())
    assert (verdict.next, verdict.delay, verdict.why) == (Next.RETRY, 5.0, CHECKING)
