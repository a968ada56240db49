"""Part MD5s worked out while the file settled (in the same read as the whole-file hash)
are sent as the parts' Content-MD5, and only for the file they were read from, at the
part size the upload still chooses; otherwise the upload hashes its parts itself."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.conftest import PID, write_bytes
from tests.integration.test_upload import A1, _job, _sent_parts
from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from vodwatch.errors import FileChanged
from vodwatch.group import md5_b64
from vodwatch.journal import FileRow, Journal
from vodwatch.parts_ahead import SettledParts
from vodwatch.prehash import Prehasher, identity
from vodwatch.upload import Snapshot, Uploader
from vodwatch.vod.api import VodClient
from vodwatch.vod.http import HttpSettings, make_session
from vodwatch.vod.obs import ObsClient

MiB = 1024 * 1024
Clients = tuple[VodClient, ObsClient, Journal]
SIZE = 23 * MiB + 4321


@pytest.fixture
def clients(emulator: Emulator, tmp_path: Path) -> Iterator[Clients]:
    """VOD and store clients on the emulator, over real HTTP, and a journal."""
    session = make_session(HttpSettings(connect_timeout=2, read_timeout=10))
    journal = Journal.open(tmp_path / "state")
    yield (VodClient(emulator.url, PID, DEFAULT_AK, DEFAULT_SK, session=session,
                     timeout=(2.0, 10.0)), ObsClient(session, (2.0, 10.0)), journal)
    journal.close()
    session.close()


def _settle(uploader: Uploader, row: FileRow, path: Path) -> SettledParts:
    """What the daemon does while the file settles and when its hash is taken: hash it
    with its parts at the uploader's planned size, hand the parts to the uploader."""
    pre = Prehasher(min_size=1)
    seen = identity(Snapshot.of(path))
    pre.consider(path, seen, uploader.planned_part_size)
    done = pre.take(path, seen)
    pre.close()
    assert done is not None and done.part_size > 0
    settled = SettledParts(identity(done.snapshot), done.part_size, done.parts)
    uploader.settled.put(row.id, settled)
    return settled


