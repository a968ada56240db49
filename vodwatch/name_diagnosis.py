"""Bad names explained: what is wrong with a name no rule accepts, in one sentence
an editor understands, and a corrected name when renaming alone would fix it
(spaces, copy markers, dashes in the ID, a word for a language, .jpeg as .jfif...).
Pure; names.parse_name puts the result in its BadName.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

from .name_rules import (
    ASSET_ID_PATTERN,
    COVER_TYPES,
    FLAGS,
    LANG_RE,
    LIKE_AN_ID,
    SUBTITLE_IDS,
    SUBTITLE_TYPES,
    THREE_LETTER,
    VIDEO_TYPES,
    needs_two_letters,
    parse_strict,
)

_HEX_RUN_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", FLAGS)
_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
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


def diagnose(name: str, language_map: Mapping[str, str]) -> tuple[str, str | None]:
    """One sentence saying what is wrong, and a corrected name if one can be guessed."""
    if not name.strip():
        return "The file name is empty or only spaces", None
    cleaned = "".join(_COPY_MARKER_RE.sub("", name).split())
    if not cleaned or cleaned.startswith("."):  # the "copy" was all there was before the dot
        cleaned = "".join(name.split())
    tidy_problem = None
    if cleaned != name:
        tidy_problem = "The name has spaces or a copy marker such as '(1)' or '- Copy'"
        if parse_strict(cleaned, language_map) is not None:
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


def diagnose_title(name: str, language_map: Mapping[str, str]) -> tuple[str, str | None]:
    """As :func:`diagnose`, for a folder set that creates assets from titles.

    The corrected name it offers keeps the title as written; the caller offers it only
    if it is accepted.
    """
    head = name.partition(".")[0]
    if not name.strip() or LIKE_AN_ID.fullmatch(head.strip()) or _HEX_RUN_RE.search(head):
        return diagnose(name, language_map)  # meant as an asset ID: say what is wrong with it
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return ("The name has no extension, so vodwatch cannot tell whether it is a video, "
                "a thumbnail or a subtitle"), None
    if not stem.strip() or stem.startswith("."):
        return "The name needs a title before the extension", None
    if any(unicodedata.category(c) == "Cc" for c in stem):
        return ("The title contains a control character (such as a tab or a line break); "
                "rename the file without it"), None
    words = stem.split(".")
    low = ext.lower()
    if low in SUBTITLE_TYPES:
        tail = _subtitle_tail(words)
        title = ".".join(words[:len(words) - len(tail)])
        problem, fixed = _fix_subtitle(tail, ext, language_map)
        problem = (problem or "The name does not follow the naming rules").replace(
            "the asset ID", "the title")
        return problem, f"{title}.{fixed}" if fixed is not None and title.strip() else None
    if low in COVER_TYPES or low in _IMAGE_ALIASES:
        marked = len(words) > 1 and (words[-1].lower() in _COVER_WORDS
                                     or words[-1].lower() == "cover")
        title = ".".join(words[:-1]) if marked else stem
        if not title.strip():
            return "A thumbnail's name needs a title before '.cover'", None
        problem, fixed = _fix_cover(words[-1:] if marked else [],
                                    _IMAGE_ALIASES.get(low, ext), aliased=low in _IMAGE_ALIASES)
        return problem or "The name does not follow the naming rules", f"{title}.{fixed}"
    if low in _VIDEO_ALIASES:
        fixed_ext = _VIDEO_ALIASES[low]
        return (f"vodwatch takes this video format as .{fixed_ext}, not .{ext}",
                f"{stem}.{fixed_ext}")
    problem, _ = _fix_type([], ext, language_map)
    if low in _AUDIO:  # audio VOD does not take (create mode takes the others)
        problem = f"VOD cannot take {low.upper()} audio; convert it to MP3 or WAV"
    return problem or "The name does not follow the naming rules", None


def _subtitle_tail(words: list[str]) -> list[str]:
    """The words after a subtitle's title (number, language): a number in the place of
    the subtitle number takes the word after it as the language, whatever that word is
    (``Show.1.xyzw`` -> ``1``, ``xyzw``), so the title is never cut elsewhere."""
    if len(words) >= 3 and _DIGITS_RE.fullmatch(words[-2]):
        return words[-2:]
    tail: list[str] = []
    for word in reversed(words[1:]):
        if len(tail) == 2 or not (_DIGITS_RE.fullmatch(word) or LANG_RE.fullmatch(word)
                                  or word.lower() in _LANGUAGE_WORDS):
            break
        tail.insert(0, word)
    return tail


def _fix_id(head: str) -> tuple[str | None, str | None]:
    """(asset ID to use or None, the problem with it or None when it is fine)."""
    if re.fullmatch(ASSET_ID_PATTERN, head, FLAGS):
        return head, None
    squeezed = re.sub(r"[-_{}]", "", head)
    if re.fullmatch(ASSET_ID_PATTERN, squeezed, FLAGS):
        return squeezed, ("The asset ID contains dashes or braces; VOD asset IDs are 32 "
                          "hexadecimal characters with nothing between them")
    runs = _HEX_RUN_RE.findall(head)
    if len(runs) == 1:
        return runs[0], "The name has extra text around the asset ID"
    if re.fullmatch(r"[0-9a-f]+", head, FLAGS):
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
    if low in THREE_LETTER and not needs_two_letters(word, language_map):
        return word, None
    if low in THREE_LETTER:
        two = THREE_LETTER[low]
        return two, f"Use the two-letter language code '{two}' instead of '{word}'"
    if LANG_RE.fullmatch(word):
        return word, None
    if low in _LANGUAGE_WORDS:
        two = _LANGUAGE_WORDS[low]
        return two, f"Use the language code '{two}' instead of the word '{word}'"
    return None, f"'{word}' is not a language code such as en or zh"
