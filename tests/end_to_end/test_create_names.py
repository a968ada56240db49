"""Create mode end to end: the names vodwatch gives a title's files come back right, a
lagging list never makes a second asset, and `follow_titles` (SPEC §2, issue 14)."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import Setup, write_bytes
from tests.end_to_end.test_create import create_mode, creates, mapping


def updates(setup: Setup) -> list[dict]:
    return [r.body for r in setup.emulator.requests
            if r.operation == "update_asset" and r.body is not None]


def test_a_numbered_failed_cover_moved_back_updates_the_same_asset(setup: Setup) -> None:
    """A titled cover that failed twice is `Episode 12.cover (2).jpg` in failed/; moved back
    by hand as it is, it is the cover of Episode 12 and updates that asset."""
    create_mode(setup)
    write_bytes(setup.inbox / "Episode 12.mp4", 300_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    for seed in ("one", "two"):  # VOD refuses the update twice: two failed covers
        setup.emulator.add_fault("status", "update_asset", status=403, code="VOD.10053",
                                 message="invalid parameter")
        write_bytes(setup.inbox / "Episode 12.cover.jpg", 9_000, seed=seed)
        assert setup.cli("once").returncode == 1
    assert setup.names(setup.failed) == sorted([
        "Episode 12.cover.jpg", "Episode 12.cover.jpg.error.txt",
        "Episode 12.cover (2).jpg", "Episode 12.cover (2).jpg.error.txt"])
    back = setup.inbox / "Episode 12.cover (2).jpg"
    shutil.move(setup.failed / "Episode 12.cover (2).jpg", back)
    cover = back.read_bytes()
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(setup.emulator.assets_created()) == 1
    assert [u["asset_id"] for u in updates(setup)][-1] == aid
    assert setup.emulator.read_object(aid, "cover") == cover
    assert "Episode 12.cover (2).jpg" in setup.names(setup.done)


def test_a_numbered_subtitle_moved_back_updates_the_same_asset(setup: Setup) -> None:
    """`Episode 12.1.en (2).srt`, as done/ names a second copy, is subtitle 1 of Episode 12."""
    create_mode(setup)
    write_bytes(setup.inbox / "Episode 12.mp4", 300_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    sub = write_bytes(setup.inbox / "Episode 12.1.en (2).srt", 700)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(setup.emulator.assets_created()) == 1
    assert setup.emulator.read_object(made["asset_id"], "subtitle", 1) == sub


def test_a_numbered_video_of_a_known_title_is_that_title_not_a_new_asset(
        setup: Setup) -> None:
    """`Episode 12 (2).mp4` (a second refused video, numbered in failed/) moved back is
    Episode 12's video again: refused naming the asset, never a second asset."""
    create_mode(setup)
    write_bytes(setup.inbox / "Episode 12.mp4", 300_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    for seed in ("one", "two"):
        write_bytes(setup.inbox / "Episode 12.mp4", 200_000, seed=seed)
        assert setup.cli("once").returncode == 1
    assert "Episode 12 (2).mp4" in setup.names(setup.failed)
    shutil.move(setup.failed / "Episode 12 (2).mp4", setup.inbox / "Episode 12 (2).mp4")
    (setup.failed / "Episode 12 (2).mp4.error.txt").unlink()
    assert setup.cli("once").returncode == 1
    assert len(setup.emulator.assets_created()) == 1
    text = (setup.failed / "Episode 12 (2).mp4.error.txt").read_text()
    assert aid in text and "Episode 12 v2.mp4" in text
    # A title the map does not know keeps its numbers: a new asset of its own.
    write_bytes(setup.inbox / "Trailer (2).mp4", 100_000)
    assert setup.cli("once").returncode == 0
    assert [a["title"] for a in setup.emulator.assets_created()] == ["Episode 12", "Trailer (2)"]


# -- exactly once although the list lags ---------------------------------------------------

def test_lost_create_answer_and_a_lagging_list_make_exactly_one_asset(setup: Setup) -> None:
    """VOD created the asset but the answer was lost, and ListAssetList shows it only 4 s
    later: the daemon waits and lists again instead of creating a second asset."""
    create_mode(setup)
    setup.emulator.add_fault("reset", "create_asset", 1, phase="response")
    setup.emulator.add_fault("lag", "create_asset", 1, delay=4)
    video = write_bytes(setup.inbox / "Slow list.mp4", 300_000)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checking whether VOD created the asset" in result.stdout  # the plain wait
    (made,) = setup.emulator.assets_created()
    assert len(creates(setup)) == 1
    aid = made["asset_id"]
    assert setup.emulator.read_object(aid, "video") == video
    lists = [r for r in setup.emulator.requests if r.operation == "list_assets"]
    assert len(lists) >= 2  # one found nothing, a later one found the asset
    assert all(r.query.get("size") == ["100"] for r in lists), [r.query for r in lists]
    assert mapping(setup, "Slow list")["asset_id"] == aid


def test_a_refused_create_is_sent_again_without_waiting(setup: Setup) -> None:
    """A create VOD refused (HTTP 4xx) made nothing: the retry does not wait for the list."""
    create_mode(setup)
    setup.emulator.add_fault("status", "create_asset", 1, status=429, code="APIGW.0308")
    write_bytes(setup.inbox / "Busy.mp4", 100_000)
    result = setup.cli("once", timeout=60)  # far less than the 120 s a lost answer waits
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(setup.emulator.assets_created()) == 1 and len(creates(setup)) == 2


# -- follow_titles ----------------------------------------------------------------------

def test_follow_titles_false_a_later_cover_fails_naming_the_asset(setup: Setup) -> None:
    """With follow_titles: false a later `<title>.cover.jpg` does not update the title's
    asset: it fails, and its error file says how to name it with the asset ID."""
    create_mode(setup, follow_titles=False)
    write_bytes(setup.inbox / "Harbour.mp4", 200_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    write_bytes(setup.inbox / "Harbour.cover.jpg", 5_000)
    assert setup.cli("once").returncode == 1
    text = (setup.failed / "Harbour.cover.jpg.error.txt").read_text()
    assert "no video of that title is being created" in text
    assert f"{aid}.cover.jpg" in text
    assert updates(setup) == []


def test_follow_titles_false_a_later_video_creates_another_asset(setup: Setup) -> None:
    """With follow_titles: false a later `<title>.mp4` becomes a new asset, and the title
    map then names the new one."""
    create_mode(setup, follow_titles=False)
    write_bytes(setup.inbox / "Harbour.mp4", 200_000)
    assert setup.cli("once").returncode == 0
    second = write_bytes(setup.inbox / "Harbour.mp4", 250_000, seed="again")
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    first, again = setup.emulator.assets_created()
    assert first["asset_id"] != again["asset_id"]
    assert setup.emulator.read_object(again["asset_id"], "video") == second
    assert mapping(setup, "Harbour")["asset_id"] == again["asset_id"]
    assert setup.names(setup.done) == ["Harbour (2).mp4", "Harbour.mp4"]


def test_follow_titles_true_a_later_video_is_refused_not_a_new_asset(setup: Setup) -> None:
    """The default (follow_titles: true) for the same drop: refused, naming the asset."""
    create_mode(setup, follow_titles=True)
    write_bytes(setup.inbox / "Harbour.mp4", 200_000)
    assert setup.cli("once").returncode == 0
    write_bytes(setup.inbox / "Harbour.mp4", 250_000, seed="again")
    assert setup.cli("once").returncode == 1
    (made,) = setup.emulator.assets_created()
    assert made["asset_id"] in (setup.failed / "Harbour.mp4.error.txt").read_text()


@pytest.mark.parametrize(("name", "sidecar", "sent"), [
    ("clip.mp4", "title: Evening news\n", "Evening news"),
    ("Ä" * 70 + ".mp4", None, "Ä" * 64),  # 140 bytes: VOD gets 64 characters
])
def test_a_lost_answer_is_recovered_by_the_title_as_sent(
        setup: Setup, name: str, sidecar: str | None, sent: str) -> None:
    """Recovery compares the list's titles with the title VOD was given: the metadata
    file's title, or the file's title shortened to 128 bytes."""
    create_mode(setup)
    setup.emulator.add_fault("reset", "create_asset", 1, phase="response")
    write_bytes(setup.inbox / name, 100_000)
    if sidecar is not None:
        (setup.inbox / name.replace(".mp4", ".yaml")).write_text(sidecar, encoding="utf-8")
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    (made,) = setup.emulator.assets_created()
    assert made["title"] == sent
    assert len(creates(setup)) == 1
    assert setup.emulator.confirms(made["asset_id"]) == ["CANCELLED", "CREATED"]
