"""What a file is, from its name alone (SPEC §2): the one place names are parsed.

The rules as data and the strict reading of a name are in name_rules.py; what is
wrong with a refused name, and its corrected form, in name_diagnosis.py.

Pure. ``parse_name`` turns a file name into a ``ParsedName`` or raises ``BadName``
with a message an editor understands, the accepted forms as the hint and, when
renaming alone would fix the name, a corrected name as ``suggestion``.

Decisions beyond SPEC §2:

- Subtitle numbers may carry leading zeros (``01``) and are normalised (``1``).
- A language is ``[A-Za-z]{2,3}`` with an optional region (``zh-CN``, ``es-419``).
  It is looked up in the language map whole, then by its first part, else sent
  upper-cased (``en-GB`` -> ``EN``, ``pt-BR`` -> ``PT-BR``).
- Three-letter codes that have a two-letter form (``eng``, ``chi``) are refused with
  the two-letter name as suggestion, because VOD knows ``EN``/``CN`` and would
  refuse ``ENG`` after the upload URLs were issued. A map entry (``eng: EN``) makes
  such a code acceptable.
- Beyond the ignored names of SPEC §2, ``desktop.ini``, WinSCP's ``*.filepart``,
  Aspera's ``*.aspx``, Resilio's ``*.!sync``, ``*.temp`` and ``*.error.txt`` are
  ignored: the last are vodwatch's own error files, which a person may move back
  into the inbox together with the file they explain.
- A suggestion is offered only when renaming is all it takes; a file that needs
  converting (``.webm``, ``.ass``, ``.gif``) gets none, its message says so.

Copies (SPEC §2 "Copy markers are ignored"):

- A name that is not accepted as it is, but would be once the copy markers just
  before its last extension are taken off, is accepted for the same asset and slot:
  Windows `` - Copy``, `` - Copy (2)``, `` (2)``; macOS `` copy``, `` copy 2``,
  `` 2``; browsers `` (1)``; and ``-2``, the unique suffix of development builds before 0.1.0.
  Markers may repeat (``<id> - Copy (2) (3).mp4``); they are taken off one at a time
  from the end and the first name that parses wins, so a name accepted as it is is
  never cut. Only names with an asset ID are cut: a create-mode title such as
  ``Episode 12.mp4`` never loses its ``12``. Marker case is ignored (`` - copy``).
  Create mode accepts vodwatch's own `` (N)`` back in its own way (vodwatch.titles):
  after ``.cover`` and ``.<n>.<lang>``, and on a title the share's title map knows.
- ``finish.unique_target`` names a second file `` (2)`` before the extension (the
  Windows form), so every name vodwatch gives a file in done/ or failed/ parses
  back to the same asset, kind, subtitle number and language.
- ``ParsedName.name`` is the name **as it is** (``<id> (2).mp4``): it is what VOD
  shows as the video or subtitle name, the key that pairs VOD's upload URLs with the
  files of a request, and the name in logs. ``ParsedName.copy_marker`` holds what
  was ignored (`` (2)``), ``""`` for a clean name.
"""


from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from .errors import BadName
from .name_diagnosis import diagnose, diagnose_title
from .name_rules import (
    ACCEPTED_EXAMPLES,
    ACCEPTED_FORMS,
    ACCEPTED_NOTES,
    COVER_TYPES,
    DEFAULT_LANGUAGE_MAP,
    SUBTITLE_CONTENT_TYPE,
    SUBTITLE_IDS,
    SUBTITLE_TYPES,
    TITLE_EXAMPLES,
    VIDEO_TYPES,
    Kind,
    ParsedName,
    language_code,
    parse_strict,
)
from .titles import parse_title

__all__ = [
    "ACCEPTED_EXAMPLES",
    "ACCEPTED_FORMS",
    "ACCEPTED_NOTES",
    "COVER_TYPES",
    "DEFAULT_LANGUAGE_MAP",
    "ERROR_SUFFIX",
    "SUBTITLE_CONTENT_TYPE",
    "SUBTITLE_IDS",
    "SUBTITLE_TYPES",
    "TITLE_EXAMPLES",
    "VIDEO_TYPES",
    "Kind",
    "ParsedName",
    "copy_origins",
    "examine",
    "is_ignored",
    "language_code",
    "parse_name",
    "strip_copy_marker",
    "without_copy_markers",
]

