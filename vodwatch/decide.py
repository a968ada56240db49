"""What a job does next after something went wrong: one pure table. No I/O.

Given the error, the job's phase (its state), how many attempts it has made and,
when the answer depends on it, the asset's state in VOD, ``decide`` answers with a
``Verdict``: retry after T, pause the folder set, ask VOD again for upload URLs,
ask VOD for the asset's state first, abandon and redo once the file is stable,
drop the job (the file is gone), fail the file with an explanation, mark the share
unavailable, stop (shutdown), or leave the job to the daemon that took it over.
``runner.run_job`` only applies the verdict. ``decide_file`` is the same for an error
one file meets while others of its job go on (it fails alone, or gets a fresh URL).
What the error itself means (transient, credentials, asset state, permanent) is
``retry.classify``'s word.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .errors import (
    AssetStateError,
    ExpiredUrl,
    FileChanged,
    FileVanished,
    Interrupted,
    RemoteError,
    TransportError,
    VodwatchError,
)
from .explain import (
    MISSING,
    UPDATABLE,
    UPLOADING,
    closed_failure,
    remote_failure,
    state_failure,
    state_words,
)
from .finish import Failure
from .names import Kind
from .retry import Action, RetryPolicy, classify
from .share_faults import share_fault
from .states import JobState


class Next(StrEnum):
    """What the job does next."""

    RETRY = "retry"  # wait ``delay`` seconds, then carry on from the same state
    PAUSE = "pause"  # credentials, permission, account: the folder set pauses
    CHECK_STATE = "check_state"  # ask VOD the asset's state, then decide again with it
    ASK_AGAIN = "ask_again"  # the upload was closed under us: ask VOD for new URLs
    REDO = "redo"  # the file changed: abandon the upload, redo once it is stable
    DROP = "drop"  # the file vanished: abandon the upload, nothing to report
    FAIL = "fail"  # permanent for this file: failed/ with ``failure``
    UNAVAILABLE = "unavailable"  # the share failed: wait; the folder set says why
    STOP = "stop"  # shutting down: the journal holds the checkpoint
    LEAVE = "leave"  # another daemon carries the job on: touch nothing


# ---- flow signals: what the steps raise besides the services' errors -------------------

class FailFile(VodwatchError):
    """Finish the job as failed with this explanation (decided by a step)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.sentence)
        self.failure = failure


class Later(VodwatchError):
    """Carry on from the same state in ``delay`` seconds; ``why`` is the plain reason."""

    def __init__(self, why: str, delay: float) -> None:
        super().__init__(why)
        self.why = why
        self.delay = delay


class TakenOver(VodwatchError):
    """Another daemon owns this job's files now: touch nothing, cancel nothing."""

    def __init__(self) -> None:
        super().__init__("another daemon carries this job on")


class LeaseLost(VodwatchError):
    """Our lease on the share is too old to act on it (we may be cut off from the share)."""


class MoveRefused(VodwatchError):
    """done/ is writable but the file cannot be moved now (an editor has it open)."""

    reason = "delivered, waiting to move"  # where the file is going, for status


@dataclass(frozen=True)
class Situation:
    """The facts a decision rests on."""

    error: BaseException
    phase: JobState
    attempts: int  # attempts already made by this job (0 on the first run)
    asset_id: str = ""
    asset_state: str | None = None  # known once CHECK_STATE was answered
    share_present: bool = True  # the share's hidden folder is there


@dataclass(frozen=True)
class Verdict:
    """What to do, with the words for logs, status and error files."""

    next: Next
    reason: str  # a stable word for logs and metrics
    delay: float = 0.0  # RETRY: seconds to wait
    failure: Failure | None = None  # FAIL: the explanation for the file
    why: str = ""  # UNAVAILABLE / PAUSE / RETRY: one sentence for status


# Phases in which an upload URL or a multipart upload of ours can be closed under us.
# Phases in which an upload closed under the job (cancelled elsewhere) is asked for again:
# up to the confirm, which is refused then (VOD.10126) and the file has to go again.
_SENDING = frozenset({JobState.REQUESTED, JobState.UPLOADING, JobState.CONFIRMING})
_OPEN = _SENDING


def decide(s: Situation, policy: RetryPolicy,
           rand: Callable[[], float] = random.random) -> Verdict:
    """The verdict for ``s``. Raises TypeError for an error no row covers (a bug)."""
    err = s.error
    if isinstance(err, Interrupted):
        return Verdict(Next.STOP, "shutdown")
    if isinstance(err, TakenOver):
        return Verdict(Next.LEAVE, "taken_over", why=str(err))
    if isinstance(err, FailFile):
        return Verdict(Next.FAIL, "failed", failure=err.failure)
    if isinstance(err, Later):
        return Verdict(Next.RETRY, "later", delay=err.delay, why=err.why)
    if isinstance(err, FileVanished):
        if not s.share_present:  # the whole share went away: an outage, not a deletion
            return Verdict(Next.UNAVAILABLE, "share_gone",
                           why="the share is not there (is it mounted?); vodwatch waits for it")
        return Verdict(Next.DROP, "file_vanished", why=str(err))
    if isinstance(err, FileChanged):
        return Verdict(Next.REDO, "file_changed", why=str(err))
    if isinstance(err, AssetStateError):
        return Verdict(Next.FAIL, "asset_state", failure=state_failure(err))
    if isinstance(err, LeaseLost):
        return _retry(s, policy, rand, "lease", str(err))
    if isinstance(err, MoveRefused):
        return _retry(s, policy, rand, err.reason, str(err))
    if isinstance(err, RemoteError | TransportError):
        return _remote(s, err, policy, rand)
    if isinstance(err, OSError):
        # A folder we must write to is unwritable or gone: keep the file, say so loudly.
        return Verdict(Next.UNAVAILABLE, "share",
                       why=share_fault(err, str(err.filename or "the share")))
    raise TypeError(f"no decision for {type(err).__name__}: {err}")


