"""The decision table: what a job does next after each error, in each phase. Pure."""

from __future__ import annotations

import errno

import pytest

from vodwatch.decide import (
    FailFile,
    FileNext,
    LeaseLost,
    MoveRefused,
    Next,
    Situation,
    TakenOver,
    decide,
    decide_file,
)
from vodwatch.errors import (
    AssetStateError,
    ExpiredUrl,
    FileChanged,
    FileVanished,
    MetadataChanged,
    RemoteError,
    RemoteFault,
    TransportError,
)
from vodwatch.finish import Failure
from vodwatch.names import Kind
from vodwatch.retry import _BY_CODE, Action, RetryPolicy
from vodwatch.states import JobState
from vodwatch.upload import Interrupted

POLICY = RetryPolicy(base=1.0, cap=60.0, jitter=0.0)
A1 = "a1" * 16
UPLOADING = JobState.UPLOADING


def remote(code: str = "", status: int = 403, service: str = "vod",
           retry_after: float | None = None) -> RemoteError:
    return RemoteError(RemoteFault(service, "update_asset", status, code, "msg", "req-1",
                                   retry_after=retry_after))


def verdict(error: BaseException, phase: JobState = UPLOADING, attempts: int = 0,
            asset_state: str | None = None, share_present: bool = True):
    return decide(Situation(error, phase, attempts, A1, asset_state, share_present), POLICY,
                  rand=lambda: 0.5)


# Every code of VOD-API.md §6 that retry.classify knows, with the row it must land on.
EXPECTED = {Action.RETRY: Next.RETRY, Action.REAUTHORIZE: Next.RETRY, Action.PAUSE: Next.PAUSE,
            Action.FAIL: Next.FAIL, Action.STATE: Next.CHECK_STATE}


@pytest.mark.parametrize("code", sorted(_BY_CODE))
def test_every_known_code_has_its_row(code: str) -> None:
    """Each error code of VOD-API.md §6 maps to the verdict its classification implies."""
    service = "obs" if code[:1].isupper() and "." not in code else "vod"
    v = verdict(remote(code, service=service))
    assert v.next is EXPECTED[_BY_CODE[code].action], code
    if v.next is Next.FAIL:
        assert v.failure is not None and v.failure.sentence


@pytest.mark.parametrize(("status", "expected"), [
    (500, Next.RETRY), (502, Next.RETRY), (503, Next.RETRY), (504, Next.RETRY),
    (429, Next.RETRY), (408, Next.RETRY), (401, Next.PAUSE), (400, Next.FAIL),
    (404, Next.FAIL), (302, Next.RETRY)])
def test_http_statuses_without_a_known_code(status: int, expected: Next) -> None:
    """Emulator 'status' faults: the HTTP status alone decides when no code is known."""
    assert verdict(remote("", status)).next is expected


def test_retry_after_is_a_floor_for_the_delay() -> None:
    """A throttling answer's Retry-After is waited out at least (the emulator's 429 fault)."""
    v = verdict(remote("APIGW.0308", 429, retry_after=30.0))
    assert v.next is Next.RETRY and v.delay >= 30.0 and v.reason == "throttled"


@pytest.mark.parametrize("timeout", [True, False])
def test_network_trouble_is_retried_with_growing_delays(timeout: bool) -> None:
    """Emulator 'reset', 'hang' and 'offline' faults: retried, the delay grows per attempt."""
    error = TransportError("boom", timeout=timeout)
    first, later = verdict(error, attempts=0), verdict(error, attempts=4)
    assert first.next is later.next is Next.RETRY
    assert later.delay > first.delay


def test_an_expired_url_asks_for_a_fresh_one() -> None:
    """Emulator 'expired' faults: the store's 403 on an expired URL is retried, not failed."""
    v = verdict(RemoteError(RemoteFault("obs", "obs_put", 403, "AccessDenied",
                                        "Request has expired", "r")))
    assert v.next is Next.RETRY and v.reason == "expired_url"


def test_asset_state_needs_the_assets_state_first() -> None:
    """VOD.10061 and friends: first ask VOD for the asset's state."""
    assert verdict(remote("VOD.10135")).next is Next.CHECK_STATE


