"""Finishing on real folders: unique names, no-overwrite moves, crash states, error files."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vodwatch.finish import (
    ERROR_SUFFIX,
    NAME_MAX,
    OPERATOR_RULE,
    Failure,
    error_file_for,
    error_text,
    failed_detail,
    move_no_replace,
    orphan_error_files,
    read_failed_detail,
    remove_error_files_about,
    remove_stale_error_file,
    settle_move,
    unique_target,
    write_error_file,
)
from vodwatch.log import add_secret
from vodwatch.names import ACCEPTED_EXAMPLES, is_ignored, parse_name

A1 = "a1" * 16
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_unique_target_is_the_name_itself_when_free(tmp_path: Path) -> None:
    """A free name is used as it is."""
    assert unique_target(tmp_path, f"{A1}.mp4") == tmp_path / f"{A1}.mp4"


def test_unique_target_adds_the_smallest_free_number_before_the_extension(
        tmp_path: Path) -> None:
    """Taken names get ' (2)', ' (3)', ... before the last extension, the Windows form."""
    (tmp_path / "clip.en.srt").write_text("x")
    assert unique_target(tmp_path, "clip.en.srt") == tmp_path / "clip.en (2).srt"
    (tmp_path / "clip.en (2).srt").write_text("x")
    assert unique_target(tmp_path, "clip.en.srt") == tmp_path / "clip.en (3).srt"


@pytest.mark.parametrize("name", [f"{A1}.mp4", f"{A1}.cover.jpg", f"{A1}.1.en.srt",
                                  f"{A1} (2).mp4", f"{A1} - Copy.MOV", f"{A1}.cover (1).png"])
def test_unique_names_parse_back_to_the_same_asset_and_slot(tmp_path: Path, name: str) -> None:
    """A second and third copy in done/ or failed/ can be moved back and are understood."""
    first = parse_name(name)
    for _ in range(3):
        target = unique_target(tmp_path, name)
        target.write_text("x")
        again = parse_name(target.name)
        assert again.name == target.name
        assert (again.asset_id, again.kind, again.subtitle_id, again.language) == (
            first.asset_id, first.kind, first.subtitle_id, first.language)


@pytest.mark.parametrize(("name", "expected"), [
    ("README", "README (2)"),
    (".hidden", ".hidden (2)"),
    ("trailing.", "trailing (2)"),
])
def test_unique_target_handles_names_without_an_extension(tmp_path: Path, name: str,
                                                          expected: str) -> None:
    """Names without a usable extension get the number at the end."""
    (tmp_path / name).write_text("x")
    assert unique_target(tmp_path, name) == tmp_path / expected


def test_an_error_file_makes_its_name_taken(tmp_path: Path) -> None:
    """A leftover name.error.txt reserves the name, so the new file cannot inherit it."""
    (tmp_path / f"{A1}.mp4{ERROR_SUFFIX}").write_text("old failure")
    assert unique_target(tmp_path, f"{A1}.mp4") == tmp_path / f"{A1} (2).mp4"


def test_a_dangling_symlink_makes_its_name_taken(tmp_path: Path) -> None:
    """A broken symlink still occupies its name and is never replaced."""
    (tmp_path / "v.mp4").symlink_to(tmp_path / "missing")
    assert unique_target(tmp_path, "v.mp4") == tmp_path / "v (2).mp4"


def test_a_unique_name_never_grows_past_255_bytes(tmp_path: Path) -> None:
    """A 255-byte name taken twice gets a shortened stem, cut between characters."""
    name = "é" * 125 + "x.mp4"  # 250 + 5 = 255 bytes
    assert len(name.encode()) == NAME_MAX
    (tmp_path / name).write_text("x")
    target = unique_target(tmp_path, name)
    assert len(target.name.encode()) <= NAME_MAX and target.name.endswith(" (2).mp4")
    target.write_text("y")  # the filesystem takes it


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


CET = ZoneInfo("Europe/Paris")


def test_error_text_speaks_to_the_editor_then_to_the_operator() -> None:
    """Editor part: one sentence, one thing to do; operator part: time, codes, command."""
    failure = Failure("Media asset X does not exist in VOD.",
                      "Check the asset ID in the file name", code="VOD.10062",
                      remote_msg="asset not found", asset_id=A1, request_id="req-42",
                      state="DELETED", operator="Check vod.project_id")
    when = datetime(2026, 11, 30, 13, 5, 9, tzinfo=UTC)
    text = error_text(f"{A1} (2).mp4", failure, when, tz=CET)
    editor, _, operator = text.partition(OPERATOR_RULE + "\n")
    assert editor.splitlines() == [
        f"File: {A1} (2).mp4", "",
        "What went wrong: Media asset X does not exist in VOD.",
        "What to do: Check the asset ID in the file name.", ""]
    assert operator.splitlines() == [
        "When: 2026-11-30 14:05:09 CET",
        f"Media asset: {A1} (state in VOD: DELETED)",
        "VOD said: VOD.10062: asset not found",
        "Request ID: req-42",
        "What the operator can do: Check vod.project_id.",
        f"To send it again: vodwatch retry '{A1} (2).mp4'"]
    assert "vodwatch retry" not in editor and text.endswith("\n")


def test_error_text_without_a_remote_code_has_no_vod_line() -> None:
    """A local failure has no 'VOD said', request or asset line."""
    text = error_text("holiday.mp4", Failure("the name is not understood.", "rename it"), WHEN)
    assert "VOD said" not in text and "Media asset" not in text and "Request ID" not in text
    assert "What to do: Rename it." in text
    assert "Accepted names" not in text


def test_a_bad_name_lists_the_accepted_names_for_the_editor() -> None:
    """A name failure carries the accepted forms as a short list, before the separator."""
    text = error_text("holiday.mp4", Failure("No ID.", "Rename it", bad_name=True), WHEN)
    editor = text.partition(OPERATOR_RULE)[0]
    for example in ACCEPTED_EXAMPLES:
        assert f"  - {example}" in editor


def test_error_text_defaults_to_now_in_local_time() -> None:
    """Without a time, the error file carries the current time with the local zone's name."""
    before = datetime.now(UTC).replace(microsecond=0)
    text = error_text("x.mp4", Failure("s.", "t"))
    stamp = re.search(r"^When: (\S+ \S+) (\S+)$", text, re.MULTILINE)
    assert stamp is not None
    local = datetime.now().astimezone()
    assert stamp[2] == (local.strftime("%Z") or local.strftime("%z"))
    when = datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S").astimezone()
    assert before <= when <= datetime.now(UTC)


