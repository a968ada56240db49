"""The share's status page as text: states in plain words, parts merged, names made safe."""

from __future__ import annotations

import random
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from vodwatch.sharepage_render import DASH, render

BERLIN = ZoneInfo("Europe/Berlin")
T = 1714738000.0  # 2024-05-03 14:06:40 CEST


def part(daemon_id: str = "a", state: str = "working", at: float = T, **more: Any
         ) -> dict[str, Any]:
    """A daemon's part as SharePage writes it, last alive at ``at``."""
    return {"daemon_id": daemon_id, "state": state, "why": None, "files": [],
            "not_handled": {}, "recent": [], "updated_at": at, "alive_at": at, **more}


def page(*parts: dict[str, Any], now: float = T + 5, label: str = "News") -> str:
    return render(list(parts), now, BERLIN, label)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def file_line(text: str, name: str) -> str:
    found = [line for line in lines(text) if line.startswith(name + " (")]
    assert len(found) == 1, text
    return found[0]


def test_title_has_label_and_newest_update_in_local_time_with_zone() -> None:
    """The title names the folder set and the newest update, local time with zone and date."""
    text = page(part("a", at=T - 100), part("b", at=T))
    assert lines(text)[0] == f"Upload status {DASH} News {DASH} updated 14:06:40 CEST (2024-05-03)"


@pytest.mark.parametrize(("tz", "at", "shown"), [
    (BERLIN, 1704286000.0, "13:46:40 CET"),
    (UTC, T, "12:06:40 UTC"),
])
def test_title_time_follows_the_zone(tz: Any, at: float, shown: str) -> None:
    """Winter time, summer time and UTC are each named by their abbreviation."""
    assert shown in render([part(at=at)], at, tz, "x").splitlines()[0]


@pytest.mark.parametrize(("state", "why", "sentence"), [
    ("working", None, "Working: files dropped here are uploaded."),
    ("paused", "the upload credentials are refused", "Paused: the upload credentials are refused."),
    ("paused", None, "Paused."),
    ("unavailable", "the inbox folder is missing.", "Not available: the inbox folder is missing."),
    ("unavailable", None, "Not available."),
])
def test_folder_state_sentence(state: str, why: str | None, sentence: str) -> None:
    """Each state of a live daemon is one sentence under the title."""
    assert lines(page(part(state=state, why=why)))[2] == sentence


def test_stopped_part_says_stopped_at_local_time() -> None:
    """A stopped daemon's page says when it stopped, in local time."""
    text = page(part(state="stopped", stopped_at=T - 3600))
    assert lines(text)[2].startswith("Stopped at 13:06:")


def test_stopped_on_an_earlier_day_names_the_date() -> None:
    """A stop time on another day than the page's date carries its date."""
    text = page(part("a", state="stopped", stopped_at=T - 86400),
                part("b", state="stopped", at=T, stopped_at=T - 86400))
    assert "Stopped at 14:06 on 2024-05-02:" in text


@pytest.mark.parametrize(("entry", "words"), [
    ({"state": "copying"}, f"still being copied {DASH} waits until the copy is finished"),
    ({"state": "queued", "position": 1}, "queued (next in line)"),
    ({"state": "queued", "position": 2}, "queued (2nd in line)"),
    ({"state": "queued", "position": 3}, "queued (3rd in line)"),
    ({"state": "queued", "position": 11}, "queued (11th in line)"),
    ({"state": "queued", "position": 22}, "queued (22nd in line)"),
    ({"state": "queued", "position": None}, "queued"),
    ({"state": "uploading", "percent": 42.9, "rate_bytes_per_s": 12.3e6, "eta_s": 130},
     "uploading 42 % at 12.3 MB/s, about 2 min left"),
    ({"state": "uploading", "percent": 99.99, "rate_bytes_per_s": 850e3, "eta_s": 20},
     "uploading 99 % at 850.0 kB/s, less than a minute left"),
    ({"state": "uploading", "percent": 3, "rate_bytes_per_s": 2e6, "eta_s": 7800},
     "uploading 3 % at 2.0 MB/s, about 2 h 10 min left"),
    ({"state": "uploading", "percent": None, "rate_bytes_per_s": None, "eta_s": None},
     "uploading"),
    ({"state": "waiting", "retry_at": T + 300, "why": "VOD did not answer"},
     "waiting to try again at 14:11: VOD did not answer"),
    ({"state": "waiting", "retry_at": None, "why": None}, "waiting to try again"),
    ({"state": "paused"}, "paused"),
    ({"state": "moving", "why": "someone has it open"},
     "delivered, waiting to be moved (someone has it open)"),
    ({"state": "moving"}, "delivered, being moved to done"),
    ({"state": "moving", "to": "done"}, "delivered, being moved to done"),
    ({"state": "moving", "to": "failed"}, "failed, being moved to failed"),
    ({"state": "moving", "to": "failed", "why": "someone has it open"},
     "failed, waiting to be moved to failed (someone has it open)"),
])
def test_file_state_words(entry: dict[str, Any], words: str) -> None:
    """Every file state reads as plain words, with place in line, speed and times."""
    text = page(part(files=[{"name": "clip.mp4", "size": 2_500_000, **entry}]))
    assert file_line(text, "clip.mp4") == f"clip.mp4 (2.5 MB): {words}"


