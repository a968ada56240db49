"""The emulator's create-mode APIs over real HTTP: CreateAssetByFileUpload, ListAssetList,
CheckMd5Duplication, the lost-answer fault, and VodClient's calls for them.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from vodwatch.emulator.testing import PROJECT_ID, VodCaller, md5_b64
from vodwatch.errors import RemoteError, TransportError
from vodwatch.vod.api import VodClient
from vodwatch.vod.http import HttpSettings, make_session

VIDEO = b"\x00\x01new episode " * 300   # > 1024 bytes, so the head MD5 is not the file's
COVER = b"\x89PNG cover"
SUB_EN = b"1\n00:00:01,000 --> 00:00:02,000\nHello\n"
SUB_CN = b"WEBVTT\n\n00:01.000 --> 00:02.000\nNi hao\n"
A1 = "a1" * 16


class RecordingPacer:
    """Lets every call through and remembers which group it was charged to."""

    def __init__(self) -> None:
        self.groups: list[str] = []

    def acquire(self, group: str, stop: threading.Event | None = None) -> bool:
        self.groups.append(group)
        return True

    def throttled(self, group: str, retry_after: float | None) -> None:
        self.groups.append(f"throttled:{group}")


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = make_session(HttpSettings(connect_timeout=2, read_timeout=5))
    yield s
    s.close()


@pytest.fixture
def client(emu: Emulator, session: requests.Session) -> VodClient:
    """The product's VodClient, signing with the emulator's AK/SK."""
    return VodClient(emu.url, PROJECT_ID, DEFAULT_AK, DEFAULT_SK, session=session,
                     timeout=(2.0, 5.0))


def _body(title: str = "Episode 12", **extra: Any) -> dict[str, Any]:
    return {"title": title, "video_name": f"{title}.mp4", "video_type": "MP4",
            "video_md5": md5_b64(VIDEO), **extra}


def _put(session: requests.Session, url: str, data: bytes, content_type: str, *,
         md5: bool = True) -> None:
    """PUT to a signed URL; Content-MD5 only if the create call named the file's MD5."""
    headers = {"Content-Type": content_type}
    if md5:
        headers["Content-MD5"] = md5_b64(data)
    reply = session.put(url, data=data, headers=headers, timeout=5)
    assert reply.status_code == 200, reply.text


