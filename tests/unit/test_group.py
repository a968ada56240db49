"""Grouping (SPEC §2): ready files of one asset travel in one UpdateAsset request."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodwatch.group import (
    VOD_NAME_MAX,
    ReadyFile,
    groups_settling,
    md5_b64,
    pair_upload_urls,
    plan_jobs,
    send_order,
    update_request,
    vod_name,
)
from vodwatch.names import Kind, ParsedName, parse_name

A = "0123456789abcdef0123456789abcdef"
B = "fedcba9876543210fedcba9876543210"


def ready(name: str, data: bytes = b"") -> ReadyFile:
    return ReadyFile(parse_name(name), Path("/inbox") / name, len(data),
                     md5_b64(hashlib.md5(data).digest()))


def test_md5_b64_matches_the_documented_examples() -> None:
    """The MD5 form is base64 of the raw digest: VOD-API.md §7's two examples."""
    assert md5_b64(hashlib.md5(b"").digest()) == "1B2M2Y8AsgTpgAmY7PhCfg=="
    assert md5_b64(hashlib.md5(b"hello world").digest()) == "XrY7u+Ae7tCTyyK7j1rNww=="


def test_md5_b64_refuses_a_hex_digest() -> None:
    """A 32-byte hex string is not a digest; passing one is caught."""
    with pytest.raises(ValueError):
        md5_b64(hashlib.md5(b"").hexdigest().encode())


def test_video_cover_and_two_subtitles_make_one_request_with_the_spec_fields() -> None:
    """One request carries video, cover and subtitles with exactly the SPEC §2 fields."""
    files = [
        ready(f"{A}.2.zh.vtt", b"zh"),
        ready(f"{A.upper()}.MP4", b"video"),
        ready(f"{A}.1.en.srt", b"en"),
        ready(f"{A}.cover.jpeg", b"cover"),
    ]
    batches = plan_jobs([f.parsed for f in files])
    assert len(batches) == 1 and len(batches[0]) == 4
    body = update_request(A, files)
    assert body == {
        "asset_id": A,
        "video_name": f"{A.upper()}.MP4",
        "video_type": "MP4",
        "video_md5": md5_b64(hashlib.md5(b"video").digest()),
        "cover_id": 0,
        "cover_type": "JPG",
        "cover_md5": md5_b64(hashlib.md5(b"cover").digest()),
        "subtitles": [
            {"id": 1, "language": "EN", "type": "SRT", "name": f"{A}.1.en.srt",
             "md5": md5_b64(hashlib.md5(b"en").digest())},
            {"id": 2, "language": "CN", "type": "VTT", "name": f"{A}.2.zh.vtt",
             "md5": md5_b64(hashlib.md5(b"zh").digest())},
        ],
    }


def test_cover_only_request_has_no_video_fields() -> None:
    """A cover on its own sends only cover fields (so no confirm is needed later)."""
    body = update_request(A, [ready(f"{A}.cover.png", b"p")])
    assert set(body) == {"asset_id", "cover_id", "cover_type", "cover_md5"}
    assert body["cover_type"] == "PNG"


def test_second_video_of_one_asset_waits_for_a_later_batch() -> None:
    """Two videos of one asset: the first by name goes now, the other is left for later."""
    names = [parse_name(f"{A}.mp4"), parse_name(f"{A}.mov"), parse_name(f"{A}.cover.jpg")]
    (batch,) = plan_jobs(names)
    assert [p.name for p in batch] == [f"{A}.mov", f"{A}.cover.jpg"]
    (later,) = plan_jobs([p for p in names if p not in batch])
    assert [p.name for p in later] == [f"{A}.mp4"]


def test_two_subtitles_with_one_number_do_not_share_a_request() -> None:
    """Subtitle 1 in two languages (or written 1 and 01) cannot go in one request."""
    names = [parse_name(f"{A}.1.zh.srt"), parse_name(f"{A}.1.en.srt"),
             parse_name(f"{A}.01.fr.srt"), parse_name(f"{A}.2.en.srt")]
    (batch,) = plan_jobs(names)
    assert [p.name for p in batch] == [f"{A}.01.fr.srt", f"{A}.2.en.srt"]


