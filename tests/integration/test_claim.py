"""Claims on real folders: rename wins, leases seen through an injected clock, take-over, locks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from vodwatch.claim import STATE_DIR_NAME, Claims
from vodwatch.journal import Journal, NewFile

A1 = "a1" * 16
A2 = "b2" * 16
LEASE = 10.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


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
    def build(instance_id: str) -> Claims:
        claims = Claims(inbox, instance_id, LEASE, clock=clock)
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


def test_prepare_creates_the_claim_folder_locks_and_a_lease(make: Callable[[str], Claims],
                                                            inbox: Path) -> None:
    """prepare makes .vodwatch/claims/<id> with a lease and .vodwatch/locks inside the inbox."""
    claims = make("host a/1")
    assert claims.mine == inbox / STATE_DIR_NAME / "claims" / "host_a_1"
    assert (claims.mine / ".lease").is_file()
    assert claims.locks.is_dir()
    assert claims.claim_path(7, "x.mp4") == claims.mine / "7.x.mp4"


def test_claim_renames_the_file_into_our_folder(make: Callable[[str], Claims],
                                                inbox: Path) -> None:
    """A successful claim moves the file, bytes intact, and says it is ours."""
    claims = make("a")
    src = _drop(inbox, f"{A1}.mp4", b"bytes")
    dst = claims.claim_path(1, src.name)
    assert claims.claim(src, dst) is True
    assert not src.exists() and dst.read_bytes() == b"bytes"
    assert claims.leftovers() == [dst]


def test_only_one_of_two_daemons_wins_a_file(make: Callable[[str], Claims],
                                             inbox: Path) -> None:
    """When two daemons claim the same file, the second finds it gone and loses."""
    a, b = make("a"), make("b")
    src = _drop(inbox, f"{A1}.mp4")
    assert a.claim(src, a.claim_path(1, src.name)) is True
    assert b.claim(src, b.claim_path(1, src.name)) is False
    assert a.claim_path(1, src.name).exists()
    assert not b.claim_path(1, src.name).exists()


def test_a_claimed_file_is_ours_by_identity(make: Callable[[str], Claims],
                                            inbox: Path) -> None:
    """The claim is won when the file now at the claim path is the one that was dropped."""
    claims = make("a")
    src = _drop(inbox, f"{A1}.mp4")
    ino = src.stat().st_ino
    dst = claims.claim_path(1, src.name)
    assert claims.claim(src, dst) is True
    assert dst.stat().st_ino == ino and not src.exists()


def test_claiming_a_missing_file_fails_quietly(make: Callable[[str], Claims],
                                               inbox: Path) -> None:
    """A file that vanished before the claim is not ours and nothing is created."""
    claims = make("a")
    dst = claims.claim_path(1, "gone.mp4")
    assert claims.claim(inbox / "gone.mp4", dst) is False
    assert not dst.exists()


def test_a_claim_never_replaces_a_file_already_at_the_claim_path(
        make: Callable[[str], Claims], inbox: Path) -> None:
    """A file already sitting at the claim path survives a new claim onto that path."""
    claims = make("a")
    dst = claims.claim_path(1, f"{A1}.mp4")
    dst.write_bytes(b"leftover from before the journal was lost")
    src = _drop(inbox, f"{A1}.mp4", b"new drop")
    claims.claim(src, dst)
    kept = {p.read_bytes() for p in [*inbox.iterdir(), *claims.mine.iterdir()] if p.is_file()}
    assert {b"leftover from before the journal was lost", b"new drop"} <= kept


def test_give_back_returns_the_file_under_its_original_name(make: Callable[[str], Claims],
                                                            inbox: Path) -> None:
    """give_back moves a claimed file back into the inbox under its inbox name."""
    claims = make("a")
    src = _drop(inbox, f"{A1}.mp4", b"mine")
    dst = claims.claim_path(3, src.name)
    claims.claim(src, dst)
    assert claims.give_back(dst, src.name) == src
    assert src.read_bytes() == b"mine" and not dst.exists()


def test_give_back_never_overwrites_a_new_file_of_the_same_name(make: Callable[[str], Claims],
                                                                inbox: Path) -> None:
    """If the name was dropped again meanwhile, give_back refuses and both files survive."""
    claims = make("a")
    src = _drop(inbox, f"{A1}.mp4", b"old")
    dst = claims.claim_path(3, src.name)
    claims.claim(src, dst)
    src.write_bytes(b"new drop")
    assert claims.give_back(dst, src.name) is None
    assert src.read_bytes() == b"new drop" and dst.read_bytes() == b"old"


def test_a_peer_whose_lease_stops_changing_is_dead_after_lease_seconds(
        make: Callable[[str], Claims], clock: FakeClock) -> None:
    """A peer lease unchanged for lease_seconds (by our clock) makes the peer dead."""
    a, b = make("a"), make("b")
    assert a.dead_peers() == []  # first sight starts the count
    clock.now += LEASE - 0.5
    assert a.dead_peers() == []
    clock.now += 0.5
    assert a.dead_peers() == [b.mine]


def test_a_peer_that_renews_its_lease_stays_alive(make: Callable[[str], Claims],
                                                  clock: FakeClock) -> None:
    """Each change of a peer's lease restarts the count from the moment we saw it."""
    a, b = make("a"), make("b")
    a.dead_peers()
    clock.now += LEASE - 1
    b.renew()
    assert a.dead_peers() == []  # change seen at t=9: alive until t=19
    clock.now += LEASE - 1
    assert a.dead_peers() == []
    clock.now += 1
    assert a.dead_peers() == [b.mine]


