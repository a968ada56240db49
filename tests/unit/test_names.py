"""Naming rules (SPEC §2): what is accepted, what is ignored, what an editor is told."""

from __future__ import annotations

import os

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vodwatch.errors import BadName
from vodwatch.finish import numbered_name
from vodwatch.names import (
    ACCEPTED_FORMS,
    COVER_TYPES,
    DEFAULT_LANGUAGE_MAP,
    SUBTITLE_TYPES,
    VIDEO_TYPES,
    Kind,
    ParsedName,
    copy_origins,
    examine,
    is_ignored,
    language_code,
    parse_name,
    without_copy_markers,
)

ID = "0123456789abcdef0123456789abcdef"
UPPER_ID = ID.upper()


def bad(name: str) -> BadName:
    with pytest.raises(BadName) as info:
        parse_name(name)
    return info.value


# ------------------------------------------------------------------ accepted names

@pytest.mark.parametrize(("ext", "file_type", "content_type"), [
    ("mp4", "MP4", "video/mp4"), ("ts", "TS", "video/mp2t"), ("mov", "MOV", "video/quicktime"),
    ("mxf", "MXF", "application/mxf"), ("mpg", "MPG", "video/mpeg"), ("flv", "FLV", "video/flv"),
    ("wmv", "WMV", "video/x-ms-wmv"), ("avi", "AVI", "video/x-msvideo"),
    ("m4v", "M4V", "video/m4v"), ("f4v", "F4V", "application/f4v"),
    ("mpeg", "MPEG", "video/mpeg"), ("3gp", "3GP", "video/3gpp"),
    ("asf", "ASF", "video/x-ms-asf"), ("mkv", "MKV", "video/x-matroska"),
])
def test_every_video_type_is_accepted_with_its_content_type(
        ext: str, file_type: str, content_type: str) -> None:
    """Each video extension of SPEC §2 parses to its upper-case type and §8 Content-Type."""
    parsed = parse_name(f"{ID}.{ext}")
    assert parsed == ParsedName(f"{ID}.{ext}", ID, Kind.VIDEO, ext, file_type, content_type)


def test_video_types_are_exactly_the_update_asset_list() -> None:
    """The accepted video extensions are exactly UpdateAsset's video_type values."""
    assert {ext.upper() for ext in VIDEO_TYPES} == {
        "MP4", "TS", "MOV", "MXF", "MPG", "FLV", "WMV", "AVI", "M4V", "F4V", "MPEG", "3GP",
        "ASF", "MKV"}


def test_extension_and_asset_id_are_case_insensitive() -> None:
    """Upper-case hex and extensions are fine; the asset ID comes out lower-case."""
    parsed = parse_name(f"{UPPER_ID}.MP4")
    assert (parsed.asset_id, parsed.ext, parsed.file_type, parsed.name) == (
        ID, "mp4", "MP4", f"{UPPER_ID}.MP4")


@pytest.mark.parametrize(("name", "cover_type", "content_type"), [
    (f"{ID}.cover.jpg", "JPG", "image/jpeg"),
    (f"{ID}.cover.jpeg", "JPG", "image/jpeg"),
    (f"{ID}.Cover.JPG", "JPG", "image/jpeg"),
    (f"{ID}.cover.png", "PNG", "image/png"),
])
def test_covers_are_jpg_or_png(name: str, cover_type: str, content_type: str) -> None:
    """A cover is `<id>.cover.<jpg|jpeg|png>`, JPG covers are sent as image/jpeg."""
    parsed = parse_name(name)
    assert (parsed.kind, parsed.file_type, parsed.content_type) == (
        Kind.COVER, cover_type, content_type)


