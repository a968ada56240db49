"""What a file is, from its name alone: the one home of every naming rule (SPEC §2).

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
- ``finish.unique_target`` names a second file `` (2)`` before the extension (the
  Windows form), so every name vodwatch gives a file in done/ or failed/ parses
  back to the same asset, kind, subtitle number and language.
- ``ParsedName.name`` is the name **as it is** (``<id> (2).mp4``): it is what VOD
  shows as the video or subtitle name, the key that pairs VOD's upload URLs with the
  files of a request, and the name in logs. ``ParsedName.copy_marker`` holds what
  was ignored (`` (2)``), ``""`` for a clean name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

from vodwatch.errors import BadName


class Kind(StrEnum):
    """What a dropped file is for its asset."""

    VIDEO = "video"
    COVER = "cover"
    SUBTITLE = "subtitle"


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

_FLAGS = re.ASCII | re.IGNORECASE  # ASCII: no Kelvin sign for "k", no Arabic digits
_ID = r"[0-9a-f]{32}"
_LANG = r"[a-z]{2,3}(?:-[a-z0-9]{2,8})?"
_VIDEO_RE = re.compile(rf"(?P<id>{_ID})\.(?P<ext>{'|'.join(VIDEO_TYPES)})", _FLAGS)
_COVER_RE = re.compile(rf"(?P<id>{_ID})\.cover\.(?P<ext>jpg|jpeg|png)", _FLAGS)
_SUBTITLE_RE = re.compile(
    rf"(?P<id>{_ID})\.(?P<n>[0-9]{{1,3}})\.(?P<lang>{_LANG})\.(?P<ext>srt|vtt)", _FLAGS)
_LANG_RE = re.compile(_LANG, _FLAGS)
_HEX_RUN_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", _FLAGS)
_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
# One copy marker at the end of a name's stem (the part before the last extension).
_MARKER_RE = re.compile(r"(?: - copy| copy| \([0-9]{1,9}\)| [0-9]{1,9}|-[0-9]{1,9})$",
                        re.ASCII | re.IGNORECASE)

# vodwatch's own error files, written beside failed files as <name>.error.txt.
ERROR_SUFFIX = ".error.txt"

_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_IGNORED_SUFFIXES = (".part", ".tmp", ".temp", ".crdownload", ".partial", ".filepart",
                     ".aspx", ".!sync", ERROR_SUFFIX)

# ISO 639-2 codes editors use where VOD wants the ISO 639-1 form.
_THREE_LETTER = MappingProxyType({
    "eng": "en", "chi": "zh", "zho": "zh", "chs": "zh", "cht": "zh-TW", "fre": "fr",
    "fra": "fr", "ger": "de", "deu": "de", "spa": "es", "jpn": "ja", "kor": "ko",
    "rus": "ru", "por": "pt", "ita": "it", "ara": "ar", "hin": "hi", "tha": "th",
    "vie": "vi", "ind": "id", "msa": "ms", "may": "ms", "dut": "nl", "nld": "nl",
    "tur": "tr", "pol": "pl", "swe": "sv",
})
_LANGUAGE_WORDS = MappingProxyType({
    "english": "en", "chinese": "zh", "mandarin": "zh", "french": "fr", "german": "de",
    "spanish": "es", "japanese": "ja", "korean": "ko", "russian": "ru",
    "portuguese": "pt", "italian": "it", "arabic": "ar",
})
_COVER_WORDS = frozenset({"thumb", "thumbs", "thumbnail", "thumbnails", "poster", "image",
                          "img", "still", "frame", "preview", "artwork", "picture", "pic"})
_IMAGE_ALIASES = MappingProxyType({"jfif": "jpg", "jpe": "jpg"})  # JPEG under other names
_OTHER_IMAGES = frozenset({"gif", "webp", "bmp", "tif", "tiff", "heic", "heif", "avif", "svg"})
_VIDEO_ALIASES = MappingProxyType({"qt": "mov"})  # same container, other extension
_OTHER_VIDEOS = frozenset({"webm", "m2ts", "mts", "vob", "rm", "rmvb", "ogv", "divx", "dv",
                           "m2v", "h264", "h265", "hevc", "264", "265", "y4m", "hls", "m3u8"})
_AUDIO = frozenset({"mp3", "wav", "m4a", "aac", "ogg", "oga", "opus", "flac", "wma", "ape",
                    "ac3", "aif", "aiff", "amr", "mp2", "wv", "m4r", "mmf"})
_OTHER_SUBTITLES = frozenset({"ass", "ssa", "sub", "txt", "ttml", "dfxp", "sbv", "smi", "sami",
                              "stl", "scc", "idx", "sup", "lrc", "xml", "srv3", "json"})
# Copies made by Windows ("x - Copy (2)"), macOS ("x copy 2") and browsers ("x (1)").
_COPY_MARKER_RE = re.compile(r"\s*(?:-\s*)?\bcopy\b(?:\s*\(?\d+\)?)?|\s*\(\d+\)", re.IGNORECASE)


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


def is_ignored(name: str) -> bool:
    """True for hidden files and names that copy tools and editors use while writing."""
    low = name.lower()
    return (name.startswith((".", "~$")) or low in _IGNORED_NAMES
            or low.endswith(_IGNORED_SUFFIXES))


def language_code(lang: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP) -> str:
    """VOD's code for a language taken from a name: whole tag, then first part, else upper."""
    lowered = {key.lower(): value for key, value in language_map.items()}
    low = lang.lower()
    if low in lowered:
        return lowered[low]
    primary = low.split("-", 1)[0]
    return lowered.get(primary, lang.upper())