def test_our_own_folder_is_never_a_dead_peer(make: Callable[[str], Claims],
                                             clock: FakeClock) -> None:
    """However long our own lease stays unchanged, dead_peers never lists our folder."""
    a = make("a")
    a.dead_peers()
    clock.now += LEASE * 10
    assert a.dead_peers() == []


def test_a_peer_folder_without_lease_is_dead_after_lease_seconds(
        make: Callable[[str], Claims], clock: FakeClock) -> None:
    """A claim folder whose lease file is missing counts as an unchanging lease."""
    a = make("a")
    orphan = a.claims_root / "crashed-before-lease"
    orphan.mkdir()
    a.dead_peers()
    clock.now += LEASE
    assert a.dead_peers() == [orphan]


def _claim_job(claims: Claims, journal: Journal, inbox: Path, asset_id: str,
               name: str) -> int:
    """Claim one file as the daemon's folder watcher does, ticket included."""
    src = _drop(inbox, name, name.encode())
    assert claims.lock_asset(asset_id)
    job_id, _ = journal.create_job(str(inbox), asset_id, True,
                                   [NewFile(name, "video", str(src), "")],
                                   claim_path_for=claims.claim_path)
    claims.write_ticket(job_id, journal.export_job(job_id))
    assert claims.claim(src, claims.claim_path(job_id, name))
    return job_id


def _adopter(claims: Claims, journal: Journal, inbox: Path,
             seen: list[dict[str, Any]]) -> Callable[[dict[str, Any]], list[tuple[str, str]]]:
    def adopt(ticket: dict[str, Any]) -> list[tuple[str, str]]:
        seen.append(ticket)
        job_id, moves = journal.import_job(str(inbox), ticket, claims.claim_path)
        claims.write_ticket(job_id, journal.export_job(job_id))
        return moves
    return adopt


def test_take_over_adopts_ticketed_jobs_and_gives_back_the_rest(
        make: Callable[[str], Claims], journals: Callable[[str], Journal],
        inbox: Path) -> None:
    """A dead peer's ticketed job moves to us, orphans go to the inbox, its folder goes."""
    dead, heir = make("dead"), make("heir")
    dead_journal, heir_journal = journals("dead"), journals("heir")
    job_id = _claim_job(dead, dead_journal, inbox, A1, f"{A1}.mp4")
    orphan = dead.claim_path(99, f"{A2}.mp4")
    orphan.write_bytes(b"no ticket")
    assert dead.lock_asset(A2)
    seen: list[dict[str, Any]] = []

    taken = heir.take_over(dead.mine, _adopter(heir, heir_journal, inbox, seen))

    assert taken == 2
    assert seen == [dead_journal.export_job(job_id)]
    (adopted,) = heir_journal.unfinished_jobs()
    (row,) = heir_journal.files(adopted.id)
    assert Path(row.claim_path).parent == heir.mine
    assert Path(row.claim_path).read_bytes() == f"{A1}.mp4".encode()
    assert (inbox / f"{A2}.mp4").read_bytes() == b"no ticket"
    assert (heir.locks / f"{A1}.lock").read_text() == heir.mine.name
    assert not (heir.locks / f"{A2}.lock").exists()
    assert not dead.mine.exists()
    assert sorted(p.name for p in heir.mine.iterdir()) == sorted(
        [".lease", row.claim_path.rsplit("/", 1)[1], f".job-{adopted.id}.json"])


def test_a_ticket_that_cannot_be_read_sends_its_files_back(make: Callable[[str], Claims],
                                                           inbox: Path) -> None:
    """A broken ticket never loses files: they go back to the inbox and the folder goes."""
    dead, heir = make("dead"), make("heir")
    (dead.mine / "5.clip.mp4").write_bytes(b"clip")
    dead.ticket_path(5).write_text("{not json")
    calls: list[dict[str, Any]] = []

    def adopt(ticket: dict[str, Any]) -> list[tuple[str, str]]:
        calls.append(ticket)
        return []

    assert heir.take_over(dead.mine, adopt) == 1
    assert calls == []
    assert (inbox / "clip.mp4").read_bytes() == b"clip"
    assert not dead.mine.exists()
    assert not [p for p in heir.mine.iterdir() if p.name.startswith(".adopt-")]


