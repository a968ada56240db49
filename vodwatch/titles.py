"""Create mode (SPEC §2, ``create_assets: true``): names that carry a title, not an asset ID.

``<title>.<video or audio ext>`` becomes a new asset titled ``<title>``;
``<title>.cover.<jpg|jpeg|png>`` and ``<title>.<n>.<lang>.<srt|vtt>`` go with it;
``<title>.yaml`` / ``<title>.json`` give its metadata (vodwatch.asset_meta) and are
never uploaded. Names with an asset ID are parsed by vodwatch.names first and win.

Which asset a title became is kept on the share, in ``<inbox>/.vodwatch/titles/
<digest>.json``, so that every daemon of the folder set sees it: the intent token
is written there *before* CreateAssetByFileUpload is called, the asset ID as soon
as it is known. A later file of the same title updates that asset.

Decisions:

- A title is compared after Unicode NFC normalisation (macOS writes NFD names on
  SMB shares); its digest names the mapping file and the share-wide lock.
- VOD takes at most 128 bytes of title and of video name: longer ones are cut at a
  character boundary (the video name keeps its extension); the journal and the
  delivery record keep the full file name.
- Copy markers are never taken off a title (``Episode 12.mp4`` keeps its 12), with
  two exceptions for the names vodwatch itself gives a second file in done/ or failed/
  (``finish.numbered_name``), so that each is accepted back as it is (SPEC §2/§3):
  `` (N)`` after ``.cover`` or after ``.<n>.<lang>`` is taken off (``Episode 12.cover
  (2).jpg`` is a cover of ``Episode 12``; the title itself is untouched there); and
  ``<title> (N).<ext>`` belongs to ``<title>`` when the share's title map knows
  ``<title>`` and does not know ``<title> (N)`` (``known_title``), unless a cover or
  subtitle of ``<title> (N)`` comes with it: vodwatch never numbers those so, and they
  make ``<title> (N)`` a title of its own (``Rocky (2).cover.jpg``). To create another
  asset from a title that already became one, name it differently (``Episode 12 v2.mp4``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .name_rules import (
    COVER_TYPES,
    FLAGS,
    LANG_RE,
    LIKE_AN_ID,
    SUBTITLE_CONTENT_TYPE,
    SUBTITLE_IDS,
    SUBTITLE_TYPES,
    VIDEO_TYPES,
    Kind,
    ParsedName,
    language_code,
    needs_two_letters,
)
from .share import STATE_DIR_NAME, read_or_none, write_atomic

# Audio files VOD accepts in CreateAssetByFileUpload (VOD-CREATE.md §1.1): Content-Type
# audio/<type>, as VOD signs it.
AUDIO_TYPES: Mapping[str, str] = {ext: f"audio/{ext}" for ext in (
    "mp3", "ogg", "wav", "wma", "ape", "flac", "aac", "ac3", "mmf", "amr", "m4a", "m4r", "wv",
    "mp2")}
METADATA_EXTS = ("yaml", "yml", "json")
MAX_TITLE_BYTES = 128  # VOD's limit for title and video_name
_NAME_MAX = 255  # bytes in one file name (finish.NAME_MAX)
TITLES_DIR = "titles"

# `` (N)`` markers vodwatch gives a second file (finish.numbered_name), repeated or not.
_NUMBERS = r"(?P<copy>(?: \([0-9]{1,9}\))*)"
_NUMBER_RE = re.compile(r" \([0-9]{1,9}\)$")
_SUBTITLE_RE = re.compile(
    rf"(?P<title>.+)\.(?P<n>[0-9]{{1,3}})\.(?P<lang>[^.]+?){_NUMBERS}\.(?P<ext>srt|vtt)", FLAGS)
_COVER_RE = re.compile(rf"(?P<title>.+)\.cover{_NUMBERS}\.(?P<ext>jpg|jpeg|png)", FLAGS)
_MEDIA_EXTS = "|".join([*VIDEO_TYPES, *AUDIO_TYPES])
_VIDEO_RE = re.compile(rf"(?P<title>.+)\.(?P<ext>{_MEDIA_EXTS})", FLAGS)
_META_RE = re.compile(rf"(?P<title>.+)\.(?P<ext>{'|'.join(METADATA_EXTS)})", FLAGS)


def parse_title(name: str, language_map: Mapping[str, str]) -> ParsedName | None:
    """A create-mode name (``asset_id`` ""), or None when no create-mode form fits."""
    if match := _SUBTITLE_RE.fullmatch(name):
        number, lang = int(match["n"]), match["lang"]
        if (number not in SUBTITLE_IDS or not LANG_RE.fullmatch(lang)
                or needs_two_letters(lang, language_map)):
            return None
        ext = match["ext"].lower()
        return _made(name, match["title"], Kind.SUBTITLE, ext, SUBTITLE_TYPES[ext],
                     SUBTITLE_CONTENT_TYPE, number, language_code(lang, language_map),
                     copy_marker=match["copy"])
    if match := _COVER_RE.fullmatch(name):
        ext = match["ext"].lower()
        cover_type, content_type = COVER_TYPES[ext]
        return _made(name, match["title"], Kind.COVER, ext, cover_type, content_type,
                     copy_marker=match["copy"])
    if match := _META_RE.fullmatch(name):
        ext = match["ext"].lower()
        return _made(name, match["title"], Kind.METADATA, ext, ext.upper(), "")
    if match := _VIDEO_RE.fullmatch(name):
        ext = match["ext"].lower()
        content_type = VIDEO_TYPES.get(ext) or AUDIO_TYPES[ext]
        return _made(name, match["title"], Kind.VIDEO, ext, ext.upper(), content_type)
    return None


def _made(name: str, title: str, kind: Kind, ext: str, file_type: str, content_type: str,
          subtitle_id: int | None = None, language: str | None = None,
          copy_marker: str = "") -> ParsedName | None:
    if (not title.strip() or any(unicodedata.category(c) == "Cc" for c in title)
            or LIKE_AN_ID.fullmatch(title)):
        return None  # a mistyped asset ID must not create an asset: it is refused
    return ParsedName(name, "", kind, ext, file_type, content_type, subtitle_id, language,
                      copy_marker=copy_marker, title=title)


def known_title(inbox: Path, title: str, name: str = "") -> str:
    """The title a name's files belong to: ``title`` itself, unless the share's title map
    does not know it and it is a known title with vodwatch's `` (N)`` numbers after it
    (``Episode 12 (2)`` -> ``Episode 12``: a second copy moved back from done/ or failed/).
    Numbers are taken off one at a time from the end; the first known title wins.

    A file ``name`` of (nearly) 255 bytes may be such a copy whose title was cut to make
    room for the number (``finish.numbered_name``): then the one known title that starts
    with what is left before the number is the title."""
    if not title or read_mapping(inbox, title) is not None:
        return title
    stem = title
    while (match := _NUMBER_RE.search(stem)) is not None and match.start() > 0:
        cut_for_number = stem == title and len(os.fsencode(name)) > _NAME_MAX - 4
        stem = stem[:match.start()]
        if read_mapping(inbox, stem) is not None:
            return stem
        if cut_for_number and (longer := _the_title_starting(inbox, stem)) is not None:
            return longer
    return title


def batch_title(inbox: Path, files: list[ParsedName]) -> str:
    """The title one title's files (parsed together) belong to. A video or metadata
    file's name is read by :func:`known_title`; a cover or subtitle named `` (N)`` after
    ``.cover`` or ``.<n>.<lang>`` may have had its title cut to stay within 255 bytes
    (``finish.numbered_name``): then the one known title starting with it is the title."""
    first = files[0]
    if all(p.kind in (Kind.VIDEO, Kind.METADATA) for p in files):
        # "<title> (2).mp4" moved back; a cover or subtitle named "<title> (2)" (vodwatch
        # numbers those after .cover/.lang) says the title is real.
        return known_title(inbox, first.title, first.name)
    if first.title and read_mapping(inbox, first.title) is None and any(
            p.copy_marker and len(os.fsencode(p.name)) > _NAME_MAX - 4 for p in files):
        return _the_title_starting(inbox, first.title) or first.title
    return first.title


def _the_title_starting(inbox: Path, start: str) -> str | None:
    """The one title of the share's map that starts with ``start`` (and is longer)."""
    start = normal(start)
    found = {m["title"] for m in all_mappings(inbox, limit=100_000)
             if m["title"].startswith(start) and m["title"] != start}
    return found.pop() if len(found) == 1 else None


