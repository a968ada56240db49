"""Claims on real folders: markers by exclusive mkdir, leases on a fake clock, take-over, locks.

The editor's file never moves: a claim is a marker in ``<inbox>/.vodwatch/files/``.
Two ``Claims`` objects with different daemon ids on one inbox stand for two daemons
on two machines sharing it. The only thing faked is the clock.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clock import FakeClock
from tests.walk import walk
from vodwatch.claim import Claims, marker_name
from vodwatch.journal import CLAIMED, Journal, NewFile
from vodwatch.share import STATE_DIR_NAME, ShareIdentity

A1 = "a1" * 16
A2 = "b2" * 16
A3 = "c3" * 16
LEASE = 10.0
SIGNED = ("https://bucket.obs.example.com/k.mp4?AccessKeyId=AK&Expires=1700000000"
          "&Signature=c2VjcmV0")

Adopt = Callable[[dict[str, Any]], list[tuple[Path, int]]]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(inbox: Path, clock: FakeClock) -> Callable[[str], Claims]:
    def build(daemon_id: str) -> Claims:
        claims = Claims(inbox, daemon_id, LEASE, clock=clock)
        claims.prepare()
        return claims
    return build


@pytest.fixture
def journals(tmp_path: Path) -> Iterator[Callable[[str], Journal]]:
    opened: list[Journal] = []

    def open_journal(name: str) -> Journal:
        j = Journal.open(tmp_path / f"state-{name}")
        opened.append(j)
        return j

    yield open_journal
    for j in opened:
        j.close()


def _drop(inbox: Path, name: str, data: bytes = b"video") -> Path:
    path = inbox / name
    path.write_bytes(data)
    return path


def _owner_lines(marker: Path) -> list[str]:
    return (marker / "owner").read_text().splitlines()


def _ticket(journal: Journal, job_id: int, inbox: Path) -> dict[str, Any]:
    """The ticket as the folder watcher writes it: the journal export plus our inbox."""
    return {**journal.export_job(job_id), "inbox": str(inbox)}


def _claim_job(claims: Claims, journal: Journal, inbox: Path, asset_id: str,
               name: str) -> tuple[int, Path, Path]:
    """Claim one file as the folder watcher does; returns (job id, file, marker)."""
    path = _drop(inbox, name, name.encode())
    assert claims.lock_asset(asset_id)
    job_id, _ = journal.create_job(str(inbox), asset_id, True,
                                   [NewFile(name, "video", str(path),
                                            str(claims.marker_for(path)))])
    marker = claims.claim(path, job_id)
    assert marker is not None
    walk(journal, job_id, CLAIMED)
    claims.write_ticket(job_id, _ticket(journal, job_id, inbox))
    return job_id, path, marker


def _adopter(claims: Claims, journal: Journal, inbox: Path,
             seen: list[dict[str, Any]] | None = None) -> Adopt:
    """The daemon's adopt callback in small: journal the job as ours, return its markers."""
    def adopt(ticket: dict[str, Any]) -> list[tuple[Path, int]]:
        if seen is not None:
            seen.append(ticket)
        job_id, files = journal.import_job(str(inbox), ticket, inbox)
        claims.write_ticket(job_id, _ticket(journal, job_id, inbox))
        return [(Path(f.marker), job_id) for f in files]
    return adopt


# ---- prepare -------------------------------------------------------------------------


def test_prepare_never_creates_a_missing_inbox(tmp_path: Path, clock: FakeClock) -> None:
    """An inbox that is not there (an unmounted share) raises FileNotFoundError, untouched."""
    missing = tmp_path / "share" / "inbox"
    claims = Claims(missing, "a", LEASE, clock=clock)
    with pytest.raises(FileNotFoundError):
        claims.prepare()
    assert not missing.exists() and not (tmp_path / "share").exists()
    assert claims.fenced() is False