def test_control_characters_in_names_and_messages_are_escaped() -> None:
    """No escape sequence, line break or bidi override from a name reaches the file."""
    name = "evil\x1b[2J\u202egpj.mp4"
    failure = Failure(f"{name} is empty.", "copy it", remote_msg="bad\nthing\x07")
    text = error_text(name, failure, WHEN)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "evil\\x1b[2J\\u202egpj.mp4" in text
    assert "VOD said: bad\\x0athing\\x07" in text


def test_write_error_file_is_atomic_and_beside_the_target(tmp_path: Path) -> None:
    """The error file is name.error.txt with the full text and no temp file left over."""
    target = tmp_path / f"{A1}.mp4"
    failure = Failure("VOD refused the video.", "wait", code="VOD.10061", asset_id=A1)
    path = write_error_file(target, failure, WHEN)
    assert path == tmp_path / f"{A1}.mp4.error.txt" == error_file_for(target)
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


@pytest.mark.parametrize("length", [250, 255])
def test_a_long_name_still_gets_a_recognisable_error_file(tmp_path: Path, length: int) -> None:
    """Beside a 250- or 255-byte name, the error file's name is cut, never refused."""
    name = ("Ünïcödé " * 40).encode()[:length - 4].decode("utf-8", "ignore")
    name += "x" * (length - 4 - len(name.encode())) + ".mp4"
    assert len(name.encode()) == length
    target = tmp_path / name
    target.write_bytes(b"v")
    path = write_error_file(target, Failure("too long.", "shorten it"), WHEN)
    assert path == error_file_for(target) and path.exists()
    assert len(path.name.encode()) <= NAME_MAX
    assert path.name.endswith(ERROR_SUFFIX) and is_ignored(path.name)
    assert re.fullmatch(r".*\u2026[0-9a-f]{8}\.error\.txt", path.name)
    assert name.startswith(path.name.partition("\u2026")[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, path.name])


