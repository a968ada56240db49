"""Hostile tests of create mode (refused names, numbered and cut names moved back, titles
that really end in ` (2)`, junk in the share's title map, a peer taking over a lost
create), of error files and status while files fail or cannot move, of files refused or
never sent in a group, and of signal storms."""

from __future__ import annotations

import json
import random
import shutil
import signal
import time

import pytest

from tests.conftest import PID, Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import bind, visible
from vodwatch.finish import error_file_for
from vodwatch.titles import digest, titles_dir


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


def test_a_new_titles_cover_and_subtitle_refused_by_the_store_fail_alone(
        setup: Setup) -> None:
    """Create mode, a multipart video with a cover and a subtitle: the store refuses every
    single PUT for good (SignatureDoesNotMatch). The cover and the subtitle fail, each
    with its own error file; the video still reaches VOD, the asset is confirmed, and a
    cover dropped later (the store well again) updates that same asset."""
    create_mode(setup)
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2, "multipart_threshold_mb": 1})
    video, cover, subtitle = "Night Walk.mp4", "Night Walk.cover.jpg", "Night Walk.1.en.srt"
    data = write_bytes(setup.inbox / video, 3 * 1024 * 1024 + 5)
    write_bytes(setup.inbox / cover, 3_000)
    write_bytes(setup.inbox / subtitle, 500)
    setup.emulator.add_fault("status", "obs_put", count=None, status=403,
                             code="SignatureDoesNotMatch", message="signature mismatch")
    result = setup.cli("once")
    assert result.returncode == 1, result.stdout + result.stderr
    assert setup.names(setup.done) == [video]
    assert setup.names(setup.failed) == sorted(
        [cover, f"{cover}.error.txt", subtitle, f"{subtitle}.error.txt"])
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    assert setup.emulator.read_object(aid, "video") == data
    assert len(setup.emulator.confirms(aid)) == 1
    for name in (cover, subtitle):
        text = editor_part(setup, name)
        assert name in text and video not in text, text
    setup.emulator.clear_faults()
    shutil.move(str(setup.failed / cover), str(setup.inbox / cover))
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(setup.emulator.assets_created()) == 1
    assert setup.emulator.read_object(aid, "cover") == (setup.done / cover).read_bytes()
    assert setup.names(setup.failed) == sorted([subtitle, f"{subtitle}.error.txt"])