def _retry(s: Situation, policy: RetryPolicy, rand: Callable[[], float], reason: str,
           why: str, retry_after: float | None = None) -> Verdict:
    delay = policy.delay(s.attempts + 1, retry_after, rand)
    return Verdict(Next.RETRY, reason, delay=delay, why=f"{reason}: {why}")


def _remote(s: Situation, err: RemoteError | TransportError, policy: RetryPolicy,
            rand: Callable[[], float]) -> Verdict:
    decision = classify(err)
    if decision.action is Action.PAUSE:
        return Verdict(Next.PAUSE, decision.reason, why=str(err))
    if decision.action in (Action.RETRY, Action.REAUTHORIZE):
        return _retry(s, policy, rand, decision.reason, str(err), decision.retry_after)
    if decision.action is Action.STATE and isinstance(err, RemoteError):
        if s.asset_state is None:
            return Verdict(Next.CHECK_STATE, "asset_state")
        state = s.asset_state
        again = s.attempts < policy.rerequests
        if state in UPDATABLE and again and s.phase in _SENDING:
            # The upload was closed under us (cancelled elsewhere): ask again.
            return Verdict(Next.ASK_AGAIN, "upload_closed", why=str(err))
        if state in UPLOADING and again and s.phase in _OPEN:
            # VOD's answer contradicts the asset's state: give it a moment.
            return _retry(s, policy, rand, "asset_state", str(err))
        words = state_words(s.asset_id, state)
        refused = AssetStateError(s.asset_id, state, *words, fault=err.fault)
        if state in UPDATABLE and s.phase in _SENDING:
            # Closed under us again and again: the budget of asking again is spent.
            return Verdict(Next.FAIL, "asset_state", failure=closed_failure(refused))
        return Verdict(Next.FAIL, "asset_state", failure=state_failure(refused))
    return Verdict(Next.FAIL, decision.reason, failure=remote_failure(
        s.asset_id, err, decision.explain, decision.advice))


class FileNext(StrEnum):
    """What one file's own error means while other files of its job go on."""

    REFUSE = "refuse"  # this file fails alone with ``failure``; the others are sent
    REAUTHORIZE = "reauthorize"  # its signed URL went stale: a fresh one, then send it
    JOB = "job"  # not this file's own matter: the job's ``decide`` answers


@dataclass(frozen=True)
class FileVerdict:
    next: FileNext
    failure: Failure | None = None


def decide_file(err: RemoteError | ExpiredUrl, kind: Kind, others: int, asset_id: str,
                asset_state: str | None = None) -> FileVerdict:
    """The verdict for ``err`` met by one file (``kind``) of a job with ``others`` other
    files still to send; ``asset_state`` once VOD said it (a refusal for the state)."""
    if isinstance(err, ExpiredUrl):
        return FileVerdict(FileNext.REAUTHORIZE)
    decision = classify(err)
    if decision.action is Action.REAUTHORIZE:
        return FileVerdict(FileNext.REAUTHORIZE)
    if decision.action is Action.FAIL and kind != Kind.VIDEO:
        # The store refused this cover or subtitle for good: it fails alone.
        return FileVerdict(FileNext.REFUSE, remote_failure(asset_id, err, decision.explain,
                                                           decision.advice))
    if (err.code == "VOD.10061" and kind == Kind.VIDEO and others > 0
            and asset_state is not None and asset_state not in MISSING):
        # VOD refused the video for the asset's state: the others are sent without it.
        words = state_words(asset_id, asset_state)
        return FileVerdict(FileNext.REFUSE, state_failure(
            AssetStateError(asset_id, asset_state, *words, fault=err.fault)))
    return FileVerdict(FileNext.JOB)


def part_retry(policy: RetryPolicy, *, stopping: threading.Event,
               count: Callable[[str], None]) -> Callable[[BaseException, int], float | None]:
    """The in-place retry of one object-store call: seconds to wait, or None to give the
    job back (it then waits with its longer backoff). Budgets live in the policy."""

    def retry_in(exc: BaseException, attempt: int) -> float | None:
        if stopping.is_set():
            return None  # shutting down: the job waits, the journal holds the parts
        decision = classify(exc)
        count(decision.reason)
        if decision.action is Action.REAUTHORIZE and attempt <= policy.reauthorize_attempts:
            return 0.0
        if decision.action is Action.RETRY and attempt <= policy.part_attempts:
            return policy.delay(attempt, decision.retry_after)
        return None

    return retry_in


__all__ = ["MISSING", "FileNext", "FileVerdict", "Next", "Situation", "Verdict", "decide",
           "decide_file"]