@pytest.mark.parametrize(("phase", "state", "attempts", "expected"), [
    (JobState.UPLOADING, "CANCELLED", 0, Next.ASK_AGAIN),  # closed under us: ask again
    (JobState.REQUESTED, "UPLOAD_FAILED", 1, Next.ASK_AGAIN),
    (JobState.UPLOADING, "CANCELLED", 5, Next.FAIL),  # the re-request budget is spent
    (JobState.CONFIRMING, "CANCELLED", 0, Next.ASK_AGAIN),  # the confirm found it closed
    (JobState.CONFIRMING, "UPLOAD_FAILED", 5, Next.FAIL),
    (JobState.UPLOADING, "CREATING", 0, Next.RETRY),  # VOD contradicts itself: a moment
    (JobState.CONFIRMING, "CREATING", 2, Next.RETRY),
    (JobState.REQUESTING, "CREATING", 0, Next.FAIL),
    (JobState.UPLOADING, "PUBLISHED", 0, Next.FAIL),
    (JobState.UPLOADING, "DELETED", 0, Next.FAIL),
])
def test_asset_state_rows(phase: JobState, state: str, attempts: int, expected: Next) -> None:
    """With the asset's state known, the phase and the attempts decide."""
    v = verdict(remote("VOD.10135"), phase, attempts, asset_state=state)
    assert v.next is expected
    if expected is Next.FAIL:
        assert v.failure is not None and v.failure.state == state


def test_a_vanished_file_is_dropped_unless_the_share_is_gone() -> None:
    """A deleted file ends the job quietly; the whole share gone is an outage."""
    gone = FileVanished("x disappeared", "drop it again")
    assert verdict(gone).next is Next.DROP
    assert verdict(gone, share_present=False).next is Next.UNAVAILABLE


@pytest.mark.parametrize("error", [FileChanged("changed", ""), MetadataChanged("meta", "")])
def test_a_changed_file_is_redone(error: BaseException) -> None:
    """A file that changed while it was sent: abandon and redo once stable."""
    assert verdict(error).next is Next.REDO


@pytest.mark.parametrize(("error", "expected"), [
    (Interrupted("stop"), Next.STOP),
    (TakenOver(), Next.LEAVE),
    (FailFile(Failure("bad", "fix it")), Next.FAIL),
    (AssetStateError(A1, "PUBLISHED", "no", "ask"), Next.FAIL),
    (LeaseLost("old lease", ""), Next.RETRY),
    (MoveRefused("open", ""), Next.RETRY),
    (OSError(errno.ENOSPC, "No space left on device", "/share/done"), Next.UNAVAILABLE),
    (OSError(errno.EROFS, "Read-only file system", "/share/done"), Next.UNAVAILABLE),
])
def test_flow_signals_and_share_faults(error: BaseException, expected: Next) -> None:
    """Shutdown, take-over, decided failures, lease, open files and share faults."""
    v = verdict(error)
    assert v.next is expected
    if expected is Next.UNAVAILABLE:
        assert v.why


def test_an_error_no_row_covers_is_a_bug() -> None:
    """A programming error is not decided: it reaches the daemon's crash handling."""
    with pytest.raises(TypeError):
        verdict(KeyError("x"))


# ---- one file's own error while the other files of its job go on -----------------------

@pytest.mark.parametrize(("error", "kind", "others", "state", "expected"), [
    # A stale signed URL: a fresh one for that file, whatever it is.
    ("expired", Kind.COVER, 0, None, FileNext.REAUTHORIZE),
    ("expired", Kind.VIDEO, 2, None, FileNext.REAUTHORIZE),
    # The store refuses a cover or subtitle for good: it fails alone.
    (("EntityTooLarge", 400, "obs"), Kind.COVER, 1, None, FileNext.REFUSE),
    (("InvalidArgument", 400, "obs"), Kind.SUBTITLE, 0, None, FileNext.REFUSE),
    # ...but a refused video is the job's matter (its asset, its confirm).
    (("InvalidArgument", 400, "obs"), Kind.VIDEO, 1, None, FileNext.JOB),
    # A transient store error is the job's retry, not the file's failure.
    (("", 503, "obs"), Kind.COVER, 1, None, FileNext.JOB),
    # VOD refuses the video for the asset's state: alone, if others are to go on.
    (("VOD.10061", 403, "vod"), Kind.VIDEO, 2, "PUBLISHED", FileNext.REFUSE),
    (("VOD.10061", 403, "vod"), Kind.VIDEO, 0, "PUBLISHED", FileNext.JOB),  # alone anyway
    (("VOD.10061", 403, "vod"), Kind.VIDEO, 2, "DELETED", FileNext.JOB),  # no asset at all
    (("VOD.10061", 403, "vod"), Kind.VIDEO, 2, None, FileNext.JOB),  # state not known yet
])
def test_one_files_own_error(error: object, kind: Kind, others: int, state: str | None,
                             expected: FileNext) -> None:
    """decide_file: refuse the file alone, reauthorize it, or leave it to the job."""
    if error == "expired":
        err: RemoteError | ExpiredUrl = ExpiredUrl("the upload URL has expired")
    else:
        assert isinstance(error, tuple)
        code, status, service = error
        err = remote(code, status, service)
    v = decide_file(err, kind, others, A1, state)
    assert v.next is expected
    assert (v.failure is not None) is (expected is FileNext.REFUSE)
    if v.failure is not None and state is not None:
        assert v.failure.state == state
