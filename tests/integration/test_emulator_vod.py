"""The emulator's VOD APIs over real HTTP: update, confirm, authority, info, auth, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from vodwatch.emulator import Emulator
from vodwatch.emulator.testing import PROJECT_ID, VodCaller, md5_b64

A1 = "a1" * 16
A2 = "b2" * 16
DATA = b"video bytes " * 100


def _video(asset_id: str = A1, **extra: Any) -> dict[str, Any]:
    return {"asset_id": asset_id, "video_name": "clip.mp4", "video_type": "MP4", **extra}


def _error(response: Any) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error_code"], body["error_msg"]


def test_update_video_gives_a_path_style_signed_url_and_starts_uploading(
        emu: Emulator, vod: VodCaller) -> None:
    """A video update in UPLOAD_FAILED answers a signed URL on the emulator and sets CREATING."""
    emu.seed_asset(A1, "UPLOAD_FAILED")
    reply = vod.update_asset(_video(video_md5=md5_b64(DATA)))
    assert reply.status_code == 200
    url = reply.json()["video_upload_url"]
    split = urlsplit(url)
    assert url.startswith(emu.url + "/vod-bucket-emu/")
    assert re.fullmatch(rf"/vod-bucket-emu/{PROJECT_ID}/{A1}/[0-9a-f]{{32}}\.mp4", split.path)
    assert set(parse_qs(split.query)) == {"AWSAccessKeyId", "Expires", "Signature"}
    assert emu.asset(A1)["status"] == "CREATING"  # type: ignore[index]
    assert reply.headers["X-Request-Id"]


def test_update_cover_and_subtitles_gives_urls_in_request_order(
        emu: Emulator, vod: VodCaller) -> None:
    """Cover and subtitle URLs follow the documented key patterns, subtitles in request order."""
    emu.seed_asset(A1, "PUBLISHED")
    subs = [{"id": 3, "type": "VTT", "language": "EN"}, {"id": 1, "type": "SRT", "language": "CN"}]
    reply = vod.update_asset({"asset_id": A1, "cover_type": "PNG", "subtitles": subs})
    assert reply.status_code == 200
    body = reply.json()
    assert "video_upload_url" not in body
    assert urlsplit(body["cover_upload_url"]).path.endswith(f"/{A1}/cover/Cover0.png")
    paths = [unquote(urlsplit(u).path) for u in body["subtitle_upload_urls"]]
    assert paths[0].endswith(f"/{A1}/subtitle/3.vtt") and paths[1].endswith("/subtitle/1.srt")
    assert emu.asset(A1)["status"] == "PUBLISHED"  # type: ignore[index]


@pytest.mark.parametrize("status", ["PUBLISHED", "CREATING", "CREATED", "TRANSCODING"])
def test_video_update_outside_failed_states_is_refused(
        emu: Emulator, vod: VodCaller, status: str) -> None:
    """A video update on a healthy or busy asset gets 403 VOD.10061 with the real message."""
    emu.seed_asset(A1, status)
    code, error, message = _error(vod.update_asset(_video()))
    assert (code, error) == (403, "VOD.10061")
    assert "not allowed to be updated" in message


@pytest.mark.parametrize("status", ["UPLOAD_FAILED", "CANCELLED", "SERVER_ERROR"])
def test_video_update_allowed_in_failed_states(emu: Emulator, vod: VodCaller,
                                               status: str) -> None:
    """Upload failed, cancelled and download failed assets accept a new video."""
    emu.seed_asset(A1, status)
    assert vod.update_asset(_video()).status_code == 200


def test_unknown_asset_is_refused_in_strict_mode(vod: VodCaller) -> None:
    """An asset that does not exist gets 403 VOD.10062."""
    assert _error(vod.update_asset(_video()))[:2] == (403, "VOD.10062")


def test_auto_mode_creates_unknown_assets_as_upload_failed(tmp_path: Path) -> None:
    """In auto mode an unknown asset ID appears in UPLOAD_FAILED and can be updated."""
    with Emulator(tmp_path, assets="auto") as emu, VodCaller(emu.url) as vod:
        info = vod.info(A2).json()["asset_info_array"][0]
        assert info["status"] == "UPLOAD_FAILED"
        assert vod.update_asset(_video(A1)).status_code == 200
        assert emu.asset(A1)["status"] == "CREATING"  # type: ignore[index]


@pytest.mark.parametrize(("body", "field"), [
    ({"asset_id": A1}, "video_name"),
    ({"asset_id": A1, "video_name": "x.mp4"}, "video_type"),
    ({"asset_id": A1, "video_name": "x.webm", "video_type": "WEBM"}, "video_type"),
    ({"asset_id": A1, "video_type": "MP4"}, "video_name"),
    ({"asset_id": A1, "cover_type": "JPG", "cover_id": 1}, "cover_id"),
    ({"asset_id": A1, "cover_type": "GIF"}, "cover_type"),
    ({"asset_id": A1, "subtitles": [{"id": 17, "type": "SRT", "language": "EN"}]},
     "subtitles[0].id"),
    ({"asset_id": A1, "subtitles": [{"id": 1, "type": "ASS", "language": "EN"}]},
     "subtitles[0].type"),
    ({"asset_id": A1, "subtitles": [{"id": 1, "type": "SRT"}]}, "subtitles[0].language"),
    ({"asset_id": A1, "video_name": "x.mp4", "video_type": "MP4",
      "video_md5": "5eb63bbbe01eeed093cb22bb8f5acdc3"}, "video_md5"),
    ({"asset_id": A1, "cover_type": "JPG", "cover_md5": "bm90IGFuIG1kNQ=="}, "cover_md5"),
    ({"video_name": "x.mp4", "video_type": "MP4"}, "asset_id"),
])
def test_update_body_rules_give_10053_naming_the_field(
        emu: Emulator, vod: VodCaller, body: dict[str, Any], field: str) -> None:
    """Each broken body rule answers 400 VOD.10053 and names the offending field."""
    emu.seed_asset(A1, "UPLOAD_FAILED")
    code, error, message = _error(vod.update_asset(body))
    assert (code, error) == (400, "VOD.10053")
    assert field in message


def _upload_video(emu: Emulator, vod: VodCaller, data: bytes = DATA) -> None:
    emu.seed_asset(A1, "UPLOAD_FAILED")
    url = vod.update_asset(_video(video_md5=md5_b64(data))).json()["video_upload_url"]
    put = vod.obs("PUT", url, data, {"Content-Type": "video/mp4", "Content-MD5": md5_b64(data)})
    assert put.status_code == 200, put.text


def test_confirm_created_after_upload_records_the_confirm(emu: Emulator, vod: VodCaller) -> None:
    """Confirm CREATED after the video arrived answers the asset ID and sets CREATED."""
    _upload_video(emu, vod)
    reply = vod.confirm(A1, "CREATED")
    assert reply.status_code == 200 and reply.json() == {"asset_id": A1}
    assert emu.confirms(A1) == ["CREATED"]
    assert emu.asset(A1)["status"] == "CREATED"  # type: ignore[index]
    assert emu.read_object(A1, "video") == DATA


@pytest.mark.parametrize(("status", "state"), [("FAILED", "UPLOAD_FAILED"),
                                               ("CANCELLED", "CANCELLED")])
def test_confirm_failed_or_cancelled_makes_the_asset_updatable_again(
        emu: Emulator, vod: VodCaller, status: str, state: str) -> None:
    """Confirm FAILED/CANCELLED moves the asset to UPLOAD_FAILED/CANCELLED."""
    emu.seed_asset(A1, "UPLOAD_FAILED")
    vod.update_asset(_video())
    assert vod.confirm(A1, status).status_code == 200
    assert emu.asset(A1)["status"] == state  # type: ignore[index]
    assert vod.update_asset(_video()).status_code == 200


def test_confirm_outside_uploading_state_is_refused(emu: Emulator, vod: VodCaller) -> None:
    """Confirm on an asset that is not CREATING answers 403 VOD.10126."""
    emu.seed_asset(A1, "PUBLISHED")
    assert _error(vod.confirm(A1))[:2] == (403, "VOD.10126")
    assert emu.confirms(A1) == []


def test_confirm_created_without_the_video_object_is_refused(
        emu: Emulator, vod: VodCaller) -> None:
    """Confirm CREATED before the video was uploaded answers 403 VOD.10126."""
    emu.seed_asset(A1, "UPLOAD_FAILED")
    vod.update_asset(_video())
    code, error, message = _error(vod.confirm(A1))
    assert (code, error) == (403, "VOD.10126") and "not been uploaded" in message


def test_confirm_errors_for_unknown_asset_and_bad_status(vod: VodCaller) -> None:
    """Unknown asset gets 403 VOD.10062; a bad status value gets 400 VOD.10053."""
    assert _error(vod.confirm(A2))[:2] == (403, "VOD.10062")
    assert _error(vod.confirm(A2, "DONE"))[:2] == (400, "VOD.10053")


def _video_key(emu: Emulator) -> str:
    return str(emu.asset(A1)["video"]["key"])  # type: ignore[index]


def test_authority_signs_only_while_uploading(emu: Emulator, vod: VodCaller) -> None:
    """Authority works for a CREATING asset and answers 403 VOD.10135 afterwards."""
    emu.seed_asset(A1, "UPLOAD_FAILED")
    vod.update_asset(_video())
    key = _video_key(emu)
    ok = vod.authority(http_verb="POST", bucket="vod-bucket-emu", object_key=key,
                       content_type="video/mp4")
    assert ok.status_code == 200
    assert ok.json()["sign_str"].startswith(f"{emu.url}/vod-bucket-emu/")
    assert "?uploads&AWSAccessKeyId=" in ok.json()["sign_str"]
    vod.confirm(A1, "FAILED")
    late = vod.authority(http_verb="POST", bucket="vod-bucket-emu", object_key=key,
                         content_type="video/mp4")
    assert _error(late)[:2] == (403, "VOD.10135")


def test_authority_parameter_errors(emu: Emulator, vod: VodCaller) -> None:
    """Missing content_type, a foreign key, a bad part number or an unknown asset are refused."""
    emu.seed_asset(A1, "UPLOAD_FAILED")
    vod.update_asset(_video())
    key = _video_key(emu)
    cases: list[tuple[dict[str, str | int], int, str]] = [
        ({"http_verb": "POST", "bucket": "vod-bucket-emu", "object_key": key}, 400, "VOD.10053"),
        ({"http_verb": "POST", "bucket": "vod-bucket-emu", "object_key": key + "x",
          "content_type": "video/mp4"}, 400, "VOD.10053"),
        ({"http_verb": "PUT", "bucket": "vod-bucket-emu", "object_key": key,
          "upload_id": "U", "part_number": 10001}, 400, "VOD.10053"),
        ({"http_verb": "POST", "bucket": "vod-bucket-emu", "object_key":
          f"{PROJECT_ID}/{A2}/x.mp4", "content_type": "video/mp4"}, 403, "VOD.10062"),
        ({"http_verb": "GET", "bucket": "other", "object_key": key, "upload_id": "U"},
         400, "VOD.10053"),
    ]
    for params, status, code in cases:
        assert _error(vod.authority(**params))[:2] == (status, code), params


def test_info_and_details_report_status_and_base_info(emu: Emulator, vod: VodCaller) -> None:
    """Info lists known assets with status and unknown ones as UNCREATED; details as well."""
    _upload_video(emu, vod)
    infos = vod.info(A1, A2).json()["asset_info_array"]
    assert [(i["asset_id"], i["status"]) for i in infos] == [(A1, "CREATING"), (A2, "UNCREATED")]
    assert infos[0]["base_info"]["video_type"] == "MP4"
    details = vod.details(A1).json()
    assert details["status"] == "CREATING" and details["base_info"]["video_name"] == "clip.mp4"
    assert _error(vod.details(A2))[:2] == (403, "VOD.10062")


def test_create_asset_gives_target_and_a_working_upload(emu: Emulator, vod: VodCaller) -> None:
    """CreateAssetByFileUpload makes a CREATING asset with target bucket/object."""
    reply = vod.create_asset({"title": "t", "video_name": "a.mov", "video_type": "MOV"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["target"]["bucket"] == "vod-bucket-emu"
    assert emu.asset(body["asset_id"])["status"] == "CREATING"  # type: ignore[index]
    put = vod.obs("PUT", body["video_upload_url"], b"mov", {"Content-Type": "video/quicktime"})
    assert put.status_code == 200
    assert vod.confirm(body["asset_id"]).status_code == 200
    assert _error(vod.create_asset({"title": "t", "video_name": "a"}))[:2] == (400, "VOD.10053")


def test_unsigned_and_badly_signed_calls_get_401(emu: Emulator, vod: VodCaller) -> None:
    """No Authorization, a garbled one, a wrong SK or an unknown AK all get 401 APIGW.0301."""
    emu.seed_asset(A1, "PUBLISHED")
    path = "/v1.0/{pid}/asset/info"
    query = [("asset_id", A1)]
    unsigned = vod.call("GET", path, query=query, signed=False)
    garbled = vod.call("GET", path, query=query, signed=False,
                       headers={"Authorization": "SDK-HMAC-SHA256 nonsense"})
    wrong_sk = vod.call("GET", path, query=query, sk="not-the-secret")
    with VodCaller(emu.url, ak="SOMEONEELSE") as stranger:
        unknown_ak = stranger.call("GET", path, query=query)
    for reply in (unsigned, garbled, wrong_sk, unknown_ak):
        body = reply.json()
        assert reply.status_code == 401 and body["error_code"] == "APIGW.0301"
        assert body["error_msg"].startswith("Incorrect IAM authentication information")
        assert body["request_id"] == reply.headers["X-Request-Id"]


def test_tampered_body_fails_the_signature(emu: Emulator, vod: VodCaller) -> None:
    """A body changed after signing gets 401 APIGW.0301."""
    emu.seed_asset(A1, "UPLOAD_FAILED")
    headers = vod.call("PUT", "/v1.0/{pid}/asset", body=_video()).request.headers
    tampered = vod.session.put(f"{emu.url}/v1.0/{PROJECT_ID}/asset", headers=dict(headers),
                               data=b'{"asset_id":"' + A1.encode() + b'","cover_type":"JPG"}')
    assert _error(tampered)[:2] == (401, "APIGW.0301")


@pytest.mark.parametrize(("minutes", "status"), [(16, 401), (-16, 401), (14, 200)])
def test_clock_skew_over_15_minutes_gets_apigw_0303(emu: Emulator, minutes: int,
                                                    status: int) -> None:
    """X-Sdk-Date more than 15 minutes off answers 401 APIGW.0303; 14 minutes is fine."""
    emu.seed_asset(A1, "PUBLISHED")
    skewed = datetime.now(UTC) + timedelta(minutes=minutes)
    with VodCaller(emu.url, now=lambda: skewed) as vod:
        reply = vod.info(A1)
    assert reply.status_code == status
    if status == 401:
        assert reply.json()["error_code"] == "APIGW.0303"


def test_project_id_mismatch_gets_10057(tmp_path: Path) -> None:
    """With a configured project ID, another one in the path answers 403 VOD.10057."""
    with Emulator(tmp_path, project_id=PROJECT_ID) as emu:
        emu.seed_asset(A1, "PUBLISHED")
        with VodCaller(emu.url, project_id="f" * 32) as other, VodCaller(emu.url) as mine:
            assert _error(other.info(A1))[:2] == (403, "VOD.10057")
            assert mine.info(A1).status_code == 200


def test_unknown_vod_path_gets_apigw_0101(vod: VodCaller) -> None:
    """A path the gateway does not know answers 404 APIGW.0101."""
    reply = vod.call("GET", "/v1.0/{pid}/asset/nothing")
    assert _error(reply)[:2] == (404, "APIGW.0101")


def test_requests_are_recorded_with_body_status_and_error_code(
        emu: Emulator, vod: VodCaller) -> None:
    """emu.requests keeps method, path, query, JSON body, status and error code."""
    emu.seed_asset(A1, "PUBLISHED")
    vod.update_asset(_video())
    vod.info(A1)
    first, second = emu.requests
    assert (first.method, first.operation, first.status, first.error_code) == (
        "PUT", "update_asset", 403, "VOD.10061")
    assert first.body["video_type"] == "MP4"
    assert second.query == {"asset_id": [A1]} and second.status == 200


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("code", ["VOD.10127", "APIGW.0308"])
def test_update_asset_rate_limit_is_a_sliding_window(tmp_path: Path, code: str) -> None:
    """Past the per-window count calls are throttled and counted, until the window slides."""
    clock = _Clock()
    with Emulator(tmp_path, limits={"update_asset": (2, 60.0)}, throttle_code=code,
                  clock=clock) as emu, VodCaller(
            emu.url, now=lambda: datetime.fromtimestamp(clock.now, UTC)) as vod:
        emu.seed_asset(A1, "PUBLISHED")
        cover = {"asset_id": A1, "cover_type": "JPG"}
        assert vod.update_asset(cover).status_code == 200
        clock.now += 30
        assert vod.update_asset(cover).status_code == 200
        throttled = vod.update_asset(cover)
        assert throttled.json()["error_code"] == code
        if code == "APIGW.0308":
            assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "30"
        else:
            assert throttled.status_code == 403
        assert vod.info(A1).status_code == 200  # other groups are not limited
        clock.now += 31
        assert vod.update_asset(cover).status_code == 200
        assert emu.throttled_count() == 1


def test_upload_group_counts_authority_and_confirm_together(tmp_path: Path) -> None:
    """Authority and confirm share the "upload" limit."""
    with Emulator(tmp_path, limits={"upload": (1, 60.0)}) as emu, VodCaller(emu.url) as vod:
        emu.seed_asset(A1, "UPLOAD_FAILED")
        vod.update_asset(_video())
        assert vod.authority(http_verb="POST", bucket="vod-bucket-emu",
                             object_key=_video_key(emu), content_type="video/mp4").ok
        assert _error(vod.confirm(A1, "FAILED"))[:2] == (403, "VOD.10127")
        assert emu.throttled_count() == 1