def test_one_batch_per_asset_in_asset_order() -> None:
    """Files of different assets are never mixed; batches come in asset ID order."""
    names = [parse_name(f"{B}.mp4"), parse_name(f"{A}.cover.png"), parse_name(f"{A}.mp4")]
    batches = plan_jobs(names)
    assert [[p.asset_id for p in b] for b in batches] == [[A, A], [B]]
    assert [p.kind for p in batches[0]] == [Kind.VIDEO, Kind.COVER]


def test_plan_jobs_works_on_richer_items() -> None:
    """plan_jobs can batch ReadyFiles (or anything) given how to get their ParsedName."""
    files = [ready(f"{A}.mp4"), ready(f"{A}.mkv")]
    (batch,) = plan_jobs(files, lambda f: f.parsed)
    assert batch == [files[1]]


@given(st.permutations([
    f"{A}.mp4", f"{A}.mov", f"{A}.cover.jpg", f"{A}.cover.png", f"{A}.1.en.srt",
    f"{A}.1.zh.srt", f"{A}.16.en.vtt", f"{B}.ts", f"{B}.3.fr.srt", f"{B.upper()}.cover.JPG",
]))
def test_planning_does_not_depend_on_discovery_order(names: list[str]) -> None:
    """Whatever order files were noticed in, the batches are the same."""
    baseline = plan_jobs([parse_name(n) for n in sorted(names)])
    assert plan_jobs([parse_name(n) for n in names]) == baseline


def test_every_file_is_eventually_planned_exactly_once() -> None:
    """Repeated planning of what is left drains any set of ready files without loss."""
    rng = random.Random(7)
    names = [f"{A}.{ext}" for ext in ("mp4", "mov", "mkv")] + [
        f"{A}.{n}.{lang}.srt" for n in (1, 2) for lang in ("en", "zh", "fr")] + [
        f"{B}.cover.jpg", f"{B}.cover.png"]
    rng.shuffle(names)
    left: list[ParsedName] = [parse_name(n) for n in names]
    sent: list[str] = []
    rounds = 0
    while left:
        rounds += 1
        for batch in plan_jobs(left):
            for parsed in batch:
                left.remove(parsed)
                sent.append(parsed.name)
    assert sorted(sent) == sorted(names) and rounds == 3


def test_update_request_refuses_a_mixed_or_crowded_batch() -> None:
    """A file of another asset, two videos, or nothing at all is a programming error."""
    with pytest.raises(ValueError):
        update_request(A, [ready(f"{B}.mp4")])
    with pytest.raises(ValueError):
        update_request(A, [ready(f"{A}.mp4"), ready(f"{A}.mov")])
    with pytest.raises(ValueError):
        update_request(A, [])


def test_upload_urls_are_paired_with_their_files() -> None:
    """Video, cover and per-subtitle URLs (in ascending id order) go to the right files."""
    files = [ready(f"{A}.3.en.srt"), ready(f"{A}.cover.jpg"), ready(f"{A}.mp4"),
             ready(f"{A}.1.zh.srt")]
    response = {"asset_id": A, "video_upload_url": "v", "cover_upload_url": "c",
                "subtitle_upload_urls": ["s1", "s3"]}
    pairs = pair_upload_urls(response, files)
    assert [(f.parsed.name, url) for f, url in pairs] == [
        (f"{A}.mp4", "v"), (f"{A}.cover.jpg", "c"), (f"{A}.1.zh.srt", "s1"),
        (f"{A}.3.en.srt", "s3")]


def test_missing_upload_url_is_an_error() -> None:
    """A response lacking a URL for a file in the request is refused, not half-used."""
    with pytest.raises(ValueError):
        pair_upload_urls({"cover_upload_url": "c"}, [ready(f"{A}.mp4")])
    with pytest.raises(ValueError):
        pair_upload_urls({"subtitle_upload_urls": []}, [ready(f"{A}.1.en.srt")])


@pytest.mark.parametrize(("name", "sent"), [
    (f"{A}.mp4", f"{A}.mp4"),
    (f"{A}" + " (2)" * 24 + ".mp4", f"{A}" + " (2)" * 24 + ".mp4"),  # 132 bytes: cut
    (f"{A}.1.en" + " - Copy" * 20 + ".srt", None),
    (f"{A}" + " copy" * 10 + "é" * 40 + ".mkv", None),
])
def test_names_sent_to_vod_fit_its_128_bytes_and_keep_their_extension(
        name: str, sent: str | None) -> None:
    """video_name and a subtitle's name are at most 128 UTF-8 bytes, cut between characters
    before the extension; a name that fits goes as it is."""
    got = vod_name(name)
    size = len(name.encode())
    assert len(got.encode()) <= VOD_NAME_MAX
    assert got.endswith("." + name.rsplit(".", 1)[1])
    assert got == name if size <= VOD_NAME_MAX else (
        name.startswith(got.rsplit(".", 1)[0]) and got != name)
    if sent is not None and size <= VOD_NAME_MAX:
        assert got == sent