def test_a_file_that_cannot_be_given_back_is_kept_for_later(
        make: Callable[[str], Claims], inbox: Path) -> None:
    """If the inbox has a new file of the same name, the old one stays in the peer folder."""
    dead, heir = make("dead"), make("heir")
    (dead.mine / "5.clip.mp4").write_bytes(b"old")
    (inbox / "clip.mp4").write_bytes(b"new")
    assert heir.take_over(dead.mine, lambda ticket: []) == 0
    kept = heir.claims_root / ".takeover-dead-heir" / "5.clip.mp4"
    assert kept.read_bytes() == b"old"
    assert heir.unfinished_takeovers() == [kept.parent]
    assert (inbox / "clip.mp4").read_bytes() == b"new"


def test_a_finished_job_in_a_ticket_leaves_its_files_to_the_inbox(
        make: Callable[[str], Claims], journals: Callable[[str], Journal],
        inbox: Path) -> None:
    """When adopt takes no files, the ticket's files are given back rather than lost."""
    dead, heir = make("dead"), make("heir")
    job_id = _claim_job(dead, journals("dead"), inbox, A1, f"{A1}.mp4")
    tickets: list[int] = []

    def adopt(ticket: dict[str, Any]) -> list[tuple[str, str]]:
        tickets.append(ticket["job"]["id"])
        return []

    assert heir.take_over(dead.mine, adopt) == 1
    assert tickets == [job_id]
    assert (inbox / f"{A1}.mp4").exists()


def test_taking_over_a_peer_folder_already_gone_is_a_no_op(make: Callable[[str], Claims],
                                                           inbox: Path) -> None:
    """A peer another daemon took over meanwhile (its folder gone) gives nothing, no error."""
    heir = make("heir")
    gone = heir.claims_root / "dead"
    assert heir.take_over(gone, lambda ticket: []) == 0


def test_two_daemons_taking_over_one_peer_keep_the_adopted_job_whole(
        make: Callable[[str], Claims], journals: Callable[[str], Journal],
        inbox: Path) -> None:
    """While one daemon adopts a ticket, another taking over the same peer leaves its files."""
    dead, b, c = make("dead"), make("b"), make("c")
    _claim_job(dead, journals("dead"), inbox, A1, f"{A1}.mp4")
    b_journal = journals("b")
    inside_adopt, may_finish = threading.Event(), threading.Event()
    adopt_b = _adopter(b, b_journal, inbox, [])

    def slow_adopt(ticket: dict[str, Any]) -> list[tuple[str, str]]:
        inside_adopt.set()
        may_finish.wait(10)
        return adopt_b(ticket)

    errors: list[BaseException] = []

    def run_b() -> None:
        try:
            b.take_over(dead.mine, slow_adopt)
        except BaseException as exc:  # asserted below, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run_b)
    thread.start()
    try:
        assert inside_adopt.wait(10)
        c.take_over(dead.mine, lambda ticket: [])
    finally:
        may_finish.set()
        thread.join(10)
    assert errors == []
    (job,) = b_journal.unfinished_jobs()
    assert Path(b_journal.files(job.id)[0].claim_path).exists()
    assert not (inbox / f"{A1}.mp4").exists()


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


def test_release_all_locks_drops_only_ours(make: Callable[[str], Claims]) -> None:
    """release_all_locks removes every lock we hold and none of another daemon's."""
    a, b = make("a"), make("b")
    a.lock_asset(A1)
    a.lock_asset("c3" * 16)
    b.lock_asset(A2)
    a.release_all_locks()
    assert sorted(p.name for p in a.locks.iterdir()) == [f"{A2}.lock"]
    assert b.lock_asset(A1) is True


def test_tickets_are_written_atomically_and_dropped(make: Callable[[str], Claims]) -> None:
    """write_ticket leaves only the final JSON (no temp file); drop_ticket removes it."""
    a = make("a")
    a.write_ticket(4, {"job": {"asset_id": A1}, "files": []})
    assert json.loads(a.ticket_path(4).read_text()) == {"job": {"asset_id": A1}, "files": []}
    assert sorted(p.name for p in a.mine.iterdir()) == [".job-4.json", ".lease"]
    a.drop_ticket(4)
    a.drop_ticket(4)  # already gone: fine
    assert not a.ticket_path(4).exists()
