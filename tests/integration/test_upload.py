"""Uploads against the emulator over real HTTP with a real journal: hashing, single PUT,
multipart, and resuming from the journal after a stop, a failure or a store that forgot.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PID, wait_for, write_bytes
from tests.walk import walk
from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from vodwatch.errors import FileChanged, FileVanished, RemoteError, TransportError
from vodwatch.journal import FileRow, Journal, NewFile, PartRow
from vodwatch.upload import (
    ExpiredUrl,
    Interrupted,
    Progress,
    Snapshot,
    Uploader,
    check_unchanged,
    hash_file,
)
from vodwatch.vod.api import VodClient
from vodwatch.vod.http import HttpSettings, make_session
from vodwatch.vod.obs import ObsClient, parse_object_url, url_expires

A1 = "a1" * 16
PART = 100 * 1024  # the smallest part the store accepts
SIZE = 10 * PART + 12_345  # 11 parts, the last one short
PARTS = math.ceil(SIZE / PART)


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = make_session(HttpSettings(connect_timeout=2, read_timeout=10))
    yield s
    s.close()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "state")
    yield j
    j.close()


@pytest.fixture
def vod(emulator: Emulator, session: requests.Session) -> VodClient:
    return VodClient(emulator.url, PID, DEFAULT_AK, DEFAULT_SK, session=session,
                     timeout=(2.0, 10.0))


@pytest.fixture
def obs(session: requests.Session) -> ObsClient:
    return ObsClient(session, (2.0, 10.0))


@pytest.fixture
def video(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "claims" / f"1.{A1}.mp4"
    path.parent.mkdir()
    return path, write_bytes(path, SIZE)


def _uploader(vod: VodClient, obs: ObsClient, journal: Journal, **kwargs: Any) -> Uploader:
    return Uploader(vod, obs, journal, part_size=PART, **kwargs)


def _job(emulator: Emulator, vod: VodClient, journal: Journal, path: Path) -> FileRow:
    """Journal a video job as the runner does up to REQUESTED: hashed, URL stored."""
    md5, snap = hash_file(path)
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    answer = vod.update_asset({"asset_id": A1, "video_name": f"{A1}.mp4", "video_type": "MP4",
                               "video_md5": md5})
    url = answer["video_upload_url"]
    job_id, (file_id,) = journal.create_job(str(path.parent), A1, True, [
        NewFile(f"{A1}.mp4", "video", str(path), str(path))])
    journal.set_file(file_id, size=snap.size, mtime_ns=snap.mtime_ns, ctime_ns=snap.ctime_ns,
                     ino=snap.ino, md5=md5)
    bucket, key = parse_object_url(url)
    walk(journal, job_id, "requesting")
    journal.store_urls(job_id, [(file_id, url, url_expires(url), bucket, key)])
    return journal.file(file_id)


def _sent_parts(emulator: Emulator) -> list[int]:
    """Part numbers the store accepted, in the order they arrived."""
    return [int(r.query["partNumber"][0]) for r in emulator.requests
            if r.operation == "obs_part" and r.status == 200]


def _count(emulator: Emulator, operation: str) -> int:
    return sum(1 for r in emulator.requests if r.operation == operation)


# ---- hashing ---------------------------------------------------------------------------

def test_hash_file_matches_hashlib_and_the_files_stat(tmp_path: Path) -> None:
    """hash_file gives the base64 MD5 hashlib computes and a snapshot equal to os.stat."""
    path = tmp_path / "f.bin"
    data = write_bytes(path, 9 * 1024 * 1024 + 7)  # more than one read buffer
    md5, snap = hash_file(path)
    assert md5 == _md5(data)
    st = os.stat(path)
    assert snap == Snapshot(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def test_hash_file_of_an_empty_file(tmp_path: Path) -> None:
    """An empty file hashes to the MD5 of no bytes."""
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert hash_file(path)[0] == _md5(b"")


def test_hash_file_stops_when_asked(tmp_path: Path) -> None:
    """A set stop event interrupts hashing."""
    path = tmp_path / "f.bin"
    write_bytes(path, 1000)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted):
        hash_file(path, stop)


def test_hash_file_of_a_vanished_file_says_so(tmp_path: Path) -> None:
    """A file gone before hashing raises FileVanished, not a bare OSError."""
    with pytest.raises(FileVanished):
        hash_file(tmp_path / "gone.mp4")


def test_check_unchanged_sees_a_write_that_kept_the_old_mtime(tmp_path: Path) -> None:
    """A rewrite that restores size and mtime still changes ctime, so it is noticed."""
    path = tmp_path / "f.bin"
    write_bytes(path, 1000)
    _, snap = hash_file(path)
    row = FileRow(1, 1, "f.bin", "video", "", str(path), snap.size, snap.mtime_ns,
                  snap.ctime_ns, snap.ino, None, None, None, None, None, None, None, 0, None,
                  None, "pending", None, None)
    check_unchanged(path, row)
    with open(path, "r+b") as fh:
        fh.write(b"X")
    os.utime(path, ns=(snap.mtime_ns, snap.mtime_ns))
    with pytest.raises(FileChanged):
        check_unchanged(path, row)
    path.unlink()
    with pytest.raises(FileVanished):
        check_unchanged(path, row)


# ---- single PUT ------------------------------------------------------------------------

def test_put_single_sends_the_whole_file(emulator: Emulator, vod: VodClient, obs: ObsClient,
                                         journal: Journal,
                                         video: tuple[Path, bytes]) -> None:
    """One PUT to the stored URL delivers the file byte for byte, progress counts it all."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    progress = Progress(row.name, A1, SIZE)
    _uploader(vod, obs, journal).put_single(row, path, "video/mp4", progress)
    assert emulator.read_object(A1, "video") == data
    assert progress.sent == SIZE
    assert _count(emulator, "obs_put") == 1