def _error(response: requests.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["error_msg"]


def _head_md5(data: bytes) -> str:
    return hashlib.md5(data[:1024]).hexdigest()


# -- CreateAssetByFileUpload ---------------------------------------------------------

def test_create_gives_urls_that_take_the_upload_and_confirm_works(
        emu: Emulator, client: VodClient, session: requests.Session) -> None:
    """A signed create answers an asset ID, target and a video URL; upload then confirm works."""
    answer = client.create_asset(_body(description="the finale", tags="news,s01",
                                       category_id=-1))
    asset_id = answer["asset_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", asset_id)
    key = f"{PROJECT_ID}/{asset_id}/"
    assert answer["target"]["bucket"] == "vod-bucket-emu"
    assert answer["target"]["location"] == "cn-north-4"
    assert answer["target"]["object"].startswith(key) and answer["target"]["object"].endswith(
        ".mp4")
    assert unquote(urlsplit(answer["video_upload_url"]).path) == (
        f"/vod-bucket-emu/{answer['target']['object']}")
    stored = emu.asset(asset_id)
    assert stored is not None and stored["status"] == "CREATING"
    assert (stored["title"], stored["description"], stored["tags"], stored["origin"]) == (
        "Episode 12", "the finale", ["news", "s01"], "create")
    _put(session, answer["video_upload_url"], VIDEO, "video/mp4")
    client.confirm(asset_id)
    assert emu.read_object(asset_id, "video") == VIDEO
    assert emu.asset(asset_id)["status"] == "CREATED"  # type: ignore[index]
    assert [a["asset_id"] for a in emu.assets_created()] == [asset_id]


def test_create_with_cover_and_subtitles_gives_the_urls_update_would(
        emu: Emulator, vod: VodCaller, session: requests.Session) -> None:
    """Cover and subtitle URLs have UpdateAsset's key patterns and order, and accept uploads."""
    subs = [{"id": 2, "type": "VTT", "language": "CN", "md5": md5_b64(SUB_CN)},
            {"id": 1, "type": "SRT", "language": "EN", "md5": md5_b64(SUB_EN),
             "description": "English"}]
    files: dict[str, Any] = {"cover_type": "PNG", "cover_md5": md5_b64(COVER), "subtitles": subs}
    created = vod.create_asset(_body(**files)).json()
    emu.seed_asset(A1, "UPLOAD_FAILED")
    updated = vod.update_asset({"asset_id": A1, "video_name": "Episode 12.mp4",
                                "video_type": "MP4", "video_md5": md5_b64(VIDEO),
                                **files}).json()

    def shape(answer: dict[str, Any]) -> list[str]:
        urls = [answer["video_upload_url"], answer["cover_upload_url"],
                *answer["subtitle_upload_urls"]]
        for url in urls:
            assert set(parse_qs(urlsplit(url).query)) == {"AWSAccessKeyId", "Expires",
                                                          "Signature"}
        paths = [unquote(urlsplit(u).path) for u in urls]
        return [re.sub(r"[0-9a-f]{32}", "H", p.replace(PROJECT_ID, "PID").replace(
            answer["asset_id"], "ID")) for p in paths]

    assert shape(created) == shape(updated) == [
        "/vod-bucket-emu/PID/ID/H.mp4", "/vod-bucket-emu/PID/ID/cover/Cover0.png",
        "/vod-bucket-emu/PID/ID/subtitle/2.vtt", "/vod-bucket-emu/PID/ID/subtitle/1.srt"]
    asset_id = created["asset_id"]
    _put(session, created["cover_upload_url"], COVER, "image/png")
    _put(session, created["subtitle_upload_urls"][0], SUB_CN, "application/octet-stream")
    _put(session, created["subtitle_upload_urls"][1], SUB_EN, "application/octet-stream")
    assert emu.read_object(asset_id, "cover") == COVER
    assert emu.read_object(asset_id, "subtitle", 2) == SUB_CN
    assert emu.read_object(asset_id, "subtitle", 1) == SUB_EN
    assert emu.asset(asset_id)["subtitles"]["1"]["language"] == "EN"  # type: ignore[index]


def test_create_accepts_the_live_example_body(emu: Emulator, vod: VodCaller) -> None:
    """A body modelled on the live "Example 1" page (time thumbnail without time) is accepted."""
    emu.add_category(87748, "test")
    body = {"title": "test", "description": "test", "category_id": 87748,
            "video_name": "test.mp4", "video_type": "MP4", "cover_type": "PNG",
            "tags": "mytags,test", "auto_publish": 0, "template_group_name": "test",
            "subtitles": [{"id": 1, "language": "CN", "type": "SRT",
                           "md5": "SqcyFjJZoDZaP8oKIY6rgQ==", "description": "AAAAA",
                           "name": "cc.srt"}],
            "thumbnail": {"type": "time", "cover_position": 1},
            "review": {"template_id": "10001"}}
    answer = vod.create_asset(body)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"asset_id", "video_upload_url", "cover_upload_url",
                                  "subtitle_upload_urls", "target"}
    stored = emu.asset(answer.json()["asset_id"])
    assert stored is not None and stored["options"]["template_group_name"] == "test"


def test_create_with_auto_publish_is_published_after_confirm(
        emu: Emulator, vod: VodCaller, session: requests.Session) -> None:
    """auto_publish 1 makes a confirmed upload PUBLISHED; the default leaves it CREATED."""
    published = vod.create_asset(_body("a", auto_publish=1)).json()
    plain = vod.create_asset(_body("b")).json()
    for answer in (published, plain):
        _put(session, answer["video_upload_url"], VIDEO, "video/mp4")
        assert vod.confirm(answer["asset_id"]).status_code == 200
    assert emu.asset(published["asset_id"])["status"] == "PUBLISHED"  # type: ignore[index]
    assert emu.asset(plain["asset_id"])["status"] == "CREATED"  # type: ignore[index]


