"""Every fault the emulator can inject ends in done/, or in failed/ with the right words."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes

MB = 1024 * 1024


def ops(setup: Setup, operation: str) -> list:
    return [r for r in setup.emulator.requests if r.operation == operation]


def drop_video_and_cover(setup: Setup, n: int, size: int = 200_000) -> str:
    aid = asset_id(n)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", size)
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 5_000)
    return aid


def assert_all_done(setup: Setup, aid: str) -> None:
    assert sorted(setup.names(setup.done)) == [f"{aid}.cover.jpg", f"{aid}.mp4"]
    assert setup.names(setup.failed) == []
    assert setup.emulator.read_object(aid, "video") == (setup.done / f"{aid}.mp4").read_bytes()
    assert setup.emulator.confirms(aid).count("CREATED") == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("target", ["update_asset", "obs_put", "confirm", "asset_info"])
def test_server_errors_are_retried_until_done(setup: Setup, status: int, target: str) -> None:
    """HTTP 5xx from VOD or the store is transient: the files end in done/."""
    aid = drop_video_and_cover(setup, 300 + status)
    setup.emulator.add_fault("status", target, count=2, status=status)
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout[-2000:]
    assert_all_done(setup, aid)


@pytest.mark.parametrize(("status", "code"), [(429, "APIGW.0308"), (403, "VOD.10127")])
def test_throttling_with_retry_after_is_honoured(setup: Setup, status: int, code: str) -> None:
    """Throttling answers are waited out (Retry-After honoured) and end in done/."""
    aid = drop_video_and_cover(setup, 310)
    setup.emulator.add_fault("status", "update_asset", count=1, status=status, code=code,
                             retry_after=1)
    started = time.monotonic()
    assert setup.cli("once").returncode == 0
    assert time.monotonic() - started >= 1.0
    calls = ops(setup, "update_asset")
    assert len(calls) == 2 and calls[1].time - calls[0].time >= 0.9
    assert_all_done(setup, aid)


def test_connection_reset_in_the_middle_of_a_part(setup: Setup) -> None:
    """A connection dropped half-way through a part is retried; the object is intact."""
    aid = asset_id(320)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 5})
    write_bytes(setup.inbox / f"{aid}.mp4", 23 * MB)
    setup.emulator.add_fault("reset", "obs_part", count=2, after_bytes=MB)
    result = setup.cli("once")
    assert result.returncode == 0
    assert setup.emulator.read_object(aid, "video") == (setup.done / f"{aid}.mp4").read_bytes()
    # Lines logged by the part senders still name the asset and the file.
    retries = [json.loads(line) for line in result.stdout.splitlines()
               if '"upload.part_retry"' in line]
    assert retries and all(r["asset_id"] == aid and r["file"] == f"{aid}.mp4"
                           for r in retries)


@pytest.mark.parametrize("target", ["update_asset", "obs_put", "confirm"])
def test_answer_lost_after_the_request_took_effect(setup: Setup, target: str) -> None:
    """A reset after VOD acted (answer lost) is checked, not blindly repeated: one CREATED."""
    aid = drop_video_and_cover(setup, 330)
    setup.emulator.add_fault("reset", target, count=1, phase="response")
    assert setup.cli("once").returncode == 0
    assert_all_done(setup, aid)


def test_a_response_that_never_comes_times_out(setup: Setup) -> None:
    """A hung answer hits the read timeout and is retried."""
    aid = drop_video_and_cover(setup, 340)
    setup.write_config(vod={"read_timeout_seconds": 1})
    setup.emulator.add_fault("hang", "obs_put", count=1)
    assert setup.cli("once").returncode == 0
    assert_all_done(setup, aid)


def test_slow_answers_are_waited_for(setup: Setup) -> None:
    """Slow but working services just take longer."""
    aid = drop_video_and_cover(setup, 350)
    setup.emulator.add_fault("slow", "any", count=4, delay=0.5)
    assert setup.cli("once").returncode == 0
    assert_all_done(setup, aid)


@pytest.mark.parametrize("target", ["update_asset", "obs_put"])
def test_expired_upload_urls_are_replaced(setup: Setup, target: str) -> None:
    """An expired signed URL is replaced (video via the authority API), not a failure."""
    aid = drop_video_and_cover(setup, 360)
    setup.emulator.add_fault("expired", target, count=1)
    assert setup.cli("once").returncode == 0
    assert_all_done(setup, aid)


def test_expired_part_authority_is_renewed(setup: Setup) -> None:
    """An expired part URL gets a fresh authority and the multipart upload completes."""
    aid = asset_id(365)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 5})
    write_bytes(setup.inbox / f"{aid}.mp4", 22 * MB)
    setup.emulator.add_fault("expired", "obs_part", count=2)
    assert setup.cli("once").returncode == 0
    assert setup.emulator.read_object(aid, "video") == (setup.done / f"{aid}.mp4").read_bytes()


def test_network_down_for_a_while(setup: Setup, daemon_factory) -> None:
    """Connection refused while VOD is unreachable; uploads finish once it is back."""
    aid = asset_id(370)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.go_offline()
    write_bytes(setup.inbox / f"{aid}.mp4", 100_000)
    daemon = daemon_factory()
    wait_for(lambda: "connection failed" in daemon.output(), 30, what="connection errors")
    time.sleep(3)
    assert (setup.inbox / ".vodwatch").exists() and setup.names(setup.failed) == []
    setup.emulator.go_online()
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="done after the outage")
    assert daemon.stop() == 0


def test_once_exits_3_when_vod_cannot_be_reached(setup: Setup) -> None:
    """`once` gives up with exit 3 when VOD stays unreachable, leaving the files in place."""
    aid = asset_id(371)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.go_offline()
    write_bytes(setup.inbox / f"{aid}.mp4", 1000)
    result = setup.cli("once")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr
    assert setup.names(setup.failed) == [] and setup.names(setup.done) == []
    claimed = list((setup.inbox / ".vodwatch").rglob(f"*{aid}.mp4"))
    assert claimed or (setup.inbox / f"{aid}.mp4").exists()


def test_wrong_credentials_pause_and_sighup_with_fixed_config_resumes(
        setup: Setup, daemon_factory) -> None:
    """Rejected credentials pause the folder set (no file fails); SIGHUP with a fix resumes."""
    aid = asset_id(380)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", 10_000)
    daemon = daemon_factory(HUAWEICLOUD_SDK_SK="a-wrong-secret-key-000000000000")
    wait_for(lambda: "folder.paused" in daemon.output(), 30, what="the pause")
    status = setup.cli("status", "--json")
    assert "credentials" in status.stdout
    assert setup.names(setup.failed) == []
    time.sleep(1.5)  # re-checks keep failing meanwhile
    assert setup.names(setup.done) == []
    from vodwatch.emulator import DEFAULT_SK

    sk_file = setup.root / "sk"
    sk_file.write_text(DEFAULT_SK + "\n")
    sk_file.chmod(0o600)
    setup.write_config(vod={"sk_file": str(sk_file)})
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 30, what="done after the fix")
    assert "folder.resumed" in daemon.output()
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == []


def test_credentials_rejected_for_a_while_resume_by_themselves(setup: Setup,
                                                               daemon_factory) -> None:
    """A spell of 401s pauses uploads; the periodic re-check resumes them by itself."""
    aid = asset_id(381)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.add_fault("status", "any", count=4, status=403, code="VOD.10054",
                             message="authentication failed")
    write_bytes(setup.inbox / f"{aid}.mp4", 10_000)
    daemon = daemon_factory()
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="done after the pause")
    out = daemon.output()
    assert "folder.paused" in out and "folder.resumed" in out
    assert daemon.stop() == 0
    assert setup.names(setup.failed) == []


def test_once_exits_3_on_rejected_credentials(setup: Setup) -> None:
    """`once` exits 3 when VOD rejects the credentials, and no file goes to failed/."""
    aid = asset_id(382)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", 1000)
    result = setup.cli("once", HUAWEICLOUD_SDK_SK="a-wrong-secret-key-000000000000")
    assert result.returncode == 3
    assert setup.names(setup.failed) == []


def test_burst_of_300_assets_under_the_update_limit(setup: Setup) -> None:
    """300 assets with VOD allowing 100 UpdateAsset per 6 s: done, with no throttling answer."""
    setup.emulator.set_limit("update_asset", 100, 6.0)
    setup.write_config(limits={"update_asset_per_minute": 900}, upload={"workers": 8},
                       settle_seconds=0.2)
    for i in range(300):
        aid = asset_id(10_000 + i)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 1000)
    result = setup.cli("once", timeout=180)
    assert result.returncode == 0, result.stdout[-2000:]
    assert len(setup.names(setup.done)) == 300
    assert setup.emulator.throttled_count() == 0
    assert len(ops(setup, "update_asset")) == 300


@pytest.mark.parametrize(("code", "state"), [("VOD.10083", "TRANSCODING"),
                                             ("VOD.10061", "PUBLISHED")])
def test_state_errors_name_the_state_and_do_not_blame_the_editor(setup: Setup, code: str,
                                                                 state: str) -> None:
    """An asset-state refusal gives an error file naming the state and what an operator can do."""
    aid = asset_id(390)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", 1000)

    def flip() -> None:
        setup.emulator.seed_asset(aid, state)

    setup.emulator.add_fault("status", "update_asset", status=403, code=code,
                             message="current media asset status is not allowed")
    flip()
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")  # pre-check passes; VOD then refuses
    result = setup.cli("once")
    assert result.returncode == 1
    text = (setup.failed / f"{aid}.mp4.error.txt").read_text()
    assert code in text
    assert "not a problem with the file" in text
    assert "operator" in text


def test_authority_refused_while_the_asset_is_uploading_is_retried(setup: Setup) -> None:
    """A VOD.10135 that contradicts the asset's own state is retried, not failed."""
    aid = asset_id(391)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 5})
    write_bytes(setup.inbox / f"{aid}.mp4", 22 * MB)
    setup.emulator.add_fault("status", "authority", count=1, status=403, code="VOD.10135",
                             message="asset is not in uploading state")
    result = setup.cli("once")
    assert result.returncode == 0, result.stdout[-3000:]
    assert setup.emulator.read_object(aid, "video") == (setup.done / f"{aid}.mp4").read_bytes()


