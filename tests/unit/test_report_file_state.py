"""A file of an unfinished job as the status page and web page show it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vodwatch.journal_rows import FileRow, JobRow
from vodwatch.report import file_state

JOB = JobRow(1, "news", "0123456789abcdef0123456789abcdef", "claimed", True, 0, None, None,
             None, None, None, None, 0.0, 0.0, None)


def _row(path: Path, size: int | None) -> FileRow:
    return FileRow(1, 1, path.name, "video", str(path), "", size, None, None, None, None, None,
                   None, None, None, None, None, 0, None, None, "claimed", None, None)


def test_a_file_not_hashed_yet_shows_its_size_now_not_zero_bytes(tmp_path: Path) -> None:
    """Found in the demo: a file just claimed (its size not journaled yet) showed as
    "(0 bytes): uploading" beside the inbox."""
    path = tmp_path / "0123456789abcdef0123456789abcdef.mp4"
    path.write_bytes(b"x" * 3000)
    assert file_state(JOB, _row(path, None), None, True, False)["size"] == 3000
    assert file_state(JOB, _row(path, 1234), None, True, False)["size"] == 1234


def test_a_file_gone_meanwhile_shows_no_size(tmp_path: Path) -> None:
    entry = file_state(JOB, _row(tmp_path / "gone.mp4", None), None, False, False)
    assert entry["size"] is None and entry["state"] == "waiting"



def _finishing(outcome: str, why: str | None) -> JobRow:
    return replace(JOB, state="finishing", outcome=outcome, wait_reason=why)


def test_a_file_only_waiting_to_move_says_where_it_goes(tmp_path: Path) -> None:
    """A failed file that cannot be moved yet is never shown as delivered; a file whose job
    is moving it is not shown as uploading."""
    row = _row(tmp_path / "clip.mp4", 10)
    failed = file_state(_finishing("failed", "failed, waiting to move to failed/: open"),
                        row, None, False, False)
    assert (failed["state"], failed["to"]) == ("moving", "failed")
    done = file_state(_finishing("done", "delivered, waiting to move: open"), row, None,
                      False, True)
    assert (done["state"], done["to"]) == ("moving", "done")
    one_failed = file_state(_finishing("done", "delivered, waiting to move: open"),
                            replace(row, error="{}"), None, False, False)
    assert one_failed["to"] == "failed"  # a job's failed file beside delivered ones
    assert file_state(_finishing("done", None), row, None, True, False)["state"] == "moving"
    assert file_state(_finishing("done", "lease: slow"), row, None, False, False)["state"] \
        == "waiting"
