"""The job state machine in-process: ``run_job`` against the emulator over HTTP, a real
journal in a temporary folder, real files, and the clock passed in."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from tests.conftest import PID, asset_id, write_bytes
from vodwatch.claim import Claims
from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from vodwatch.journal import Journal, NewFile
from vodwatch.names import DEFAULT_LANGUAGE_MAP, parse_name
from vodwatch.retry import RetryPolicy
from vodwatch.runner import Outcome, Services, run_job
from vodwatch.states import JobState
from vodwatch.upload import MiB, Uploader, hash_file
from vodwatch.vod.api import VodClient
from vodwatch.vod.obs import ObsClient


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "emulator", project_id=PID, assets="strict") as emu:
        yield emu


@pytest.fixture
def site(tmp_path: Path) -> Path:
    for name in ("inbox", "done", "failed"):
        (tmp_path / name).mkdir()
    return tmp_path


@pytest.fixture
def services(emulator: Emulator, site: Path) -> Iterator[Services]:
    journal = Journal.open(site / "state")
    session = requests.Session()
    vod = VodClient(emulator.url, PID, DEFAULT_AK, DEFAULT_SK, session=session,
                    timeout=(2.0, 10.0))
    uploader = Uploader(vod, ObsClient(session, (2.0, 10.0)), journal, part_size=5 * MiB,
                        parallel_parts=2)
    claims = Claims(site / "inbox", "test-daemon", lease_seconds=60)
    claims.prepare()
    yield Services(str(site / "inbox"), site / "done", site / "failed", journal, vod,
                   uploader, claims, RetryPolicy(base=1.0, cap=8.0, jitter=0.0),
                   DEFAULT_LANGUAGE_MAP, 20 * MiB, clock=Clock(), stop=threading.Event())
    journal.close()
    session.close()


def job_for(services: Services, *names: str) -> int:
    """Journal a job for files in the inbox and take their markers, as folder.py does."""
    paths = [Path(services.folder) / n for n in names]
    parsed = parse_name(names[0])
    job_id, _ = services.journal.create_job(services.folder, parsed.asset_id,
                                       any(n.endswith(".mp4") for n in names),
                                       [NewFile(p.name, str(parse_name(p.name).kind), str(p),
                                                str(services.claims.marker_for(p))) for p in paths])
    for p in paths:
        assert services.claims.claim(p, job_id) is not None
    services.journal.set_job(job_id, state="claimed")
    return job_id


def test_a_video_and_cover_go_to_done_in_one_turn(services: Services,
                                                  emulator: Emulator) -> None:
    """One run takes a claimed job to done: both files in done/, VOD confirmed once."""
    aid = asset_id(950)
    emulator.seed_asset(aid, "UPLOAD_FAILED")
    inbox = Path(services.folder)
    write_bytes(inbox / f"{aid}.mp4", 3 * MiB)
    write_bytes(inbox / f"{aid}.cover.jpg", 4000)
    job_id = job_for(services, f"{aid}.mp4", f"{aid}.cover.jpg")
    assert run_job(services, job_id) is JobState.DONE
    assert sorted(p.name for p in services.done_dir.iterdir()) == [f"{aid}.cover.jpg",
                                                                   f"{aid}.mp4"]
    assert emulator.confirms(aid) == ["CREATED"]
    assert list(services.claims.markers.iterdir()) == []


def test_a_server_error_makes_the_job_wait_by_the_policys_delay(services: Services,
                                                               emulator: Emulator) -> None:
    """A 503 from UpdateAsset: the job waits, retry_at is the passed-in clock plus the
    policy's first delay, and the next run finishes it."""
    aid = asset_id(951)
    emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(Path(services.folder) / f"{aid}.cover.jpg", 4000)
    job_id = job_for(services, f"{aid}.cover.jpg")
    emulator.add_fault("status", "update_asset", count=1, status=503)
    assert run_job(services, job_id) is Outcome.WAITING
    job = services.journal.job(job_id)
    assert job.retry_at == services.clock() + 1.0 and job.attempts == 1
    assert run_job(services, job_id) is JobState.DONE


def test_a_share_gone_mid_job_waits_the_policys_look_again_time(services: Services,
                                                                 emulator: Emulator) -> None:
    """The inbox vanishes under a job (the share went away): the job is unavailable and
    looked at again after the retry policy's ``look_again``, not a backoff."""
    aid = asset_id(952)
    emulator.seed_asset(aid, "PUBLISHED")
    inbox = Path(services.folder)
    write_bytes(inbox / f"{aid}.cover.jpg", 4000)
    job_id = job_for(services, f"{aid}.cover.jpg")
    services.policy = replace(services.policy, look_again=7.0)
    inbox.rename(inbox.with_name("inbox-away"))
    assert run_job(services, job_id) is Outcome.UNAVAILABLE
    job = services.journal.job(job_id)
    assert job.retry_at == services.clock() + 7.0 and job.attempts == 0
    assert job.wait_reason