def test_put_single_refuses_a_url_about_to_expire(emulator: Emulator, vod: VodClient,
                                                  obs: ObsClient, journal: Journal,
                                                  video: tuple[Path, bytes]) -> None:
    """A URL with less than a minute left is ExpiredUrl before any byte is sent."""
    path, _ = video
    row = _job(emulator, vod, journal, path)
    assert row.url_expires is not None
    expires = row.url_expires
    uploader = _uploader(vod, obs, journal, clock=lambda: expires - 30)
    with pytest.raises(ExpiredUrl):
        uploader.put_single(row, path, "video/mp4")
    assert _count(emulator, "obs_put") == 0


def test_put_single_of_a_file_changed_since_hashing_is_file_changed(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes]) -> None:
    """Bytes that no longer match the journaled MD5 end as FileChanged, nothing stored."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    path.write_bytes(b"Z" + data[1:])
    with pytest.raises(FileChanged):
        _uploader(vod, obs, journal).put_single(row, path, "video/mp4")
    assert emulator.read_object(A1, "video") is None


# ---- multipart -------------------------------------------------------------------------

def test_put_multipart_sends_every_part_and_completes(emulator: Emulator, vod: VodClient,
                                                      obs: ObsClient, journal: Journal,
                                                      video: tuple[Path, bytes]) -> None:
    """A fresh multipart upload journals each part and leaves a byte-identical object."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    progress = Progress(row.name, A1, SIZE)
    _uploader(vod, obs, journal, parallel_parts=3).put_multipart(row, path, "video/mp4",
                                                                 progress)
    assert emulator.read_object(A1, "video") == data
    assert sorted(_sent_parts(emulator)) == list(range(1, PARTS + 1))
    assert (_count(emulator, "obs_initiate"), _count(emulator, "obs_complete"),
            _count(emulator, "obs_list")) == (1, 1, 0)
    after = journal.file(row.id)
    assert after.upload_id and after.part_size == PART and after.state == "uploading"
    parts = journal.parts(row.id)
    assert [p.part_number for p in parts] == list(range(1, PARTS + 1))
    assert parts[0] == PartRow(1, PART, _md5(data[:PART]),
                               f'"{hashlib.md5(data[:PART]).hexdigest()}"')
    assert parts[-1].size == SIZE - (PARTS - 1) * PART
    assert progress.sent == SIZE
    vod.confirm(A1)
    assert emulator.confirms(A1) == ["CREATED"]


