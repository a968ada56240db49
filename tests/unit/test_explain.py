"""Error files in the editor's voice (SPEC §6a): every failure the code can produce."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vodwatch.errors import AssetStateError, RemoteError, RemoteFault, TransportError
from vodwatch.explain import (
    BY_CODE,
    MISSING,
    UPDATABLE,
    UPLOADING,
    bad_name_failure,
    incomplete_answer_failure,
    remote_failure,
    state_failure,
    state_words,
    still_writing_failure,
    superseded_failure,
    unknown_failure,
    uploadable_problem,
)
from vodwatch.finish import OPERATOR_RULE, Failure, error_text
from vodwatch.names import DEFAULT_LANGUAGE_MAP
from vodwatch.retry import _BY_CODE, Action, classify

ID = "0123456789abcdef0123456789abcdef"
WHEN = datetime(2026, 11, 30, 13, 5, 9, tzinfo=UTC)

# One name for every way names.py refuses a name (see test_names.py).
BAD_NAMES = [
    "", "   ", "holiday.mp4", "copy.mp4", f"{ID}", f"{ID}.", f"{ID}..", f"{ID}.xyz",
    f"{ID[:-1]}.mp4", f"{ID[:-1]}g.mp4", f"Film_{ID}.mp4", f"{ID}_final.cover.jpg",
    "01234567-89ab-cdef-0123-456789abcdef.mp4", f"{ID}.final.mp4", f"{ID}.qt",
    f"{ID}.webm", f"{ID}.mp3", f"{ID}.gif", f"{ID}.1.en.ass", f"{ID}.cover.gif",
    f"{ID}.jpg", f"{ID}.thumb.jpg", f"{ID}.covr.jpg", f"{ID}.art.work.jpg",
    f"{ID}.cover.jfif", f"{ID}.1.eng.srt", f"{ID}.1.english.srt", f"{ID}.1.x1.srt",
    f"{ID}.1.srt", f"{ID}.en.srt", f"{ID}.srt", f"{ID}.en.1.srt", f"{ID}.0001.en.srt",
    f"{ID}.0.en.srt", f"{ID}.17.en.srt", f"{ID}.1.en.fr.srt", f"{ID} - Copy (2).cover.png",
    f" {ID}.mp4 ", f"{ID}. 1 .en.srt", f"{ID}.mp4 (1)",
]
STATES = sorted(MISSING | UPLOADING | UPDATABLE | {"PUBLISHED", "CREATED", "TRANSCODING"})


def fault(code: str, status: int = 403) -> RemoteFault:
    return RemoteFault("vod", "update_asset", status, code, f"message for {code}", "req-1")


def every_failure(tmp_path: Path) -> list[tuple[str, Failure]]:
    out: list[tuple[str, Failure]] = []
    for name in BAD_NAMES:
        failure = uploadable_problem(name, tmp_path / "none", DEFAULT_LANGUAGE_MAP, "")
        assert failure is not None and failure.bad_name, name
        out.append((name or "x", failure))
    link, folder, empty = tmp_path / "link.mp4", tmp_path / "dir.mp4", tmp_path / "empty.mp4"
    link.symlink_to(tmp_path / "elsewhere")
    folder.mkdir()
    empty.write_bytes(b"")
    for path in (link, folder, empty):
        name = f"{ID}.mp4"
        failure = uploadable_problem(name, path, DEFAULT_LANGUAGE_MAP, ID)
        assert failure is not None
        out.append((name, failure))
    for state in STATES:
        words = state_words(ID, state)
        out.append((f"{ID}.mp4", state_failure(AssetStateError(ID, state, *words))))
        out.append((f"{ID}.mp4", state_failure(
            AssetStateError(ID, state, *words, fault=fault("VOD.10061")))))
    codes = [code for code, d in _BY_CODE.items() if d.action in (Action.FAIL, Action.STATE)]
    for code in [*codes, "VOD.99999", ""]:
        exc = RemoteError(fault(code, 400))
        decision = classify(exc)
        out.append((f"{ID}.mp4", remote_failure(ID, exc, decision.explain, decision.advice)))
    net = TransportError("connection reset")
    out.append((f"{ID}.mp4", remote_failure(ID, net, classify(net).explain,
                                            classify(net).advice)))
    out += [(f"{ID}.mp4", still_writing_failure(f"{ID}.mp4", 12)),
            (f"{ID}.mp4", superseded_failure(ID)),
            (f"{ID}.mp4", incomplete_answer_failure(ID, "no video_upload_url")),
            (f"{ID}.mp4", unknown_failure(ID))]
    return out


def sentences(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:- )?(?:[A-Z][A-Za-z ]+: )?", "", line).strip()
        found += [s.strip().lower() for s in re.split(r"(?<=[.!?;])\s+", line) if s.strip()]
    return found


def test_every_known_code_has_editor_words() -> None:
    """Each permanent code of retry.classify is worded here, not left to the operator's words."""
    codes = {code for code, d in _BY_CODE.items() if d.action in (Action.FAIL, Action.STATE)}
    assert codes <= set(BY_CODE)


