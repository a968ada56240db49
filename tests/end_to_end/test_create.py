"""Create mode end to end (issue 14, SPEC §2): `vodwatch once`/`run` against the emulator.

A file named without an asset ID becomes a new asset, exactly once, with what was dropped
beside it; lost answers and kill -9 never make a second asset; later files of the title
update the asset it became.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time

from tests.conftest import Setup, wait_for, write_bytes
from vodwatch.titles import digest

FOLDER = {"create_assets": True}


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def create_mode(setup: Setup, **extra: object) -> None:
    folder = {"inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
              **FOLDER, **extra}
    setup.overrides["folders"] = [folder]
    setup.write_config()


def creates(setup: Setup) -> list[dict]:
    return [r.body for r in setup.emulator.requests
            if r.operation == "create_asset" and r.body is not None]


def mapping(setup: Setup, title: str) -> dict:
    path = setup.inbox / ".vodwatch" / "titles" / f"{digest(title)}.json"
    return dict(json.loads(path.read_text()))


def test_video_cover_and_subtitles_create_one_asset(setup: Setup) -> None:
    """A title's video, cover and two subtitles go in one create request; the new asset
    ID reaches the delivery record and the share's title map."""
    create_mode(setup)
    video = write_bytes(setup.inbox / "Episode 12.mp4", 2_000_000)
    cover = write_bytes(setup.inbox / "Episode 12.cover.jpg", 20_000)
    sub1 = write_bytes(setup.inbox / "Episode 12.1.en.srt", 900)
    sub2 = write_bytes(setup.inbox / "Episode 12.2.fr.srt", 800)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    (body,) = creates(setup)
    assert body["title"] == "Episode 12"
    assert (body["video_name"], body["video_type"], body["video_md5"]) == (
        "Episode 12.mp4", "MP4", b64md5(video))
    assert (body["cover_type"], body["cover_md5"]) == ("JPG", b64md5(cover))
    assert [(s["id"], s["language"], s["md5"]) for s in body["subtitles"]] == [
        (1, "EN", b64md5(sub1)), (2, "FR", b64md5(sub2))]
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    emu = setup.emulator
    assert emu.read_object(aid, "video") == video
    assert emu.read_object(aid, "cover") == cover
    assert emu.read_object(aid, "subtitle", 2) == sub2
    assert emu.confirms(aid) == ["CREATED"]
    assert setup.names(setup.done) == sorted(["Episode 12.mp4", "Episode 12.cover.jpg",
                                              "Episode 12.1.en.srt", "Episode 12.2.fr.srt"])
    assert mapping(setup, "Episode 12")["asset_id"] == aid
    records = "".join(p.read_text() for p in setup.done.glob("deliveries *.csv"))
    assert aid in records and "Episode 12.mp4" in records