def test_prepare_creates_the_hidden_folders_and_a_lease(make: Callable[[str], Claims],
                                                        inbox: Path) -> None:
    """prepare makes .vodwatch/{files,assets,daemons,jobs/<id>} and writes our lease."""
    claims = make("host-a")
    root = inbox / STATE_DIR_NAME
    assert claims.root == root
    for folder in ("files", "assets", "daemons", "jobs", "jobs/host-a"):
        assert (root / folder).is_dir(), folder
    assert (root / "daemons" / "host-a").is_file()
    assert claims.mine == root / "jobs" / "host-a"
    make("host-b")  # a second daemon on the same share prepares beside the first
    assert sorted(p.name for p in (root / "daemons").iterdir()) == ["host-a", "host-b"]


# ---- claims --------------------------------------------------------------------------


def test_claim_makes_a_marker_and_the_file_stays_in_place(make: Callable[[str], Claims],
                                                          inbox: Path) -> None:
    """A claim makes the file's marker, owned by us; the file keeps its name, inode and bytes."""
    claims = make("a")
    path = _drop(inbox, f"{A1}.mp4", b"bytes")
    ino = path.stat().st_ino
    marker = claims.claim(path, 7)
    assert marker == inbox / STATE_DIR_NAME / "files" / marker_name(f"{A1}.mp4")
    assert marker.is_dir()
    assert _owner_lines(marker) == ["a", "7", f"{A1}.mp4"]
    assert path.read_bytes() == b"bytes" and path.stat().st_ino == ino
    assert sorted(p.name for p in inbox.iterdir()) == [STATE_DIR_NAME, f"{A1}.mp4"]
    assert claims.owns(marker) and claims.is_claimed(path)
    assert claims.my_markers() == [marker]


def test_only_one_of_two_daemons_wins_a_file(make: Callable[[str], Claims],
                                             inbox: Path) -> None:
    """When two daemons claim the same file, the second finds the marker taken and loses."""
    a, b = make("a"), make("b")
    path = _drop(inbox, f"{A1}.mp4")
    marker = a.claim(path, 1)
    assert marker is not None
    assert b.claim(path, 1) is None
    assert a.owns(marker) and not b.owns(marker)
    assert b.is_claimed(path) and b.my_markers() == []


