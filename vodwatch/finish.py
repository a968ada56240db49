"""Step 8: the file leaves for ``done/`` or ``failed/``, never overwriting anything,
with a plain-language ``.error.txt`` beside a failed one.

Names (SPEC §2, §3):

- A taken name gets `` (N)`` before its last extension, N = 2, 3, ... (the
  Windows form, which ``names.parse_name`` accepts back as the same asset and
  slot). A name whose error file still exists is taken too, so a new failure
  never inherits an old explanation. A name that would grow past 255 bytes is
  shortened before the marker, at a character boundary.
- ``failed/<name>`` is explained by ``failed/<name>.error.txt``; when that would be
  longer than 255 bytes (Linux's limit for one name, in UTF-8 bytes), the error
  file is ``<name cut at a character boundary>…<8 hex of its SHA-256>.error.txt``.
  :func:`error_file_for` is the one home of that rule.

Error files (SPEC §6a): first the editor's part, one sentence on what went wrong
with this file and one thing to do, without commands; then, after
``---- For the operator ----``, the time in the process's local zone, the asset
and its state, VOD's code, message and request id, and the retry command. Text
taken from names or from services is escaped with :func:`words.printable`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from .atomic import replace_file
from .log import redact
from .names import (
    ACCEPTED_EXAMPLES,
    ACCEPTED_NOTES,
    DEFAULT_LANGUAGE_MAP,
    ERROR_SUFFIX,
    TITLE_EXAMPLES,
    copy_origins,
    strip_copy_marker,
    without_copy_markers,
)
from .words import printable

__all__ = ["ERROR_SUFFIX", "NAME_MAX", "OPERATOR_RULE", "Failure", "error_file_for",
           "error_text", "failed_detail", "move_no_replace", "numbered_name",
           "orphan_error_files", "read_failed_detail", "remove_error_files_about",
           "remove_stale_error_file", "settle_move", "unique_target", "write_error_file"]

NAME_MAX = 255  # bytes in one name component (Linux, and what SMB and NFS servers allow)
OPERATOR_RULE = "---- For the operator ----"
_ELLIPSIS = "\u2026"
# What makes a long title's cover or subtitle one (``.cover``, ``.1.en``): kept when
# the title before it is cut, so that the numbered name is still a cover or subtitle.
_KIND_RE = re.compile(r"(?:\.cover|\.[0-9]{1,3}\.[^.]+)$", re.IGNORECASE)
_SIDECAR_EXTS = frozenset({"jpg", "jpeg", "png", "srt", "vtt"})


def _nbytes(text: str) -> int:
    return len(os.fsencode(text))


def _cut(text: str, room: int) -> str:
    """The longest start of ``text`` that fits in ``room`` bytes, whole characters only."""
    used = 0
    for index, char in enumerate(text):
        used += _nbytes(char)
        if used > room:
            return text[:index]
    return text


def numbered_name(name: str, n: int) -> str:
    """``name`` with `` (n)`` before its last extension: ``<id>.1.en (2).srt``.

    A name without a usable extension gets it at the end (``README (2)``). The
    result never passes 255 bytes: a long stem is shortened first by whole copy
    markers from its end (``<id> (2) (2)…`` loses a `` (2)``), so a name that is
    accepted as a copy stays one; only a stem that is still too long without them
    is cut at a character boundary (a cover's or subtitle's title before its
    ``.cover`` or ``.<n>.<lang>``, which stay: the name is still a cover or subtitle).
    """
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name.rstrip("."), ""
    marker = f" ({n}).{ext}" if ext else f" ({n})"
    room = NAME_MAX - _nbytes(marker)
    shorter = stem
    while _nbytes(shorter) > room and (cut := strip_copy_marker(shorter)) is not None:
        shorter = cut
    if _nbytes(shorter) <= room:
        return shorter + marker
    keep = _KIND_RE.search(stem) if ext.lower() in _SIDECAR_EXTS else None
    tail = keep.group(0) if keep is not None and keep.start() > 0 else ""
    return _cut(stem[:len(stem) - len(tail)], room - _nbytes(tail)) + tail + marker


def unique_target(directory: Path, name: str) -> Path:
    """``directory/name``, or ``numbered_name(name, N)`` with the smallest free N >= 2.

    Taken means a file (or dangling link) of that name exists, or its error file
    does: nothing is overwritten and no new file inherits an old explanation.
    """
    target = directory / name
    n = 2
    while _taken(target):
        target = directory / numbered_name(name, n)
        n += 1
    return target


def error_file_for(target: Path) -> Path:
    """Where the error file explaining ``target`` (a file in failed/) lives.

    ``<name>.error.txt``; if that name would pass 255 bytes, the name is cut at a
    character boundary and ``…<8 hex digits of its SHA-256>`` keeps it recognisable
    and unique: ``<start of name>…1a2b3c4d.error.txt``.
    """
    name = target.name + ERROR_SUFFIX
    if _nbytes(name) <= NAME_MAX:
        return target.with_name(name)
    digest = hashlib.sha256(os.fsencode(target.name)).hexdigest()[:8]
    tail = f"{_ELLIPSIS}{digest}{ERROR_SUFFIX}"
    return target.with_name(_cut(target.name, NAME_MAX - _nbytes(tail)) + tail)


def remove_stale_error_file(target: Path) -> None:
    """Remove the error file about ``target``, if there is one.

    For a failed file that is retried or reaches done/: no old explanation may stay
    behind to confuse an editor or reserve the name.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(error_file_for(target))


