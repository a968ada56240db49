"""Create mode in `vodwatch status` and on the web page: the share's title map is shown,
and the latest done lines carry a created asset's new ID (issue 14)."""

from __future__ import annotations

import json
import time

from tests.conftest import Setup, wait_for, write_bytes
from tests.end_to_end.test_create import create_mode
from vodwatch.status_text import clock_time
from vodwatch.titles import write_mapping
from vodwatch.web_render import render_folder


def test_status_lists_titles_with_their_assets_and_those_being_created(setup: Setup) -> None:
    create_mode(setup)
    write_bytes(setup.inbox / "Episode 12.mp4", 200_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    asked = time.time() - 30
    write_mapping(setup.inbox, "Half made", token="vw00000000000a", requested_at=asked)

    data = json.loads(setup.cli("status", "--json").stdout)
    (folder,) = data["folders"]
    assert folder["titles"] == [
        {"title": "Episode 12", "asset_id": aid, "since": folder["titles"][0]["since"]},
        {"title": "Half made", "asset_id": None, "since": asked}]
    assert folder["titles"][0]["since"] > asked  # newest asked first
    assert folder["recent_done"][0]["asset_id"] == aid

    text = setup.cli("status").stdout
    assert f"Episode 12 -> asset {aid}" in text
    assert f"Half made: being created since {clock_time(asked)}" in text
    (done_line,) = [line for line in text.splitlines() if "Episode 12.mp4" in line]
    assert f"(asset {aid})" in done_line


def test_status_shows_no_titles_for_an_update_folder_set(setup: Setup) -> None:
    """A folder set without create mode has no title map to show."""
    setup.write_config()
    write_bytes(setup.inbox / ("ab" * 16 + ".mp4"), 1000)
    setup.emulator.seed_asset("ab" * 16)
    assert setup.cli("once").returncode == 0
    data = json.loads(setup.cli("status", "--json").stdout)
    assert data["folders"][0]["titles"] == []
    text = setup.cli("status").stdout
    assert "  titles (" not in text and "(asset " not in text  # the name carries its ID


def test_web_page_lists_the_titles() -> None:
    folder = {"name": "/srv/in", "paths": {"inbox": "/srv/in"}, "paused": None,
              "available": True, "titles": [
                  {"title": "Episode <12>", "asset_id": "a" * 32, "since": 1.0},
                  {"title": "Half made", "asset_id": None, "since": 1_800_000_000.0}]}
    page = render_folder(folder)
    assert "Titles created here" in page
    assert "Episode &lt;12&gt;" in page and "a" * 32 in page
    assert "Half made" in page and "being created since " in page
    assert "Titles created here" not in render_folder({**folder, "titles": []})


def test_status_says_plainly_that_a_create_is_being_checked(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """While VOD's list does not show an asset whose create answer was lost, status shows
    the job waiting with a plain reason, and the title as being created."""
    create_mode(setup)
    setup.emulator.add_fault("reset", "create_asset", 1, phase="response")
    setup.emulator.add_fault("lag", "create_asset", 1, delay=8)
    write_bytes(setup.inbox / "Checked.mp4", 100_000)
    d = daemon_factory()

    def waiting() -> dict | None:
        data = json.loads(setup.cli("status", "--json").stdout)
        if not data["folders"]:
            return None  # the journal is not there yet
        folder = data["folders"][0]
        found = [w for w in folder["waiting"]
                 if w["reason"] == "checking whether VOD created the asset"]
        return folder if found else None

    folder = wait_for(waiting, 20, interval=0.2, what="the plain wait in status")
    assert folder["titles"] == [{"title": "Checked", "asset_id": None,
                                 "since": folder["titles"][0]["since"]}]
    wait_for(lambda: (setup.done / "Checked.mp4").exists(), 30, what="done")
    assert d.stop() == 0
    assert len(setup.emulator.assets_created()) == 1