def test_mixed_signal_storms_during_a_create_multipart_lose_nothing(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """While a new title's multipart upload runs: forty SIGHUPs, each with another
    bandwidth limit and settle time, a title dropped meanwhile; then SIGTERM with SIGHUPs
    right behind it (they neither count as a second SIGTERM nor reload a stopping daemon
    into trouble): exit 0. A second start finishes both titles, one asset each, one
    confirm each, the video's bytes whole."""
    create_mode(setup)
    upload = {"part_size_mb": 1, "parallel_parts": 1, "multipart_threshold_mb": 1}
    setup.write_config(upload=upload, shutdown_grace_seconds=3)
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    data = write_bytes(setup.inbox / "Storm.mp4", 12 * 1024 * 1024 + 7)
    daemon = daemon_factory()
    wait_for(lambda: "upload.multipart_started" in daemon.output(), 30, what="the upload")
    rng = random.Random(7)
    for n in range(40):
        setup.write_config(upload={**upload, "bandwidth_limit_mbps": rng.choice([0, 40, 80])},
                           settle_seconds=rng.choice([0.3, 0.5, 1.5]),
                           shutdown_grace_seconds=3)
        daemon.signal(signal.SIGHUP)
        if n == 10:
            write_bytes(setup.inbox / "Calm.mp4", 20_000)
        time.sleep(rng.choice([0, 0.01, 0.05]))
    assert daemon.proc.poll() is None
    daemon.signal(signal.SIGTERM)
    for _ in range(20):
        daemon.signal(signal.SIGHUP)
    started = time.monotonic()
    assert daemon.proc.wait(30) == 0, daemon.output()[-3000:]
    assert time.monotonic() - started < 15
    assert "Traceback" not in daemon.output() and "job.crashed" not in daemon.output()
    setup.emulator.clear_faults()
    second = daemon_factory(name="second")
    wait_for(lambda: {"Storm.mp4", "Calm.mp4"} <= set(setup.names(setup.done)), 60,
             what="both titles done")
    assert second.stop() == 0
    made = {a["title"]: a["asset_id"] for a in setup.emulator.assets_created()}
    assert sorted(made) == ["Calm", "Storm"] and len(setup.emulator.assets_created()) == 2
    assert setup.emulator.read_object(made["Storm"], "video") == data
    assert [len(setup.emulator.confirms(a)) for a in made.values()] == [1, 1]
    assert setup.names(setup.failed) == []




def test_a_real_title_ending_in_2_with_its_cover_never_touches_the_known_title(
        setup: Setup) -> None:
    """`Rocky` became an asset; then a film really titled `Rocky (2)` arrives with its cover
    `Rocky (2).cover.jpg`. vodwatch never names a cover that way (its second cover is
    `Rocky.cover (2).jpg`), so the cover says this is the title `Rocky (2)`: it becomes its
    own asset with its video and cover, and Rocky's cover is left alone."""
    create_mode(setup)
    write_bytes(setup.inbox / "Rocky.mp4", 10_000)
    rocky_cover = write_bytes(setup.inbox / "Rocky.cover.jpg", 1_000)
    assert setup.cli("once").returncode == 0
    write_bytes(setup.inbox / "Rocky (2).mp4", 12_000, seed="sequel")
    sequel_cover = write_bytes(setup.inbox / "Rocky (2).cover.jpg", 1_100, seed="sequel")
    result = setup.cli("once")
    assert result.returncode == 0, [p.read_text() for p in setup.failed.glob("*.txt")]
    made = {a["title"]: a["asset_id"] for a in setup.emulator.assets_created()}
    assert sorted(made) == ["Rocky", "Rocky (2)"]
    assert setup.emulator.read_object(made["Rocky"], "cover") == rocky_cover
    assert setup.emulator.read_object(made["Rocky (2)"], "cover") == sequel_cover


def test_junk_times_in_the_shares_title_map_never_break_status_or_a_create(
        setup: Setup) -> None:
    """The title map lives on the share, where anyone can write: entries whose times are
    1e300, NaN, negative, `true` or text neither crash `vodwatch status` nor make its
    --json invalid, and a title whose entry says it was asked at 1e300 is still created."""
    create_mode(setup)
    write_bytes(setup.inbox / "Fine.mp4", 10_000)
    assert setup.cli("once").returncode == 0
    for n, at in enumerate(["1e300", "NaN", "-1e20", "true", '"x"']):
        (titles_dir(setup.inbox) / f"{digest(f'Odd {n}')}.json").write_text(
            f'{{"title": "Odd {n}", "token": "vw{n:012d}", "requested_at": {at}, '
            f'"sent_at": {at}}}')
    text = setup.cli("status")
    assert "Traceback" not in text.stderr and "unexpected error" not in text.stdout + text.stderr
    assert "Odd 0" in text.stdout and "Fine -> asset" in text.stdout
    answer = setup.cli("status", "--json")
    data = json.loads(answer.stdout, parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    (folder,) = data["folders"]
    assert {t["title"] for t in folder["titles"]} >= {f"Odd {n}" for n in range(5)}
    write_bytes(setup.inbox / "Odd 0.mp4", 11_000)
    write_bytes(setup.inbox / "Odd 4.mp4", 12_000)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert sorted(a["title"] for a in setup.emulator.assets_created()) == [
        "Fine", "Odd 0", "Odd 4"]


def test_a_255_byte_title_numbered_and_cut_in_failed_is_not_a_new_title_when_moved_back(
        setup: Setup) -> None:
    """A 255-byte video name of a known title fails twice: failed/ gets the name and a
    ` (2)` copy that had to be cut to stay within 255 bytes. Moved back by hand, that copy
    is still the known title (refused again, naming its asset), never a new asset."""
    create_mode(setup)
    title = "Ä" * 125 + "x"  # 251 bytes: with .mp4, 255
    name = f"{title}.mp4"
    assert len(name.encode()) == 255
    write_bytes(setup.inbox / name, 10_000)
    assert setup.cli("once").returncode == 0
    (made,) = setup.emulator.assets_created()
    for n in range(2):
        write_bytes(setup.inbox / name, 11_000 + n, seed=f"again {n}")
        assert setup.cli("once").returncode == 1
    copies = [p for p in setup.failed.iterdir()
              if p.name.endswith(".mp4") and p.name != name]
    assert len(copies) == 1 and copies[0].name.endswith(" (2).mp4"), setup.names(setup.failed)
    copy = copies[0].name
    shutil.move(str(copies[0]), str(setup.inbox / copy))
    setup.cli("once")
    assert len(setup.emulator.assets_created()) == 1, [
        a["title"] for a in setup.emulator.assets_created()]
    assert copy in setup.names(setup.failed)
    assert made["asset_id"] in error_file_for(setup.failed / copy).read_text()


def test_a_cut_numbered_cover_of_a_long_title_is_still_that_titles_cover(
        setup: Setup) -> None:
    """A 245-byte title's cover (255 bytes) is delivered twice: the second is named
    ` (2)` in done/ with its title cut to make room, `.cover` kept. Moved back by hand
    it updates the same asset's cover; nothing fails, no asset is added."""
    create_mode(setup)
    title = "É" * 122 + "x"  # 245 bytes
    cover = f"{title}.cover.jpg"
    assert len(cover.encode()) == 255
    write_bytes(setup.inbox / f"{title}.mp4", 10_000)
    write_bytes(setup.inbox / cover, 1_000)
    assert setup.cli("once").returncode == 0
    write_bytes(setup.inbox / cover, 1_100, seed="second")
    assert setup.cli("once").returncode == 0
    (copy,) = [n for n in setup.names(setup.done) if n.endswith(" (2).jpg")]
    assert ".cover (2).jpg" in copy and len(copy.encode()) <= 255
    again = write_bytes(setup.done / copy, 1_200, seed="third")
    shutil.move(str(setup.done / copy), str(setup.inbox / copy))
    result = setup.cli("once")
    assert result.returncode == 0, [p.read_text() for p in setup.failed.glob("*.txt")]
    (made,) = setup.emulator.assets_created()
    assert setup.emulator.read_object(made["asset_id"], "cover") == again


def test_a_refused_cover_is_never_called_delivered_while_its_video_waits_to_move(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """A new title's cover is refused by the store for good while its video is delivered,
    and the video cannot be moved yet (held open: a bind mount over itself). `status`
    never says the cover is delivered, nor the video failed; both end where they belong."""
    create_mode(setup)
    setup.write_config(upload={"part_size_mb": 1, "multipart_threshold_mb": 1})
    video, cover = "Held.mp4", "Held.cover.jpg"
    write_bytes(setup.inbox / video, 2 * 1024 * 1024)
    write_bytes(setup.inbox / cover, 2_000)
    setup.emulator.add_fault("status", "obs_put", count=None, status=403,
                             code="SignatureDoesNotMatch", message="signature mismatch")
    seen: list[str] = []

    def waiting() -> bool:
        seen.append(setup.cli("status").stdout)
        return "waiting to move" in seen[-1]

    with bind(setup.inbox / video, setup.inbox / video, read_only=True):
        daemon = daemon_factory()
        wait_for(waiting, 30, what="status saying the video waits to move")
        for _ in range(3):
            waiting()
        data = json.loads(setup.cli("status", "--json").stdout)
    lines = [line for text in seen for line in text.splitlines()]
    assert not [line for line in lines if cover in line and "delivered" in line], seen[-1]
    assert [line for line in lines if cover in line
            and "failed, waiting to move to failed/" in line], seen[-1]
    assert not [line for line in lines if video in line and "failed" in line
                and cover not in line], seen[-1]
    for w in data["folders"][0]["waiting"]:
        assert cover not in w["files"] or "delivered" not in w["reason"], w
    wait_for(lambda: (setup.done / video).exists(), 30, what="the video in done/")
    wait_for(lambda: (setup.failed / f"{cover}.error.txt").exists(), 30, what="cover failed")
    assert daemon.stop() == 0


def test_status_names_waiting_and_queued_files_of_a_recursive_inbox_by_their_path(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """`recursive: true`, create mode, two folders each holding `Trailer.mp4` (two titles
    of one name are one title, so one of them waits). While VOD answers 503, `status`
    and `status --json` name the waiting files `Show A/Trailer.mp4`, never a bare name."""
    create_mode(setup, recursive=True)
    setup.emulator.add_fault("status", "create_asset", count=None, status=503)
    for folder in ("Show A", "Show B"):
        (setup.inbox / folder).mkdir()
        write_bytes(setup.inbox / folder / "Trailer.mp4", 10_000, seed=folder)
    daemon = daemon_factory()

    def waiting() -> list[dict]:
        folders = json.loads(setup.cli("status", "--json").stdout).get("folders") or [{}]
        return list(folders[0].get("waiting") or [])

    entries = wait_for(waiting, 30, what="a waiting job")
    names = [n for w in entries for n in w["files"]]
    assert names and all(n.startswith(("Show A/", "Show B/")) for n in names), entries
    text = setup.cli("status").stdout
    waiting_part = text.split("waiting (")[1].split("done:")[0]
    assert "Show " in waiting_part, text
    setup.emulator.clear_faults()
    assert daemon.stop() == 0


def test_files_never_sent_are_not_said_to_be_refused_by_the_store(setup: Setup) -> None:
    """A new title's video is refused by the store for good before its cover and subtitle
    are sent. Their error files do not say the store refused them: they say they were not
    sent because of the video."""
    create_mode(setup)
    write_bytes(setup.inbox / "Vid.mp4", 10_000)
    write_bytes(setup.inbox / "Vid.cover.jpg", 1_000)
    write_bytes(setup.inbox / "Vid.1.en.srt", 100)
    setup.emulator.add_fault("status", "obs_put", count=1, status=403,
                             code="SignatureDoesNotMatch", message="signature mismatch")
    setup.cli("once")
    assert [r.operation for r in setup.emulator.requests
            if r.operation == "obs_put"] == ["obs_put"]  # only the video was tried
    assert "Vid.mp4" in setup.names(setup.failed)
    for name in ("Vid.cover.jpg", "Vid.1.en.srt"):
        if name in setup.names(setup.failed):
            text = editor_part(setup, name)
            assert f"{name} was not sent, because sending Vid.mp4 failed" in text, text


def test_a_peer_taking_over_a_lost_create_behind_a_lagging_list_makes_one_asset(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """Daemon a sends a new title's create; VOD makes the asset but the answer is lost and
    ListAssetList shows it only 6 s later; a is killed (-9) right after. Daemon b (its own
    state) takes the title over once a's lease is old: it must find that asset, not make
    a second one."""
    create_mode(setup)
    setup.write_config(claims={"instance_id": "one", "lease_seconds": 1})
    other = setup.root / "config-b.yaml"
    text = setup.config_path.read_text().replace(str(setup.state), str(setup.root / "state-b"))
    other.write_text(text.replace("instance_id: one", "instance_id: two"))
    setup.emulator.add_fault("lag", "create_asset", count=1, delay=6)
    setup.emulator.add_fault("reset", "create_asset", count=1, phase="response")
    a = daemon_factory(name="a")
    wait_for(lambda: "daemon.ready" in a.output(), 20, what="a ready")
    data = write_bytes(setup.inbox / "Relay.mp4", 50_000)
    wait_for(lambda: [r for r in setup.emulator.requests if r.operation == "create_asset"],
             30, what="the create sent")
    a.kill()
    b = daemon_factory(name="b", config=other)
    wait_for(lambda: "Relay.mp4" in setup.names(setup.done), 60, what="done by b")
    assert b.stop() == 0
    (made,) = setup.emulator.assets_created()
    assert setup.emulator.read_object(made["asset_id"], "video") == data
    confirms = setup.emulator.confirms(made["asset_id"])  # an adopted upload is reopened
    assert confirms[-1] == "CREATED" and confirms.count("CREATED") == 1, confirms


def test_a_second_sigterm_leaves_at_once_while_a_create_hangs(
        setup: Setup, daemon_factory) -> None:  # type: ignore[no-untyped-def]
    """VOD takes a new title's create and never answers (read timeout 60 s, grace 60 s);
    SIGTERM, SIGHUP, SIGTERM: exit 0 within seconds, not when the call times out."""
    create_mode(setup)
    setup.write_config(shutdown_grace_seconds=60,
                       vod={"endpoint": setup.emulator.url, "project_id": PID,
                            "connect_timeout_seconds": 2, "read_timeout_seconds": 60})
    setup.emulator.add_fault("hang", "create_asset", count=1)
    data = write_bytes(setup.inbox / "Hang.mp4", 20_000)
    daemon = daemon_factory()
    wait_for(lambda: "job.claimed" in daemon.output(), 30, what="the title claimed")
    time.sleep(1)  # the create is at VOD, unanswered
    started = time.monotonic()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGTERM):
        daemon.signal(sig)
        time.sleep(0.1)
    assert daemon.proc.wait(15) == 0
    assert time.monotonic() - started < 6
    assert (setup.inbox / "Hang.mp4").read_bytes() == data  # left for the next start
