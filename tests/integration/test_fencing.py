"""Fencing: a daemon confirms an upload or moves a file only while it renewed its lease
within half the lease time (SPEC §4). ``run_job`` in-process against the emulator over
HTTP, a real journal and real markers; only the clock is moved by hand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.clock import FakeClock
from tests.conftest import PID, asset_id, write_bytes
from tests.integration.test_run_job import job_for
from vodwatch.claim import Claims
from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from vodwatch.journal import Journal
from vodwatch.names import DEFAULT_LANGUAGE_MAP
from vodwatch.retry import RetryPolicy
from vodwatch.runner import Outcome, Services, run_job
from vodwatch.states import JobState
from vodwatch.upload import MiB, Uploader
from vodwatch.vod.api import VodClient
from vodwatch.vod.obs import ObsClient

LEASE = 60.0


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "emulator", project_id=PID, assets="strict") as emu:
        yield emu


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def services(emulator: Emulator, tmp_path: Path, clock: FakeClock) -> Iterator[Services]:
    for name in ("inbox", "done", "failed"):
        (tmp_path / name).mkdir()
    journal = Journal.open(tmp_path / "state")
    session = requests.Session()
    vod = VodClient(emulator.url, PID, DEFAULT_AK, DEFAULT_SK, session=session,
                    timeout=(2.0, 10.0))
    uploader = Uploader(vod, ObsClient(session, (2.0, 10.0)), journal, part_size=5 * MiB,
                        parallel_parts=2)
    # The claims take the same hand-moved clock as the job.
    claims = Claims(tmp_path / "inbox", "test-daemon", lease_seconds=LEASE, clock=clock)
    claims.prepare()
    yield Services(str(tmp_path / "inbox"), tmp_path / "done", tmp_path / "failed", journal,
                   vod, uploader, claims, RetryPolicy(base=1.0, cap=8.0, jitter=0.0),
                   DEFAULT_LANGUAGE_MAP, 20 * MiB, clock=clock, stop=threading.Event())
    journal.close()
    session.close()


def confirm_calls(emulator: Emulator) -> int:
    return len([r for r in emulator.requests if r.operation == "confirm"])


def inbox_names(services: Services) -> list[str]:
    return sorted(p.name for p in Path(services.folder).iterdir() if p.name != ".vodwatch")


def assert_waits_on_the_lease(services: Services, job_id: int, state: str) -> None:
    job = services.journal.job(job_id)
    assert job.state == state
    assert job.wait_reason is not None and job.wait_reason.startswith("lease"), job.wait_reason
    assert job.retry_at is not None and job.retry_at > services.clock()
    assert list(services.done_dir.iterdir()) == [] and list(services.failed_dir.iterdir()) == []
    # Still ours: its markers are held, nobody else takes the file meanwhile.
    for f in services.journal.files(job_id):
        assert services.claims.owns(Path(f.marker))


def test_no_confirm_and_no_move_with_a_stale_lease_then_done_after_a_renewal(
        services: Services, emulator: Emulator, clock: FakeClock) -> None:
    """The upload is sent, but with the last renewal older than half the lease VOD gets no
    confirm and the files stay in the inbox; the job waits for the lease. Once the lease
    is renewed the same job is confirmed once and moved to done/."""
    aid = asset_id(9201)
    emulator.seed_asset(aid, "UPLOAD_FAILED")
    inbox = Path(services.folder)
    video = write_bytes(inbox / f"{aid}.mp4", 3 * MiB)
    write_bytes(inbox / f"{aid}.cover.jpg", 4000)
    job_id = job_for(services, f"{aid}.mp4", f"{aid}.cover.jpg")
    clock.now += LEASE / 2 + 0.001  # the share did not answer our last renewals
    assert not services.claims.fenced()
    assert run_job(services, job_id) is Outcome.WAITING
    assert emulator.read_object(aid, "video") == video  # sent, but
    assert confirm_calls(emulator) == 0 and emulator.confirms(aid) == []
    assert inbox_names(services) == [f"{aid}.cover.jpg", f"{aid}.mp4"]
    assert_waits_on_the_lease(services, job_id, JobState.CONFIRMING)
    # Still stale at the next turn: still nothing.
    clock.now += 10
    assert run_job(services, job_id) is Outcome.WAITING
    assert confirm_calls(emulator) == 0
    services.claims.renew()
    assert run_job(services, job_id) is JobState.DONE
    assert emulator.confirms(aid) == ["CREATED"]
    assert sorted(p.name for p in services.done_dir.iterdir()) == [f"{aid}.cover.jpg",
                                                                   f"{aid}.mp4"]
    assert inbox_names(services) == []


def test_no_move_to_done_with_a_stale_lease_then_done_after_a_renewal(
        services: Services, emulator: Emulator, clock: FakeClock) -> None:
    """A job with nothing to confirm (a cover alone) reaches the move with a stale lease:
    the file stays in the inbox; after a renewal it goes to done/."""
    aid = asset_id(9202)
    emulator.seed_asset(aid, "PUBLISHED")
    inbox = Path(services.folder)
    write_bytes(inbox / f"{aid}.cover.jpg", 4000)
    job_id = job_for(services, f"{aid}.cover.jpg")
    clock.now += LEASE
    assert run_job(services, job_id) is Outcome.WAITING
    assert emulator.read_object(aid, "cover") == (inbox / f"{aid}.cover.jpg").read_bytes()
    assert inbox_names(services) == [f"{aid}.cover.jpg"]
    assert_waits_on_the_lease(services, job_id, JobState.FINISHING)
    services.claims.renew()
    assert run_job(services, job_id) is JobState.DONE
    assert [p.name for p in services.done_dir.iterdir()] == [f"{aid}.cover.jpg"]
    assert confirm_calls(emulator) == 0  # a cover is never confirmed


def test_a_lease_renewed_just_under_half_the_lease_ago_is_fresh(
        services: Services, emulator: Emulator, clock: FakeClock) -> None:
    """The limit is half the lease: just under it, the job is confirmed and moved."""
    aid = asset_id(9203)
    emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(Path(services.folder) / f"{aid}.mp4", 1000)
    job_id = job_for(services, f"{aid}.mp4")
    clock.now += LEASE / 2 - 0.001
    assert services.claims.fenced()
    assert run_job(services, job_id) is JobState.DONE
    assert emulator.confirms(aid) == ["CREATED"]