def orphan_error_files(failed: Path) -> list[Path]:
    """Error files in ``failed`` whose file is no longer there (moved back by hand).

    An error file explains a file in failed/ exactly when it is that file's
    :func:`error_file_for`; the shortened names of long ones are matched that way too.
    """
    names = [n for n in os.listdir(failed) if not n.startswith(".")]
    explained = {error_file_for(failed / n).name for n in names if not n.endswith(ERROR_SUFFIX)}
    return sorted(failed / n for n in names if n.endswith(ERROR_SUFFIX) and n not in explained
                  and not os.path.isdir(failed / n))


def remove_error_files_about(failed: Path, name: str,
                             language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP,
                             ) -> list[Path]:
    """``name`` reached done/: remove every error file in ``failed`` about it; the paths.

    That is ``<name>.error.txt`` and the error files of the names it may have had in
    failed/ before (it was moved back by hand): the names it is a copy of
    (``<id> (2).mp4`` of ``<id>.mp4``) and other copies of the same original
    (``<id> (3).mp4``), each only when its file is no longer in failed/: an error
    file beside a file still there explains that file.
    """
    original = without_copy_markers(name, language_map)
    candidates = {error_file_for(failed / n) for n in (name, *copy_origins(name, language_map))
                  if not os.path.lexists(failed / n)}
    stem = original.rpartition(".")[0] or original
    with contextlib.suppress(OSError):
        for path in orphan_error_files(failed):
            explained = path.name[:-len(ERROR_SUFFIX)]
            if explained.startswith(stem) and \
                    without_copy_markers(explained, language_map) == original:
                candidates.add(path)
    removed = []
    for path in sorted(candidates):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(path)
    return removed


def failed_detail(sentence: str, kept_as: str) -> str:
    """The journal's detail of a ``failed`` event: the sentence and the name the file
    has in failed/ (it differs from the inbox name when that was taken), as JSON."""
    return json.dumps({"sentence": sentence, "kept_as": kept_as})


def read_failed_detail(detail: str | None) -> tuple[str, str | None]:
    """(sentence, name in failed/ or None) from a ``failed`` event's detail; details
    journaled before the name was kept are the sentence alone."""
    text = detail or ""
    if text.startswith("{"):
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("sentence"), str):
                kept = data.get("kept_as")
                return data["sentence"], kept if isinstance(kept, str) and kept else None
    return text, None


def _taken(path: Path) -> bool:
    return os.path.lexists(path) or os.path.lexists(error_file_for(path))


def move_no_replace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; FileExistsError if ``dst`` exists. Atomic where possible.

    A hard link refuses an existing name atomically (also on NFS); where links are
    not supported (some SMB mounts) an exists-check before the rename is the best
    that can be done.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                             errno.EACCES, errno.ENOSYS):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "target exists", str(dst)) from None
        os.rename(src, dst)
        return
    os.unlink(src)


def settle_move(src: Path, dst: Path) -> bool:
    """Finish a move that may have been cut short by a crash; True if it is complete.

    Cases: only ``src`` exists (not started: move it), both exist as the same
    file (linked, not yet unlinked: drop ``src``), only ``dst`` exists (done).
    """
    src_there, dst_there = os.path.lexists(src), os.path.lexists(dst)
    if src_there and dst_there:
        if os.path.samefile(src, dst):
            os.unlink(src)
            return True
        raise FileExistsError(errno.EEXIST, "target exists", str(dst))
    if src_there:
        move_no_replace(src, dst)
        return True
    return dst_there