def parse_name(name: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP) -> ParsedName:
    """Understand ``name`` (a base name, not a path).

    Raises ``BadName`` when no rule accepts it; its ``hint`` lists the accepted forms
    and ``suggestion`` is a corrected name when renaming alone would fix it.
    """
    parsed = _parse_strict(name, language_map)
    if parsed is not None:
        return parsed
    parsed = _parse_copy(name, language_map)
    if parsed is not None:
        return parsed
    message, suggestion = _diagnose(name, language_map)
    if suggestion is not None and (suggestion == name
                                   or _parse_strict(suggestion, language_map) is None):
        suggestion = None  # only ever offer a name that is accepted
    hint = (f"rename it to {suggestion} and put it back in the inbox; {ACCEPTED_FORMS}"
            if suggestion else ACCEPTED_FORMS)
    raise BadName(name, message, hint, suggestion)


def examine(name: str, language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP,
            ) -> ParsedName | None:
    """``None`` for an ignored name, else ``parse_name(name)`` (which may raise BadName)."""
    if is_ignored(name):
        return None
    return parse_name(name, language_map)


def _parse_strict(name: str, language_map: Mapping[str, str]) -> ParsedName | None:
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
        if number not in SUBTITLE_IDS or _needs_two_letters(lang, language_map):
            return None
        ext = match["ext"].lower()
        return ParsedName(name, match["id"].lower(), Kind.SUBTITLE, ext, SUBTITLE_TYPES[ext],
                          SUBTITLE_CONTENT_TYPE, number, language_code(lang, language_map))
    return None


def _parse_copy(name: str, language_map: Mapping[str, str]) -> ParsedName | None:
    """A copy of an accepted name: markers off one at a time from the end of the stem."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return None
    base = stem
    while (match := _MARKER_RE.search(base)) is not None and match.start() > 0:
        base = base[:match.start()]
        parsed = _parse_strict(f"{base}.{ext}", language_map)
        if parsed is not None:
            return replace(parsed, name=name, copy_marker=stem[len(base):])
    return None


def _needs_two_letters(lang: str, language_map: Mapping[str, str]) -> bool:
    low = lang.lower()
    mapped = {key.lower() for key in language_map}
    return low in _THREE_LETTER and low not in mapped


# ---------------------------------------------------------------- diagnosis of bad names

def _diagnose(name: str, language_map: Mapping[str, str]) -> tuple[str, str | None]:
    """One sentence saying what is wrong, and a corrected name if one can be guessed."""
    if not name.strip():
        return "The file name is empty or only spaces", None
    cleaned = "".join(_COPY_MARKER_RE.sub("", name).split())
    if not cleaned or cleaned.startswith("."):  # the "copy" was all there was before the dot
        cleaned = "".join(name.split())
    tidy_problem = None
    if cleaned != name:
        tidy_problem = "The name has spaces or a copy marker such as '(1)' or '- Copy'"
        if _parse_strict(cleaned, language_map) is not None:
            return tidy_problem, cleaned
    head, _, rest = cleaned.partition(".")
    *middle, ext = rest.split(".")
    if not middle and not ext:
        return ("The name has no extension, so vodwatch cannot tell whether it is a video, "
                "a thumbnail or a subtitle"), None
    asset_id, id_problem = _fix_id(head)
    if asset_id is None:
        return id_problem or "The name does not start with a VOD asset ID", None
    type_problem, tail = _fix_type(middle, ext, language_map)
    problem = id_problem or tidy_problem or type_problem
    if problem is None:  # defensive: every path above names a problem
        problem = "The name does not follow the naming rules"
    return problem, (f"{asset_id}.{tail}" if tail is not None else None)


def _fix_id(head: str) -> tuple[str | None, str | None]:
    """(asset ID to use or None, the problem with it or None when it is fine)."""
    if re.fullmatch(_ID, head, _FLAGS):
        return head, None
    squeezed = re.sub(r"[-_{}]", "", head)
    if re.fullmatch(_ID, squeezed, _FLAGS):
        return squeezed, ("The asset ID contains dashes or braces; VOD asset IDs are 32 "
                          "hexadecimal characters with nothing between them")
    runs = _HEX_RUN_RE.findall(head)
    if len(runs) == 1:
        return runs[0], "The name has extra text around the asset ID"
    if re.fullmatch(r"[0-9a-f]+", head, _FLAGS):
        return None, (f"The asset ID in the name has {len(head)} characters, "
                      "but VOD asset IDs have 32")
    if len(head) == 32:
        bad = next(ch for ch in head if ch not in "0123456789abcdefABCDEF")
        return None, (f"The asset ID in the name contains '{bad}', which is not a "
                      "hexadecimal digit (0-9, a-f)")
    return None, ("The name does not start with a VOD asset ID (32 hexadecimal characters, "
                  "as shown in the VOD console)")


def _fix_type(middle: list[str], ext: str,
              language_map: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(problem or None, corrected part after the asset ID or None) for the type words."""
    low = ext.lower()
    if low in VIDEO_TYPES or low in _VIDEO_ALIASES:
        fixed_ext = _VIDEO_ALIASES.get(low, ext)
        if low in _VIDEO_ALIASES:
            return (f"vodwatch takes this video format as .{fixed_ext}, not .{ext}"), fixed_ext
        if middle:
            return ("A video's name is just the asset ID and the extension, with nothing "
                    "between them"), ext
        return None, ext
    if low in COVER_TYPES or low in _IMAGE_ALIASES:
        return _fix_cover(middle, _IMAGE_ALIASES.get(low, ext), aliased=low in _IMAGE_ALIASES)
    if low in SUBTITLE_TYPES:
        return _fix_subtitle(middle, ext, language_map)
    if low in _OTHER_VIDEOS:
        return (f"VOD cannot take a {low.upper()} file as an asset's video; convert it to MP4 "
                "or another accepted video type"), None
    if low in _AUDIO:
        return (f"VOD cannot take an audio-only {low.upper()} file as an asset's video; "
                "upload a video file"), None
    if low in _OTHER_IMAGES:
        return (f"VOD accepts thumbnails only as JPG or PNG; convert the {low.upper()} "
                "image"), None
    if low in _OTHER_SUBTITLES:
        return (f"VOD accepts subtitles only as SRT or VTT; convert the {low.upper()} "
                "file"), None
    if not ext:
        return "The name ends with a dot instead of an extension", None
    return f"vodwatch does not know what a '.{ext}' file is", None