def test_no_sentence_is_said_twice_and_the_editor_gets_no_command(tmp_path: Path) -> None:
    """Across every failure the code can produce: editor part first, plain, never repeated."""
    for name, failure in every_failure(tmp_path):
        text = error_text(name, failure, WHEN)
        said = sentences(text)
        repeated = {s for s in said if said.count(s) > 1}
        assert not repeated, (failure, repeated)
        editor, rule, operator = text.partition(OPERATOR_RULE)
        assert rule and "To send it again: vodwatch retry" in operator
        lines = editor.splitlines()
        assert lines[2].startswith("What went wrong: ") and lines[3].startswith("What to do: ")
        assert lines[2].count(". ") == 0, lines[2]  # one sentence
        for word in ("vodwatch retry", "run ", "vod.", "max_writing_hours", "--", "$ "):
            assert word not in editor.replace("File: ", ""), (word, editor)


@pytest.mark.parametrize("state", sorted(MISSING))
def test_an_asset_that_does_not_exist_is_said_so_plainly(state: str) -> None:
    """No state jargon for the editor: the asset does not exist (or was deleted)."""
    sentence, todo = state_words(ID, state)
    assert re.search(r"does not exist|has been deleted", sentence)
    assert "asset ID in the file name" in todo


def test_a_state_an_editor_cannot_fix_says_who_can() -> None:
    """The editor is sent to the VOD administrator; the operator gets the rule and state."""
    exc = AssetStateError(ID, "PUBLISHED", *state_words(ID, "PUBLISHED"),
                          fault=fault("VOD.10061"))
    text = error_text(f"{ID}.mp4", state_failure(exc), WHEN)
    editor, _, operator = text.partition(OPERATOR_RULE)
    assert "Ask the VOD administrator" in editor and "not a problem with the file" in editor
    assert "PUBLISHED" in operator and "VOD.10061" in operator and "req-1" in operator
    assert "UPLOAD_FAILED" in operator


def test_a_bad_name_suggestion_is_the_instruction() -> None:
    """A name renaming would fix: the instruction is the new name, the list follows."""
    failure = uploadable_problem(f"{ID}.1.eng.srt", Path("/none"), DEFAULT_LANGUAGE_MAP, "")
    assert failure is not None
    assert failure.todo == f"Rename the file to {ID}.1.en.srt and put it back in the inbox"
    text = error_text(f"{ID}.1.eng.srt", failure, WHEN)
    assert "Accepted names:" in text.partition(OPERATOR_RULE)[0]


def test_a_format_to_convert_says_convert() -> None:
    """A WEBM is not renamed: the instruction is to convert it."""
    from vodwatch.errors import BadName
    failure = bad_name_failure(BadName(f"{ID}.webm", "VOD cannot take it; convert it to MP4",
                                       "hint"))
    assert failure.sentence == "VOD cannot take it."
    assert failure.todo.startswith("convert it to MP4, give it one of the accepted names")


def test_a_bad_name_lists_title_names_only_where_titles_are_accepted() -> None:
    """Create mode adds the title forms to the list; an update-only folder set does not."""
    name = "Episode 12.webm"
    for create in (False, True):
        failure = uploadable_problem(name, Path("/none"), DEFAULT_LANGUAGE_MAP, "", create=create)
        assert failure is not None and failure.bad_name
        editor = error_text(name, failure, WHEN).partition(OPERATOR_RULE)[0]
        assert ("new media asset titled Episode 12" in editor) is create
        assert "<asset_id>.cover.jpg" in editor