@pytest.mark.parametrize(("name", "number", "language", "file_type"), [
    (f"{ID}.1.en.srt", 1, "EN", "SRT"),
    (f"{ID}.16.zh.vtt", 16, "CN", "VTT"),
    (f"{ID}.2.cn.SRT", 2, "CN", "SRT"),
    (f"{ID}.01.EN.srt", 1, "EN", "SRT"),
    (f"{ID}.3.fr.srt", 3, "FR", "SRT"),
    (f"{ID}.4.zh-CN.srt", 4, "CN", "SRT"),
    (f"{ID}.5.en-GB.vtt", 5, "EN", "VTT"),
    (f"{ID}.6.pt-BR.srt", 6, "PT-BR", "SRT"),
    (f"{ID}.7.yue.srt", 7, "YUE", "SRT"),
])
def test_subtitles_carry_number_and_mapped_language(
        name: str, number: int, language: str, file_type: str) -> None:
    """Subtitle number (leading zeros allowed) and language go through the language map."""
    parsed = parse_name(name)
    assert (parsed.kind, parsed.subtitle_id, parsed.language, parsed.file_type,
            parsed.content_type) == (Kind.SUBTITLE, number, language, file_type,
                                     "application/octet-stream")


def test_language_map_is_configurable_and_case_insensitive() -> None:
    """A configured map replaces the defaults, keys match whatever the case."""
    assert parse_name(f"{ID}.1.FR.srt", {"fr": "FRENCH"}).language == "FRENCH"
    assert language_code("zh-TW", {"zh-tw": "TW", "zh": "CN"}) == "TW"
    assert language_code("zh-HK", {"zh-tw": "TW", "zh": "CN"}) == "CN"
    assert language_code("de", DEFAULT_LANGUAGE_MAP) == "DE"


def test_a_mapped_three_letter_code_is_accepted() -> None:
    """`eng` is refused by default but accepted once the map names it."""
    assert parse_name(f"{ID}.1.eng.srt", {"eng": "EN"}).language == "EN"


# ------------------------------------------------------------------ ignored names

@pytest.mark.parametrize("name", [
    ".hidden", ".DS_Store", f"._{ID}.mp4", f".{ID}.mp4.swp", "Thumbs.db", "thumbs.DB",
    "desktop.ini", f"{ID}.mp4.part", f"{ID}.mp4.PART", f"{ID}.mp4.tmp", f"{ID}.mp4.crdownload",
    f"{ID}.mp4.partial", f"{ID}.mp4.filepart", f"{ID}.mp4.aspx", "~$script.docx",
    f"{ID}.mp4.error.txt", f"{ID}.mp4.ERROR.TXT",
])
def test_hidden_and_temporary_names_are_ignored(name: str) -> None:
    """Hidden files, copy tools' temporary names and error files are never touched."""
    assert is_ignored(name)
    assert examine(name) is None


@pytest.mark.parametrize("name", [f"{ID}.mp4", f"{ID}.cover.jpg", "notes.txt", "part.mp4",
                                  f"{ID}.mp4.txt", "tmp"])
def test_ordinary_names_are_not_ignored(name: str) -> None:
    """Names that merely contain a temporary word are still looked at."""
    assert not is_ignored(name)


# ------------------------------------------------------------------ bad names

def test_bad_name_hint_lists_the_accepted_forms() -> None:
    """Every refusal's hint names the accepted forms with examples."""
    err = bad("holiday.mp4")
    assert err.name == "holiday.mp4"
    assert ACCEPTED_FORMS in err.hint
    for form in ("<asset_id>.mp4", "<asset_id>.cover.jpg", "<asset_id>.1.en.srt"):
        assert form in err.hint
    assert err.suggestion is None


@pytest.mark.parametrize(("name", "count"), [(f"{ID[:-1]}.mp4", 31), (f"{ID}0.mp4", 33),
                                             (f"{ID[:8]}.cover.jpg", 8)])
def test_wrong_id_length_says_how_many_characters(name: str, count: int) -> None:
    """An ID of the wrong length is reported with its length against 32, no guess."""
    err = bad(name)
    assert f"{count} characters" in err.message and "32" in err.message
    assert err.suggestion is None