def test_an_asset_in_the_wrong_state_fails_the_video_with_an_error_file(
        services: Services, emulator: Emulator) -> None:
    """A published asset refuses a video: failed/ with an error file naming the state."""
    aid = asset_id(952)
    emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(Path(services.folder) / f"{aid}.mp4", 1000)
    job_id = job_for(services, f"{aid}.mp4")
    assert run_job(services, job_id) is JobState.FAILED
    error = (services.failed_dir / f"{aid}.mp4.error.txt").read_text()
    assert "PUBLISHED" in error


def test_a_file_changed_before_sending_is_requeued_and_left_in_the_inbox(
        services: Services, emulator: Emulator) -> None:
    """A file whose size moves after hashing is not sent: requeued, still in the inbox."""
    aid = asset_id(953)
    emulator.seed_asset(aid, "PUBLISHED")
    path = Path(services.folder) / f"{aid}.cover.jpg"
    write_bytes(path, 4000)
    job_id = job_for(services, path.name)
    md5, snap = hash_file(path)  # hashed as the claimed step does
    services.journal.set_file(services.journal.files(job_id)[0].id, md5=md5, size=snap.size,
                              mtime_ns=snap.mtime_ns, ctime_ns=snap.ctime_ns, ino=snap.ino)
    services.journal.set_job(job_id, state="ready")
    with open(path, "ab") as fh:
        fh.write(b"more")
    assert run_job(services, job_id) is JobState.REQUEUED
    assert path.exists()
    assert list(services.claims.markers.iterdir()) == []


def test_rejected_credentials_pause_the_folder_set_and_the_job_waits(
        services: Services, emulator: Emulator) -> None:
    """A wrong secret key (APIGW.0303): the folder set is paused with the reason, the job
    waits for the credentials re-check on the passed-in clock, nothing is sent, and a run
    with the right key finishes it."""
    aid = asset_id(954)
    emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(Path(services.folder) / f"{aid}.cover.jpg", 4000)
    job_id = job_for(services, f"{aid}.cover.jpg")
    wrong = replace(services, vod=VodClient(emulator.url, PID, DEFAULT_AK, "not-the-key",
                                            session=requests.Session(), timeout=(2.0, 10.0)))
    assert run_job(wrong, job_id) is Outcome.PAUSED
    pause = services.journal.pauses()[services.folder]
    assert pause["reason"] == "credentials"
    job = services.journal.job(job_id)
    assert job.retry_at == services.clock() + services.credentials_recheck
    assert (job.wait_reason or "").startswith("paused: credentials")
    assert (Path(services.folder) / f"{aid}.cover.jpg").exists()
    assert run_job(services, job_id) is JobState.DONE


def test_the_share_gone_mid_job_is_an_outage_not_a_lost_file(services: Services,
                                                            emulator: Emulator,
                                                            site: Path) -> None:
    """The whole inbox (with its hidden folder) disappears after the claim: the job waits
    as unavailable and drops nothing; once the share is back, the next run delivers."""
    aid = asset_id(956)
    emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(Path(services.folder) / f"{aid}.cover.jpg", 4000)
    job_id = job_for(services, f"{aid}.cover.jpg")
    away = site / "inbox-away"
    (site / "inbox").rename(away)
    try:
        assert run_job(services, job_id) is Outcome.UNAVAILABLE
        job = services.journal.job(job_id)
        assert job.state != "abandoned" and "not there" in (job.wait_reason or "")
        assert job.retry_at is not None and job.retry_at > services.clock()
    finally:
        away.rename(site / "inbox")
    assert run_job(services, job_id) is JobState.DONE
    assert (services.done_dir / f"{aid}.cover.jpg").exists()


def test_a_file_taken_back_after_the_claim_is_dropped_not_failed(services: Services,
                                                                emulator: Emulator) -> None:
    """The editor deletes the file after it was claimed: the job is dropped, no error file
    about a file that is not there, and the marker is released."""
    aid = asset_id(957)
    emulator.seed_asset(aid, "PUBLISHED")
    path = Path(services.folder) / f"{aid}.cover.jpg"
    write_bytes(path, 4000)
    job_id = job_for(services, path.name)
    path.unlink()
    assert run_job(services, job_id) is JobState.ABANDONED
    assert list(services.failed_dir.iterdir()) == []
    assert list(services.claims.markers.iterdir()) == []


def test_an_upload_closed_under_the_job_asks_vod_again(services: Services,
                                                      emulator: Emulator) -> None:
    """The asset's upload is cancelled elsewhere while the video is sent: VOD refuses the
    confirm, the asset is updatable again, so the job asks for new URLs and finishes in
    the same run, with a second UpdateAsset."""
    aid = asset_id(955)
    emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(Path(services.folder) / f"{aid}.mp4", 2 * MiB)
    job_id = job_for(services, f"{aid}.mp4")
    emulator.add_fault("slow", "confirm", count=1, delay=1.0)  # held before it is handled

    def cancel_once_the_put_arrives() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any(r.operation == "obs_put" for r in emulator.requests):
                emulator.seed_asset(aid, "CANCELLED")  # an operator cancels the upload
                return
            time.sleep(0.01)

    canceller = threading.Thread(target=cancel_once_the_put_arrives)
    canceller.start()
    assert run_job(services, job_id) is JobState.DONE
    canceller.join()
    updates = [r for r in emulator.requests if r.operation == "update_asset"]
    assert len(updates) == 2
    assert services.journal.job(job_id).attempts == 1