def test_an_upload_stopped_midway_resumes_with_only_the_missing_parts(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes]) -> None:
    """After a stop, the next run lists the store's parts and sends only the rest."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    stop = threading.Event()
    uploader = _uploader(vod, obs, journal, parallel_parts=1, stop=stop)
    emulator.add_fault("slow", "obs_part", count=None, delay=0.05)
    outcome: list[BaseException | None] = []

    def first_run() -> None:
        try:
            uploader.put_multipart(row, path, "video/mp4")
            outcome.append(None)
        except BaseException as exc:  # asserted below
            outcome.append(exc)

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        wait_for(lambda: len(journal.parts(row.id)) >= 3 or not thread.is_alive(), timeout=20,
                 interval=0.01, what="three parts journaled")
    finally:
        stop.set()
        thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], Interrupted)
    first = _sent_parts(emulator)
    assert 3 <= len(first) < PARTS
    assert [p.part_number for p in journal.parts(row.id)] == sorted(first)
    assert emulator.read_object(A1, "video") is None

    emulator.clear_faults()
    emulator.clear_requests()
    stop.clear()
    progress = Progress(row.name, A1, SIZE)
    uploader.put_multipart(journal.file(row.id), path, "video/mp4", progress)
    second = _sent_parts(emulator)
    assert sorted(second) == sorted(set(range(1, PARTS + 1)) - set(first))
    assert (_count(emulator, "obs_initiate"), _count(emulator, "obs_list")) == (0, 1)
    assert emulator.read_object(A1, "video") == data
    assert progress.sent == SIZE


def test_a_failed_complete_is_redone_without_sending_parts_again(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes]) -> None:
    """When only the merge failed, the next run sends no part and completes."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    emulator.add_fault("status", "obs_complete", status=500)
    uploader = _uploader(vod, obs, journal, parallel_parts=4)
    with pytest.raises(RemoteError) as info:
        uploader.put_multipart(row, path, "video/mp4")
    assert (info.value.status, info.value.fault.operation) == (500, "complete")
    emulator.clear_requests()
    uploader.put_multipart(journal.file(row.id), path, "video/mp4")
    assert _sent_parts(emulator) == []
    assert (_count(emulator, "obs_list"), _count(emulator, "obs_complete")) == (1, 1)
    assert emulator.read_object(A1, "video") == data


@pytest.fixture
def half_sent(emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
              video: tuple[Path, bytes]) -> tuple[FileRow, Uploader]:
    """A multipart upload whose first run sent parts 1-4, then stopped for shutdown."""
    path, _ = video
    row = _job(emulator, vod, journal, path)
    stop = threading.Event()
    uploader = _uploader(vod, obs, journal, parallel_parts=1, stop=stop)

    class StopAfterFourParts(Progress):
        """Progress that asks for a stop once four parts' bytes went out."""

        def add(self, n: int) -> None:
            super().add(n)
            if self.sent >= 4 * PART:
                stop.set()

    with pytest.raises(Interrupted):
        uploader.put_multipart(row, path, "video/mp4", StopAfterFourParts(row.name, A1, SIZE))
    assert _sent_parts(emulator) == [1, 2, 3, 4]
    stop.clear()
    emulator.clear_requests()
    return journal.file(row.id), uploader


def test_the_store_forgetting_the_upload_restarts_it(emulator: Emulator, vod: VodClient,
                                                     obs: ObsClient, journal: Journal,
                                                     video: tuple[Path, bytes],
                                                     half_sent: tuple[FileRow, Uploader]
                                                     ) -> None:
    """If the upload was aborted in the store, the next run starts a new one from part 1."""
    path, data = video
    row, uploader = half_sent
    assert row.upload_id and row.bucket and row.object_key
    obs.abort(vod.authority(http_verb="DELETE", bucket=row.bucket, object_key=row.object_key,
                            upload_id=row.upload_id))
    emulator.clear_requests()
    uploader.put_multipart(row, path, "video/mp4")
    assert [(r.operation, r.status) for r in emulator.requests if r.operation == "obs_list"
            ] == [("obs_list", 404)]
    assert _count(emulator, "obs_initiate") == 1
    assert sorted(_sent_parts(emulator)) == list(range(1, PARTS + 1))
    after = journal.file(row.id)
    assert after.upload_id and after.upload_id != row.upload_id
    assert emulator.read_object(A1, "video") == data


def test_parts_the_journal_forgot_are_taken_from_the_store(emulator: Emulator, vod: VodClient,
                                                           obs: ObsClient, journal: Journal,
                                                           video: tuple[Path, bytes],
                                                           half_sent: tuple[FileRow, Uploader]
                                                           ) -> None:
    """Parts in the store but not in the journal are not sent again: the store wins."""
    path, data = video
    row, uploader = half_sent
    journal.replace_parts(row.id, [])
    uploader.put_multipart(row, path, "video/mp4")
    assert sorted(_sent_parts(emulator)) == list(range(5, PARTS + 1))
    assert journal.parts(row.id)[0].md5 == _md5(data[:PART])
    assert emulator.read_object(A1, "video") == data