def test_files_are_listed_most_advanced_first_then_by_place_in_line() -> None:
    """Uploads lead, queued files follow in their order, copies and paused ones last."""
    files = [{"name": "p", "state": "paused", "size": 1},
             {"name": "q2", "state": "queued", "position": 2, "size": 1},
             {"name": "c", "state": "copying", "size": 1},
             {"name": "q1", "state": "queued", "position": 1, "size": 1},
             {"name": "u", "state": "uploading", "size": 1},
             {"name": "w", "state": "waiting", "size": 1},
             {"name": "m", "state": "moving", "size": 1}]
    text = page(part(files=files))
    shown = [line.split(" (")[0] for line in lines(text) if " (1 byte):" in line]
    assert shown == ["u", "m", "w", "q1", "q2", "c", "p"]


def test_empty_inbox_and_no_results_say_so() -> None:
    """An empty inbox and an empty history are said, not left blank."""
    text = page(part())
    assert "Files in the inbox:\n  none\n" in text
    assert "Latest results (newest first, at most 20):\n  none yet\n" in text
    assert "Not handled" not in text


def test_not_handled_lists_each_name_and_why() -> None:
    """What will not be handled is listed by name with its reason, sorted."""
    text = page(part(not_handled={"zz": "sub-folders are not looked into",
                                  "aa.txt": "not a video or image"}))
    i = lines(text).index("Not handled (these stay where they are):")
    assert lines(text)[i + 1:i + 3] == ["aa.txt: not a video or image.",
                                        "zz: sub-folders are not looked into."]


def test_latest_results_newest_first_capped_at_twenty_across_parts() -> None:
    """The last 20 outcomes of all daemons, newest first, each with local time and mark."""
    def outcome(n: int) -> dict[str, Any]:
        return {"at": T - 60 * n, "file": f"f{n:02d}.mp4", "outcome": "failed" if n % 2 else
                "done", "detail": "asset not found" if n % 2 else "", "asset_id": f"id{n}"}
    a = part("a", recent=[outcome(n) for n in range(0, 25, 2)])
    b = part("b", recent=[outcome(n) for n in range(1, 25, 2)])
    shown = [line for line in lines(page(a, b)) if "✓" in line or "✗" in line]
    assert len(shown) == 20
    assert [line.split()[2] for line in shown] == [f"f{n:02d}.mp4:" for n in range(20)]
    assert shown[0] == "14:06  ✓ f00.mp4: Delivered to asset id0."
    assert shown[1] == (f"14:05  ✗ f01.mp4: FAILED {DASH} see failed/f01.mp4.error.txt. "
                        "Asset not found.")


def test_result_from_another_day_names_its_date() -> None:
    """An outcome from yesterday shows its date beside the time."""
    text = page(part(recent=[{"at": T - 86400, "file": "old.mp4", "outcome": "done",
                              "detail": "", "asset_id": ""}]))
    assert "14:06 on 2024-05-02  ✓ old.mp4: Delivered." in lines(text)


def test_two_working_daemons_merge_files_preferring_the_most_advanced_state() -> None:
    """Two live daemons: working, every file once, in its most advanced state."""
    a = part("a", files=[{"name": "x.mp4", "state": "queued", "position": 1, "size": 1},
                         {"name": "y.mp4", "state": "copying", "size": 1}])
    b = part("b", at=T - 30, files=[{"name": "x.mp4", "state": "uploading", "percent": 10,
                                     "size": 1},
                                    {"name": "z.mp4", "state": "waiting", "size": 1}])
    text = page(a, b)
    assert lines(text)[2] == "Working: files dropped here are uploaded."
    assert file_line(text, "x.mp4") == "x.mp4 (1 byte): uploading 10 %"
    assert file_line(text, "y.mp4").endswith(f"still being copied {DASH} waits until the copy is "
                                             "finished")
    assert file_line(text, "z.mp4") == "z.mp4 (1 byte): waiting to try again"