@pytest.mark.parametrize(("body", "field"), [
    ({"video_name": "a.mp4", "video_type": "MP4"}, "title"),
    ({"title": "", "video_name": "a.mp4", "video_type": "MP4"}, "title"),
    ({"title": "t" * 129, "video_name": "a.mp4", "video_type": "MP4"}, "title"),
    ({"title": "é" * 65, "video_name": "a.mp4", "video_type": "MP4"}, "title"),  # 130 bytes
    ({"title": "t", "video_type": "MP4"}, "video_name"),
    ({"title": "t", "video_name": "n" * 129, "video_type": "MP4"}, "video_name"),
    ({"title": "t", "video_name": "a.mp4"}, "video_type"),
    ({"title": "t", "video_name": "a.mp4", "video_type": "mp4"}, "video_type"),
    ({"title": "t", "video_name": "a.gif", "video_type": "GIF"}, "video_type"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "description": "d" * 1025},
     "description"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "tags": ",".join("t" * 17)},
     "tags"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "tags": "x" * 17}, "tags"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "category_id": "news"},
     "category_id"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "auto_publish": 2},
     "auto_publish"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "auto_encrypt": 1},
     "auto_encrypt"),
    ({"title": "t", "video_name": "a", "video_type": "MP4",
      "video_md5": "5eb63bbbe01eeed093cb22bb8f5acdc3"}, "video_md5"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "cover_type": "GIF"},
     "cover_type"),
    ({"title": "t", "video_name": "a", "video_type": "MP4",
      "subtitles": [{"id": 1, "type": "SRT"}]}, "subtitles[0].language"),
    ({"title": "t", "video_name": "a", "video_type": "MP4",
      "thumbnail": {"type": "time", "time": 13}}, "thumbnail.time"),
    ({"title": "t", "video_name": "a", "video_type": "MP4", "review": {}},
     "review.template_id"),
])
def test_create_body_rules_give_10053_naming_the_field(
        emu: Emulator, vod: VodCaller, body: dict[str, Any], field: str) -> None:
    """Each broken create rule answers 400 VOD.10053 naming the field and creates nothing."""
    code, error, message = _error(vod.create_asset(body))
    assert (code, error) == (400, "VOD.10053")
    assert message.startswith("The request parameter is illegal, illegal field: ")
    assert field in message
    assert emu.assets_created() == [] and emu.assets() == []


def test_unknown_category_gets_10064_until_it_exists(emu: Emulator, vod: VodCaller) -> None:
    """A category_id VOD does not know answers 403 VOD.10064; once added the asset has it."""
    assert _error(vod.create_asset(_body(category_id=87748)))[:2] == (403, "VOD.10064")
    emu.add_category(87748, "Drama")
    answer = vod.create_asset(_body(category_id=87748)).json()
    assert emu.asset(answer["asset_id"])["category_id"] == 87748  # type: ignore[index]
    listed = vod.list_assets(query_string="drama").json()["assets"]
    assert [(a["asset_id"], a["category"]) for a in listed] == [(answer["asset_id"], "Drama")]


# -- the lost answer -----------------------------------------------------------------

def test_lost_answer_creates_the_asset_but_the_client_sees_a_connection_error(
        emu: Emulator, client: VodClient) -> None:
    """A reset in the response phase creates the asset; VodClient gets a TransportError."""
    emu.add_fault("reset", "create_asset", phase="response")
    with pytest.raises(TransportError):
        client.create_asset(_body())
    created = emu.assets_created()
    assert len(created) == 1 and created[0]["title"] == "Episode 12"
    assert created[0]["status"] == "CREATING"
    (record,) = [r for r in emu.requests if r.operation == "create_asset"]
    assert (record.status, record.error_code) == (0, "reset")
    # The same title is found again by listing, which is how a client can tell.
    found = client.list_assets(query_string="Episode 12", status=["CREATING"])
    assert [a["asset_id"] for a in found["assets"]] == [created[0]["asset_id"]]
    client.create_asset(_body())
    assert len(emu.assets_created()) == 2


def test_reset_before_acting_creates_nothing(emu: Emulator, client: VodClient) -> None:
    """A reset in the request phase drops the call before any asset is made."""
    emu.add_fault("reset", "create_asset")
    with pytest.raises(TransportError):
        client.create_asset(_body())
    assert emu.assets_created() == []


def test_created_assets_are_listed_by_the_control_api(emu: Emulator, vod: VodCaller) -> None:
    """GET /_emulator/created lists the creations in order, for emulators in another process."""
    first = vod.create_asset(_body("one")).json()["asset_id"]
    second = vod.create_asset(_body("two")).json()["asset_id"]
    emu.seed_asset(A1, "PUBLISHED")
    reply = requests.get(f"{emu.url}/_emulator/created", timeout=5).json()
    assert [a["asset_id"] for a in reply["assets"]] == [first, second]
    added = requests.post(f"{emu.url}/_emulator/categories",
                          json={"category_id": 5, "name": "Sport"}, timeout=5)
    assert added.status_code == 200
    assert vod.create_asset(_body(category_id=5)).status_code == 200