def test_a_part_the_store_never_got_is_sent_again(emulator: Emulator, vod: VodClient,
                                                  obs: ObsClient, journal: Journal,
                                                  video: tuple[Path, bytes],
                                                  half_sent: tuple[FileRow, Uploader]
                                                  ) -> None:
    """A journaled part missing from the store's list is dropped and re-sent."""
    path, data = video
    row, uploader = half_sent
    journal.add_part(row.id, PartRow(7, PART, _md5(b"x"), '"0000"'))
    uploader.put_multipart(row, path, "video/mp4")
    assert sorted(_sent_parts(emulator)) == list(range(5, PARTS + 1))
    assert emulator.read_object(A1, "video") == data


def test_a_transient_part_failure_is_retried_through_the_hook(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes]) -> None:
    """A 503 on one part is retried after the delay retry_part chose; the upload completes."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    slept: list[float] = []
    asked: list[tuple[str, int]] = []

    def retry_part(exc: BaseException, attempt: int) -> float | None:
        asked.append((type(exc).__name__, attempt))
        return 0.25

    emulator.add_fault("status", "obs_part", status=503)
    _uploader(vod, obs, journal, parallel_parts=1, retry_part=retry_part,
              sleep=slept.append).put_multipart(row, path, "video/mp4")
    assert asked == [("RemoteError", 1)] and slept == [0.25]
    assert emulator.read_object(A1, "video") == data


def test_a_dropped_connection_without_retry_budget_is_raised(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes]) -> None:
    """With no retry allowed, a reset part raises TransportError; the upload id is kept."""
    path, _ = video
    row = _job(emulator, vod, journal, path)
    emulator.add_fault("reset", "obs_part", after_bytes=10)
    with pytest.raises(TransportError):
        _uploader(vod, obs, journal, parallel_parts=1).put_multipart(row, path, "video/mp4")
    assert journal.file(row.id).upload_id is not None


def test_a_file_changed_during_multipart_is_not_completed(emulator: Emulator, vod: VodClient,
                                                          obs: ObsClient, journal: Journal,
                                                          video: tuple[Path, bytes]) -> None:
    """If the file changed since it was journaled, the parts are not merged: FileChanged."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    path.write_bytes(data[::-1])
    with pytest.raises(FileChanged):
        _uploader(vod, obs, journal).put_multipart(row, path, "video/mp4")
    assert _count(emulator, "obs_complete") == 0
    assert emulator.read_object(A1, "video") is None


def test_abort_multipart_drops_the_upload_and_the_journaled_parts(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes], half_sent: tuple[FileRow, Uploader]) -> None:
    """abort_multipart tells the store to drop the upload and forgets it in the journal."""
    row, uploader = half_sent
    uploader.abort_multipart(row)
    assert emulator.uploads() == []
    after = journal.file(row.id)
    assert (after.upload_id, after.part_size) == (None, None)
    assert journal.parts(row.id) == []


def test_a_store_part_that_differs_from_the_file_is_sent_again(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes], half_sent: tuple[FileRow, Uploader]) -> None:
    """A taker checks parts it did not send: a listed part whose ETag is not the file's MD5 there
    is sent again before the upload is completed."""
    path, data = video
    row, uploader = half_sent
    assert row.upload_id and row.bucket and row.object_key
    wrong = b"\0" * PART  # what a dead daemon might have sent for part 2
    url = vod.authority(http_verb="PUT", bucket=row.bucket, object_key=row.object_key,
                        content_md5=_md5(wrong), upload_id=row.upload_id, part_number=2)
    obs.upload_part(url, wrong, _md5(wrong))
    journal.replace_parts(row.id, [])  # the taker's journal knows no part
    emulator.clear_requests()
    uploader.put_multipart(journal.file(row.id), path, "video/mp4")
    assert sorted(_sent_parts(emulator)) == [2, *range(5, PARTS + 1)]
    assert emulator.read_object(A1, "video") == data


# ---- authority ahead, part size that fits the path ---------------------------------------

