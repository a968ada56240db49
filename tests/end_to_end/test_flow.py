"""`vodwatch run` / `once` as subprocesses against the emulator: the whole path of a file."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time

from tests.conftest import Setup, asset_id, catches, wait_for, write_bytes
from vodwatch.emulator import DEFAULT_SK


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def updates(setup: Setup, aid: str) -> list[dict]:
    return [r.body for r in setup.emulator.requests
            if r.operation == "update_asset" and r.body and r.body.get("asset_id") == aid]


def test_video_cover_and_two_subtitles_go_in_one_request(setup: Setup) -> None:
    """Four files of one asset are sent in one UpdateAsset with the SPEC's fields and MD5s."""
    aid = asset_id(1)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    video = write_bytes(setup.inbox / f"{aid}.mp4", 3_000_000)
    cover = write_bytes(setup.inbox / f"{aid}.cover.png", 50_000)
    sub1 = write_bytes(setup.inbox / f"{aid}.1.en.srt", 1_000)
    sub2 = write_bytes(setup.inbox / f"{aid}.2.zh.vtt", 1_200)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout + result.stderr
    bodies = updates(setup, aid)
    assert len(bodies) == 1
    assert bodies[0] == {
        "asset_id": aid,
        "video_name": f"{aid}.mp4", "video_type": "MP4", "video_md5": b64md5(video),
        "cover_id": 0, "cover_type": "PNG", "cover_md5": b64md5(cover),
        "subtitles": [
            {"id": 1, "language": "EN", "type": "SRT", "name": f"{aid}.1.en.srt",
             "md5": b64md5(sub1)},
            {"id": 2, "language": "CN", "type": "VTT", "name": f"{aid}.2.zh.vtt",
             "md5": b64md5(sub2)},
        ],
    }
    emu = setup.emulator
    assert emu.read_object(aid, "video") == video
    assert emu.read_object(aid, "cover") == cover
    assert emu.read_object(aid, "subtitle", 1) == sub1
    assert emu.read_object(aid, "subtitle", 2) == sub2
    assert emu.confirms(aid) == ["CREATED"]
    assert setup.names(setup.done) == sorted(
        [f"{aid}.mp4", f"{aid}.cover.png", f"{aid}.1.en.srt", f"{aid}.2.zh.vtt"])
    assert setup.names(setup.inbox) == []
    assert setup.names(setup.failed) == []


def test_cover_alone_is_not_confirmed(setup: Setup) -> None:
    """A cover-only update is uploaded but never followed by a confirm."""
    aid = asset_id(2)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 10_000)
    assert setup.cli("once").returncode == 0
    assert setup.emulator.confirms(aid) == []
    assert not [r for r in setup.emulator.requests if r.operation == "confirm"]
    assert setup.names(setup.done) == [f"{aid}.cover.jpg"]


def test_bad_name_goes_to_failed_with_an_error_file(setup: Setup) -> None:
    """A name no rule accepts lands in failed/ with an error file listing the accepted names."""
    write_bytes(setup.inbox / "final cut v2.mp4", 1000)
    result = setup.cli("once")
    assert result.returncode == 1
    assert setup.names(setup.failed) == ["final cut v2.mp4", "final cut v2.mp4.error.txt"]
    text = (setup.failed / "final cut v2.mp4.error.txt").read_text()
    assert "<asset_id>.mp4" in text and "cover" in text and ".srt" in text
    assert "When:" in text and "What to do:" in text
    assert not [r for r in setup.emulator.requests if r.operation == "update_asset"]


def test_unknown_asset_fails_naming_the_code(setup: Setup) -> None:
    """A cover for an asset VOD does not know fails with VOD.10062 in its error file."""
    aid = asset_id(3)
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 1000)
    assert setup.cli("once").returncode == 1
    text = (setup.failed / f"{aid}.cover.jpg.error.txt").read_text()
    assert "VOD.10062" in text
    assert aid in text


