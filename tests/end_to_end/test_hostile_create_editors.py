"""Hostile tests of create mode's refused names, of error files replaced in done/ and
failed/, of a grouped update VOD refuses for the video only, and of signal storms."""

from __future__ import annotations

import shutil
import time

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import bind, visible


def create_mode(setup: Setup, **extra: object) -> None:
    folder = {"inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
              "create_assets": True, **extra}
    setup.overrides["folders"] = [folder]
    setup.write_config()


def editor_part(setup: Setup, name: str) -> str:
    return (setup.failed / f"{name}.error.txt").read_text().partition("For the operator")[0]


def test_refused_subtitle_names_never_get_a_suggestion_with_another_title(
        setup: Setup) -> None:
    """A create-mode subtitle with a wrong language is explained by its language; the
    suggestion (if any) keeps the title as written and never invents a language, and no
    message speaks of an asset ID the name never meant to have."""
    create_mode(setup)
    names = ["Show.1.xyzw.srt", "Ep.3.1.english-uk.srt", "Show 2.1.en - Copy.srt",
             "Show.1.2.srt", " .mp4", "Tab\there.mp4"]
    for name in names:
        write_bytes(setup.inbox / name, 300)
    assert setup.cli("once").returncode == 1
    assert visible(setup.inbox) == set()
    texts = {name: editor_part(setup, name) for name in names}
    for name, text in texts.items():
        assert "asset ID" not in text.partition("Accepted names:")[0], (name, text)
        assert ".1.1.en.srt" not in text and ".3.1.1." not in text, (name, text)
    assert "'xyzw' is not a language code" in texts["Show.1.xyzw.srt"]
    assert "title" in texts["Show.1.2.srt"].partition("Accepted names:")[0]
    assert "no extension" not in texts[" .mp4"], texts[" .mp4"]
    assert "control character" in texts["Tab\there.mp4"], texts["Tab\there.mp4"]
    assert setup.emulator.assets_created() == []


def test_a_file_moved_back_that_fails_while_failed_is_read_only_replaces_its_error_file(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A failed file moved back by hand fails again while failed/ is read-only (its old
    error file cannot be removed then): once failed/ is writable again it is back under its
    own name with a new error file; no ` (2)` copy, no orphan error file."""
    aid = asset_id(9170)
    setup.emulator.seed_asset(aid, "PUBLISHED")  # a video is refused in this state
    name = f"{aid}.mp4"
    write_bytes(setup.inbox / name, 3000)
    assert setup.cli("once").returncode == 1
    old = setup.failed / f"{name}.error.txt"
    old.write_text(old.read_text() + "(the old explanation)\n")
    shutil.move(str(setup.failed / name), str(setup.inbox / name))
    for target in ("asset_info", "asset_details"):
        setup.emulator.add_fault("slow", target, count=1, delay=3)
    daemon = daemon_factory()
    wait_for(lambda: "job.claimed" in daemon.output(), 30, what="claimed")
    with bind(setup.failed, setup.failed, read_only=True):
        wait_for(lambda: "job.failed" in daemon.output(), 30, what="failed again")
        time.sleep(2)
    wait_for(lambda: not (setup.inbox / name).exists(), 30, what="moved to failed/")
    wait_for(lambda: "(the old explanation)" not in old.read_text(), 30,
             what="the old error file replaced")
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == sorted([name, f"{name}.error.txt"])