def test_non_hex_character_in_id_is_named() -> None:
    """A 32-character ID with a letter past f says which character is wrong."""
    err = bad(f"{ID[:-1]}g.mp4")
    assert "'g'" in err.message and err.suggestion is None


@pytest.mark.parametrize(("name", "suggestion", "words"), [
    (f"{ID}.1.eng.srt", f"{ID}.1.en.srt", "'en' instead of 'eng'"),
    (f"{ID}.2.chi.vtt", f"{ID}.2.zh.vtt", "'zh'"),
    (f"{ID}.1.english.srt", f"{ID}.1.en.srt", "'en'"),
    (f"{ID}.covr.jpg", f"{ID}.cover.jpg", "'covr'"),
    (f"{ID}.thumb.jpg", f"{ID}.cover.jpg", "'thumb'"),
    (f"{ID}.thumbnail.png", f"{ID}.cover.png", "'thumbnail'"),
    (f"{ID}.poster.jpeg", f"{ID}.cover.jpeg", "'poster'"),
    (f"{ID}.jpg", f"{ID}.cover.jpg", "'.cover'"),
    (f"{ID}.cover.jfif", f"{ID}.cover.jpg", ".jpg"),
    (f"{ID}.1.srt", f"{ID}.1.en.srt", "language code"),
    (f"{ID}.en.srt", f"{ID}.1.en.srt", "number"),
    (f"{ID}.srt", f"{ID}.1.en.srt", "number"),
    (f"{ID}.en.1.srt", f"{ID}.1.en.srt", "number comes before the language"),
    (f"{ID}.0001.en.srt", f"{ID}.1.en.srt", "as 1"),
    (f"{ID} - Copy (2).cover.png", f"{ID}.cover.png", "copy marker"),
    (f"{ID} copy 2.1.en.srt", f"{ID}.1.en.srt", "copy marker"),
    (f"{ID}.mp4 (1)", f"{ID}.mp4", "copy marker"),
    (f" {ID}.mp4 ", f"{ID}.mp4", "spaces"),
    (f"{ID}. 1 .en.srt", f"{ID}.1.en.srt", "spaces"),
    (f"{ID} (1).thumb.jpg", f"{ID}.cover.jpg", "copy marker"),
    (f"Film_{ID}.mp4", f"{ID}.mp4", "extra text"),
    (f"{ID}_final.cover.jpg", f"{ID}.cover.jpg", "extra text"),
    ("01234567-89ab-cdef-0123-456789abcdef.mp4", f"{ID}.mp4", "dashes"),
    (f"{ID}.final.mp4", f"{ID}.mp4", "nothing between"),
    (f"{ID}.qt", f"{ID}.mov", ".mov"),
])
def test_almost_right_names_get_a_corrected_name(name: str, suggestion: str, words: str) -> None:
    """A name that renaming alone would fix gets the fixed name and a telling message."""
    err = bad(name)
    assert err.suggestion == suggestion
    assert words in err.message
    assert err.hint.startswith(f"rename it to {suggestion}")
    parse_name(suggestion)


@pytest.mark.parametrize(("name", "words"), [
    (f"{ID}.0.en.srt", "1 to 16"),
    (f"{ID}.17.en.srt", "1 to 16"),
    (f"{ID}.123456789.en.srt", "1 to 16"),
    (f"{ID}.webm", "WEBM"),
    (f"{ID}.mp3", "MP3"),
    (f"{ID}.1.en.ass", "SRT or VTT"),
    (f"{ID}.1.en.txt", "SRT or VTT"),
    (f"{ID}.cover.gif", "JPG or PNG"),
    (f"{ID}.1.x1.srt", "'x1' is not a language code"),
    (f"{ID}", "no extension"),
    (f"{ID}.", "no extension"),
    (f"{ID}.xyz", "'.xyz'"),
    (f"{ID}.1.en.fr.srt", "number (1 to 16), a language code"),
    ("", "empty"),
    ("   ", "empty"),
    ("holiday.mp4", "does not start with a VOD asset ID"),
    ("copy.mp4", "does not start with a VOD asset ID"),
    (".mp4 ", "does not start with a VOD asset ID"),
    (f"{ID}..", "ends with a dot"),
])
def test_names_that_need_more_than_renaming_get_no_suggestion(name: str, words: str) -> None:
    """Out-of-range numbers and formats that need converting are explained, not renamed."""
    err = bad(name)
    assert err.suggestion is None
    assert words in err.message
    assert err.hint == ACCEPTED_FORMS