def test_unknown_asset_video_is_explained(setup: Setup) -> None:
    """A video for an asset that does not exist is explained before anything is uploaded."""
    aid = asset_id(4)
    write_bytes(setup.inbox / f"{aid}.mp4", 1000)
    assert setup.cli("once").returncode == 1
    text = (setup.failed / f"{aid}.mp4.error.txt").read_text()
    assert "does not exist" in text and aid in text
    assert not [r for r in setup.emulator.requests if r.operation == "update_asset"]


def test_non_updatable_asset_explains_the_state(setup: Setup) -> None:
    """A video for a PUBLISHED asset fails with an error file naming the state, not the file."""
    aid = asset_id(5)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.mov", 1000)
    assert setup.cli("once").returncode == 1
    text = (setup.failed / f"{aid}.mov.error.txt").read_text()
    assert "PUBLISHED" in text
    assert "not a problem with the file" in text
    assert setup.emulator.read_object(aid, "video") is None


def test_state_refusal_by_vod_names_the_code(setup: Setup) -> None:
    """When VOD itself answers VOD.10061 the error file carries the code and the state."""
    aid = asset_id(6)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.add_fault("status", "update_asset", status=403, code="VOD.10061",
                             message="current media asset status is not allowed to be updated")
    write_bytes(setup.inbox / f"{aid}.mp4", 1000)
    assert setup.cli("once").returncode == 1
    text = (setup.failed / f"{aid}.mp4.error.txt").read_text()
    assert "VOD.10061" in text and "UPLOAD_FAILED" in text


def test_same_name_twice_both_land_in_done(setup: Setup) -> None:
    """A file delivered again under the same name is uploaded again and kept beside the first."""
    aid = asset_id(7)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    first = write_bytes(setup.inbox / f"{aid}.cover.jpg", 2000, seed="one")
    assert setup.cli("once").returncode == 0
    second = write_bytes(setup.inbox / f"{aid}.cover.jpg", 3000, seed="two")
    assert setup.cli("once").returncode == 0
    assert setup.names(setup.done) == [f"{aid}.cover (2).jpg", f"{aid}.cover.jpg"]
    assert (setup.done / f"{aid}.cover.jpg").read_bytes() == first
    assert (setup.done / f"{aid}.cover (2).jpg").read_bytes() == second
    assert setup.emulator.read_object(aid, "cover") == second


def test_temp_and_hidden_files_are_left_alone(setup: Setup) -> None:
    """Hidden files and copy tools' temporary names are never touched."""
    aid = asset_id(8)
    names = [".hidden.mp4", f"{aid}.mp4.part", f"{aid}.mp4.tmp", "x.crdownload", "y.partial",
             "~$draft.docx", "._mac.mp4", "Thumbs.db", ".DS_Store"]
    for n in names:
        write_bytes(setup.inbox / n, 100)
    (setup.inbox / "subfolder").mkdir()
    write_bytes(setup.inbox / "subfolder" / f"{aid}.mp4", 100)
    assert setup.cli("once").returncode == 0
    assert sorted(p.name for p in setup.inbox.iterdir() if p.name != ".vodwatch") == sorted(
        [*names, "subfolder"])
    assert setup.names(setup.failed) == [] and setup.names(setup.done) == []


def test_slow_writer_is_uploaded_once_and_complete(setup: Setup, daemon_factory) -> None:
    """A file written in pieces over several seconds is uploaded once, whole."""
    aid = asset_id(9)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(settle_seconds=1.0)
    daemon = daemon_factory()
    path = setup.inbox / f"{aid}.mp4"
    data = b""
    with open(path, "wb") as fh:
        for i in range(8):
            chunk = hashlib.sha256(str(i).encode()).digest() * 4000
            fh.write(chunk)
            fh.flush()
            data += chunk
            time.sleep(0.4)
    wait_for(lambda: (setup.done / path.name).exists(), 30, what="the file in done/")
    assert daemon.stop() == 0
    assert setup.emulator.read_object(aid, "video") == data
    assert len(updates(setup, aid)) == 1
    assert setup.emulator.confirms(aid) == ["CREATED"]