@dataclass(frozen=True)
class Failure:
    """Why a file failed: words for the editor first, details for the operator.

    Stored as JSON in the journal (``Failure(**json.loads(...))``): every field
    added later has a default, so older records still load.
    """

    sentence: str  # editor: one plain sentence, what went wrong with this file
    todo: str  # editor: one thing to do, no commands
    code: str = ""  # VOD / gateway / store error code, if any
    remote_msg: str = ""  # the service's own message, if any
    asset_id: str = ""
    request_id: str = ""  # the service's request id, if any
    state: str = ""  # the asset's state in VOD, if known
    operator: str = ""  # operator: what can be done beyond the editor's reach
    bad_name: bool = False  # the name is the problem: the error file lists accepted names
    titles: bool = False  # ... and the folder set creates assets: titles are accepted too


def _sentence(text: str, *, capital: bool = False) -> str:
    text = " ".join(printable(text).split())
    if capital and text[:1].islower():
        text = text[0].upper() + text[1:]
    if text and not text.endswith((".", "!", "?")):
        text += "."
    return text


def _local_time(when: datetime | None, tz: tzinfo | None) -> str:
    moment = (when or datetime.now(UTC)).astimezone(tz)  # naive: local; tz None: local
    zone = moment.strftime("%Z") or moment.strftime("%z")
    return f"{moment.strftime('%Y-%m-%d %H:%M:%S')} {zone}".rstrip()


def error_text(name: str, failure: Failure, when: datetime | None = None, *,
               tz: tzinfo | None = None) -> str:
    """The content of the error file about ``name`` (the file's name in failed/).

    ``when`` defaults to now; it is shown in ``tz``, by default the process's local
    time zone (``TZ``), e.g. ``2026-11-30 14:05:09 CET``.
    """
    shown = printable(name)
    lines = [
        f"File: {shown}",
        "",
        f"What went wrong: {_sentence(failure.sentence)}",
        f"What to do: {_sentence(failure.todo, capital=True)}",
    ]
    if failure.bad_name:
        lines += ["", "Accepted names:"]
        lines += [f"  - {example}" for example in ACCEPTED_EXAMPLES]
        if failure.titles:
            lines += [f"  - {example}" for example in TITLE_EXAMPLES]
        lines += [f"  {_sentence(note)}" for note in ACCEPTED_NOTES]
    lines += ["", OPERATOR_RULE, f"When: {_local_time(when, tz)}"]
    if failure.asset_id:
        state = f" (state in VOD: {printable(failure.state)})" if failure.state else ""
        lines.append(f"Media asset: {printable(failure.asset_id)}{state}")
    if failure.code or failure.remote_msg:
        said = f"{printable(failure.code)}: {printable(failure.remote_msg)}".strip(": ")
        lines.append(f"VOD said: {' '.join(said.split())}")
    if failure.request_id:
        lines.append(f"Request ID: {printable(failure.request_id)}")
    if failure.operator:
        lines.append(f"What the operator can do: {_sentence(failure.operator, capital=True)}")
    lines += [f"To send it again: vodwatch retry {printable(shlex.quote(name))}", ""]
    return "\n".join(lines)


def write_error_file(target: Path, failure: Failure, when: datetime | None = None) -> Path:
    """Write the error file about ``target`` atomically (temp file, fsync, rename).

    Its path is ``error_file_for(target)``, returned. The temporary file is hidden
    and short-named, so it fits even beside a 255-byte name.
    """
    path = error_file_for(target)
    data = redact(error_text(target.name, failure, when)).encode("utf-8", "backslashreplace")
    replace_file(path, data)  # editors on the share read it
    return path


def fail_undecodable(path: Path, failed: Path) -> tuple[Failure, Path]:
    """A name whose bytes are not text cannot be journaled or sent to VOD: the file goes
    to failed/ at once with an error file. Returns (the failure, where it went); OSError
    if it cannot be moved."""
    shown = printable(path.name)
    failure = Failure(f"The name {shown} is not readable text (some of its characters "
                      "are garbled), so VOD cannot be told what it is.",
                      "Rename the file with ordinary letters and put it in the inbox again.")
    target = unique_target(failed, path.name)
    move_no_replace(path, target)
    write_error_file(target, failure)
    return failure, target