def test_str_of_bad_name_is_message_then_hint() -> None:
    """The one-line form is `message (hint)` for logs and the CLI."""
    err = bad(f"{ID}.webm")
    assert str(err) == f"{err.message} ({err.hint})"


# ------------------------------------------------------------------ properties

VIDEO_EXTS = st.sampled_from(sorted(VIDEO_TYPES))
HEX_IDS = st.text("0123456789abcdefABCDEF", min_size=32, max_size=32)
LANGS = st.from_regex(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", fullmatch=True).filter(
    lambda lang: lang.lower() not in {"eng", "chi", "zho", "chs", "cht", "fre", "fra", "ger",
                                      "deu", "spa", "jpn", "kor", "rus", "por", "ita", "ara",
                                      "hin", "tha", "vie", "ind", "msa", "may", "dut", "nld",
                                      "tur", "pol", "swe"})
TOKENS = st.sampled_from([ID, UPPER_ID, ID[:-1], "cover", "covr", "thumb", "en", "eng",
                          "english", "zh-CN", "1", "01", "0", "17", "999999999", "mp4", "MOV",
                          "webm", "srt", "vtt", "ass", "jpg", "png", "gif", " (1)", " - Copy",
                          "", " ", "-", "_", "é", "\x00", "\u0661", "\u212a"])
NEAR_NAMES = st.lists(st.one_of(TOKENS, st.text(max_size=4)), max_size=6).map(".".join)


@given(st.one_of(st.text(), NEAR_NAMES))
@example("\udcff.mp4")  # an undecodable byte in a file name, as os.listdir gives it
@example(f"{ID}.{'1' * 5000}.en.srt")
def test_parse_name_returns_a_name_or_raises_bad_name(name: str) -> None:
    """For any text, parse_name gives a ParsedName or raises BadName, nothing else."""
    try:
        parsed = parse_name(name)
    except BadName as err:
        assert err.name == name
        assert err.message and "\n" not in err.message
        assert ACCEPTED_FORMS in err.hint
        if err.suggestion is not None:
            assert err.suggestion != name
            parse_name(err.suggestion)  # a suggestion is always an accepted name
    else:
        assert parsed.name == name
        assert len(parsed.asset_id) == 32 and parsed.asset_id == parsed.asset_id.lower()


@given(st.one_of(st.text(), NEAR_NAMES))
def test_ignored_names_are_never_reported_as_bad(name: str) -> None:
    """examine() passes over every ignored name without raising."""
    if is_ignored(name):
        assert examine(name) is None


@given(HEX_IDS, VIDEO_EXTS, st.data())
def test_video_names_round_trip(asset_id: str, ext: str, data: st.DataObject) -> None:
    """Any ID and video extension, in any case, parse back to the same fields."""
    name = f"{asset_id}.{ext.upper() if data.draw(st.booleans()) else ext}"
    parsed = parse_name(name)
    assert (parsed.asset_id, parsed.kind, parsed.ext, parsed.file_type) == (
        asset_id.lower(), Kind.VIDEO, ext, ext.upper())
    assert not is_ignored(name)


@given(HEX_IDS, st.sampled_from(sorted(COVER_TYPES)), st.data())
def test_cover_names_round_trip(asset_id: str, ext: str, data: st.DataObject) -> None:
    """Any ID and cover extension, with `cover` in any case, parse back to the same fields."""
    word = data.draw(st.sampled_from(["cover", "COVER", "Cover", "cOvEr"]))
    parsed = parse_name(f"{asset_id}.{word}.{ext}")
    assert (parsed.asset_id, parsed.kind, parsed.file_type) == (
        asset_id.lower(), Kind.COVER, COVER_TYPES[ext][0])


