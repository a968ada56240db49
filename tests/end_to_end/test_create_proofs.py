"""Create mode end to end, the remaining proofs of issue 14: audio titles, every metadata
key through a JSON sidecar, replacing the video of an asset whose upload failed, a bad
`asset_defaults` in `check`, and a title over VOD's 128 bytes in the delivery record."""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import Setup, write_bytes
from tests.end_to_end.test_create import b64md5, create_mode, creates


def test_an_audio_title_creates_an_asset_and_its_subtitle_fails_on_its_own(
        setup: Setup) -> None:
    """`Podcast 3.mp3` becomes an audio asset; VOD takes no subtitles for audio, so
    `Podcast 3.1.en.srt` is not sent and fails with its own error file."""
    create_mode(setup)
    audio = write_bytes(setup.inbox / "Podcast 3.mp3", 150_000)
    cover = write_bytes(setup.inbox / "Podcast 3.cover.png", 4_000)
    write_bytes(setup.inbox / "Podcast 3.1.en.srt", 500)
    assert setup.cli("once").returncode == 1  # the subtitle failed
    (body,) = creates(setup)
    assert (body["video_type"], body["video_md5"]) == ("MP3", b64md5(audio))
    assert "subtitles" not in body and body["cover_md5"] == b64md5(cover)
    (made,) = setup.emulator.assets_created()
    assert setup.emulator.read_object(made["asset_id"], "video") == audio
    assert setup.names(setup.done) == ["Podcast 3.cover.png", "Podcast 3.mp3"]
    assert setup.names(setup.failed) == ["Podcast 3.1.en.srt", "Podcast 3.1.en.srt.error.txt"]
    text = (setup.failed / "Podcast 3.1.en.srt.error.txt").read_text()
    assert "audio" in text and "no subtitles" in text


def test_every_sidecar_key_of_a_json_sidecar_reaches_vod(setup: Setup) -> None:
    """title, description, category_id, tags, auto_publish and template_group_name from
    `<title>.json` are in the create request and on the emulator's asset."""
    create_mode(setup)
    setup.emulator.add_category(42, "Drama")
    write_bytes(setup.inbox / "pilot.mp4", 200_000)
    (setup.inbox / "pilot.json").write_text(json.dumps({
        "title": "The Pilot", "description": "Where it begins", "category_id": 42,
        "tags": ["drama", "s01"], "auto_publish": True,
        "template_group_name": "hd-templates"}), encoding="utf-8")
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    (body,) = creates(setup)
    assert (body["title"], body["description"], body["category_id"], body["auto_publish"],
            body["template_group_name"]) == ("The Pilot", "Where it begins", 42, 1,
                                             "hd-templates")
    assert body["tags"].split(",")[:2] == ["drama", "s01"]
    (made,) = setup.emulator.assets_created()
    asset = setup.emulator.asset(made["asset_id"])
    assert asset is not None
    assert (asset["title"], asset["description"], asset["category_id"],
            asset["auto_publish"]) == ("The Pilot", "Where it begins", 42, 1)
    assert asset["options"]["template_group_name"] == "hd-templates"
    assert set(asset["tags"]) >= {"drama", "s01"}
    assert setup.names(setup.done) == ["pilot.json", "pilot.mp4"]


@pytest.mark.parametrize("state", ["UPLOAD_FAILED", "CANCELLED"])
def test_a_later_video_replaces_the_video_of_a_title_whose_upload_failed(
        setup: Setup, state: str) -> None:
    """The title's asset lost its upload (FAILED or CANCELLED): a later `<title>.mp4`
    updates that asset (no second asset), and VOD ends up with the new video."""
    create_mode(setup)
    write_bytes(setup.inbox / "Clip.mp4", 200_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    setup.emulator.seed_asset(aid, state)
    again = write_bytes(setup.inbox / "Clip.mp4", 220_000, seed="again")
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(setup.emulator.assets_created()) == 1
    updates = [r.body["asset_id"] for r in setup.emulator.requests
               if r.operation == "update_asset" and r.body]
    assert updates == [aid]
    assert setup.emulator.read_object(aid, "video") == again
    assert setup.emulator.confirms(aid) == ["CREATED", "CREATED"]  # the first, the new one
    assert setup.names(setup.done) == ["Clip (2).mp4", "Clip.mp4"]


def test_a_bad_asset_default_fails_check_naming_the_key(setup: Setup) -> None:
    create_mode(setup, asset_defaults={"category_id": "news"})
    result = setup.cli("check")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "asset_defaults" in output and "category_id" in output
    create_mode(setup, asset_defaults={"colour": "blue"})
    result = setup.cli("check")
    assert result.returncode != 0
    assert "colour" in result.stdout + result.stderr


def test_a_title_over_128_bytes_is_shortened_for_vod_and_kept_whole_in_the_record(
        setup: Setup) -> None:
    create_mode(setup)
    title = "Épisode " + "é" * 80  # 169 bytes
    name = f"{title}.mp4"
    write_bytes(setup.inbox / name, 100_000)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    (body,) = creates(setup)
    assert len(body["title"].encode()) <= 128 and title.startswith(body["title"])
    assert len(body["video_name"].encode()) <= 128 and body["video_name"].endswith(".mp4")
    (made,) = setup.emulator.assets_created()
    (record,) = setup.done.glob("deliveries *.csv")
    rows = list(csv.reader(record.read_text(encoding="utf-8").splitlines()))
    assert any(name in row and made["asset_id"] in row for row in rows), rows
    assert setup.names(setup.done) == [name]