def test_later_cover_and_subtitle_update_the_created_asset(setup: Setup) -> None:
    """After the title became an asset, <title>.cover.jpg and <title>.2.fr.srt update it;
    a second video of that title fails and says to rename it."""
    create_mode(setup)
    write_bytes(setup.inbox / "Trailer.mov", 500_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    cover = write_bytes(setup.inbox / "Trailer.cover.png", 10_000, seed="later")
    sub = write_bytes(setup.inbox / "Trailer.2.fr.srt", 700)
    assert setup.cli("once").returncode == 0
    assert len(setup.emulator.assets_created()) == 1
    updates = [r.body for r in setup.emulator.requests if r.operation == "update_asset"]
    assert [u["asset_id"] for u in updates] == [aid]
    assert setup.emulator.read_object(aid, "cover") == cover
    assert setup.emulator.read_object(aid, "subtitle", 2) == sub
    # The asset has its video: another Trailer.mov is refused, naming the asset.
    write_bytes(setup.inbox / "Trailer.mov", 600_000, seed="again")
    assert setup.cli("once").returncode == 1
    text = (setup.failed / "Trailer.mov.error.txt").read_text()
    assert aid in text and "rename" in text.lower()
    assert len(setup.emulator.assets_created()) == 1


def test_sidecar_and_folder_defaults_reach_vod(setup: Setup) -> None:
    """<title>.yaml gives title, description, tags...; the folder set's defaults fill in."""
    create_mode(setup, asset_defaults={"category_id": 7, "tags": ["desk"]})
    setup.emulator.add_category(7, "News")
    write_bytes(setup.inbox / "clip.mp4", 300_000)
    (setup.inbox / "clip.yaml").write_text(
        "title: Evening news\ndescription: The evening edition\ntags: [news, sport]\n"
        "auto_publish: false\n", encoding="utf-8")
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    (body,) = creates(setup)
    assert body["title"] == "Evening news"
    assert body["description"] == "The evening edition"
    assert body["auto_publish"] == 0
    assert body["category_id"] == 7
    tags = body["tags"].split(",")
    assert tags[:2] == ["news", "sport"] and tags[2].startswith("vw") and len(tags[2]) == 14
    (made,) = setup.emulator.assets_created()
    assert made["title"] == "Evening news"
    assert setup.names(setup.done) == ["clip.mp4", "clip.yaml"]


def test_bad_sidecar_fails_the_group_naming_the_field(setup: Setup) -> None:
    create_mode(setup)
    write_bytes(setup.inbox / "promo.mp4", 100_000)
    (setup.inbox / "promo.yaml").write_text("tags: [a-very-long-tag-name-here]\n")
    assert setup.cli("once").returncode == 1
    assert setup.emulator.assets_created() == []
    assert "promo.mp4" in setup.names(setup.failed)
    text = (setup.failed / "promo.yaml.error.txt").read_text()
    assert "tags" in text and "16 bytes" in text


def test_long_title_is_shortened_and_the_record_keeps_the_name(setup: Setup) -> None:
    create_mode(setup)
    name = "é" * 100 + ".mp4"  # 200 bytes of title
    write_bytes(setup.inbox / name, 10_000)
    assert setup.cli("once").returncode == 0
    (body,) = creates(setup)
    assert body["title"] == "é" * 64
    assert len(body["video_name"].encode()) <= 128 and body["video_name"].endswith(".mp4")
    assert setup.names(setup.done) == [name]


def test_multipart_create(setup: Setup) -> None:
    """A video over the multipart threshold is sent in parts to the created asset."""
    create_mode(setup)
    video = write_bytes(setup.inbox / "Big one.mp4", 21 * 1024 * 1024)
    result = setup.cli("once", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (made,) = setup.emulator.assets_created()
    assert setup.emulator.read_object(made["asset_id"], "video") == video
    assert setup.emulator.confirms(made["asset_id"]) == ["CREATED"]


def test_lost_create_answer_never_makes_a_second_asset(setup: Setup) -> None:
    """VOD created the asset but the answer was lost: the asset is found by its token,
    adopted (open upload cancelled, fresh URLs) and filled; no second asset."""
    create_mode(setup)
    setup.emulator.add_fault("reset", "create_asset", 1, phase="response")
    video = write_bytes(setup.inbox / "Lost.mp4", 400_000)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    assert len(creates(setup)) == 1
    assert setup.emulator.confirms(aid) == ["CANCELLED", "CREATED"]
    assert setup.emulator.read_object(aid, "video") == video
    assert any(r.operation == "list_assets" for r in setup.emulator.requests)
    assert setup.names(setup.done) == ["Lost.mp4"]


def test_kill_9_at_random_moments_leaves_one_asset_per_title(setup: Setup,
                                                              daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A daemon killed -9 again and again while titles are being created: at the end every
    title is in done/ and became exactly one asset."""
    create_mode(setup)
    titles = [f"Chaos {n}" for n in range(4)]
    for n, title in enumerate(titles):
        write_bytes(setup.inbox / f"{title}.mp4", 300_000 + n * 250_000)
        write_bytes(setup.inbox / f"{title}.cover.jpg", 5_000)
    rng = random.Random(14)
    deadline = time.monotonic() + 60
    for _ in range(5):
        d = daemon_factory()
        time.sleep(rng.uniform(0.3, 1.5))
        d.kill()
        if time.monotonic() > deadline:
            break
    d = daemon_factory()

    def all_done() -> bool:
        return len([n for n in setup.names(setup.done) if n.endswith(".mp4")]) == len(titles)

    wait_for(all_done, timeout=200)  # a kill just before a create was sent costs 120 s
    d.stop()
    made = setup.emulator.assets_created()
    by_title: dict[str, int] = {}
    for asset in made:
        by_title[asset["title"]] = by_title.get(asset["title"], 0) + 1
    assert by_title == {title: 1 for title in titles}, made
    for title in titles:
        aid = mapping(setup, title)["asset_id"]
        assert setup.emulator.asset(aid)["status"] not in ("CREATING", "CANCELLED")
    assert setup.names(setup.failed) == []


def test_a_bad_name_in_create_mode_lists_the_title_names_too(setup: Setup) -> None:
    """The error file of a create-mode folder set shows the title forms it accepts."""
    create_mode(setup)
    write_bytes(setup.inbox / "Episode 12.webm", 10_000)
    assert setup.cli("once").returncode == 1
    text = (setup.failed / "Episode 12.webm.error.txt").read_text()
    editor = text.partition("For the operator")[0]
    assert "Accepted names:" in editor
    assert "Episode 12.mp4 for a new media asset titled Episode 12" in editor
    assert "<asset_id>.mp4 for the video" in editor
    assert setup.emulator.assets_created() == []