def test_once_exit_codes(setup: Setup) -> None:
    """`once` exits 0 when everything went to done/, and 1 when some file failed."""
    aid = asset_id(10)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 100)
    assert setup.cli("once").returncode == 0
    write_bytes(setup.inbox / "nonsense.txt", 100)
    assert setup.cli("once").returncode == 1
    assert setup.cli("once").returncode == 0  # nothing left: success


def test_invalid_config_exits_2_naming_the_key(setup: Setup) -> None:
    """A config with a wrong value makes `check` and `once` exit 2 with the key and the fix."""
    setup.write_config(settle_seconds="soon")
    for command in ("check", "once"):
        result = setup.cli(command)
        assert result.returncode == 2, result.stderr
        assert "settle_seconds" in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr


def test_secret_key_never_appears_in_any_output(setup: Setup, daemon_factory) -> None:
    """Neither the SK nor a URL signature appears in the daemon's output or in error files."""
    aid = asset_id(11)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(log={"level": "debug", "format": "json"})
    setup.emulator.add_fault("status", "obs_put", status=503)
    setup.emulator.add_fault("status", "update_asset", status=500)
    write_bytes(setup.inbox / f"{aid}.mp4", 5000)
    write_bytes(setup.inbox / "bad.mp4", 10)
    daemon = daemon_factory()
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 30, what="done")
    daemon.stop()
    texts = [daemon.output()] + [p.read_text() for p in setup.failed.glob("*.txt")]
    texts.append(setup.cli("status").stdout)
    for text in texts:
        assert DEFAULT_SK not in text
        assert set(re.findall(r"Signature=([^&\s\"',]+)", text)) <= {"REDACTED"}


def test_done_folder_not_writable_keeps_the_file(setup: Setup, daemon_factory) -> None:
    """If done/ is not a folder, the folder set is unavailable; the file stays and goes later."""
    aid = asset_id(12)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    setup.done.rename(setup.root / "done-away")
    setup.done.write_text("not a folder")  # a file where the folder should be
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 100)
    daemon = daemon_factory()
    wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the complaint")
    line = next(x for x in daemon.output().splitlines() if "folder.unavailable" in x)
    assert f"{setup.done} is not a folder" in line
    assert (setup.inbox / f"{aid}.cover.jpg").exists(), "the file stays in the inbox"
    setup.done.unlink()
    (setup.root / "done-away").rename(setup.done)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    assert daemon.stop() == 0


def test_run_stops_cleanly_on_sigterm(setup: Setup, daemon_factory) -> None:
    """`run` exits 0 on SIGTERM and leaves nothing claimed."""
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 20, what="ready")
    assert daemon.stop() == 0
    assert list((setup.inbox / ".vodwatch" / "files").iterdir()) == []
    assert os.path.isdir(setup.inbox)


def _journal_open(pid: int) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith("journal.sqlite3")
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_sigterm_while_vodwatch_starts_is_a_clean_stop(setup: Setup, daemon_factory) -> None:
    """SIGTERM while vodwatch starts, before the daemon is built (imports, config, state
    folder; the journal not open yet): exit 0, as after start-up, not death by the
    signal. (Before, SIGTERM was handled only once the daemon held the journal.)"""
    import signal
    daemon = daemon_factory()
    wait_for(lambda: catches(daemon.proc.pid, signal.SIGTERM)
             and not _journal_open(daemon.proc.pid), 20, interval=0.0005,
             what="vodwatch to handle SIGTERM before it opens its journal")
    assert daemon.stop() == 0
    assert "daemon.stopped" in daemon.output() or "daemon.ready" not in daemon.output()