def test_an_over_long_name_never_takes_its_asset_s_other_files_down() -> None:
    """The request for a 136-byte video name and a cover is one VOD accepts: the video's
    name is shortened, the cover is sent with it."""
    video = ready(A + " (2)" * 25 + ".mp4", b"v")
    subtitle = ready(f"{A}.1.en" + " (2)" * 30 + ".srt", b"s")
    body = update_request(A, [video, ready(f"{A}.cover.jpg", b"c"), subtitle])
    assert len(body["video_name"].encode()) <= VOD_NAME_MAX
    assert body["video_name"].startswith(A) and body["video_name"].endswith(".mp4")
    assert len(body["subtitles"][0]["name"].encode()) <= VOD_NAME_MAX
    assert body["cover_type"] == "JPG"
    assert video.parsed.name == A + " (2)" * 25 + ".mp4", "the file keeps its name"


def test_send_order_is_refused_names_first_then_assets_by_id_then_what_waited() -> None:
    """The order dispatch takes files in: files that cannot be sent first, each alone; then
    one batch per asset by (lower-case) asset ID, not by how the name is written; a second
    video of an asset after every first batch."""
    c = "c" + A[1:]
    paths = sorted([f"{c.upper()}.cover.jpg", f"{B}.mp4", f"{A}.cover.jpg", "notes.doc",
                    f"{A}.mp4", f"{A} (2).mp4", "zz.doc"])

    def parsed(name: str) -> ParsedName | None:
        try:
            return parse_name(name)
        except Exception:
            return None

    assert send_order(paths, parsed) == [
        ["notes.doc"], ["zz.doc"],
        [f"{A} (2).mp4", f"{A}.cover.jpg"], [f"{c.upper()}.cover.jpg"], [f"{B}.mp4"],
        [f"{A}.mp4"]]
    first_round = plan_jobs([p for p in paths if parsed(p)], parse_name)
    assert send_order(paths, parsed)[2:5] == first_round, "plan_jobs is the one rule"


def _parser(create: bool):
    def parse(name: str) -> ParsedName | None:
        try:
            return parse_name(name, create=create)
        except Exception:
            return None
    return parse


def test_a_group_with_an_asset_id_waits_one_settle_window_for_a_sibling_still_settling() -> None:
    """Files of one asset dropped together go in one UpdateAsset: the cover that settled
    a moment before the video waits for it, but only one settle window (found by the
    two-daemon burst benchmark: the first asset of a drop went in two requests)."""
    inbox = Path("/inbox")
    video, cover = inbox / f"{A}.mp4", inbox / f"{A}.cover.jpg"
    other = inbox / f"{B}.cover.jpg"
    held: dict[str, float] = {}
    def waiting(ready: set[Path], now: float) -> set[str]:
        return groups_settling([video, cover, other], ready, _parser(False), create=False,
                               held=held, now=now, hold=2.0)
    assert waiting({cover, other}, 100.0) == {A}  # B has nothing settling: it goes
    assert waiting({cover, other}, 101.9) == {A}
    assert waiting({cover, other}, 102.0) == set()  # a video still copying: the cover goes
    assert held == {A: 100.0}
    assert waiting({video, cover, other}, 103.0) == set() and held == {}  # all settled
    assert waiting({cover, other}, 200.0) == {A}  # a new wait starts a new window


def test_a_create_mode_title_waits_until_every_file_of_it_settled() -> None:
    inbox = Path("/inbox")
    video, cover = inbox / "Holiday.mp4", inbox / "Holiday.cover.jpg"
    held: dict[str, float] = {}
    for now in (0.0, 10.0, 3600.0):
        assert groups_settling([video, cover], {cover}, _parser(True), create=True,
                               held=held, now=now, hold=2.0) == {"title:Holiday"}
    # Outside create mode such a name is a failure of its own: nothing waits for it.
    assert groups_settling([video, cover], {cover}, _parser(False), create=False,
                           held={}, now=0.0, hold=2.0) == set()