def test_upload_cancelled_elsewhere_is_requested_again(setup: Setup, daemon_factory) -> None:
    """An upload closed under vodwatch (asset cancelled mid-multipart) is asked for again."""
    aid = asset_id(392)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=3, delay=0.5)
    write_bytes(setup.inbox / f"{aid}.mp4", 21 * MB)
    daemon = daemon_factory()
    wait_for(lambda: ops(setup, "obs_part"), 30, what="the first part")
    setup.emulator.seed_asset(aid, "CANCELLED")  # an operator cancels the upload
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="done")
    assert daemon.stop() == 0
    assert "job.upload_closed" in daemon.output()
    assert len(ops(setup, "update_asset")) == 2
    assert setup.emulator.read_object(aid, "video") == (setup.done / f"{aid}.mp4").read_bytes()


# ---- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "words"), [
    ("0123456789abcdef0123456789abcde.mp4", ["31"]),
    ("{aid}.1.eng.srt", ["{aid}.1.en.srt"]),
    ("{aid}.0.en.srt", ["1", "16"]),
    ("{aid}.17.en.srt", ["1", "16"]),
    ("{aid}.thumbnail.jpg", ["{aid}.cover.jpg"]),
    ("{aid}.webm", ["mp4"]),
    ("{aid} (1).thumb.jpg", ["{aid}.cover.jpg"]),
    ("{aid}.1.srt", ["{aid}.1.en.srt"]),
    ("Schöne Grüße - final.mov", ["<asset_id>"]),
])
def test_almost_right_names_fail_with_a_suggestion(setup: Setup, name: str,
                                                   words: list[str]) -> None:
    """Almost-right names land in failed/ and the error file says how to fix them."""
    aid = asset_id(400)
    name = name.format(aid=aid)
    write_bytes(setup.inbox / name, 100)
    assert setup.cli("once").returncode == 1
    assert setup.names(setup.failed) == sorted([name, name + ".error.txt"])
    text = (setup.failed / (name + ".error.txt")).read_text()
    for w in words:
        assert w.format(aid=aid) in text