# -- ListAssetList -------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def test_list_filters_by_query_string_tags_status_and_time(tmp_path: Path) -> None:
    """query_string, tags, status and start/end_time each narrow the brief records."""
    clock = _Clock()
    with Emulator(tmp_path, clock=clock) as emu, VodCaller(
            emu.url, now=lambda: datetime.fromtimestamp(clock.now, UTC)) as vod:
        clock.now -= 3600
        emu.seed_asset(A1, "PUBLISHED")   # 11:00
        clock.now += 3600
        early = vod.create_asset(_body("Morning News", tags="news,am",
                                       description="daily")).json()["asset_id"]  # 12:00
        clock.now += 3600
        late = vod.create_asset(_body("Evening Film", tags="film",
                                      description="NEWS special")).json()["asset_id"]  # 13:00

        def ids(**params: str | int) -> list[str]:
            reply = vod.list_assets(**params)
            assert reply.status_code == 200, reply.text
            return [a["asset_id"] for a in reply.json()["assets"]]

        assert ids(query_string="news") == [late, early]   # title or description, any case
        assert ids(query_string="evening film") == [late]
        assert ids(tags="news") == [early]
        assert ids(tags="news,am") == [early]
        assert ids(tags="news,film") == []
        assert ids(status="CREATING") == [late, early]
        assert ids(status="PUBLISHED") == [A1]
        assert ids(start_time="20260301123000") == [late]
        assert ids(end_time="20260301120000") == [early, A1]
        assert ids(start_time="20260301120000", end_time="20260301130000",
                   order="asc") == [early, late]
        record = vod.list_assets(asset_id=early).json()
        assert record["total"] == 1
        (summary,) = record["assets"]
        assert summary == {
            "asset_id": early, "title": "Morning News", "description": "daily", "duration": 0,
            "size": 0, "category": "Other", "covers": [], "create_time": "20260301120000",
            "asset_status": "CREATING", "transcode_status": "UN_TRANSCODE",
            "thumbnail_status": "UN_THUMBNAIL", "review_status": "UN_REVIEW",
            "exec_desc": "asset_exec_desc:CREATING", "media_type": "MP4"}


def test_list_pages_and_reports_size_and_urls_after_upload(
        emu: Emulator, vod: VodCaller, session: requests.Session) -> None:
    """page/size slice the newest-first list; uploaded files show size, URL and cover."""
    made = [vod.create_asset(_body(f"clip {n}", cover_type="JPG")).json() for n in range(5)]
    first = vod.list_assets(page=0, size=2).json()
    last = vod.list_assets(page=2, size=2).json()
    assert first["total"] == last["total"] == 5
    assert [a["title"] for a in first["assets"]] == ["clip 4", "clip 3"]
    assert [a["title"] for a in last["assets"]] == ["clip 0"]
    _put(session, made[0]["video_upload_url"], VIDEO, "video/mp4")
    _put(session, made[0]["cover_upload_url"], COVER, "image/jpeg", md5=False)
    (summary,) = vod.list_assets(asset_id=made[0]["asset_id"]).json()["assets"]
    assert summary["size"] == len(VIDEO)
    assert summary["original_url"].endswith(made[0]["target"]["object"])
    assert summary["covers"][0]["cover_url"].endswith("/cover/Cover0.jpg")


def test_list_takes_arrays_repeated_or_comma_joined(emu: Emulator, vod: VodCaller) -> None:
    """asset_id and status may be repeated or comma-joined (as the SDK sends them)."""
    a = vod.create_asset(_body("a")).json()["asset_id"]
    b = vod.create_asset(_body("b")).json()["asset_id"]
    emu.seed_asset(A1, "UPLOAD_FAILED")
    joined = vod.list_assets(asset_id=f"{a},{b}").json()["assets"]
    repeated = vod.call("GET", "/v1.0/{pid}/asset/list",
                        query=[("asset_id", a), ("asset_id", A1)]).json()["assets"]
    assert {x["asset_id"] for x in joined} == {a, b}
    assert {x["asset_id"] for x in repeated} == {a, A1}
    failed = vod.list_assets(status="FAILED,PUBLISHED").json()["assets"]
    assert [(x["asset_id"], x["asset_status"]) for x in failed] == [(A1, "FAILED")]


