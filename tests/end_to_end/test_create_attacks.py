"""Hostile tests of create mode (SPEC §2 create mode, §3, §4): odd titles, files of a title
arriving apart, two daemons on one share, kill -9 with lost answers, bad sidecars."""

from __future__ import annotations

import random
import time
import unicodedata

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import ops
from vodwatch.titles import digest, read_mapping


def create_mode(setup: Setup, **extra: object) -> None:
    folder = {"inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
              "create_assets": True, **extra}
    setup.overrides["folders"] = [folder]
    setup.write_config()


def creates(setup: Setup) -> list[dict]:
    return [r.body for r in ops(setup, "create_asset") if r.body is not None]


def titles_made(setup: Setup) -> dict[str, int]:
    counts: dict[str, int] = {}
    for asset in setup.emulator.assets_created():
        counts[asset["title"]] = counts.get(asset["title"], 0) + 1
    return counts


def test_emoji_and_200_byte_titles_create_one_asset_each_cut_for_vod(setup: Setup) -> None:
    """An emoji title and a 200-byte emoji title each become one asset, cut at a
    character boundary to 128 bytes, and keep their full names in done/."""
    create_mode(setup)
    short = "Ep 1 🎬 café — «quotes» & <b>"
    long = "🎬" * 50  # 200 bytes
    write_bytes(setup.inbox / f"{short}.mp4", 20_000)
    write_bytes(setup.inbox / f"{long}.mov", 20_000)
    write_bytes(setup.inbox / f"{long}.cover.png", 2_000)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert titles_made(setup) == {short: 1, "🎬" * 32: 1}
    body = next(b for b in creates(setup) if b["title"] == "🎬" * 32)
    assert body["video_name"] == "🎬" * 31 + ".mov"
    assert body["cover_type"] == "PNG"
    assert setup.names(setup.done) == sorted([f"{short}.mp4", f"{long}.mov",
                                              f"{long}.cover.png"])


def test_nfd_and_nfc_spellings_of_one_title_make_one_asset(setup: Setup) -> None:
    """An NFC video name with an NFD (macOS) cover and subtitle of the same title go in one
    create request, and none of them fails."""
    create_mode(setup)
    nfc = "Résumé à la carte"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    write_bytes(setup.inbox / f"{nfc}.mp4", 30_000)
    write_bytes(setup.inbox / f"{nfd}.cover.jpg", 3_000)
    write_bytes(setup.inbox / f"{nfd}.1.en.srt", 300)
    result = setup.cli("once")
    assert setup.names(setup.failed) == [], [
        p.read_text() for p in setup.failed.glob("*.error.txt")]
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(setup.emulator.assets_created()) == 1
    (body,) = creates(setup)
    assert "cover_md5" in body and len(body.get("subtitles", [])) == 1, body