def normal(title: str) -> str:
    return unicodedata.normalize("NFC", title)


def digest(title: str) -> str:
    """32 hex characters naming the title's mapping file and lock on the share."""
    return hashlib.sha256(normal(title).encode("utf-8")).hexdigest()[:32]


def lock_key(title: str) -> str:
    """The share-wide lock of a title (in the asset locks folder, never an asset ID)."""
    return f"title-{digest(title)}"


def job_lock(asset_id: str, title: str | None) -> str:
    """The lock a job holds: its title's when it has one, else its asset's."""
    return lock_key(title) if title else asset_id


def shorten(text: str, limit: int = MAX_TITLE_BYTES, keep_suffix: str = "") -> str:
    """``text`` cut to ``limit`` UTF-8 bytes at a character boundary, ``keep_suffix`` kept."""
    if len(text.encode("utf-8")) <= limit:
        return text
    stem = text[:len(text) - len(keep_suffix)] if keep_suffix else text
    room = limit - len(keep_suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:max(room, 0)].decode("utf-8", errors="ignore")
    return cut + keep_suffix


def titles_dir(inbox: Path) -> Path:
    return inbox / STATE_DIR_NAME / TITLES_DIR


def read_mapping(inbox: Path, title: str) -> dict[str, Any] | None:
    """What the share knows of a title: {title, token, asset_id?, ...}, or None."""
    text = read_or_none(titles_dir(inbox) / f"{digest(title)}.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def write_mapping(inbox: Path, title: str, **fields: Any) -> None:
    """Record (merge) facts about a title on the share, atomically."""
    folder = titles_dir(inbox)
    folder.mkdir(exist_ok=True)
    data = read_mapping(inbox, title) or {}
    data.update(fields, title=normal(title))
    write_atomic(folder / f"{digest(title)}.json", json.dumps(data, ensure_ascii=False) + "\n")



def all_mappings(inbox: Path, limit: int = 100) -> list[dict[str, Any]]:
    """The share's title map for ``status`` and the web page: the ``limit`` entries
    written last (only those are read: the web page asks every 2 s), newest asked first;
    unreadable entries are left out, an unreadable folder gives []."""
    found: list[dict[str, Any]] = []
    try:
        stamped = []
        for path in titles_dir(inbox).glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                stamped.append((path.stat().st_mtime, path))
    except OSError:
        return []
    stamped.sort(reverse=True)
    for _, path in stamped[:limit]:
        try:
            data = json.loads(read_or_none(path) or "null")
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("title"), str):
            found.append(data)
    found.sort(key=lambda d: (-_number(d.get("requested_at")), str(d["title"])))
    return found[:limit]


def _number(value: Any) -> float:
    return stamp(value) or 0.0


def stamp(value: Any) -> float | None:
    """A time read from the share's title map (anyone may write there): seconds since 1970
    that a clock can show, else None (not NaN, not 1e300, not ``true``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e11:
        return None
    return float(value)