def test_daemons_racing_in_threads_each_file_has_exactly_one_winner(
        make: Callable[[str], Claims], inbox: Path) -> None:
    """Threads of two daemons claiming the same files at once: every file is won exactly once."""
    a, b = make("a"), make("b")
    paths = [_drop(inbox, f"{i:032x}.mp4") for i in range(40)]
    start = threading.Barrier(8)
    won: list[tuple[str, Path]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def race(claims: Claims, n: int) -> None:
        try:
            start.wait(10)
            for path in paths:
                if claims.claim(path, n) is not None:
                    with lock:
                        won.append((claims.daemon_id, path))
        except BaseException as exc:  # asserted below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(a if n % 2 else b, n)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(path.name for _, path in won) == sorted(path.name for path in paths)
    for daemon_id, path in won:
        assert _owner_lines((a if daemon_id == "a" else b).marker_for(path))[0] == daemon_id
    assert len(a.my_markers()) + len(b.my_markers()) == len(paths)


def test_a_held_marker_is_never_claimed_again(make: Callable[[str], Claims],
                                              inbox: Path) -> None:
    """A marker already held, by another job of ours or by a peer, refuses every new claim."""
    a, b = make("a"), make("b")
    ours = _drop(inbox, f"{A1}.mp4")
    theirs = _drop(inbox, f"{A2}.mp4")
    mine = a.claim(ours, 1)
    peer = b.claim(theirs, 5)
    assert mine is not None and peer is not None
    assert a.claim(ours, 2) is None
    assert a.claim(theirs, 3) is None
    assert b.claim(ours, 6) is None
    assert _owner_lines(mine)[:2] == ["a", "1"]
    assert _owner_lines(peer)[:2] == ["b", "5"]


def test_a_255_byte_file_name_claims_fine(make: Callable[[str], Claims], inbox: Path) -> None:
    """The marker is named by a digest, so the longest name a file can have claims normally."""
    claims = make("a")
    name = f"{A1}." + "é" * 109 + ".mp4"
    assert len(name.encode()) == 255
    path = _drop(inbox, name)
    marker = claims.claim(path, 1)
    assert marker is not None and len(marker.name) == 40
    assert _owner_lines(marker) == ["a", "1", name]
    assert claims.claim(path, 2) is None
    claims.release(marker)
    assert not claims.is_claimed(path) and path.exists()


def test_a_file_in_a_subfolder_has_its_own_marker(make: Callable[[str], Claims],
                                                  inbox: Path) -> None:
    """Markers are named by the path relative to the inbox: same name, other folder, no clash."""
    claims = make("a")
    (inbox / "sub").mkdir()
    top = _drop(inbox, f"{A1}.mp4")
    nested = _drop(inbox / "sub", f"{A1}.mp4")
    assert claims.claim(top, 1) is not None
    marker = claims.claim(nested, 2)
    assert marker is not None and _owner_lines(marker)[2] == f"sub/{A1}.mp4"


def test_release_drops_only_our_marker(make: Callable[[str], Claims], inbox: Path) -> None:
    """release removes a marker of ours (the file stays, free again), never a peer's."""
    a, b = make("a"), make("b")
    ours = _drop(inbox, f"{A1}.mp4")
    theirs = _drop(inbox, f"{A2}.mp4")
    mine = a.claim(ours, 1)
    peer = b.claim(theirs, 1)
    assert mine is not None and peer is not None
    a.release(peer)
    assert peer.is_dir() and b.owns(peer)
    a.release(mine)
    assert not mine.exists() and ours.exists()
    a.release(mine)  # already gone: fine
    assert b.claim(ours, 2) is not None


# ---- leases and fencing --------------------------------------------------------------


def test_fenced_right_after_renew_and_not_after_half_a_lease(
        inbox: Path, clock: FakeClock) -> None:
    """A daemon may act on the share only within lease/2 of its last successful renewal."""
    claims = Claims(inbox, "a", LEASE, clock=clock)
    assert claims.fenced() is False  # never renewed
    claims.prepare()
    assert claims.fenced() is True
    clock.now += LEASE / 2 - 0.01
    assert claims.fenced() is True
    clock.now += 0.01
    assert claims.fenced() is False
    claims.renew()
    assert claims.fenced() is True


def test_a_peer_whose_lease_stops_changing_is_dead_after_lease_seconds(
        make: Callable[[str], Claims], clock: FakeClock) -> None:
    """A peer lease unchanged for lease_seconds, by our clock, makes the peer dead."""
    a, b = make("a"), make("b")
    assert a.dead_owners() == []  # first sight starts the count
    clock.now += LEASE - 0.5
    assert a.dead_owners() == []
    clock.now += 0.5
    assert a.dead_owners() == [b.daemon_id]


def test_a_peer_that_renews_its_lease_stays_alive(make: Callable[[str], Claims],
                                                  clock: FakeClock) -> None:
    """Each change of a peer's lease restarts the count from the moment we saw it."""
    a, b = make("a"), make("b")
    a.dead_owners()
    for _ in range(5):
        clock.now += LEASE - 1
        b.renew()
        assert a.dead_owners() == []
    assert a.alive_peers() == 1
    clock.now += LEASE - 1
    assert a.dead_owners() == []
    clock.now += 1
    assert a.dead_owners() == [b.daemon_id]


def test_our_own_id_is_never_dead(make: Callable[[str], Claims], inbox: Path,
                                  clock: FakeClock) -> None:
    """However long our own lease stays unchanged, dead_owners never lists us."""
    a = make("a")
    assert a.claim(_drop(inbox, f"{A1}.mp4"), 1) is not None
    assert a.lock_asset(A1)
    a.dead_owners()
    clock.now += LEASE * 10
    assert a.dead_owners() == []


def test_a_peer_without_a_lease_that_holds_a_marker_is_dead_after_a_lease(
        make: Callable[[str], Claims], inbox: Path, clock: FakeClock) -> None:
    """A marker's owner whose lease file is gone counts as an unchanging lease."""
    a, b = make("a"), make("b")
    assert b.claim(_drop(inbox, f"{A1}.mp4"), 1) is not None
    os.unlink(b.leases / "b")
    a.dead_owners()
    clock.now += LEASE
    assert a.dead_owners() == ["b"]


def test_a_marker_without_an_owner_file_is_removed_after_a_lease(
        make: Callable[[str], Claims], inbox: Path, clock: FakeClock) -> None:
    """A marker whose maker died between mkdir and naming itself is removed after a lease."""
    a = make("a")
    path = _drop(inbox, f"{A1}.mp4")
    orphan = a.marker_for(path)
    orphan.mkdir()
    assert a.claim(path, 1) is None
    assert a.dead_owners() == []
    clock.now += LEASE - 1
    assert a.dead_owners() == [] and orphan.is_dir()
    clock.now += 1
    assert a.dead_owners() == []
    assert not orphan.exists()
    assert a.claim(path, 2) is not None


# ---- take-over -----------------------------------------------------------------------


def test_take_over_adopts_ticketed_jobs_and_drops_the_rest(
        make: Callable[[str], Claims], journals: Callable[[str], Journal], inbox: Path,
        clock: FakeClock) -> None:
    """A dead peer's ticketed job becomes ours; its other markers, locks and lease go."""
    dead, heir = make("dead"), make("heir")
    dead_journal, heir_journal = journals("dead"), journals("heir")
    job_id, path, marker = _claim_job(dead, dead_journal, inbox, A1, f"{A1}.mp4")
    loose = _drop(inbox, f"{A2}.mp4", b"no ticket")
    loose_marker = dead.claim(loose, 99)
    assert loose_marker is not None and dead.lock_asset(A2)
    heir.dead_owners()
    clock.now += LEASE
    assert heir.dead_owners() == ["dead"]
    seen: list[dict[str, Any]] = []

    taken = heir.take_over("dead", _adopter(heir, heir_journal, inbox, seen))

    assert taken == 1
    assert [(t["job"]["id"], t["inbox"], [f["name"] for f in t["files"]]) for t in seen] == [
        (job_id, str(inbox), [path.name])]
    (adopted,) = heir_journal.unfinished_jobs()
    (row,) = heir_journal.files(adopted.id)
    assert (row.inbox_path, row.marker) == (str(path), str(marker))
    assert heir.owns(marker) and _owner_lines(marker) == ["heir", str(adopted.id), path.name]
    assert path.read_bytes() == f"{A1}.mp4".encode()  # never moved
    assert not loose_marker.exists() and loose.read_bytes() == b"no ticket"
    assert heir.holds_or_free(A1) and not make("third").lock_asset(A1)
    assert not (heir.asset_locks / A2).exists()
    assert not (heir.leases / "dead").exists()
    assert not (heir.tickets / "dead").exists()
    assert sorted(p.name for p in heir.tickets.iterdir()) == ["heir", "third"]
    assert sorted(p.name for p in heir.mine.iterdir()) == [f"{adopted.id}.json"]
    assert heir.unfinished_takeovers() == []
    assert heir.claim(loose, 5) is not None  # free again, for anyone
    assert heir.dead_owners() == []


def test_a_ticket_that_cannot_be_read_is_dropped_and_its_markers_freed(
        make: Callable[[str], Claims], inbox: Path) -> None:
    """A broken ticket adopts nothing and loses nothing: its file's marker is simply freed."""
    dead, heir = make("dead"), make("heir")
    path = _drop(inbox, f"{A1}.mp4")
    assert dead.claim(path, 5) is not None
    (dead.mine / "5.json").write_text("{not json")
    calls: list[dict[str, Any]] = []

    def adopt(ticket: dict[str, Any]) -> list[tuple[Path, int]]:
        calls.append(ticket)
        return []

    assert heir.take_over("dead", adopt) == 0
    assert calls == []
    assert path.exists() and not heir.is_claimed(path)
    assert heir.unfinished_takeovers() == []


def test_two_daemons_taking_over_the_same_peer_adopt_its_job_once(
        make: Callable[[str], Claims], journals: Callable[[str], Journal], inbox: Path) -> None:
    """The tickets folder is renamed by exactly one of two heirs: the job is adopted once."""
    dead, b, c = make("dead"), make("b"), make("c")
    _claim_job(dead, journals("dead"), inbox, A1, f"{A1}.mp4")
    seen_b: list[dict[str, Any]] = []
    seen_c: list[dict[str, Any]] = []
    adopt_b = _adopter(b, journals("b"), inbox, seen_b)
    adopt_c = _adopter(c, journals("c"), inbox, seen_c)
    start = threading.Barrier(2)
    results: dict[str, int] = {}

    def run(claims: Claims, adopt: Adopt) -> None:
        start.wait(10)
        results[claims.daemon_id] = claims.take_over("dead", adopt)

    threads = [threading.Thread(target=run, args=(b, adopt_b)),
               threading.Thread(target=run, args=(c, adopt_c))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["b", "c"]
    assert len(seen_b) + len(seen_c) == 1
    loser = c if seen_b else b
    assert results[loser.daemon_id] == 0 and loser.my_markers() == []
    assert b.unfinished_takeovers() == [] and c.unfinished_takeovers() == []
    # What the winner ends up holding (marker, asset lock, its count) is not asserted here:
    # the loser may remove them under it, see
    # test_a_second_heir_never_frees_a_file_the_first_heir_is_adopting.


def test_a_second_heir_never_frees_a_file_the_first_heir_is_adopting(
        make: Callable[[str], Claims], journals: Callable[[str], Journal], inbox: Path) -> None:
    """While one heir adopts a ticket, another heir of the same peer leaves its marker held."""
    dead, b, c = make("dead"), make("b"), make("c")
    _, path, marker = _claim_job(dead, journals("dead"), inbox, A1, f"{A1}.mp4")
    inside_adopt, may_finish = threading.Event(), threading.Event()
    adopt_b = _adopter(b, journals("b"), inbox)
    errors: list[BaseException] = []

    def slow_adopt(ticket: dict[str, Any]) -> list[tuple[Path, int]]:
        inside_adopt.set()
        may_finish.wait(10)
        return adopt_b(ticket)

    def run_b() -> None:
        try:
            b.take_over("dead", slow_adopt)
        except BaseException as exc:  # asserted below, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run_b)
    thread.start()
    try:
        assert inside_adopt.wait(10)
        c.take_over("dead", lambda ticket: [])
        c_won = c.claim(path, 1)
    finally:
        may_finish.set()
        thread.join(10)
    assert errors == []
    assert b.owns(marker)
    assert c_won is None


def test_finish_take_over_carries_on_after_a_crash(
        make: Callable[[str], Claims], journals: Callable[[str], Journal], inbox: Path,
        clock: FakeClock) -> None:
    """A take-over cut short after the rename is found at start-up and finished."""
    dead, heir = make("dead"), make("heir")
    _, path, marker = _claim_job(dead, journals("dead"), inbox, A1, f"{A1}.mp4")
    work = heir.tickets / ".takeover-dead-heir"
    os.rename(dead.mine, work)  # the first step of take_over, then the heir crashed
    restarted = Claims(inbox, "heir", LEASE, clock=clock)
    restarted.prepare()
    assert restarted.unfinished_takeovers() == [(work, "dead")]
    assert make("other").unfinished_takeovers() == []  # not another daemon's to finish
    heir_journal = journals("heir")
    assert restarted.finish_take_over(work, "dead",
                                      _adopter(restarted, heir_journal, inbox)) == 1
    assert restarted.unfinished_takeovers() == [] and not work.exists()
    assert restarted.owns(marker) and path.exists()
    assert len(heir_journal.unfinished_jobs()) == 1
    assert not (restarted.leases / "dead").exists()


def test_lost_tickets_when_a_peer_took_our_tickets_folder(
        make: Callable[[str], Claims]) -> None:
    """A daemon presumed dead finds its tickets folder gone: lost_tickets says so."""
    a, b = make("a"), make("b")
    assert a.lost_tickets() is False and b.lost_tickets() is False
    b.take_over("a", lambda ticket: [])
    assert a.lost_tickets() is True
    assert b.lost_tickets() is False


# ---- asset locks ---------------------------------------------------------------------


def test_asset_locks_are_exclusive_between_daemons(make: Callable[[str], Claims]) -> None:
    """Only the holder may take (again) or release an asset lock; then the other may take it."""
    a, b = make("a"), make("b")
    assert a.lock_asset(A1) is True
    assert a.lock_asset(A1) is True  # ours already
    assert b.lock_asset(A1) is False
    b.unlock_asset(A1)  # not b's: no effect
    assert b.lock_asset(A1) is False
    a.unlock_asset(A1)
    assert b.lock_asset(A1) is True
    assert a.lock_asset(A1) is False


def test_holds_or_free_is_false_only_for_a_peer_held_lock(
        make: Callable[[str], Claims]) -> None:
    """holds_or_free is true for a free asset or one we hold, false while a peer holds it."""
    a, b = make("a"), make("b")
    assert a.holds_or_free(A1) and b.holds_or_free(A1)
    a.lock_asset(A1)
    assert a.holds_or_free(A1) and not b.holds_or_free(A1)
    a.unlock_asset(A1)
    assert a.holds_or_free(A1) and b.holds_or_free(A1)


def test_release_all_locks_drops_only_ours(make: Callable[[str], Claims]) -> None:
    """release_all_locks removes every lock we hold and none of another daemon's."""
    a, b = make("a"), make("b")
    a.lock_asset(A1)
    a.lock_asset(A3)
    b.lock_asset(A2)
    a.release_all_locks()
    assert sorted(p.name for p in a.asset_locks.iterdir()) == [A2]
    assert b.lock_asset(A1) is True
    assert a.lock_asset(A2) is False


def test_a_lock_whose_owner_is_dead_is_dropped_at_take_over(
        make: Callable[[str], Claims], clock: FakeClock) -> None:
    """A dead daemon's asset lock without a job is removed when it is taken over."""
    dead, heir, peer = make("dead"), make("heir"), make("peer")
    dead.lock_asset(A2)
    assert peer.lock_asset(A2) is False
    heir.dead_owners()
    clock.now += LEASE
    peer.renew()
    heir.renew()
    assert heir.dead_owners() == ["dead"]
    assert heir.take_over("dead", lambda ticket: []) == 0
    assert not (heir.asset_locks / A2).exists()
    assert peer.lock_asset(A2) is True


def test_a_declined_ticket_leaves_no_asset_lock_behind(
        make: Callable[[str], Claims], journals: Callable[[str], Journal], inbox: Path) -> None:
    """When adopt declines a ticket, its asset is free for every daemon afterwards."""
    dead, heir, peer = make("dead"), make("heir"), make("peer")
    _claim_job(dead, journals("dead"), inbox, A1, f"{A1}.mp4")
    heir.take_over("dead", lambda ticket: [])
    assert peer.lock_asset(A1) is True


# ---- tickets -------------------------------------------------------------------------


def test_tickets_never_hold_a_signed_url(make: Callable[[str], Claims]) -> None:
    """A ticket written from data with upload URLs keeps everything but the URLs."""
    a = make("a")
    data = {"job": {"id": 4, "asset_id": A1, "state": "uploading"}, "inbox": "/mnt/in",
            "files": [{"name": f"{A1}.mp4", "upload_url": SIGNED, "upload_id": "UP1",
                       "bucket": "bkt"},
                      {"name": f"{A1}.cover.jpg", "upload_url": SIGNED, "state": "uploaded"}]}
    a.write_ticket(4, data)
    text = (a.mine / "4.json").read_text()
    assert "upload_url" not in text and "Signature=" not in text and "c2VjcmV0" not in text
    assert json.loads(text) == {
        "job": {"id": 4, "asset_id": A1, "state": "uploading"}, "inbox": "/mnt/in",
        "files": [{"name": f"{A1}.mp4", "upload_id": "UP1", "bucket": "bkt"},
                  {"name": f"{A1}.cover.jpg", "state": "uploaded"}]}
    assert data["files"][0]["upload_url"] == SIGNED  # the caller's data is left alone
    assert sorted(p.name for p in a.mine.iterdir()) == ["4.json"]  # no temporary file
    a.drop_ticket(4)
    a.drop_ticket(4)  # already gone: fine
    assert list(a.mine.iterdir()) == []


def test_a_journal_export_as_ticket_has_no_signed_url(
        make: Callable[[str], Claims], journals: Callable[[str], Journal], inbox: Path) -> None:
    """The real journal export of a job whose URL is stored never puts the URL on the share."""
    a, journal = make("a"), journals("a")
    job_id, _, _ = _claim_job(a, journal, inbox, A1, f"{A1}.mp4")
    (f,) = journal.files(job_id)
    walk(journal, job_id, "requesting")
    journal.store_urls(job_id, [(f.id, SIGNED, 1_700_000_000.0, "bkt", "k.mp4")])
    a.write_ticket(job_id, _ticket(journal, job_id, inbox))
    for path in (inbox / STATE_DIR_NAME).rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "Signature=" not in text and "upload_url" not in text, path


# ---- share identity ------------------------------------------------------------------


def test_share_identity_first_check_then_create(inbox: Path) -> None:
    """Nothing known and no id: (None, None); create() writes an id with the inbox's device."""
    share = ShareIdentity(inbox)
    assert share.check(None) == (None, None)
    (inbox / STATE_DIR_NAME).mkdir()
    ident = share.create()
    assert ident == {"id": ident["id"], "dev": inbox.stat().st_dev, "mount": ident["mount"]}
    assert len(ident["id"]) == 32
    assert share.path.read_text().strip() == ident["id"]


def test_share_identity_the_same_id_is_fine(inbox: Path) -> None:
    """With the id on the share equal to the known one, there is no problem."""
    share = ShareIdentity(inbox)
    (inbox / STATE_DIR_NAME).mkdir()
    ident = share.create()
    assert share.check(ident) == (None, ident)
    assert share.check({**ident, "dev": ident["dev"] + 1}) == (None, ident)  # remounted


def test_share_identity_missing_on_another_device_is_not_mounted(inbox: Path) -> None:
    """No id where one was known, on another device than before: the share is not mounted."""
    share = ShareIdentity(inbox)
    known = {"id": "f" * 32, "dev": inbox.stat().st_dev + 1}
    problem, ident = share.check(known)
    assert problem is not None and "not mounted" in problem
    assert ident is None
    assert not (inbox / STATE_DIR_NAME).exists()  # nothing written on the mount point


def test_share_identity_missing_on_the_same_device_is_a_recreated_inbox(inbox: Path) -> None:
    """No id where one was known, on the same device: a recreated inbox, no problem."""
    share = ShareIdentity(inbox)
    known = {"id": "f" * 32, "dev": inbox.stat().st_dev}
    assert share.check(known) == (None, None)