@given(HEX_IDS, st.integers(1, 16), st.booleans(), LANGS,
       st.sampled_from(sorted(SUBTITLE_TYPES)))
def test_subtitle_names_round_trip(asset_id: str, number: int, padded: bool, lang: str,
                                   ext: str) -> None:
    """Any ID, number 1-16 (padded or not), language and type parse back the same."""
    digits = f"{number:02d}" if padded else str(number)
    name = f"{asset_id}.{digits}.{lang}.{ext}"
    parsed = parse_name(name)
    assert (parsed.asset_id, parsed.kind, parsed.subtitle_id, parsed.language,
            parsed.file_type) == (asset_id.lower(), Kind.SUBTITLE, number,
                                  language_code(lang), SUBTITLE_TYPES[ext])
    assert not is_ignored(name)


# ------------------------------------------------------------------ copies

@pytest.mark.parametrize(("name", "kind", "number", "marker"), [
    (f"{ID} (2).mp4", Kind.VIDEO, None, " (2)"),
    (f"{ID} - Copy.mp4", Kind.VIDEO, None, " - Copy"),
    (f"{ID} - Copy (2).MOV", Kind.VIDEO, None, " - Copy (2)"),
    (f"{ID} copy.mp4", Kind.VIDEO, None, " copy"),
    (f"{ID} copy 2.mp4", Kind.VIDEO, None, " copy 2"),
    (f"{ID} 2.mp4", Kind.VIDEO, None, " 2"),
    (f"{ID} (1) (1).mp4", Kind.VIDEO, None, " (1) (1)"),
    (f"{ID}-2.mp4", Kind.VIDEO, None, "-2"),
    (f"{ID}.cover (1).jpg", Kind.COVER, None, " (1)"),
    (f"{ID}.cover - Copy.png", Kind.COVER, None, " - Copy"),
    (f"{ID}.1.en (2).srt", Kind.SUBTITLE, 1, " (2)"),
    (f"{ID}.16.zh-CN copy 3.vtt", Kind.SUBTITLE, 16, " copy 3"),
])
def test_copy_markers_before_the_extension_are_ignored(name: str, kind: Kind,
                                                        number: int | None, marker: str) -> None:
    """Windows, macOS and browser copies are the same asset and slot; the name stays as is."""
    parsed = parse_name(name)
    assert (parsed.asset_id, parsed.kind, parsed.subtitle_id, parsed.copy_marker) == (
        ID, kind, number, marker)
    assert parsed.name == name
    assert not is_ignored(name)


def test_a_name_accepted_as_it_is_is_never_cut() -> None:
    """A region tag that looks like a marker stays part of the language."""
    assert parse_name(f"{ID}.1.es-419.srt").language == "ES-419"
    assert parse_name(f"{ID}.1.es-419.srt").copy_marker == ""


@pytest.mark.parametrize("name", ["Episode 12.mp4", "Episode (2).mp4", "clip - Copy.mp4",
                                  f"{ID[:-1]} (2).mp4", f"{ID}.17.en (2).srt",
                                  f"{ID}.webm (2)", f"{ID} (2).webm", " (2).mp4"])
def test_markers_are_taken_off_only_to_reveal_an_accepted_name(name: str) -> None:
    """Titles without an asset ID keep their numbers; a bad name stays bad when copied."""
    bad(name)


COPY_MARKERS = st.sampled_from([" - Copy", " - Copy ({n})", " ({n})", " copy", " copy {n}",
                                " {n}", " - copy", " COPY"])


