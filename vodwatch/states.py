"""Job and file states, and the moves allowed between them. Pure; the one home of both.

The journal refuses a move this table does not allow, so a step that would put a
job in a state it cannot be in fails loudly in tests instead of silently later.
States are plain strings (StrEnum) shared by the journal, the logs and
``vodwatch status --json``.

A job normally walks ``claiming → claimed → ready → requesting → requested →
uploading → confirming → confirmed → finishing → done | failed``; a job that creates
its asset (create mode) goes ``ready → creating → requested`` instead. From any working
state it may also end ``requeued`` (the file changed: it waits in the inbox for a
new job) or ``abandoned`` (the file vanished, or another daemon carries the job on),
or go to ``finishing`` with the outcome ``failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class JobState(StrEnum):
    """Where a job is; the final ones are also its outcome."""

    CLAIMING = "claiming"  # claim markers being made in the share's hidden folder
    CLAIMED = "claimed"  # files are ours; not yet hashed
    READY = "ready"  # hashed and the asset checked; UpdateAsset not yet sent
    CREATING = "creating"  # create mode: CreateAsset's intent (token) journaled, sent, no answer
    REQUESTING = "requesting"  # UpdateAsset sent, answer not yet journaled
    REQUESTED = "requested"  # upload URLs stored
    UPLOADING = "uploading"
    CONFIRMING = "confirming"  # ConfirmAssetUpload sent, answer not yet journaled
    CONFIRMED = "confirmed"  # VOD has everything; only the moves are left
    FINISHING = "finishing"  # moving files to done/ or failed/
    DONE = "done"
    FAILED = "failed"
    REQUEUED = "requeued"  # the file changed; it waits in the inbox, a new job follows
    ABANDONED = "abandoned"  # the file vanished or another daemon took it


class FileState(StrEnum):
    """Where one file of a job is."""

    PENDING = "pending"  # not yet sent (or to be sent again)
    UPLOADING = "uploading"  # a multipart upload is under way
    UPLOADED = "uploaded"  # the store has every byte
    REFUSED = "refused"  # this file fails on its own; the others of its job go on
    DONE = "done"  # in done/
    FAILED = "failed"  # in failed/, with its error file


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.REQUEUED,
                          JobState.ABANDONED})
WORKING_STATES = frozenset(JobState) - FINAL_STATES
# States from which a job can give up (any working state, before its files moved).
_ENDINGS = frozenset({JobState.FINISHING, JobState.REQUEUED, JobState.ABANDONED})

JOB_MOVES: Mapping[JobState, frozenset[JobState]] = MappingProxyType({
    JobState.CLAIMING: frozenset({JobState.CLAIMED}) | _ENDINGS,
    JobState.CLAIMED: frozenset({JobState.READY}) | _ENDINGS,
    JobState.READY: frozenset({JobState.REQUESTING, JobState.CREATING}) | _ENDINGS,
    # Created (answer journaled), or an asset found by its token adopted (asked again).
    JobState.CREATING: frozenset({JobState.REQUESTED, JobState.REQUESTING}) | _ENDINGS,
    # The answer may be journaled (requested), or nothing is left to send (uploading).
    JobState.REQUESTING: frozenset({JobState.REQUESTED, JobState.UPLOADING}) | _ENDINGS,
    # An expired URL or an upload closed under us asks VOD again.
    JobState.REQUESTED: frozenset({JobState.UPLOADING, JobState.REQUESTING}) | _ENDINGS,
    JobState.UPLOADING: frozenset({JobState.CONFIRMING, JobState.CONFIRMED,
                                   JobState.REQUESTING}) | _ENDINGS,
    # The confirm found the upload closed under us (cancelled elsewhere): ask again.
    JobState.CONFIRMING: frozenset({JobState.CONFIRMED, JobState.REQUESTING}) | _ENDINGS,
    JobState.CONFIRMED: frozenset({JobState.FINISHING, JobState.ABANDONED}),
    JobState.FINISHING: frozenset({JobState.DONE, JobState.FAILED, JobState.ABANDONED}),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.REQUEUED: frozenset(),
    JobState.ABANDONED: frozenset(),
})

FILE_MOVES: Mapping[FileState, frozenset[FileState]] = MappingProxyType({
    FileState.PENDING: frozenset({FileState.UPLOADING, FileState.UPLOADED, FileState.REFUSED,
                                  FileState.DONE, FileState.FAILED}),
    FileState.UPLOADING: frozenset({FileState.PENDING, FileState.UPLOADED, FileState.REFUSED,
                                    FileState.DONE, FileState.FAILED}),
    FileState.UPLOADED: frozenset({FileState.PENDING, FileState.DONE, FileState.FAILED}),
    FileState.REFUSED: frozenset({FileState.FAILED}),
    FileState.DONE: frozenset(),
    FileState.FAILED: frozenset(),
})


class IllegalMove(ValueError):
    """A state change the table does not allow (a bug, never the file's fault)."""


def check_job_move(old: str, new: str) -> None:
    """Raise IllegalMove unless a job may go from ``old`` to ``new`` (staying is fine)."""
    if old != new and JobState(new) not in JOB_MOVES[JobState(old)]:
        raise IllegalMove(f"a job cannot go from {old} to {new}")


def check_file_move(old: str, new: str) -> None:
    """Raise IllegalMove unless a file may go from ``old`` to ``new`` (staying is fine)."""
    if old != new and FileState(new) not in FILE_MOVES[FileState(old)]:
        raise IllegalMove(f"a file cannot go from {old} to {new}")


NORMAL_WALK = (JobState.CLAIMING, JobState.CLAIMED, JobState.READY, JobState.REQUESTING,
               JobState.REQUESTED, JobState.UPLOADING, JobState.CONFIRMING, JobState.CONFIRMED,
               JobState.FINISHING, JobState.DONE)


def walk(old: str, new: str) -> list[JobState]:
    """The legal states from ``old`` to ``new`` along a job's normal walk (``new`` last).

    For tests and tools that must put a job in a given state the way a job gets there.
    """
    current, target = JobState(old), JobState(new)
    if current == target:
        return []
    if target in JOB_MOVES[current]:
        return [target]
    if target == JobState.FAILED:
        return [*walk(old, JobState.FINISHING), target]
    start = NORMAL_WALK.index(current)
    end = NORMAL_WALK.index(target)
    if end <= start:
        raise IllegalMove(f"a job cannot go back from {old} to {new}")
    return list(NORMAL_WALK[start + 1:end + 1])
