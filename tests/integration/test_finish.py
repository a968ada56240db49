"""Finishing on real folders: unique names, no-overwrite moves, crash states, error files."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from vodwatch.finish import (
    ERROR_SUFFIX,
    Failure,
    error_text,
    move_no_replace,
    settle_move,
    unique_target,
    write_error_file,
)
from vodwatch.log import add_secret

A1 = "a1" * 16
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_unique_target_is_the_name_itself_when_free(tmp_path: Path) -> None:
    """A free name is used as it is."""
    assert unique_target(tmp_path, f"{A1}.mp4") == tmp_path / f"{A1}.mp4"


def test_unique_target_adds_the_smallest_free_number_before_the_extension(
        tmp_path: Path) -> None:
    """Taken names get -2, -3, ... before the last extension."""
    (tmp_path / "clip.en.srt").write_text("x")
    assert unique_target(tmp_path, "clip.en.srt") == tmp_path / "clip.en-2.srt"
    (tmp_path / "clip.en-2.srt").write_text("x")
    assert unique_target(tmp_path, "clip.en.srt") == tmp_path / "clip.en-3.srt"


@pytest.mark.parametrize(("name", "expected"), [
    ("README", "README-2"),
    (".hidden", ".hidden-2"),
    ("trailing.", "trailing-2"),
])
def test_unique_target_handles_names_without_an_extension(tmp_path: Path, name: str,
                                                          expected: str) -> None:
    """Names without a usable extension get the number at the end of the stem."""
    (tmp_path / name).write_text("x")
    assert unique_target(tmp_path, name) == tmp_path / expected


def test_an_error_file_makes_its_name_taken(tmp_path: Path) -> None:
    """A leftover name.error.txt reserves the name, so the new file cannot inherit it."""
    (tmp_path / f"{A1}.mp4{ERROR_SUFFIX}").write_text("old failure")
    assert unique_target(tmp_path, f"{A1}.mp4") == tmp_path / f"{A1}-2.mp4"


def test_a_dangling_symlink_makes_its_name_taken(tmp_path: Path) -> None:
    """A broken symlink still occupies its name and is never replaced."""
    (tmp_path / "v.mp4").symlink_to(tmp_path / "missing")
    assert unique_target(tmp_path, "v.mp4") == tmp_path / "v-2.mp4"


def test_move_no_replace_moves_the_file(tmp_path: Path) -> None:
    """A move to a free name carries the bytes and leaves no source behind."""
    src, dst = tmp_path / "src.mp4", tmp_path / "done" / "dst.mp4"
    dst.parent.mkdir()
    src.write_bytes(b"payload")
    move_no_replace(src, dst)
    assert dst.read_bytes() == b"payload" and not src.exists()


def test_move_no_replace_refuses_an_existing_target(tmp_path: Path) -> None:
    """A move onto an existing name raises FileExistsError and changes neither file."""
    src, dst = tmp_path / "src.mp4", tmp_path / "dst.mp4"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        move_no_replace(src, dst)
    assert src.read_bytes() == b"new" and dst.read_bytes() == b"old"


def test_settle_move_from_only_the_source_moves_it(tmp_path: Path) -> None:
    """Crash before the move: settle_move does the move."""
    src, dst = tmp_path / "claim", tmp_path / "done.mp4"
    src.write_bytes(b"v")
    assert settle_move(src, dst) is True
    assert dst.read_bytes() == b"v" and not src.exists()


def test_settle_move_with_both_names_linked_drops_the_source(tmp_path: Path) -> None:
    """Crash between link and unlink: the same file under two names keeps only the target."""
    src, dst = tmp_path / "claim", tmp_path / "done.mp4"
    src.write_bytes(b"v")
    os.link(src, dst)
    assert settle_move(src, dst) is True
    assert dst.read_bytes() == b"v" and not src.exists()


def test_settle_move_with_only_the_target_is_complete(tmp_path: Path) -> None:
    """Crash after the move: nothing is left to do and it reports complete."""
    src, dst = tmp_path / "claim", tmp_path / "done.mp4"
    dst.write_bytes(b"v")
    assert settle_move(src, dst) is True
    assert dst.read_bytes() == b"v"


def test_settle_move_with_neither_name_reports_incomplete(tmp_path: Path) -> None:
    """If the file is at neither place, settle_move says the move is not complete."""
    assert settle_move(tmp_path / "claim", tmp_path / "done.mp4") is False


def test_settle_move_never_replaces_a_different_target(tmp_path: Path) -> None:
    """Two different files at source and target: FileExistsError, both kept."""
    src, dst = tmp_path / "claim", tmp_path / "done.mp4"
    src.write_bytes(b"ours")
    dst.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        settle_move(src, dst)
    assert src.read_bytes() == b"ours" and dst.read_bytes() == b"someone else's"


def test_error_text_says_what_when_what_to_do_and_how_to_retry() -> None:
    """The error text has the sentence, asset, VOD code and message, UTC time, fix, retry."""
    failure = Failure("the media asset does not exist in VOD.",
                      "check the asset ID in the file name", code="VOD.10062",
                      remote_msg="asset not found", asset_id=A1)
    when = WHEN.astimezone(timezone(timedelta(hours=8)))
    text = error_text(f"{A1}.mp4", failure, when)
    lines = text.splitlines()
    assert lines[0] == f"vodwatch could not upload {A1}.mp4."
    assert "What went wrong: the media asset does not exist in VOD." in lines
    assert f"Media asset: {A1}" in lines
    assert "VOD said: VOD.10062 asset not found" in lines
    assert "When: 2024-05-06 07:08:09 UTC" in lines
    assert "What to do: check the asset ID in the file name" in lines
    assert (f"To try again, move the file back into the inbox (or run: vodwatch retry "
            f"{A1}.mp4).") in lines
    assert text.endswith("\n")


def test_error_text_without_a_remote_code_has_no_vod_line() -> None:
    """A local failure (bad name) has no 'VOD said' or asset line."""
    text = error_text("holiday.mp4", Failure("the name is not understood.", "rename it"), WHEN)
    assert "VOD said" not in text and "Media asset" not in text
    assert "What to do: rename it" in text


def test_error_text_defaults_to_now() -> None:
    """Without a time, the error text carries the current UTC time."""
    before = datetime.now(UTC).replace(microsecond=0)
    text = error_text("x.mp4", Failure("s.", "t"))
    stamp = next(line for line in text.splitlines() if line.startswith("When: "))
    when = datetime.strptime(stamp, "When: %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    assert before <= when <= datetime.now(UTC)


def test_write_error_file_is_atomic_and_beside_the_target(tmp_path: Path) -> None:
    """The error file is name.error.txt with the full text and no temp file left over."""
    target = tmp_path / f"{A1}.mp4"
    failure = Failure("VOD refused the video.", "wait", code="VOD.10061", asset_id=A1)
    path = write_error_file(target, failure, WHEN)
    assert path == tmp_path / f"{A1}.mp4.error.txt"
    assert path.read_text() == error_text(target.name, failure, WHEN)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_write_error_file_replaces_an_older_error_file(tmp_path: Path) -> None:
    """Writing again for the same target replaces the earlier explanation."""
    target = tmp_path / "x.mp4"
    write_error_file(target, Failure("first.", "a"), WHEN)
    path = write_error_file(target, Failure("second.", "b"), WHEN)
    assert "second." in path.read_text() and "first." not in path.read_text()


def test_write_error_file_never_shows_a_secret_or_signature(tmp_path: Path) -> None:
    """Registered secrets and URL or header signatures are redacted from error files."""
    secret = "test-finish-secret-4f0c2e"
    add_secret(secret)
    failure = Failure(
        f"the store said no to https://obs.example/b/k?AWSAccessKeyId=AK&Signature=abc "
        f"and Signature=abc with key {secret}.",
        f"rotate {secret}", remote_msg=f"<SignatureProvided>abc</SignatureProvided> {secret}")
    text = write_error_file(tmp_path / "x.mp4", failure, WHEN).read_text()
    assert secret not in text
    assert "Signature=abc" not in text and ">abc<" not in text
    assert "REDACTED" in text and "AWSAccessKeyId=AK" in text