def _file(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / f"1.{A1}.mp4"
    return path, write_bytes(path, SIZE)


def test_parts_hashed_while_settling_are_sent_without_hashing_again(
        emulator: Emulator, clients: Clients, tmp_path: Path) -> None:
    """An explicit 5 MiB part size: the settle read gives the five parts' MD5s, the upload
    sends them and hashes nothing itself."""
    vod, obs, journal = clients
    path, data = _file(tmp_path)
    row = _job(emulator, vod, journal, path)
    uploader = Uploader(vod, obs, journal, part_size=5 * MiB, parallel_parts=1)
    settled = _settle(uploader, row, path)
    assert settled.part_size == 5 * MiB and len(settled.md5s) == 5
    uploader.put_multipart(journal.file(row.id), path, "video/mp4")
    assert emulator.read_object(A1, "video") == data
    assert [p.md5 for p in journal.parts(row.id)] == list(settled.md5s)
    assert uploader.link.hash_rate is None, "no part was hashed by the upload"


def test_the_settled_md5s_are_what_is_sent(
        emulator: Emulator, clients: Clients, tmp_path: Path) -> None:
    """Proof that the settled MD5s are the ones sent: a wrong one (never made by a read,
    planted here) is refused by the store as a bad digest."""
    vod, obs, journal = clients
    path, _ = _file(tmp_path)
    row = _job(emulator, vod, journal, path)
    uploader = Uploader(vod, obs, journal, part_size=5 * MiB, parallel_parts=1)
    settled = _settle(uploader, row, path)
    wrong = md5_b64(hashlib.md5(b"not the part").digest())
    uploader.settled.put(row.id, SettledParts(settled.identity, settled.part_size,
                                              (wrong, *settled.md5s[1:])))
    try:
        uploader.put_multipart(journal.file(row.id), path, "video/mp4")
    except FileChanged:
        pass
    else:
        raise AssertionError("a part sent with a wrong Content-MD5 was accepted")
    assert 1 not in _sent_parts(emulator)


def test_an_adaptive_upload_with_a_measured_link_sends_one_part_per_connection(
        emulator: Emulator, clients: Clients, tmp_path: Path) -> None:
    """Rate known (an earlier upload measured it): the part size is chosen before the
    settle read, the parts hashed in it, one part per connection; the upload keeps that
    size, says why, and hashes nothing."""
    vod, obs, journal = clients
    path, data = _file(tmp_path)
    row = _job(emulator, vod, journal, path)
    uploader = Uploader(vod, obs, journal, parallel_parts=4, adaptive=True)
    uploader.link.rate, uploader.link.rtt = 25e6, 0.04
    settled = _settle(uploader, row, path)
    assert len(settled.md5s) == 4
    with capture_logs() as logs:
        uploader.put_multipart(journal.file(row.id), path, "video/mp4")
    assert emulator.read_object(A1, "video") == data
    assert journal.file(row.id).part_size == settled.part_size
    started = [e for e in logs if e["event"] == "upload.multipart_started"]
    assert len(started) == 1 and "while the file settled" in started[0]["why"]
    assert uploader.link.hash_rate is None, "no part was hashed by the upload"


def test_settled_parts_of_a_file_changed_since_are_not_used(
        emulator: Emulator, clients: Clients, tmp_path: Path) -> None:
    """The file was written to after the settle read and hashed again (the journal holds
    the new snapshot): the parts read before are discarded, the upload hashes its own."""
    vod, obs, journal = clients
    path, _ = _file(tmp_path)
    uploader = Uploader(vod, obs, journal, part_size=5 * MiB, parallel_parts=1)
    pre = Prehasher(min_size=1)
    seen = identity(Snapshot.of(path))
    pre.consider(path, seen, uploader.planned_part_size)
    old = pre.take(path, seen)
    pre.close()
    assert old is not None
    with open(path, "r+b") as fh:  # same size, same mtime put back: only ctime moves
        fh.seek(6 * MiB)
        fh.write(b"changed")
    os.utime(path, ns=(old.snapshot.mtime_ns, old.snapshot.mtime_ns))
    data = path.read_bytes()
    row = _job(emulator, vod, journal, path)  # hashed again, as the claim does
    uploader.settled.put(row.id, SettledParts(identity(old.snapshot), old.part_size,
                                              old.parts))
    uploader.put_multipart(journal.file(row.id), path, "video/mp4")
    assert emulator.read_object(A1, "video") == data
    assert [p.md5 for p in journal.parts(row.id)][1] != old.parts[1]
    assert uploader.link.hash_rate is not None, "the upload hashed its parts"


def test_settled_parts_of_another_part_size_are_not_used(
        emulator: Emulator, clients: Clients, tmp_path: Path) -> None:
    """Parts hashed at 5 MiB while the upload now cuts 6 MiB parts (the setting changed
    meanwhile): they are discarded and the upload hashes its own."""
    vod, obs, journal = clients
    path, data = _file(tmp_path)
    row = _job(emulator, vod, journal, path)
    settling = Uploader(vod, obs, journal, part_size=5 * MiB, parallel_parts=1)
    settled = _settle(settling, row, path)
    uploader = Uploader(vod, obs, journal, part_size=6 * MiB, parallel_parts=1)
    uploader.settled.put(row.id, settled)
    with capture_logs() as logs:
        uploader.put_multipart(journal.file(row.id), path, "video/mp4")
    assert emulator.read_object(A1, "video") == data
    assert journal.file(row.id).part_size == 6 * MiB
    assert any(e["event"] == "upload.settled_parts_unused" for e in logs)
    assert uploader.link.hash_rate is not None, "the upload hashed its parts"