def test_files_of_one_asset_dropped_together_into_a_running_daemon_go_in_one_request(
        setup: Setup, daemon_factory, tmp_path) -> None:
    """A subtitle, a cover and a video moved into the inbox a moment apart (an editor's
    drag of three files) settle a moment apart too; the first to settle waits for the
    others (up to one settle window) and one UpdateAsset carries all three."""
    aid = asset_id(10)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(settle_seconds=1.0)
    daemon = daemon_factory()
    staging = tmp_path / "staging"
    staging.mkdir()
    names = [f"{aid}.1.en.srt", f"{aid}.cover.jpg", f"{aid}.mp4"]
    for name, size in zip(names, (1_000, 30_000, 400_000), strict=True):
        write_bytes(staging / name, size, name)
    for name in names:
        os.replace(staging / name, setup.inbox / name)
        time.sleep(0.4)  # the three within one settle window (1 s)
    wait_for(lambda: all((setup.done / n).exists() for n in names), 30, what="all in done/")
    assert daemon.stop() == 0
    sent = updates(setup, aid)
    assert len(sent) == 1, sent
    assert {"video_md5", "cover_md5", "subtitles"} <= set(sent[0])


def test_a_cover_does_not_wait_for_a_video_still_being_written(
        setup: Setup, daemon_factory) -> None:
    """The wait for siblings is one settle window, not as long as a copy takes: a cover
    dropped beside a video still being written goes on its own."""
    aid = asset_id(11)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    daemon = daemon_factory()
    cover = setup.inbox / f"{aid}.cover.jpg"
    with open(setup.inbox / f"{aid}.mp4", "wb") as video:
        video.write(b"\0" * 1000)
        video.flush()
        write_bytes(cover, 30_000)
        deadline = time.monotonic() + 20
        while not (setup.done / cover.name).exists() and time.monotonic() < deadline:
            video.write(b"\1" * 1000)  # still copying
            video.flush()
            time.sleep(0.1)
        assert (setup.done / cover.name).exists(), "the cover waited for the video"
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 30, what="the video in done/")
    assert daemon.stop() == 0
    assert len(updates(setup, aid)) == 2


FAILURE_EVENTS = ("job.", "file.", "upload.", "finish.", "asset.")


def test_every_failure_line_names_the_file_and_the_folder_set(setup: Setup) -> None:
    """Issue 13: a failure in the log says which file of which folder set, and carries no
    empty field (no `asset_id=` before an asset is known, no `code=None`)."""
    unknown, published = asset_id(12), asset_id(13)
    setup.emulator.seed_asset(published, "PUBLISHED")
    write_bytes(setup.inbox / f"{unknown}.cover.jpg", 1000)  # VOD.10062 from VOD
    write_bytes(setup.inbox / f"{published}.mov", 1000)  # refused for the asset's state
    write_bytes(setup.inbox / "holiday film.mp4", 1000)  # no asset ID: not understood
    (setup.inbox / f"{asset_id(15)}.cover.png").write_bytes(b"")  # empty
    result = setup.cli("once")
    assert result.returncode == 1
    lines = [json.loads(x) for x in (result.stdout + result.stderr).splitlines()
             if x.startswith("{")]
    failures = [x for x in lines if x["event"].startswith(FAILURE_EVENTS) and (
        x.get("level") in ("warning", "error") or "fail" in x["event"])]
    assert {"job.failed", "file.failed"} <= {x["event"] for x in failures}, failures
    for line in failures:
        assert line.get("folder"), line
        assert line.get("file") or line.get("files"), line
    for line in lines:
        empty = {k: v for k, v in line.items() if v is None or v == "" or v == "None"}
        assert not empty, line
    named = " ".join(str(x.get("file", "")) + str(x.get("files", "")) for x in failures)
    for name in (f"{unknown}.cover.jpg", f"{published}.mov",
                 "holiday film.mp4", f"{asset_id(15)}.cover.png"):
        assert name in named, (name, failures)
