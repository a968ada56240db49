"""The naming rules of SPEC §2 as data, and the strict reading of one name.

What kinds of file there are, which extensions each accepts and with which
Content-Type, the accepted forms in words (for error files), the patterns of an
accepted name, and :func:`parse_strict`, which reads a name exactly as written.
names.py builds parsing (copies, ignored names, errors) on these; name_diagnosis.py
explains the names they refuse. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Kind(StrEnum):
    """What a dropped file is for its asset."""

    VIDEO = "video"
    COVER = "cover"
    SUBTITLE = "subtitle"
    METADATA = "metadata"  # create mode: <title>.yaml / <title>.json, read, never uploaded


# Extension -> Content-Type of the signed PUT (VOD-API.md §8), in the order editors see.
VIDEO_TYPES: Mapping[str, str] = MappingProxyType({
    "mp4": "video/mp4",
    "ts": "video/mp2t",
    "mov": "video/quicktime",
    "mxf": "application/mxf",
    "mpg": "video/mpeg",
    "flv": "video/flv",
    "wmv": "video/x-ms-wmv",
    "avi": "video/x-msvideo",
    "m4v": "video/m4v",
    "f4v": "application/f4v",
    "mpeg": "video/mpeg",
    "3gp": "video/3gpp",
    "asf": "video/x-ms-asf",
    "mkv": "video/x-matroska",
})
# Extension -> (cover_type, Content-Type).
COVER_TYPES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "jpg": ("JPG", "image/jpeg"),
    "jpeg": ("JPG", "image/jpeg"),
    "png": ("PNG", "image/png"),
})
SUBTITLE_TYPES: Mapping[str, str] = MappingProxyType({"srt": "SRT", "vtt": "VTT"})
SUBTITLE_CONTENT_TYPE = "application/octet-stream"
SUBTITLE_IDS = range(1, 17)
DEFAULT_LANGUAGE_MAP: Mapping[str, str] = MappingProxyType({"en": "EN", "zh": "CN", "cn": "CN"})

ACCEPTED_FORMS = (
    "accepted names are <asset_id>.mp4 (or .ts .mov .mxf .mpg .flv .wmv .avi .m4v .f4v "
    ".mpeg .3gp .asf .mkv) for the video, <asset_id>.cover.jpg (or .jpeg .png) for the "
    "thumbnail and <asset_id>.<n>.<lang>.srt (or .vtt) for subtitle n from 1 to 16, "
    "e.g. <asset_id>.1.en.srt, where <asset_id> is the 32-character VOD media asset ID"
)
# The same rules as a short list with examples, one line each, for error files,
# then what every line of that list shares.
ACCEPTED_EXAMPLES = (
    "<asset_id>.mp4 for the video (also .ts .mov .mxf .mpg .flv .wmv .avi .m4v .f4v "
    ".mpeg .3gp .asf .mkv)",
    "<asset_id>.cover.jpg for the thumbnail (also .jpeg .png)",
    "<asset_id>.1.en.srt for subtitle 1 in English (numbers 1 to 16, also .vtt)",
)
ACCEPTED_NOTES = (
    "<asset_id> is the media asset's 32-character ID from the VOD console, for example "
    "0123456789abcdef0123456789abcdef.mp4",
    "Copies such as <asset_id> (2).mp4 or <asset_id> - Copy.mp4 are accepted too",
)
# What a folder set with create_assets: true accepts as well, for its error files.
TITLE_EXAMPLES = (
    "Episode 12.mp4 for a new media asset titled Episode 12 (any title; also the video "
    "types above and audio such as .mp3 .wav .aac .flac)",
    "Episode 12.cover.jpg and Episode 12.1.en.srt for its thumbnail and subtitle 1",
    "Episode 12.yaml or Episode 12.json for its description, category and tags (optional)",
)

FLAGS = re.ASCII | re.IGNORECASE  # ASCII: no Kelvin sign for "k", no Arabic digits
ASSET_ID_PATTERN = r"[0-9a-f]{32}"
_LANG = r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?"
_VIDEO_RE = re.compile(rf"(?P<id>{ASSET_ID_PATTERN})\.(?P<ext>{'|'.join(VIDEO_TYPES)})", FLAGS)
_COVER_RE = re.compile(rf"(?P<id>{ASSET_ID_PATTERN})\.cover\.(?P<ext>jpg|jpeg|png)", FLAGS)
_SUBTITLE_RE = re.compile(
    rf"(?P<id>{ASSET_ID_PATTERN})\.(?P<n>[0-9]{{1,3}})\.(?P<lang>{_LANG})\.(?P<ext>srt|vtt)", FLAGS)
LANG_RE = re.compile(_LANG, FLAGS)
# A create-mode title this much like an asset ID is a mistyped ID: refused, never created.
LIKE_AN_ID = re.compile(r"[0-9a-f]{20,40}", FLAGS)

# ISO 639-2 codes editors use where VOD wants the ISO 639-1 form.
THREE_LETTER = MappingProxyType({
    "eng": "en", "chi": "zh", "zho": "zh", "chs": "zh", "cht": "zh-TW", "fre": "fr",
    "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "jpn": "ja", "kor": "ko",
    "rus": "ru", "por": "pt", "ita": "it", "ara": "ar", "hin": "hi", "tha": "th",
    "vie": "vi", "ind": "id", "msa": "ms", "may": "ms", "dut": "nl", "nld": "nl",
    "tur": "tr", "pol": "pl", "swe": "sv",
})


@dataclass(frozen=True)
class ParsedName:
    """A file name understood: which asset, what kind of file, what VOD calls its type."""

    name: str
    asset_id: str  # lower-case hex
    kind: Kind
    ext: str  # lower-case, without the dot
    file_type: str  # VIDEO "MP4".."MKV"; COVER "JPG"|"PNG"; SUBTITLE "SRT"|"VTT"
    content_type: str  # Content-Type of the signed PUT (VOD-API.md §8)
    subtitle_id: int | None = None
    language: str | None = None  # VOD's code, after the language map
    copy_marker: str = ""  # the copy markers ignored before the extension, e.g. " (2)"
    title: str = ""  # create mode: the title the name carries instead of an asset ID


def language_code(lang: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP) -> str:
    """VOD's code for a language taken from a name: whole tag, then first part, else upper."""
    lowered = {key.lower(): value for key, value in language_map.items()}
    low = lang.lower()
    if low in lowered:
        return lowered[low]
    primary = low.split("-", 1)[0]
    return lowered.get(primary, lang.upper())