def test_later_nfd_cover_updates_the_asset_an_nfc_title_became(setup: Setup) -> None:
    """After an NFC title became an asset, a cover named in NFD updates that same asset."""
    create_mode(setup)
    nfc = "Noël à Zürich"
    write_bytes(setup.inbox / f"{nfc}.mp4", 30_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    cover = write_bytes(setup.inbox / f"{unicodedata.normalize('NFD', nfc)}.cover.jpg", 3_000)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(setup.emulator.assets_created()) == 1
    assert [r.body["asset_id"] for r in ops(setup, "update_asset")] == [made["asset_id"]]
    assert setup.emulator.read_object(made["asset_id"], "cover") == cover


def test_a_32_hex_title_is_an_asset_id_and_never_creates(setup: Setup) -> None:
    """A name that is 32 hex characters is an asset ID (update); unknown, it fails and no
    asset is created; 31 or 33 hex characters are refused, not created either."""
    create_mode(setup)
    unknown = asset_id(7001)
    write_bytes(setup.inbox / f"{unknown}.mp4", 10_000)
    write_bytes(setup.inbox / f"{unknown[:31]}.mp4", 10_000)
    write_bytes(setup.inbox / f"{unknown}a.mp4", 10_000)
    result = setup.cli("once")
    assert result.returncode == 1, result.stdout + result.stderr
    assert setup.emulator.assets_created() == []
    assert creates(setup) == []
    assert setup.names(setup.inbox) == []
    for name in (f"{unknown}.mp4", f"{unknown[:31]}.mp4", f"{unknown}a.mp4"):
        assert (setup.failed / f"{name}.error.txt").exists(), name


def test_a_title_that_looks_like_a_subtitle_name_is_its_own_title(setup: Setup) -> None:
    """`x.1.en.mp4` is a video titled `x.1.en`; `x.1.en.srt` is subtitle 1 of title `x`:
    two assets, the subtitle with x."""
    create_mode(setup)
    write_bytes(setup.inbox / "x.mp4", 10_000, seed="x")
    write_bytes(setup.inbox / "x.1.en.srt", 300)
    write_bytes(setup.inbox / "x.1.en.mp4", 10_000, seed="x1en")
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert titles_made(setup) == {"x": 1, "x.1.en": 1}
    by_title = {b["title"]: b for b in creates(setup)}
    assert [s["id"] for s in by_title["x"]["subtitles"]] == [1]
    assert "subtitles" not in by_title["x.1.en"]


def test_a_name_with_a_control_character_fails_alone(setup: Setup) -> None:
    """A title with a newline in it is not created; it fails with an explanation while a
    good title beside it is created."""
    create_mode(setup)
    write_bytes(setup.inbox / "bad\nname.mp4", 10_000)
    write_bytes(setup.inbox / "Good one.mp4", 10_000)
    result = setup.cli("once")
    assert result.returncode == 1, result.stdout + result.stderr
    assert titles_made(setup) == {"Good one": 1}
    assert (setup.failed / "bad\nname.mp4.error.txt").exists()


def test_create_mode_off_a_plain_title_fails_with_a_name_explanation(setup: Setup) -> None:
    """Without create_assets a title-named video fails, says which names are accepted,
    and nothing is created."""
    write_bytes(setup.inbox / "Episode 12.mp4", 10_000)
    result = setup.cli("once")
    assert result.returncode == 1, result.stdout + result.stderr
    assert creates(setup) == [] and setup.emulator.assets_created() == []
    text = (setup.failed / "Episode 12.mp4.error.txt").read_text()
    assert "asset ID" in text or "asset id" in text.lower()
    assert "32" in text


def test_cover_first_while_the_video_is_still_copying_goes_in_one_request(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """The cover lands first and settles while the video is still being written: vodwatch
    waits for the video and sends both in one create request."""
    create_mode(setup)
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    write_bytes(setup.inbox / "Slow copy.cover.jpg", 2_000)
    time.sleep(0.3)
    path = setup.inbox / "Slow copy.mp4"
    with open(path, "wb") as fh:  # a slow copy: 3 s, a chunk every 0.2 s
        for i in range(15):
            fh.write(bytes([i]) * 50_000)
            fh.flush()
            time.sleep(0.2)
    wait_for(lambda: "Slow copy.mp4" in setup.names(setup.done)
             or setup.names(setup.failed), 30, what="an outcome")
    time.sleep(1)
    assert setup.names(setup.failed) == [], [
        p.read_text() for p in setup.failed.glob("*.error.txt")]
    assert len(setup.emulator.assets_created()) == 1
    (body,) = creates(setup)
    assert "cover_md5" in body
    assert daemon.stop() == 0


def test_cover_seconds_before_the_video_fails_then_retried_updates_the_asset(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A cover that settled alone fails saying to drop it with the video; the video alone
    creates the asset; the cover moved back updates that asset; one asset in all."""
    create_mode(setup)
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    cover = write_bytes(setup.inbox / "Apart.cover.jpg", 2_000)
    wait_for(lambda: (setup.failed / "Apart.cover.jpg.error.txt").exists(), 15,
             what="the lonely cover fails")
    assert "video" in (setup.failed / "Apart.cover.jpg.error.txt").read_text()
    write_bytes(setup.inbox / "Apart.mp4", 20_000)
    wait_for(lambda: (setup.done / "Apart.mp4").exists(), 20, what="the video done")
    (made,) = setup.emulator.assets_created()
    retry = setup.cli("retry", "--all")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    wait_for(lambda: (setup.done / "Apart.cover.jpg").exists(), 20, what="the cover done")
    assert len(setup.emulator.assets_created()) == 1
    assert setup.emulator.read_object(made["asset_id"], "cover") == cover
    assert daemon.stop() == 0


def test_later_second_video_with_other_extension_fails_naming_the_asset(setup: Setup) -> None:
    """After `Promo.mp4` became an asset, `Promo.mkv` fails with the asset ID and a hint to
    rename; a later `Promo.cover.jpg` updates the same asset."""
    create_mode(setup)
    write_bytes(setup.inbox / "Promo.mp4", 20_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    write_bytes(setup.inbox / "Promo.mkv", 20_000, seed="other")
    cover = write_bytes(setup.inbox / "Promo.cover.jpg", 2_000)
    assert setup.cli("once").returncode == 1
    text = (setup.failed / "Promo.mkv.error.txt").read_text()
    assert aid in text and "rename" in text.lower()
    assert len(setup.emulator.assets_created()) == 1
    assert setup.emulator.read_object(aid, "cover") == cover
    assert "Promo.cover.jpg" in setup.names(setup.done)


def test_bad_sidecars_fail_their_title_naming_the_key(setup: Setup) -> None:
    """Bad YAML, wrong types, unknown keys, a list, non-UTF-8, a huge description and a
    title over 128 bytes each fail their own title, naming the problem; nothing of
    theirs is created; a good title beside them is."""
    create_mode(setup)
    bad = {
        "syntax": ("title: [unclosed\n", "line"),
        "types": ("category_id: twelve\n", "category_id"),
        "autopub": ("auto_publish: maybe\n", "auto_publish"),
        "unknown": ("titel: Oops\n", "titel"),
        "alist": ("- a\n- b\n", "key"),
        "huge": ("description: " + "x" * 5000 + "\n", "description"),
        "bigtitle": ("title: " + "t" * 200 + "\n", "title"),
        "tagsdict": ("tags: {a: 1}\n", "tags"),
    }
    for title, (text, _) in bad.items():
        write_bytes(setup.inbox / f"{title}.mp4", 5_000, seed=title)
        (setup.inbox / f"{title}.yaml").write_text(text, encoding="utf-8")
    write_bytes(setup.inbox / "latin1.mp4", 5_000)
    (setup.inbox / "latin1.yaml").write_bytes("description: café\n".encode("latin-1"))
    write_bytes(setup.inbox / "fine.mp4", 5_000)
    (setup.inbox / "fine.yaml").write_text("# only a comment\n")
    result = setup.cli("once")
    assert result.returncode == 1, result.stdout + result.stderr
    assert titles_made(setup) == {"fine": 1}
    for title, (_, word) in bad.items():
        assert f"{title}.mp4" in setup.names(setup.failed), title
        text = (setup.failed / f"{title}.yaml.error.txt").read_text()
        assert word in text, (title, text)
    assert "UTF-8" in (setup.failed / "latin1.yaml.error.txt").read_text()
    assert setup.names(setup.inbox) == []


def test_json_sidecar_with_utf8_bom_and_unicode(setup: Setup) -> None:
    """A JSON sidecar saved by a Windows editor (UTF-8 with a BOM) gives its metadata."""
    create_mode(setup)
    write_bytes(setup.inbox / "Bom.mp4", 5_000)
    (setup.inbox / "Bom.json").write_bytes(
        b"\xef\xbb\xbf" + '{"title": "Été", "tags": ["été"]}'.encode())
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert titles_made(setup) == {"Été": 1}


def test_two_daemons_with_their_own_state_make_one_asset_per_title(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Two daemons (own state_dir, short leases) on one create-mode inbox see new titles at
    once: each title becomes exactly one asset, every file done once."""
    create_mode(setup)
    setup.write_config(claims={"instance_id": "one", "lease_seconds": 1})
    other = setup.root / "config-b.yaml"
    text = setup.config_path.read_text().replace(str(setup.state), str(setup.root / "state-b"))
    other.write_text(text.replace("instance_id: one", "instance_id: two"))
    a = daemon_factory(name="a")
    b = daemon_factory(name="b", config=other)
    for d in (a, b):
        wait_for(lambda d=d: "daemon.ready" in d.output(), 20, what="ready")
    titles = [f"Twin {n}" for n in range(6)]
    for n, title in enumerate(titles):
        write_bytes(setup.inbox / f"{title}.cover.jpg", 1_000 + n)
        write_bytes(setup.inbox / f"{title}.mp4", 100_000 + n * 50_000)
    wanted = sorted([f"{t}.mp4" for t in titles] + [f"{t}.cover.jpg" for t in titles])
    wait_for(lambda: setup.names(setup.done) == wanted, 60, what="all done")
    time.sleep(2)
    assert a.stop() == 0 and b.stop() == 0
    assert titles_made(setup) == {t: 1 for t in titles}
    assert setup.names(setup.done) == wanted and setup.names(setup.failed) == []
    assert len(creates(setup)) == len(titles)


def test_kill_9_with_lost_answers_and_a_flaky_list_makes_one_asset_per_title(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """kill -9 again and again while create answers are lost and ListAssetList answers
    503: every title ends in done/ as exactly one asset, never CREATING."""
    create_mode(setup)
    setup.emulator.add_fault("reset", "create_asset", 3, phase="response")
    setup.emulator.add_fault("status", "list_assets", 4, status=503)
    titles = [f"Storm {n}" for n in range(4)]
    for n, title in enumerate(titles):
        write_bytes(setup.inbox / f"{title}.mp4", 200_000 + n * 100_000)
        write_bytes(setup.inbox / f"{title}.1.en.srt", 300 + n)
    rng = random.Random(99)
    for _ in range(5):
        d = daemon_factory()
        time.sleep(rng.uniform(0.4, 1.6))
        d.kill()
    d = daemon_factory()
    wait_for(lambda: len([n for n in setup.names(setup.done) if n.endswith(".mp4")])
             == len(titles), 90, what="all titles done")
    assert d.stop() == 0
    assert titles_made(setup) == {t: 1 for t in titles}, setup.emulator.assets_created()
    for title in titles:
        mapped = read_mapping(setup.inbox, title)
        assert mapped and mapped.get("asset_id"), (title, digest(title))
        assert setup.emulator.asset(mapped["asset_id"])["status"] not in ("CREATING",
                                                                            "CANCELLED")
    assert setup.names(setup.failed) == []


def test_a_video_rewritten_during_a_slow_create_reuses_the_asset(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """The editor re-copies the video while CreateAsset is in flight: the redone job reuses
    the asset the title became; one asset, its video the new bytes."""
    create_mode(setup)
    setup.emulator.add_fault("slow", "create_asset", 1, delay=3)
    write_bytes(setup.inbox / "Recopy.mp4", 100_000, seed="first")
    d = daemon_factory()
    wait_for(lambda: "job.claimed" in d.output(), 20, what="the claim")
    time.sleep(1.0)  # the create call is in flight (3 s)
    assert not ops(setup, "create_asset")
    new = write_bytes(setup.inbox / "Recopy.mp4", 120_000, seed="second")
    wait_for(lambda: (setup.done / "Recopy.mp4").exists(), 40, what="done")
    time.sleep(1)
    assert d.stop() == 0
    made = setup.emulator.assets_created()
    assert len(made) == 1, made
    assert setup.emulator.read_object(made[0]["asset_id"], "video") == new
    assert (setup.done / "Recopy.mp4").read_bytes() == new