def _ends(emulator: Emulator, operation: str, key: str) -> dict[int, tuple[float, float]]:
    """Part number -> (request arrived, answer left) of each successful ``operation``."""
    return {int(r.query[key][0]): (r.time, r.time + r.duration) for r in emulator.requests
            if r.operation == operation and r.status == 200 and key in r.query}


def test_the_next_parts_url_is_asked_for_while_the_current_part_is_sent(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes]) -> None:
    """On one connection, the authority call for part n+1 is answered before part n is,
    so the connection goes from one part to the next without a VOD round trip."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    emulator.add_fault("slow", "obs_part", count=None, delay=0.15)  # a part takes a while
    _uploader(vod, obs, journal, parallel_parts=1).put_multipart(row, path, "video/mp4")
    assert emulator.read_object(A1, "video") == data
    authority = _ends(emulator, "authority", "part_number")
    parts = _ends(emulator, "obs_part", "partNumber")
    assert sorted(parts) == list(range(1, PARTS + 1))
    for n in range(2, PARTS + 1):
        asked, answered = authority[n]
        assert answered < parts[n - 1][1], f"part {n}'s URL came after part {n - 1} ended"
        assert asked > parts[n - 1][0] - 0.01, "asked for no earlier than needed"
    # Each part's URL was asked for once: no call wasted, none repeated.
    assert _count(emulator, "authority") == PARTS + 2  # + initiate and complete


def test_a_url_obtained_ahead_that_has_expired_is_asked_for_again(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes]) -> None:
    """VOD hands out part 2's URL (asked for while part 1 is sent) already expired: it is
    not used; a new one is asked for, and the store never sees an expired request."""
    path, data = video
    row = _job(emulator, vod, journal, path)
    emulator.add_fault("slow", "authority", count=None, delay=0.3)

    class ExpireNextUrl(Progress):
        """Once part 1 is being sent, the next URL VOD hands out is expired."""

        armed = False

        def add(self, n: int) -> None:
            super().add(n)
            if n and not self.armed:
                self.armed = True
                emulator.add_fault("expired", "authority")

    _uploader(vod, obs, journal, parallel_parts=1).put_multipart(
        row, path, "video/mp4", ExpireNextUrl(row.name, A1, SIZE))
    assert emulator.read_object(A1, "video") == data
    asked = [int(r.query["part_number"][0]) for r in emulator.requests
             if r.operation == "authority" and "part_number" in r.query]
    assert asked.count(2) == 2 and all(asked.count(n) == 1 for n in asked if n != 2)
    assert [r.status for r in emulator.requests if r.operation == "obs_part"] == [200] * PARTS
    assert [f["kind"] for f in emulator.faults()] == ["slow"]  # the expired one was used


def test_a_resumed_upload_keeps_its_journaled_part_size(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        video: tuple[Path, bytes], half_sent: tuple[FileRow, Uploader]) -> None:
    """An adaptive uploader resuming an upload started with 100 KiB parts goes on with
    100 KiB parts: the parts already in the store were cut so."""
    path, data = video
    row, _ = half_sent
    adaptive = Uploader(vod, obs, journal, part_size=20 * 1024 * 1024, parallel_parts=3,
                        adaptive=True)
    adaptive.put_multipart(row, path, "video/mp4")
    assert journal.file(row.id).part_size == PART
    assert sorted(_sent_parts(emulator)) == list(range(5, PARTS + 1))
    assert emulator.read_object(A1, "video") == data


def test_an_adaptive_upload_measures_the_link_and_cuts_parts_to_fit(
        emulator: Emulator, vod: VodClient, obs: ObsClient, journal: Journal,
        tmp_path: Path) -> None:
    """A 26 MiB file on 4 connections: the part size comes from the path (here 4 parts of
    >= 5 MiB, one per connection); the round trip, rate and MD5 speed are measured."""
    path = tmp_path / f"1.{A1}.mp4"
    data = write_bytes(path, 26 * 1024 * 1024)
    row = _job(emulator, vod, journal, path)
    uploader = Uploader(vod, obs, journal, part_size=PART, parallel_parts=4, adaptive=True)
    uploader.put_multipart(row, path, "video/mp4")
    assert emulator.read_object(A1, "video") == data
    assert journal.file(row.id).part_size == math.ceil(26 * 1024 * 1024 / 4)
    assert len(_sent_parts(emulator)) == 4
    link = uploader.link
    assert link.rtt is not None and link.rate is not None and link.hash_rate is not None