def parse_strict(name: str, language_map: Mapping[str, str]) -> ParsedName | None:
    """``name`` read exactly as written (no copy markers taken off); None if no form fits."""
    if match := _VIDEO_RE.fullmatch(name):
        ext = match["ext"].lower()
        return ParsedName(name, match["id"].lower(), Kind.VIDEO, ext, ext.upper(),
                          VIDEO_TYPES[ext])
    if match := _COVER_RE.fullmatch(name):
        ext = match["ext"].lower()
        cover_type, content_type = COVER_TYPES[ext]
        return ParsedName(name, match["id"].lower(), Kind.COVER, ext, cover_type, content_type)
    if match := _SUBTITLE_RE.fullmatch(name):
        number, lang = int(match["n"]), match["lang"]
        if number not in SUBTITLE_IDS or needs_two_letters(lang, language_map):
            return None
        ext = match["ext"].lower()
        return ParsedName(name, match["id"].lower(), Kind.SUBTITLE, ext, SUBTITLE_TYPES[ext],
                          SUBTITLE_CONTENT_TYPE, number, language_code(lang, language_map))
    return None


def needs_two_letters(lang: str, language_map: Mapping[str, str]) -> bool:
    """A three-letter code VOD knows by two letters, and the language map does not name."""
    low = lang.lower()
    mapped = {key.lower() for key in language_map}
    return low in THREE_LETTER and low not in mapped