def test_upper_case_names_are_accepted(setup: Setup) -> None:
    """Upper-case IDs, type words and extensions are accepted (case-insensitive)."""
    aid = asset_id(401)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid.upper()}.COVER.JPEG", 100)
    assert setup.cli("once").returncode == 0
    assert setup.names(setup.done) == [f"{aid.upper()}.COVER.JPEG"]
    assert setup.emulator.read_object(aid, "cover") is not None


def test_zero_byte_file_fails_plainly(setup: Setup) -> None:
    """An empty file is refused with an error file saying it is empty."""
    aid = asset_id(402)
    (setup.inbox / f"{aid}.mp4").write_bytes(b"")
    assert setup.cli("once").returncode == 1
    assert "empty" in (setup.failed / f"{aid}.mp4.error.txt").read_text()


def test_symlink_is_not_followed_out_of_the_inbox(setup: Setup, tmp_path: Path) -> None:
    """A symbolic link dropped in the inbox fails; its target outside is never read or moved."""
    aid = asset_id(403)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    secret = tmp_path / "outside.mp4"
    write_bytes(secret, 1000)
    (setup.inbox / f"{aid}.mp4").symlink_to(secret)
    assert setup.cli("once").returncode == 1
    assert "symbolic link" in (setup.failed / f"{aid}.mp4.error.txt").read_text()
    assert (setup.failed / f"{aid}.mp4").is_symlink()
    assert secret.exists()
    assert not ops(setup, "update_asset")