def test_long_names_sharing_a_start_get_different_error_files(tmp_path: Path) -> None:
    """The digest keeps two long names with the same first bytes apart."""
    one, two = tmp_path / ("a" * 250 + "1.mp4"), tmp_path / ("a" * 250 + "2.mp4")
    assert error_file_for(one) != error_file_for(two)


def test_remove_stale_error_file(tmp_path: Path) -> None:
    """The error file about a file goes; a missing one is fine; other files stay."""
    for name in ("x.mp4", "é" * 127 + ".mp4"):
        target = tmp_path / name
        path = write_error_file(target, Failure("s.", "t"), WHEN)
        (tmp_path / "other.mp4.error.txt").write_text("keep")
        remove_stale_error_file(target)
        assert not path.exists() and (tmp_path / "other.mp4.error.txt").exists()
        remove_stale_error_file(target)  # nothing left to remove: no error


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text("x")


def test_orphan_error_files_are_those_whose_file_left_failed(tmp_path: Path) -> None:
    """An error file explains the file it is error_file_for (long names included); the rest,
    and only those, are orphans."""
    long = "é" * 125 + ".doc"
    _touch(tmp_path, "a.doc", "a.doc.error.txt", "b.doc.error.txt", long, ".hidden.error.txt")
    write_error_file(tmp_path / long, Failure("x.", "y"), WHEN)
    gone = "ü" * 125 + ".doc"
    write_error_file(tmp_path / gone, Failure("x.", "y"), WHEN)
    assert orphan_error_files(tmp_path) == sorted(
        [tmp_path / "b.doc.error.txt", error_file_for(tmp_path / gone)])


def test_a_delivered_file_leaves_no_error_file_about_it(tmp_path: Path) -> None:
    """Delivered as `<id> (2).mp4` (it failed as `<id>.mp4`, then as `<id> (2).mp4`, and was
    moved back by hand each time): both error files go; an error file beside a file still in
    failed/, and those of other assets and slots, stay."""
    _touch(tmp_path, f"{A1}.mp4{ERROR_SUFFIX}", f"{A1} (2).mp4{ERROR_SUFFIX}",
           f"{A1} (3).mp4{ERROR_SUFFIX}", f"{A1} (4).mp4", f"{A1} (4).mp4{ERROR_SUFFIX}",
           f"{A1}.cover.jpg{ERROR_SUFFIX}", f"{'b2' * 16}.mp4{ERROR_SUFFIX}",
           f"notes.doc{ERROR_SUFFIX}")
    removed = remove_error_files_about(tmp_path, f"{A1} (2).mp4")
    assert sorted(p.name for p in removed) == sorted(
        [f"{A1} (2).mp4{ERROR_SUFFIX}", f"{A1} (3).mp4{ERROR_SUFFIX}", f"{A1}.mp4{ERROR_SUFFIX}"])
    assert sorted(os.listdir(tmp_path)) == sorted(
        [f"{A1} (4).mp4", f"{A1} (4).mp4{ERROR_SUFFIX}", f"{A1}.cover.jpg{ERROR_SUFFIX}",
         f"{'b2' * 16}.mp4{ERROR_SUFFIX}", f"notes.doc{ERROR_SUFFIX}"])


def test_a_delivered_file_keeps_the_error_file_of_a_namesake_still_in_failed(
        tmp_path: Path) -> None:
    """`<id>.mp4` in failed/ is another file: its explanation stays when a new `<id>.mp4`
    is delivered."""
    _touch(tmp_path, f"{A1}.mp4", f"{A1}.mp4{ERROR_SUFFIX}")
    assert remove_error_files_about(tmp_path, f"{A1}.mp4") == []
    assert sorted(os.listdir(tmp_path)) == [f"{A1}.mp4", f"{A1}.mp4{ERROR_SUFFIX}"]


def test_a_failed_event_keeps_the_name_in_failed() -> None:
    """The journal's detail of a failure holds the sentence and the name in failed/; a
    detail from before is the sentence alone."""
    detail = failed_detail("It is not a video.", "notes (2).doc")
    assert read_failed_detail(detail) == ("It is not a video.", "notes (2).doc")
    assert read_failed_detail("It is not a video.") == ("It is not a video.", None)
    assert read_failed_detail("{not json") == ("{not json", None)
    assert read_failed_detail(None) == ("", None)