# One copy marker at the end of a name's stem (the part before the last extension).
_MARKER_RE = re.compile(r"(?: - copy| copy| \([0-9]{1,9}\)| [0-9]{1,9}|-[0-9]{1,9})$",
                        re.ASCII | re.IGNORECASE)

# vodwatch's own error files, written beside failed files as <name>.error.txt.
ERROR_SUFFIX = ".error.txt"

_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_IGNORED_SUFFIXES = (".part", ".tmp", ".temp", ".crdownload", ".partial", ".filepart",
                     ".aspx", ".!sync", ERROR_SUFFIX)


def is_ignored(name: str) -> bool:
    """True for hidden files and names that copy tools and editors use while writing."""
    low = name.lower()
    return (name.startswith((".", "~$")) or low in _IGNORED_NAMES
            or low.endswith(_IGNORED_SUFFIXES))


def parse_name(name: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP, *,
               create: bool = False) -> ParsedName:
    """Understand ``name`` (a base name, not a path).

    ``create`` (a folder set with ``create_assets: true``) also accepts the names of
    vodwatch.titles, which carry a title instead of an asset ID (``asset_id`` "").

    Raises ``BadName`` when no rule accepts it; its ``hint`` lists the accepted forms
    and ``suggestion`` is a corrected name when renaming alone would fix it.
    """
    parsed = parse_strict(name, language_map)
    if parsed is not None:
        return parsed
    parsed = _parse_copy(name, language_map)
    if parsed is not None:
        return parsed
    if create and (parsed := parse_title(name, language_map)) is not None:
        return parsed
    message, suggestion = (diagnose_title if create else diagnose)(name, language_map)
    if suggestion is not None and (
            suggestion == name or (parse_strict(suggestion, language_map) is None and not (
                create and parse_title(suggestion, language_map) is not None))):
        suggestion = None  # only ever offer a name that is accepted
    hint = (f"rename it to {suggestion} and put it back in the inbox; {ACCEPTED_FORMS}"
            if suggestion else ACCEPTED_FORMS)
    raise BadName(name, message, hint, suggestion)


def examine(name: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP, *,
            create: bool = False) -> ParsedName | None:
    """``None`` for an ignored name, else ``parse_name(name)`` (which may raise BadName)."""
    if is_ignored(name):
        return None
    return parse_name(name, language_map, create=create)


def strip_copy_marker(stem: str) -> str | None:
    """``stem`` without the one copy marker at its end, None when it has none.

    ``<id> (2) - Copy`` -> ``<id> (2)``; a marker is never the whole stem.
    """
    match = _MARKER_RE.search(stem)
    return stem[:match.start()] if match is not None and match.start() > 0 else None


def copy_origins(name: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP,
                 ) -> list[str]:
    """The names ``name`` is a copy of, nearest first, markers off one at a time:
    ``<id> (2) (3).mp4`` -> ``[<id> (2).mp4, <id>.mp4]``. Empty for a name accepted as it
    is, a refused one, and a create-mode title (never cut)."""
    try:
        parsed = parse_name(name, language_map)
    except BadName:
        return []
    if not parsed.copy_marker:
        return []
    stem, _, ext = name.rpartition(".")
    base = len(stem) - len(parsed.copy_marker)
    found: list[str] = []
    while len(stem) > base and (shorter := strip_copy_marker(stem)) is not None:
        stem = shorter
        found.append(f"{stem}.{ext}")
    return found


def without_copy_markers(name: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP,
                         ) -> str:
    """The name a copy was made from (``<id> (2) - Copy.mp4`` -> ``<id>.mp4``); any other
    name as it is."""
    origins = copy_origins(name, language_map)
    return origins[-1] if origins else name


def _parse_copy(name: str, language_map: Mapping[str, str]) -> ParsedName | None:
    """A copy of an accepted name: markers off one at a time from the end of the stem."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return None
    base = stem
    while (shorter := strip_copy_marker(base)) is not None:
        base = shorter
        parsed = parse_strict(f"{base}.{ext}", language_map)
        if parsed is not None:
            return replace(parsed, name=name, copy_marker=stem[len(base):])
    return None


def is_text(name: str) -> bool:
    """True if the name is valid text (a name of undecodable bytes holds surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
