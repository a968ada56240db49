"""Upgrade from 0.1 on real folders: hidden claim files go back to the inbox, jobs carry on.

0.1 renamed a claimed file to ``<inbox>/.vodwatch/claims/<instance>/<job>.<name>``,
kept its lease in ``.lease`` there and its tickets (with signed URLs) in
``.job-<job>.json``. The only thing faked is the clock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clock import FakeClock
from tests.walk import walk
from vodwatch import journal as J
from vodwatch.claim import STATE_DIR_NAME, Claims
from vodwatch.journal import Journal, NewFile, PartRow
from vodwatch.upgrade import legacy_root, migrate_own_jobs, sweep

A1 = "a1" * 16
A2 = "b2" * 16
A3 = "c3" * 16
LEASE = 10.0
OWN = "hostA"  # config.claims.instance_id, which named 0.1's claim folder
SIGNED = ("https://bucket.obs.example.com/k.mp4?AccessKeyId=AK&Expires=1700000000"
          "&Signature=c2VjcmV0")


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def claims(inbox: Path, clock: FakeClock) -> Claims:
    c = Claims(inbox, f"{OWN}-1a2b3c4d", LEASE, clock=clock)
    c.prepare()
    return c


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "state")
    yield j
    j.close()


def _legacy_folder(inbox: Path, name: str) -> Path:
    """A 0.1 daemon's claim folder with its lease."""
    folder = inbox / STATE_DIR_NAME / "claims" / name
    folder.mkdir(parents=True)
    (folder / ".lease").write_text("1 1700000000.000\n")
    return folder


def _legacy_claim(folder: Path, job_id: int, name: str, data: bytes) -> Path:
    """A file 0.1 claimed into ``folder``, with the job's ticket holding a signed URL."""
    path = folder / f"{job_id}.{name}"
    path.write_bytes(data)
    ticket = {"job": {"id": job_id, "asset_id": name[:32], "state": "uploading"},
              "files": [{"name": name, "claim_path": str(path), "upload_url": SIGNED}]}
    (folder / f".job-{job_id}.json").write_text(json.dumps(ticket))
    return path


def _hidden_texts(inbox: Path) -> list[str]:
    return [p.read_text(errors="replace") for p in (inbox / STATE_DIR_NAME).rglob("*")
            if p.is_file()]


def _inbox_files(inbox: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in inbox.iterdir() if p.is_file()}


# ---- sweep ---------------------------------------------------------------------------


def test_sweep_returns_our_own_files_at_once_and_deletes_the_tickets(
        claims: Claims, inbox: Path) -> None:
    """Our own 0.1 folder (and 0.1 take-over folder) empty into the inbox under the names."""
    own = _legacy_folder(inbox, OWN)
    _legacy_claim(own, 1, f"{A1}.mp4", b"video one")
    _legacy_claim(own, 2, f"{A2}.cover.jpg", b"cover two")
    takeover = inbox / STATE_DIR_NAME / "claims" / f".takeover-dead-{OWN}"
    takeover.mkdir()
    _legacy_claim(takeover, 5, f"{A3}.1.en.srt", b"subtitle")
    locks = inbox / STATE_DIR_NAME / "locks"
    locks.mkdir()
    (locks / f"{A1}.lock").write_text(OWN)

    assert sweep(claims, OWN) is True

    assert _inbox_files(inbox) == {f"{A1}.mp4": b"video one", f"{A2}.cover.jpg": b"cover two",
                                   f"{A3}.1.en.srt": b"subtitle"}
    assert not legacy_root(claims).exists() and not locks.exists()
    assert not any("Signature=" in text or "upload_url" in text
                   for text in _hidden_texts(inbox))
    assert (claims.leases / claims.daemon_id).is_file() and claims.mine.is_dir()
    assert sweep(claims, OWN) is True  # nothing left: a no-op