def test_directory_in_the_inbox_is_left_alone(setup: Setup) -> None:
    """A folder dropped in the inbox is not touched when recursion is off."""
    (setup.inbox / "Project X").mkdir()
    write_bytes(setup.inbox / "Project X" / "a.mp4", 10)
    assert setup.cli("once").returncode == 0
    assert (setup.inbox / "Project X" / "a.mp4").exists()


def test_file_deleted_while_uploading(setup: Setup, daemon_factory) -> None:
    """A file deleted mid-upload is dropped cleanly: nothing in done/ or failed/, daemon fine."""
    aid = asset_id(404)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    write_bytes(setup.inbox / f"{aid}.mp4", 25 * MB)
    daemon = daemon_factory()
    wait_for(lambda: ops(setup, "obs_part"), 30, what="the upload to start")
    (setup.inbox / f"{aid}.mp4").unlink()
    wait_for(lambda: "job.file_vanished" in daemon.output(), 30, what="the daemon to notice")
    assert daemon.stop() == 0
    assert setup.names(setup.done) == [] and setup.names(setup.failed) == []
    assert setup.emulator.asset(aid)["status"] != "CREATING", "the open upload is closed"


def test_file_that_keeps_changing_fails_after_the_ceiling(setup: Setup, daemon_factory) -> None:
    """A file still being written after max_writing_hours is failed with that explanation."""
    aid = asset_id(405)
    setup.write_config(max_writing_hours=0.001, settle_seconds=1)  # 3.6 s
    path = setup.inbox / f"{aid}.mp4"
    daemon = daemon_factory()
    deadline = time.monotonic() + 30
    with open(path, "ab") as fh:
        while not (setup.failed / f"{aid}.mp4").exists() and time.monotonic() < deadline:
            fh.write(b"x" * 1000)
            fh.flush()
            time.sleep(0.2)
    assert daemon.stop() == 0
    text = (setup.failed / f"{aid}.mp4.error.txt").read_text()
    assert "still being written after" in text


def test_inbox_share_disappears_and_comes_back(setup: Setup, daemon_factory) -> None:
    """An unmounted share is an outage: reported, and nothing re-uploaded when it returns."""
    aid = asset_id(406)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    setup.write_config(folders=[{"inbox": str(setup.inbox), "done": str(setup.done),
                                 "failed": str(setup.failed), "watch": "polling"}])
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 1000)
    daemon = daemon_factory()
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="first upload")
    away = setup.root / "inbox-unmounted"
    os.rename(setup.inbox, away)
    wait_for(lambda: "folder.unavailable" in daemon.output(), 30, what="the outage report")
    status = json.loads(setup.cli("status", "--json").stdout)
    assert "available" in json.dumps(status)
    os.rename(away, setup.inbox)
    wait_for(lambda: "folder.available_again" in daemon.output(), 30, what="recovery")
    time.sleep(1)
    assert daemon.stop() == 0
    assert len(ops(setup, "update_asset")) == 1
    assert setup.names(setup.failed) == []


def test_a_refused_cover_fails_alone(setup: Setup) -> None:
    """When the store refuses a cover for good, the same asset's subtitle still goes to done/."""
    aid = asset_id(407)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 1000)
    write_bytes(setup.inbox / f"{aid}.1.en.srt", 1000)
    setup.emulator.add_fault("status", "obs_put", count=1, status=403,
                             code="SignatureDoesNotMatch", message="signature mismatch")
    assert setup.cli("once").returncode == 1
    assert setup.names(setup.done) == [f"{aid}.1.en.srt"]
    assert setup.names(setup.failed) == [f"{aid}.cover.jpg", f"{aid}.cover.jpg.error.txt"]
    assert "SignatureDoesNotMatch" in (setup.failed / f"{aid}.cover.jpg.error.txt").read_text()
