"""Create mode's names, titles and metadata (vodwatch.titles, vodwatch.asset_meta). Pure."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vodwatch.asset_meta import MetaProblem, check_meta, create_request, read_sidecar
from vodwatch.errors import BadName
from vodwatch.finish import NAME_MAX, numbered_name
from vodwatch.group import ReadyFile, plan_jobs
from vodwatch.names import Kind, parse_name
from vodwatch.titles import (
    all_mappings,
    digest,
    job_lock,
    known_title,
    shorten,
    write_mapping,
)


def test_titles_only_in_create_mode() -> None:
    with pytest.raises(BadName):
        parse_name("Episode 12.mp4")
    parsed = parse_name("Episode 12.mp4", create=True)
    assert (parsed.title, parsed.kind, parsed.asset_id) == ("Episode 12", Kind.VIDEO, "")
    assert parse_name("Episode 12.2.fr.srt", create=True).subtitle_id == 2
    assert parse_name("Episode 12.cover.png", create=True).kind is Kind.COVER
    assert parse_name("Episode 12.yaml", create=True).kind is Kind.METADATA
    assert parse_name("song.m4a", create=True).content_type == "audio/m4a"
    aid = "0123456789abcdef0123456789abcdef"
    assert parse_name(f"{aid} (2).mp4", create=True).asset_id == aid  # IDs win


def test_a_mistyped_asset_id_never_creates() -> None:
    with pytest.raises(BadName):
        parse_name("0123456789abcdef0123456789abcde.mp4", create=True)


def test_files_of_one_title_are_one_batch() -> None:
    names = ["B.mp4", "A.cover.jpg", "A.mp4", "A.1.en.srt", "A.yaml"]
    batches = plan_jobs([parse_name(n, create=True) for n in names])
    assert [[p.name for p in b] for b in batches] == [
        ["A.mp4", "A.cover.jpg", "A.1.en.srt", "A.yaml"], ["B.mp4"]]


def test_shorten_cuts_at_a_character_boundary() -> None:
    assert shorten("é" * 100) == "é" * 64
    assert shorten("é" * 100 + ".mp4", keep_suffix=".mp4") == "é" * 62 + ".mp4"
    assert shorten("short") == "short"


def test_lock_and_digest_ignore_unicode_form() -> None:
    assert digest("Caf\u00e9") == digest("Cafe\u0301")
    assert job_lock("", "Café").startswith("title-") and job_lock("abc", None) == "abc"


@pytest.mark.parametrize(("raw", "key"), [
    ({"tags": ["x" * 17]}, "tags"), ({"category_id": "news"}, "category_id"),
    ({"auto_publish": "yes"}, "auto_publish"), ({"colour": 1}, "colour"),
    ({"description": "d" * 1025}, "description"), ({"tags": ["t"] * 16}, "tags"),
])
def test_bad_metadata_names_its_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(MetaProblem) as caught:
        check_meta(raw)
    assert caught.value.key == key and caught.value.fix


def test_sidecar_syntax_error_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("tags: [unclosed\n")
    with pytest.raises(MetaProblem):
        read_sidecar(path)


def test_create_request_carries_the_token_among_the_tags(tmp_path: Path) -> None:
    video = ReadyFile(parse_name("A.mp4", create=True), tmp_path / "A.mp4", 10, "m==")
    body = create_request("A", [video], {"tags": ["news"], "auto_publish": 1}, "vw0123456789ab")
    assert body == {"title": "A", "video_name": "A.mp4", "video_type": "MP4",
                    "video_md5": "m==", "tags": "news,vw0123456789ab", "auto_publish": 1}


@pytest.mark.parametrize(("name", "words", "suggestion"), [
    ("Episode 12.webm", "convert it to MP4", None),
    ("Ep.1.english.srt", "'en' instead of the word 'english'", "Ep.1.en.srt"),
    ("Ep.english.1.srt", "the number comes before the language", "Ep.1.en.srt"),
    ("My.Film.poster.jpg", "not 'poster'", "My.Film.cover.jpg"),
    ("Ep.cover.jfif", "JPEG thumbnails as .jpg", "Ep.cover.jpg"),
    ("Ep.qt", "as .mov, not .qt", "Ep.mov"),
    ("Ep.opus", "OPUS audio", None),
    ("Ep.99.en.srt", "out of range", None),
    ("0123456789abcdef0123456789abcde.mp4", "has 31 characters", None),
])
def test_a_refused_title_name_is_explained_as_a_title(name: str, words: str,
                                                      suggestion: str | None) -> None:
    """Create mode explains what is wrong with the title form, never 'no asset ID', and
    offers only a corrected name that it accepts."""
    with pytest.raises(BadName) as caught:
        parse_name(name, create=True)
    assert words in caught.value.message and "does not start with" not in caught.value.message
    assert caught.value.suggestion == suggestion
    if suggestion is not None:
        assert parse_name(suggestion, create=True).asset_id == ""


# -- names vodwatch gives a second copy (finish.numbered_name) come back as they are --------

TITLES = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\0"),
                 min_size=1, max_size=40).filter(lambda t: t.strip() != "")


@given(TITLES, st.integers(2, 10**6), st.integers(0, 2))
@example("Episode 12", 2, 0)
@example("Episode 12 (3)", 2, 1)
@example("A.cover", 7, 0)
def test_numbered_cover_and_subtitle_parse_back_to_the_same_title_and_slot(
        title: str, n: int, repeat: int) -> None:
    """`<title>.cover (N).jpg` and `<title>.<n>.<lang> (N).srt` — also numbered again —
    are the same title, kind and slot as the name vodwatch numbered."""
    for name in (f"{title}.cover.jpg", f"{title}.1.en.srt", f"{title}.16.pt-BR.vtt"):
        try:
            first = parse_name(name, create=True)
        except BadName:
            continue  # a title refused in the first place (e.g. like an asset ID)
        if first.asset_id:
            continue  # an asset ID name: names.py's copy rules (tests/unit/test_names.py)
        numbered = name
        for extra in range(repeat + 1):
            numbered = numbered_name(numbered, n + extra)
        if len(numbered.encode()) >= NAME_MAX:
            continue  # numbered_name cut the stem itself
        again = parse_name(numbered, create=True)
        assert (again.title, again.kind, again.subtitle_id, again.language, again.ext) == (
            first.title, first.kind, first.subtitle_id, first.language, first.ext)
        assert again.name == numbered and again.copy_marker


def test_numbered_video_belongs_to_a_known_title_only(tmp_path: Path) -> None:
    """`Episode 12 (2).mp4` is Episode 12's when the map knows Episode 12 and not
    Episode 12 (2); a title the map does not know keeps its numbers."""
    assert parse_name("Episode 12 (2).mp4", create=True).title == "Episode 12 (2)"
    (tmp_path / ".vodwatch").mkdir()
    assert known_title(tmp_path, "Episode 12 (2)") == "Episode 12 (2)"  # nothing known
    write_mapping(tmp_path, "Episode 12", token="vw000000000001", asset_id="a" * 32)
    assert known_title(tmp_path, "Episode 12 (2)") == "Episode 12"
    assert known_title(tmp_path, "Episode 12 (2) (3)") == "Episode 12"
    assert known_title(tmp_path, "Episode 12") == "Episode 12"
    assert known_title(tmp_path, "Episode 1") == "Episode 1"  # no copy marker cut
    assert known_title(tmp_path, "Episode 12 2") == "Episode 12 2"  # only vodwatch's (N)
    assert known_title(tmp_path, " (2)") == " (2)"
    write_mapping(tmp_path, "Episode 12 (2)", token="vw000000000002")
    assert known_title(tmp_path, "Episode 12 (2)") == "Episode 12 (2)"  # its own title
    assert known_title(tmp_path, "Episode 12 (2) (3)") == "Episode 12 (2)"


def test_refused_subtitle_language_with_a_number_is_still_refused() -> None:
    """The `` (N)`` after a language is a marker, never part of the language."""
    with pytest.raises(BadName):
        parse_name("Ep.1.english (2).srt", create=True)
    with pytest.raises(BadName):
        parse_name("Ep.1. (2).srt", create=True)


def test_all_mappings_reads_only_the_latest_and_skips_broken_ones(tmp_path: Path) -> None:
    """The status page reads the entries written last, newest asked first; a broken entry
    is left out, and a share without a title map has none."""
    assert all_mappings(tmp_path) == []
    (tmp_path / ".vodwatch").mkdir()
    for n in range(5):
        write_mapping(tmp_path, f"T{n}", token=f"vw{n:012d}", requested_at=100.0 + n)
    (tmp_path / ".vodwatch" / "titles" / "broken.json").write_text("{not json")
    assert [m["title"] for m in all_mappings(tmp_path)] == ["T4", "T3", "T2", "T1", "T0"]
    assert len(all_mappings(tmp_path, limit=2)) <= 2