def test_sweep_without_a_0_1_layout_is_done(claims: Claims, inbox: Path) -> None:
    """An inbox that never saw 0.1 has nothing to sweep and nothing is touched."""
    (inbox / f"{A1}.mp4").write_bytes(b"new drop")
    assert sweep(claims, OWN) is True
    assert _inbox_files(inbox) == {f"{A1}.mp4": b"new drop"}


def test_another_0_1_daemons_files_wait_until_its_lease_stops_changing(
        claims: Claims, inbox: Path, clock: FakeClock) -> None:
    """A 0.1 peer keeps its files while its lease changes; unchanged for a lease, they return."""
    own = _legacy_folder(inbox, OWN)
    _legacy_claim(own, 1, f"{A1}.mp4", b"ours")
    peer = _legacy_folder(inbox, "hostB")
    hidden = _legacy_claim(peer, 7, f"{A2}.mp4", b"theirs")

    assert sweep(claims, OWN) is False
    assert _inbox_files(inbox) == {f"{A1}.mp4": b"ours"}  # ours at once, not theirs
    for beat in range(2, 5):
        clock.now += LEASE - 1
        (peer / ".lease").write_text(f"{beat} 1700000000.000\n")
        assert sweep(claims, OWN) is False
        assert hidden.read_bytes() == b"theirs"
    clock.now += LEASE - 1
    assert sweep(claims, OWN) is False
    assert hidden.exists()
    clock.now += 1
    assert sweep(claims, OWN) is True
    assert _inbox_files(inbox) == {f"{A1}.mp4": b"ours", f"{A2}.mp4": b"theirs"}
    assert not legacy_root(claims).exists()
    assert not any("Signature=" in text for text in _hidden_texts(inbox))


def test_a_name_taken_in_the_inbox_gets_a_free_variant(claims: Claims, inbox: Path) -> None:
    """A returned file never overwrites a newer drop of the same name: it gets ' (2)'."""
    (inbox / f"{A1}.mp4").write_bytes(b"new drop")
    own = _legacy_folder(inbox, OWN)
    _legacy_claim(own, 3, f"{A1}.mp4", b"old claim")
    assert sweep(claims, OWN) is True
    assert _inbox_files(inbox) == {f"{A1}.mp4": b"new drop", f"{A1} (2).mp4": b"old claim"}


def test_a_live_0_1_peer_whose_name_ends_with_ours_keeps_its_files(
        inbox: Path, clock: FakeClock) -> None:
    """A live 0.1 peer named '<something>-<our instance>' is not mistaken for us."""
    claims = Claims(inbox, "vod-1a2b3c4d", LEASE, clock=clock)
    claims.prepare()
    peer = _legacy_folder(inbox, "studio-vod")
    hidden = _legacy_claim(peer, 7, f"{A2}.mp4", b"theirs")
    assert sweep(claims, "vod") is False
    assert hidden.read_bytes() == b"theirs"
    assert f"{A2}.mp4" not in _inbox_files(inbox)


# ---- migrate_own_jobs ----------------------------------------------------------------


def _legacy_job(journal: Journal, inbox: Path, folder: Path, job_name: str,
                data: bytes) -> tuple[int, int, Path]:
    """An unfinished 0.1 job of ours mid-multipart, as the migrated journal holds it."""
    job_id, (file_id,) = journal.create_job(
        str(inbox), job_name[:32], True, [NewFile(job_name, "video", str(inbox / job_name), "")])
    claimed = folder / f"{job_id}.{job_name}"  # 0.1's claim path, now in files.marker
    claimed.write_bytes(data)
    journal.set_file(file_id, marker=str(claimed))
    st = claimed.stat()
    journal.set_file(file_id, size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=1, ino=1,
                     md5="bWQ1", upload_id="UP1", bucket="bkt", object_key="k.mp4",
                     part_size=4, bytes_sent=4, state="uploading")
    journal.add_part(file_id, PartRow(1, 4, "m1", '"e1"'))
    walk(journal, job_id, J.UPLOADING)
    return job_id, file_id, claimed