def test_a_stale_part_counts_as_stopped() -> None:
    """A daemon silent for longer than stale_after is stopped: the live one's state rules."""
    live = part("a", state="paused", why="the credentials are refused",
                files=[{"name": "x.mp4", "state": "queued", "position": 1, "size": 1}])
    stale = part("b", at=T - 200, files=[{"name": "x.mp4", "state": "uploading", "size": 1},
                                         {"name": "y.mp4", "state": "uploading", "size": 1}])
    text = page(live, stale)
    assert lines(text)[2] == "Paused: the credentials are refused."
    assert file_line(text, "x.mp4") == "x.mp4 (1 byte): queued (next in line)"
    assert file_line(text, "y.mp4") == "y.mp4 (1 byte): paused"


def test_alive_at_keeps_a_part_live_without_changing_its_news() -> None:
    """A part whose news is old but whose heartbeat is fresh is still working."""
    text = page(part("a", at=T - 3600, alive_at=T), now=T + 60)
    assert lines(text)[2] == "Working: files dropped here are uploaded."
    assert "updated 13:06:40" in lines(text)[0]


def test_all_stale_or_stopped_says_stopped_at_the_last_sign_of_life() -> None:
    """When no daemon is live the page says when the last one stopped."""
    text = page(part("a", state="stopped", stopped_at=T - 600, at=T - 600),
                part("b", at=T - 300), now=T + 60)
    assert lines(text)[2].startswith("Stopped at 14:01:")


def test_one_working_daemon_beats_a_paused_and_an_unavailable_one() -> None:
    """Working if any live daemon works; otherwise each distinct trouble is said once."""
    assert "Working:" in page(part("a", "paused", why="x"), part("b"))
    text = page(part("a", "paused", why="keys refused"), part("b", "unavailable",
                                                              why="share gone"),
                part("c", "paused", why="keys refused"))
    assert lines(text)[2:4] == ["Not available: share gone.", "Paused: keys refused."]


def test_same_parts_render_the_same_text_in_any_order_and_at_any_later_time() -> None:
    """Deterministic: part order and the passing of time (short of staleness) change nothing."""
    a = part("a", files=[{"name": f"f{n}", "state": "queued", "position": n, "size": n}
                         for n in range(1, 8)], not_handled={"d1": "x", "d0": "y"})
    b = part("b", at=T - 10, files=[{"name": "f3", "state": "uploading", "size": 3}])
    parts = [a, b]
    first = render(parts, T + 1, BERLIN, "News")
    for _ in range(5):
        random.shuffle(parts)
        assert render(parts, T + 100, BERLIN, "News") == first


def test_names_with_line_breaks_and_bidi_overrides_are_escaped_everywhere() -> None:
    """A name with "\\n" or U+202E cannot break a line or reorder text on the page."""
    evil = "evil\n\u202egpj.exe"
    text = page(part(why="x", files=[{"name": evil, "state": "waiting", "size": 1,
                                      "why": "line\nbreak"}],
                     not_handled={evil: "bad\u202e"},
                     recent=[{"at": T, "file": evil, "outcome": "failed",
                              "detail": "d\r\n", "asset_id": "a\n"}]),
                label="lab\u202eel")
    assert "\u202e" not in text and "\r" not in text
    assert text.count("evil\\x0a\\u202egpj.exe") == 4  # file, not handled, result, error file
    assert "failed/evil\\x0a\\u202egpj.exe.error.txt" in text
    assert "lab\\u202eel" in lines(text)[0]
    assert len(text.splitlines()) == len(page(part(why="x", files=[{"name": "n", "state":
        "waiting", "size": 1}], not_handled={"n": "x"}, recent=[{"at": T, "file": "n",
        "outcome": "failed", "detail": "", "asset_id": ""}])).splitlines())


def test_malformed_parts_from_other_versions_do_not_break_the_page() -> None:
    """Garbage in another daemon's part is skipped, never raised."""
    odd = {"daemon_id": 5, "state": "working", "updated_at": "soon", "alive_at": T, "files": [
        "x", {"name": 3}, {"name": "ok.mp4", "state": "teleporting", "size": "big"}],
        "not_handled": ["x"], "recent": [{"at": "x"}, 7, {"at": float("nan"), "file": "n"}]}
    text = page(part(), odd)
    assert "ok.mp4: teleporting" in text
    assert render([], T, BERLIN, "").startswith("Upload status\n\nNo news")