def valid_names() -> st.SearchStrategy[str]:
    video = st.builds(lambda i, e: f"{i}.{e}", HEX_IDS,
                      VIDEO_EXTS.flatmap(lambda e: st.sampled_from([e, e.upper()])))
    cover = st.builds(lambda i, w, e: f"{i}.{w}.{e}", HEX_IDS,
                      st.sampled_from(["cover", "COVER", "Cover"]),
                      st.sampled_from(["jpg", "jpeg", "png", "JPG"]))
    subtitle = st.builds(lambda i, n, p, lang, e: f"{i}.{n:02d}.{lang}.{e}" if p
                         else f"{i}.{n}.{lang}.{e}",
                         HEX_IDS, st.integers(1, 16), st.booleans(), LANGS,
                         st.sampled_from(["srt", "vtt", "SRT"]))
    return st.one_of(video, cover, subtitle)


def same_slot(one: ParsedName, two: ParsedName) -> bool:
    return (one.asset_id, one.kind, one.subtitle_id, one.language) == (
        two.asset_id, two.kind, two.subtitle_id, two.language)


@given(valid_names(), st.integers(2, 10**6), st.lists(st.tuples(COPY_MARKERS,
                                                                st.integers(1, 99)), max_size=3))
@example(f"{ID}.1.en-22.srt", 2, [])
def test_every_name_vodwatch_gives_parses_back(name: str, n: int,
                                               markers: list[tuple[str, int]]) -> None:
    """Any valid name, copied by any OS any number of times and numbered by unique_target,
    parses back to the same asset, kind, subtitle number and language."""
    original = parse_name(name)
    copied = name
    for marker, k in markers:
        stem, _, ext = copied.rpartition(".")
        copied = f"{stem}{marker.format(n=k)}.{ext}"
        assert same_slot(parse_name(copied), original), copied
    for candidate in (copied, numbered_name(copied, n), numbered_name(name, n)):
        parsed = parse_name(candidate)
        assert parsed.name == candidate
        assert same_slot(parsed, original), candidate


@given(valid_names(), st.integers(2, 10**6),
       st.lists(st.tuples(COPY_MARKERS, st.integers(1, 10**6)), min_size=1, max_size=80))
@example(f"{ID}.mp4", 2, [(" ({n})", 2)] * 54)  # 252 bytes: ' (2)' must not be cut in half
@example(f"{ID}.1.en.srt", 10**6, [(" - Copy ({n})", 999)] * 14)
def test_a_long_copy_name_vodwatch_numbers_stays_within_255_bytes_and_parses_back(
        name: str, n: int, markers: list[tuple[str, int]]) -> None:
    """A copy name near or past 255 bytes, numbered by unique_target, is at most 255 bytes
    and parses back to the same slot: the stem is shortened by whole copy markers, never
    cut through one."""
    original = parse_name(name)
    stem, _, ext = name.rpartition(".")
    for marker, k in markers:
        longer = f"{stem}{marker.format(n=k)}"
        if len(os.fsencode(f"{longer}.{ext}")) > 255:
            break
        stem = longer
    copied = f"{stem}.{ext}"
    numbered = numbered_name(copied, n)
    assert len(os.fsencode(numbered)) <= 255
    assert numbered.endswith(f" ({n}).{ext}")
    parsed = parse_name(numbered)
    assert parsed.name == numbered
    assert same_slot(parsed, original), numbered


@pytest.mark.parametrize(("name", "origins"), [
    (f"{ID} (2) - Copy.mp4", [f"{ID} (2).mp4", f"{ID}.mp4"]),
    (f"{ID}.cover copy 2.jpg", [f"{ID}.cover copy.jpg", f"{ID}.cover.jpg"]),
    (f"{ID}.mp4", []),
    ("Episode 12.mp4", []),
    ("notes (2).doc", []),
])
def test_copy_origins_are_the_names_a_copy_was_made_from(name: str, origins: list[str]) -> None:
    """Markers come off one at a time, down to the accepted name; titles and refused names
    have none."""
    assert copy_origins(name) == origins
    assert without_copy_markers(name) == (origins[-1] if origins else name)