def test_migrate_own_jobs_returns_the_files_and_keeps_the_multipart(
        claims: Claims, journal: Journal, inbox: Path) -> None:
    """Our unfinished 0.1 job's file goes back to the inbox, claimed, its upload carried on."""
    journal.set_meta("legacy_claims", 1)
    own = _legacy_folder(inbox, OWN)
    job_id, file_id, hidden = _legacy_job(journal, inbox, own, f"{A1}.mp4", b"12345678")
    (own / f".job-{job_id}.json").write_text(json.dumps({"files": [{"upload_url": SIGNED}]}))
    other_id, (other_file,) = journal.create_job(
        "/other/inbox", A2, True,
        [NewFile(f"{A2}.mp4", "video", f"/other/inbox/{A2}.mp4", str(own / f"9.{A2}.mp4"))])

    migrate_own_jobs(claims, journal, str(inbox))

    place = inbox / f"{A1}.mp4"
    assert place.read_bytes() == b"12345678" and not hidden.exists()
    st = place.stat()
    f = journal.file(file_id)
    assert (f.inbox_path, f.marker) == (str(place), str(claims.marker_for(place)))
    assert (f.size, f.mtime_ns, f.ctime_ns, f.ino) == (8, st.st_mtime_ns, st.st_ctime_ns,
                                                       st.st_ino)
    assert (f.md5, f.upload_id, f.bucket, f.object_key, f.part_size, f.bytes_sent,
            f.state) == ("bWQ1", "UP1", "bkt", "k.mp4", 4, 4, "uploading")
    assert journal.parts(file_id) == [PartRow(1, 4, "m1", '"e1"')]
    assert journal.job(job_id).state == J.UPLOADING
    marker = Path(f.marker)
    assert claims.owns(marker)
    assert (marker / "owner").read_text().splitlines() == [claims.daemon_id, str(job_id),
                                                          place.name]
    assert journal.file(other_file).marker == str(own / f"9.{A2}.mp4")  # not this folder set
    assert journal.job(other_id).state == J.CLAIMING

    assert sweep(claims, OWN) is True  # then the 0.1 folder, ticket and all, goes
    assert not legacy_root(claims).exists()
    assert _inbox_files(inbox) == {f"{A1}.mp4": b"12345678"}
    assert claims.owns(marker)
    assert not any("Signature=" in text for text in _hidden_texts(inbox))


def test_migrate_own_jobs_never_overwrites_a_new_drop(claims: Claims, journal: Journal,
                                                      inbox: Path) -> None:
    """If the name was dropped again meanwhile, the job's file returns as a free variant."""
    journal.set_meta("legacy_claims", 1)
    own = _legacy_folder(inbox, OWN)
    (inbox / f"{A1}.mp4").write_bytes(b"new drop")
    _, file_id, _ = _legacy_job(journal, inbox, own, f"{A1}.mp4", b"in flight")
    migrate_own_jobs(claims, journal, str(inbox))
    variant = inbox / f"{A1} (2).mp4"
    assert _inbox_files(inbox) == {f"{A1}.mp4": b"new drop", variant.name: b"in flight"}
    f = journal.file(file_id)
    assert (f.inbox_path, f.marker) == (str(variant), str(claims.marker_for(variant)))
    assert claims.is_claimed(variant) and not claims.is_claimed(inbox / f"{A1}.mp4")
    assert f.upload_id == "UP1"


def test_migrate_own_jobs_does_nothing_without_legacy_claims(
        claims: Claims, journal: Journal, inbox: Path) -> None:
    """A journal that was never 0.1's (no legacy_claims) is left exactly as it is."""
    own = _legacy_folder(inbox, OWN)
    _, file_id, hidden = _legacy_job(journal, inbox, own, f"{A1}.mp4", b"data")
    migrate_own_jobs(claims, journal, str(inbox))
    assert hidden.exists() and journal.file(file_id).marker == str(hidden)
    assert not os.listdir(claims.markers)