@pytest.mark.parametrize(("params", "field"), [
    ({"size": 0}, "size"), ({"size": 101}, "size"), ({"page": "x"}, "page"),
    ({"page": 200, "size": 100}, "page"), ({"start_time": "2026-03-01"}, "start_time"),
    ({"end_time": "20261301000000"}, "end_time"), ({"status": "DONE"}, "status"),
    ({"asset_id": ",".join(["a"] * 11)}, "asset_id"), ({"order": "up"}, "order"),
    ({"category_id": "x"}, "category_id"), ({"tags": "t" * 25}, "tags"),
])
def test_list_parameter_errors_give_10053(vod: VodCaller, params: dict[str, str | int],
                                          field: str) -> None:
    """Out-of-range paging, malformed times and unknown statuses answer 400 VOD.10053."""
    code, error, message = _error(vod.list_assets(**params))
    assert (code, error) == (400, "VOD.10053") and field in message


# -- CheckMd5Duplication -------------------------------------------------------------

def test_duplication_finds_an_uploaded_video_by_size_and_head_md5(
        emu: Emulator, client: VodClient, session: requests.Session) -> None:
    """Only an uploaded video of that size whose first 1024 bytes hash to md5 is a duplicate."""
    answer = client.create_asset(_body())
    assert client.check_md5_duplication(len(VIDEO), _head_md5(VIDEO))["is_duplicated"] == 0
    _put(session, answer["video_upload_url"], VIDEO, "video/mp4")
    found = client.check_md5_duplication(len(VIDEO), _head_md5(VIDEO).upper())
    assert (found["is_duplicated"], found["asset_ids"]) == (1, [answer["asset_id"]])
    whole = hashlib.md5(VIDEO).hexdigest()
    assert client.check_md5_duplication(len(VIDEO), whole)["is_duplicated"] == 0
    other_size = client.check_md5_duplication(len(VIDEO) + 1, _head_md5(VIDEO))
    assert (other_size["is_duplicated"], other_size["asset_ids"]) == (0, [])
    emu.seed_asset(answer["asset_id"], "DELETED")
    assert client.check_md5_duplication(len(VIDEO), _head_md5(VIDEO))["is_duplicated"] == 0


@pytest.mark.parametrize("query", [
    [("md5", "0" * 32)], [("size", "10")], [("size", "-1"), ("md5", "0" * 32)],
    [("size", "10"), ("md5", md5_b64(b"x"))], [("size", "10"), ("md5", "z" * 32)],
])
def test_duplication_parameter_errors_give_10053(vod: VodCaller,
                                                 query: list[tuple[str, str]]) -> None:
    """A missing or malformed size or md5 answers 400 VOD.10053."""
    reply = vod.call("GET", "/v1.0/{pid}/asset/duplication", query=query)
    assert _error(reply)[:2] == (400, "VOD.10053")


# -- VodClient and limits ------------------------------------------------------------

def test_vod_client_charges_each_call_to_its_pacing_group(
        emu: Emulator, session: requests.Session) -> None:
    """create counts as upload, list as query, the duplicate check as the 100/min group."""
    pacer = RecordingPacer()
    client = VodClient(emu.url, PROJECT_ID, DEFAULT_AK, DEFAULT_SK, session=session,
                       timeout=(2.0, 5.0), pacer=pacer)
    client.create_asset(_body())
    client.list_assets(query_string="Episode", status=["CREATING", "CREATED"], page=0)
    client.check_md5_duplication(1, "0" * 32)
    assert pacer.groups == ["upload", "query", "update_asset"]
    (listed,) = [r for r in emu.requests if r.operation == "list_assets"]
    assert listed.query["status"] == ["CREATING,CREATED"]


def test_vod_client_raises_typed_errors_for_create(client: VodClient) -> None:
    """A refused create raises RemoteError carrying VOD's code and message."""
    with pytest.raises(RemoteError) as caught:
        client.create_asset({"video_name": "a.mp4", "video_type": "MP4"})
    assert (caught.value.fault.status, caught.value.fault.code) == (400, "VOD.10053")
    assert "title" in caught.value.fault.error_msg


def test_duplication_check_has_its_own_limit_group(tmp_path: Path) -> None:
    """upload_other limits the duplicate check without touching list or create."""
    with Emulator(tmp_path, limits={"upload_other": (1, 60.0)}) as emu, \
            VodCaller(emu.url) as vod:
        assert vod.duplication(1, "0" * 32).status_code == 200
        assert _error(vod.duplication(1, "0" * 32))[:2] == (403, "VOD.10127")
        assert vod.list_assets().status_code == 200
        assert vod.create_asset(_body()).status_code == 200
        assert emu.throttled_count() == 1