def _fix_cover(middle: list[str], ext: str, *, aliased: bool) -> tuple[str | None, str | None]:
    fixed = f"cover.{ext}"
    if [word.lower() for word in middle] == ["cover"]:
        return ("vodwatch takes JPEG thumbnails as .jpg or .jpeg" if aliased else None), fixed
    if not middle:
        return "A thumbnail's name needs '.cover' before the extension", fixed
    word = middle[0].lower()
    if len(middle) == 1 and (word in _COVER_WORDS
                             or difflib.get_close_matches(word, ["cover"], cutoff=0.6)):
        return f"A thumbnail's name says 'cover', not '{middle[0]}', before the extension", fixed
    return "A thumbnail's name is the asset ID, '.cover' and the extension", fixed


def _fix_subtitle(middle: list[str], ext: str,
                  language_map: Mapping[str, str]) -> tuple[str | None, str | None]:
    numbers = [word for word in middle if _DIGITS_RE.fullmatch(word)]
    words = [word for word in middle if not _DIGITS_RE.fullmatch(word)]
    if len(numbers) > 1 or len(words) > 1:
        return ("A subtitle's name is the asset ID, its number (1 to 16), a language code "
                "and the extension"), None
    number: int | None = None
    if numbers:
        digits = numbers[0]
        number = int(digits) if len(digits) <= 6 else 0  # int() of huge strings is refused
        if number not in SUBTITLE_IDS:
            return (f"Subtitle number {digits} is out of range; VOD numbers subtitles "
                    "from 1 to 16"), None
    lang: str | None = None
    lang_problem: str | None = None
    if words:
        lang, lang_problem = _fix_language(words[0], language_map)
        if lang is None:
            return lang_problem, None
    problem: str | None
    if number is None and lang is None:
        problem = "A subtitle's name needs a number (1 to 16) and a language code, such as .1.en"
    elif number is None:
        problem = "A subtitle's name needs its number (1 to 16) before the language"
    elif lang is None:
        problem = "A subtitle's name needs a language code such as en or zh after its number"
    elif middle[0] == words[0]:
        problem = "In a subtitle's name the number comes before the language"
    elif lang_problem is None and len(numbers[0]) > 3:
        problem = f"Write the subtitle number {numbers[0]} as {number}"
    else:
        problem = lang_problem
    return problem, f"{number or 1}.{lang or 'en'}.{ext}"


def _fix_language(word: str, language_map: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(language to use or None, problem or None)."""
    low = word.lower()
    if low in _THREE_LETTER and not _needs_two_letters(word, language_map):
        return word, None
    if low in _THREE_LETTER:
        two = _THREE_LETTER[low]
        return two, f"Use the two-letter language code '{two}' instead of '{word}'"
    if _LANG_RE.fullmatch(word):
        return word, None
    if low in _LANGUAGE_WORDS:
        two = _LANGUAGE_WORDS[low]
        return two, f"Use the language code '{two}' instead of the word '{word}'"
    return None, f"'{word}' is not a language code such as en or zh"
