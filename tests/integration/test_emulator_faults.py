"""Injected faults, offline switching, WAN emulation and the control API, over real HTTP."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from vodwatch.emulator import Emulator
from vodwatch.emulator.testing import VodCaller, md5_b64

A1 = "a1" * 16
COVER = {"asset_id": A1, "cover_type": "JPG"}


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "data") as emulator:
        emulator.seed_asset(A1, "UPLOAD_FAILED")
        yield emulator


@pytest.fixture
def vod(emu: Emulator) -> Iterator[VodCaller]:
    with VodCaller(emu.url, timeout=5) as caller:
        yield caller


def _code(text: str) -> str:
    return ET.fromstring(text).findtext("Code") or ""


def _video_url(vod: VodCaller) -> str:
    reply = vod.update_asset({"asset_id": A1, "video_name": "v.mp4", "video_type": "MP4"})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["video_upload_url"])


@pytest.mark.parametrize(("status", "code"), [(500, "VOD.10051"), (502, "APIGW.0201"),
                                              (503, "APIGW.0201"), (504, "APIGW.0201"),
                                              (403, "VOD.10127")])
def test_status_fault_answers_once_with_the_real_body(emu: Emulator, vod: VodCaller,
                                                      status: int, code: str) -> None:
    """A status fault answers that status and error body once, then the API works again."""
    emu.add_fault("status", "update_asset", status=status)
    failed = vod.update_asset(COVER)
    assert (failed.status_code, failed.json()["error_code"]) == (status, code)
    assert vod.update_asset(COVER).status_code == 200
    assert emu.requests[0].error_code == code


def test_429_fault_carries_retry_after_and_request_id(emu: Emulator, vod: VodCaller) -> None:
    """A 429 fault answers APIGW.0308 with Retry-After and a request_id."""
    emu.add_fault("status", "asset_info", status=429, retry_after=7)
    reply = vod.info(A1)
    body = reply.json()
    assert (reply.status_code, body["error_code"], reply.headers["Retry-After"]) == (
        429, "APIGW.0308", "7")
    assert body["request_id"] == reply.headers["X-Request-Id"]


def test_status_fault_on_the_object_store_is_xml(emu: Emulator, vod: VodCaller) -> None:
    """An object-store status fault answers OBS XML (503 ServiceUnavailable)."""
    url = _video_url(vod)
    emu.add_fault("status", "obs_put", status=503)
    reply = vod.obs("PUT", url, b"v", {"Content-Type": "video/mp4"})
    assert reply.status_code == 503 and _code(reply.text) == "ServiceUnavailable"
    assert vod.obs("PUT", url, b"v", {"Content-Type": "video/mp4"}).status_code == 200


def test_fault_count_and_any_target(emu: Emulator, vod: VodCaller) -> None:
    """count=2 fails twice; count=None fails until cleared; "any" matches every operation."""
    emu.add_fault("status", "asset_info", count=2, status=500)
    assert [vod.info(A1).status_code for _ in range(3)] == [500, 500, 200]
    emu.add_fault("status", "any", count=None, status=502)
    assert vod.info(A1).status_code == 502 and vod.update_asset(COVER).status_code == 502
    assert len(emu.faults()) == 1
    emu.clear_faults()
    assert vod.info(A1).status_code == 200


def test_reset_drops_the_connection_without_changing_state(emu: Emulator,
                                                           vod: VodCaller) -> None:
    """A reset fault on confirm drops the connection; the asset stays as it was."""
    _video_url(vod)
    emu.add_fault("reset", "confirm")
    with pytest.raises(requests.ConnectionError):
        vod.confirm(A1, "FAILED")
    assert emu.asset(A1)["status"] == "CREATING"  # type: ignore[index]
    assert emu.requests[-1].error_code == "reset" and emu.requests[-1].status == 0
    assert vod.confirm(A1, "FAILED").status_code == 200


def test_reset_mid_body_stores_nothing(emu: Emulator, vod: VodCaller) -> None:
    """A reset after part of the body leaves no object behind."""
    url = _video_url(vod)
    emu.add_fault("reset", "obs_put", after_bytes=64 * 1024)
    with pytest.raises(requests.ConnectionError):
        vod.obs("PUT", url, b"v" * 1024 * 1024, {"Content-Type": "video/mp4"})
    assert emu.read_object(A1, "video") is None


def test_reset_in_the_response_phase_keeps_the_effect(emu: Emulator, vod: VodCaller) -> None:
    """phase="response" completes the upload but loses the answer; a retry gets NoSuchUpload."""
    _video_url(vod)
    key = emu.asset(A1)["video"]["key"]  # type: ignore[index]

    def authority(**params: Any) -> str:
        return str(vod.authority(bucket="vod-bucket-emu", object_key=key, **params)
                   .json()["sign_str"])

    init = vod.obs("POST", authority(http_verb="POST", content_type="video/mp4"), b"",
                   {"Content-Type": "video/mp4"})
    upload_id = ET.fromstring(init.text).findtext("{*}UploadId") or ""
    part_url = authority(http_verb="PUT", upload_id=upload_id, part_number=1)
    etag = vod.obs("PUT", part_url, b"data",
                   {"Content-Type": "application/octet-stream"}).headers["ETag"]
    body = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag>"
            "</Part></CompleteMultipartUpload>").encode()
    emu.add_fault("reset", "obs_complete", phase="response")
    complete_url = authority(http_verb="POST", upload_id=upload_id)
    with pytest.raises(requests.ConnectionError):
        vod.obs("POST", complete_url, body, {"Content-Type": "application/xml"})
    assert emu.read_object(A1, "video") == b"data"
    again = vod.obs("POST", complete_url, body, {"Content-Type": "application/xml"})
    assert again.status_code == 404 and _code(again.text) == "NoSuchUpload"


def test_slow_fault_delays_the_answer(emu: Emulator, vod: VodCaller) -> None:
    """A slow fault answers normally after the delay."""
    emu.add_fault("slow", "asset_info", delay=0.3)
    started = time.monotonic()
    assert vod.info(A1).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_hang_fault_times_the_client_out_and_does_not_block_stop(tmp_path: Path) -> None:
    """A hang never answers; the client times out, and stop() returns promptly anyway."""
    emu = Emulator(tmp_path).start()
    try:
        emu.seed_asset(A1, "PUBLISHED")
        emu.add_fault("hang", "asset_info", count=None)
        with VodCaller(emu.url, timeout=0.3) as vod, pytest.raises(requests.ReadTimeout):
            vod.info(A1)
        outcome: list[BaseException] = []

        def patient() -> None:
            with VodCaller(emu.url, timeout=30) as vod:
                try:
                    vod.info(A1)
                except requests.RequestException as err:
                    outcome.append(err)

        waiter = threading.Thread(target=patient)
        waiter.start()
        time.sleep(0.2)
    finally:
        started = time.monotonic()
        emu.stop()
    waiter.join(5)
    assert time.monotonic() - started < 3
    assert outcome and isinstance(outcome[0], requests.ConnectionError)


def test_expired_fault_on_update_hands_out_a_stale_url(emu: Emulator, vod: VodCaller) -> None:
    """An expired fault makes the next URL already expired; the next one is fine again."""
    emu.add_fault("expired", "update_asset")
    stale = _video_url(vod)
    reply = vod.obs("PUT", stale, b"v", {"Content-Type": "video/mp4"})
    assert reply.status_code == 403 and "Request has expired" in reply.text
    emu.seed_asset(A1, "UPLOAD_FAILED")
    fresh = _video_url(vod)
    assert vod.obs("PUT", fresh, b"v", {"Content-Type": "video/mp4"}).status_code == 200


def test_expired_fault_on_an_object_request_refuses_it(emu: Emulator, vod: VodCaller) -> None:
    """An expired fault on obs_put refuses the next PUT as expired whatever its Expires."""
    url = _video_url(vod)
    emu.add_fault("expired", "obs_put")
    first = vod.obs("PUT", url, b"v", {"Content-Type": "video/mp4"})
    assert first.status_code == 403 and _code(first.text) == "AccessDenied"
    assert vod.obs("PUT", url, b"v", {"Content-Type": "video/mp4"}).status_code == 200


def test_state_faults_come_from_seeding(emu: Emulator, vod: VodCaller) -> None:
    """Seeding a status makes the asset refuse updates; "absent" makes it unknown."""
    emu.seed_asset(A1, "TRANSCODING")
    assert vod.update_asset({"asset_id": A1, "video_name": "v.mp4",
                             "video_type": "MP4"}).json()["error_code"] == "VOD.10061"
    emu.seed_asset(A1, "absent")
    assert vod.update_asset(COVER).json()["error_code"] == "VOD.10062"


def test_offline_refuses_connections_and_online_comes_back_on_the_same_port(
        emu: Emulator, vod: VodCaller) -> None:
    """go_offline() refuses connections; go_online() serves again at the same URL."""
    url = emu.url
    emu.go_offline()
    with pytest.raises(requests.ConnectionError):
        vod.info(A1)
    emu.go_online()
    assert emu.url == url
    assert vod.info(A1).status_code == 200


def test_wan_emulation_limits_rate_and_adds_latency(tmp_path: Path) -> None:
    """obs_rate_bytes_per_s paces uploads; obs_latency_ms delays each object request."""
    with Emulator(tmp_path, obs_rate_bytes_per_s=400_000, obs_latency_ms=100) as emu, \
            VodCaller(emu.url) as vod:
        emu.seed_asset(A1, "UPLOAD_FAILED")
        url = _video_url(vod)
        started = time.monotonic()
        reply = vod.obs("PUT", url, b"w" * 200_000, {"Content-Type": "video/mp4"})
        assert reply.status_code == 200
        assert time.monotonic() - started >= 0.1 + 0.4


def test_control_api_drives_the_emulator_over_http(emu: Emulator, vod: VodCaller) -> None:
    """Assets, faults, requests, objects and confirms are reachable under /_emulator/."""
    ctl = f"{emu.url}/_emulator"
    with requests.Session() as http:
        seeded = http.post(f"{ctl}/assets", json={"asset_id": A1, "status": "UPLOAD_FAILED"})
        assert seeded.json()["asset"]["status"] == "UPLOAD_FAILED"
        assert http.get(f"{ctl}/assets/{A1}").json()["asset"]["asset_id"] == A1
        assert http.get(f"{ctl}/assets/{'f' * 32}").status_code == 404
        assert http.post(f"{ctl}/faults", json={"kind": "status", "target": "asset_info",
                                               "status": 500}).json()["id"] >= 1
        assert http.post(f"{ctl}/faults", json={"kind": "melt"}).status_code == 400
        assert vod.info(A1).status_code == 500
        url = _video_url(vod)
        vod.obs("PUT", url, b"v", {"Content-Type": "video/mp4", "Content-MD5": md5_b64(b"v")})
        vod.obs("PUT", url, b"v", {"Content-Type": "video/mp4"})
        vod.confirm(A1)
        records = http.get(f"{ctl}/requests").json()["requests"]
        assert [r["operation"] for r in records] == [
            "asset_info", "update_asset", "obs_put", "obs_put", "confirm"]
        assert records[2]["error_code"] == "SignatureDoesNotMatch"
        assert records[3]["query"]["Signature"] == ["REDACTED"]
        objects = http.get(f"{ctl}/objects").json()["objects"]
        assert [o["size"] for o in objects] == [1]
        assert http.get(f"{ctl}/confirms/{A1}").json()["confirms"] == ["CREATED"]


def test_control_api_offline_comes_back_by_itself(emu: Emulator, vod: VodCaller) -> None:
    """POST /_emulator/offline answers, goes offline, and is back after the given seconds."""
    reply = requests.post(f"{emu.url}/_emulator/offline", json={"seconds": 0.5}, timeout=5)
    assert reply.status_code == 200
    time.sleep(0.4)
    with pytest.raises(requests.ConnectionError):
        vod.info(A1)
    deadline = time.monotonic() + 5
    while not emu.online and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vod.info(A1).status_code == 200


@pytest.mark.parametrize(("kind", "target", "params"), [
    ("melt", "confirm", {}), ("status", "nowhere", {}), ("status", "confirm", {"status": 418}),
    ("expired", "confirm", {}), ("reset", "obs_put", {"phase": "later"}),
    ("slow", "obs_put", {"pace": 1}),
])
def test_bad_fault_definitions_are_refused(emu: Emulator, kind: str, target: str,
                                           params: dict[str, Any]) -> None:
    """Unknown kinds, targets, statuses, phases or parameters raise ValueError."""
    with pytest.raises(ValueError):
        emu.add_fault(kind, target, **params)
