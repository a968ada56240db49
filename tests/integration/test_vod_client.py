"""VodClient and ObsClient over real HTTP against the emulator: answers, typed errors,
timeouts, pacing, single PUT and every multipart step.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.conftest import PID
from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from vodwatch.errors import RemoteError, TransportError
from vodwatch.vod.api import VodClient
from vodwatch.vod.http import HttpSettings, make_session
from vodwatch.vod.obs import Body, ListedPart, ObsClient, parse_object_url, url_expires

A1 = "a1" * 16
A2 = "b2" * 16
DATA = b"\x00\x01video bytes" * 100
MD5 = base64.b64encode(hashlib.md5(DATA).digest()).decode()


class RecordingPacer:
    """A fake pacer that lets every call through and remembers what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float | None]] = []
        self.stops: list[threading.Event | None] = []

    def acquire(self, group: str, stop: threading.Event | None = None) -> bool:
        self.calls.append(("acquire", group, None))
        self.stops.append(stop)
        return True

    def throttled(self, group: str, retry_after: float | None) -> None:
        self.calls.append(("throttled", group, retry_after))


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = make_session(HttpSettings(connect_timeout=2, read_timeout=5))
    yield s
    s.close()


def _client(url: str, session: requests.Session, *, sk: str = DEFAULT_SK,
            project_id: str = PID, timeout: tuple[float, float] = (2.0, 5.0),
            pacer: RecordingPacer | None = None, stop: threading.Event | None = None,
            now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> VodClient:
    return VodClient(url, project_id, DEFAULT_AK, sk, session=session, timeout=timeout,
                     pacer=pacer, stop=stop, now=now)


@pytest.fixture
def vod(emulator: Emulator, session: requests.Session) -> VodClient:
    return _client(emulator.url, session)


def _video_body(asset_id: str = A1) -> dict[str, object]:
    return {"asset_id": asset_id, "video_name": f"{asset_id}.mp4", "video_type": "MP4",
            "video_md5": MD5}


def test_update_asset_returns_upload_urls_and_starts_the_upload(emulator: Emulator,
                                                                vod: VodClient) -> None:
    """UpdateAsset with a video and cover answers both URLs; the asset is then uploading."""
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    answer = vod.update_asset({**_video_body(), "cover_type": "JPG"})
    assert answer["asset_id"] == A1
    bucket, key = parse_object_url(answer["video_upload_url"])
    assert bucket == "vod-bucket-emu" and key.startswith(f"{PID}/{A1}/") and key.endswith(".mp4")
    assert parse_object_url(answer["cover_upload_url"])[1] == f"{PID}/{A1}/cover/Cover0.jpg"
    assert vod.asset_status(A1) == "CREATING"
    (call,) = [r for r in emulator.requests if r.operation == "update_asset"]
    assert (call.method, call.path, call.status) == ("PUT", f"/v1.0/{PID}/asset", 200)
    assert call.body == {**_video_body(), "cover_type": "JPG"}


def test_confirm_after_the_upload_marks_the_asset_created(emulator: Emulator, vod: VodClient,
                                                          session: requests.Session) -> None:
    """Once the video is in the store, confirm(CREATED) is accepted and recorded."""
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    url = vod.update_asset(_video_body())["video_upload_url"]
    ObsClient(session, (2.0, 5.0)).put_object(url, DATA, "video/mp4", MD5)
    vod.confirm(A1)
    assert emulator.confirms(A1) == ["CREATED"]
    assert vod.asset_status(A1) == "CREATED"


def test_confirm_failed_gives_the_asset_back(emulator: Emulator, vod: VodClient) -> None:
    """confirm(FAILED) ends an upload without the video: the asset is UPLOAD_FAILED again."""
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    vod.update_asset(_video_body())
    vod.confirm(A1, "FAILED")
    assert emulator.confirms(A1) == ["FAILED"]
    assert vod.asset_status(A1) == "UPLOAD_FAILED"


def test_confirm_before_the_video_arrived_is_refused(emulator: Emulator,
                                                     vod: VodClient) -> None:
    """confirm(CREATED) without the object is a typed VOD.10126 error."""
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    vod.update_asset(_video_body())
    with pytest.raises(RemoteError) as info:
        vod.confirm(A1)
    assert (info.value.status, info.value.code) == (403, "VOD.10126")
    assert info.value.fault.operation == "confirm"


def test_authority_signs_a_url_for_the_assets_video_object(emulator: Emulator,
                                                           vod: VodClient) -> None:
    """authority returns a signed object-store URL for the asked verb on the video key."""
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    bucket, key = parse_object_url(vod.update_asset(_video_body())["video_upload_url"])
    url = vod.authority(http_verb="POST", bucket=bucket, object_key=key,
                        content_type="video/mp4")
    assert url.startswith(emulator.url) and "uploads" in url and "Signature=" in url
    assert parse_object_url(url) == (bucket, key)
    part = vod.authority(http_verb="PUT", bucket=bucket, object_key=key, content_md5=MD5,
                         upload_id="UP", part_number=3)
    assert "partNumber=3" in part and "uploadId=UP" in part
    (call, _) = [r for r in emulator.requests if r.operation == "authority"]
    assert call.query["http_verb"] == ["POST"] and call.query["content_type"] == ["video/mp4"]


def test_authority_outside_an_upload_is_refused(emulator: Emulator, vod: VodClient) -> None:
    """authority for an asset not uploading is VOD.10135; for another key VOD.10053."""
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    bucket, key = parse_object_url(vod.update_asset(_video_body())["video_upload_url"])
    with pytest.raises(RemoteError) as wrong_key:
        vod.authority(http_verb="GET", bucket=bucket, object_key=f"{PID}/{A1}/other.mp4",
                      upload_id="UP")
    assert (wrong_key.value.status, wrong_key.value.code) == (400, "VOD.10053")
    vod.confirm(A1, "CANCELLED")
    with pytest.raises(RemoteError) as not_uploading:
        vod.authority(http_verb="GET", bucket=bucket, object_key=key, upload_id="UP")
    assert (not_uploading.value.status, not_uploading.value.code) == (403, "VOD.10135")


def test_asset_info_reports_each_asset_and_uncreated_for_unknown(emulator: Emulator,
                                                                 vod: VodClient) -> None:
    """asset_info maps ids to their info; an unknown asset's status is UNCREATED."""
    emulator.seed_asset(A1, "CREATED")
    emulator.seed_asset(A2, "CANCELLED")
    infos = vod.asset_info([A1, A2])
    assert {k: v["status"] for k, v in infos.items()} == {A1: "CREATED", A2: "CANCELLED"}
    assert vod.asset_status("c3" * 16) == "UNCREATED"
    assert vod.asset_status(A2) == "CANCELLED"


def test_an_unknown_asset_is_a_typed_vod_10062(vod: VodClient) -> None:
    """UpdateAsset of a missing asset raises RemoteError with status, code, msg, request id."""
    with pytest.raises(RemoteError) as info:
        vod.update_asset(_video_body())
    fault = info.value.fault
    assert (fault.service, fault.operation, fault.status, fault.code) == (
        "vod", "update_asset", 403, "VOD.10062")
    assert fault.error_msg and fault.request_id
    assert fault.retry_after is None


def test_a_video_for_a_finished_asset_is_a_typed_vod_10061(emulator: Emulator,
                                                           vod: VodClient) -> None:
    """A video update of a CREATED asset raises VOD.10061 with VOD's message."""
    emulator.seed_asset(A1, "CREATED")
    with pytest.raises(RemoteError) as info:
        vod.update_asset(_video_body())
    assert (info.value.status, info.value.code) == (403, "VOD.10061")
    assert A1 in info.value.fault.error_msg and info.value.fault.request_id


def test_a_wrong_secret_key_is_a_401_apigw_0301(emulator: Emulator,
                                                session: requests.Session) -> None:
    """A request signed with another SK is refused 401 APIGW.0301, and the SK is not echoed."""
    emulator.seed_asset(A1, "CREATED")
    vod = _client(emulator.url, session, sk="not-the-right-secret-key")
    with pytest.raises(RemoteError) as info:
        vod.asset_info([A1])
    assert (info.value.status, info.value.code) == (401, "APIGW.0301")
    assert info.value.fault.request_id
    assert "not-the-right-secret-key" not in str(info.value)


def test_a_clock_far_off_is_a_401_apigw_0303(emulator: Emulator,
                                             session: requests.Session) -> None:
    """A signing time 20 minutes off is refused as APIGW.0303 (the clock, not the key)."""
    vod = _client(emulator.url, session,
                  now=lambda: datetime.now(UTC) - timedelta(minutes=20))
    with pytest.raises(RemoteError) as info:
        vod.asset_info([A1])
    assert (info.value.status, info.value.code) == (401, "APIGW.0303")


def test_another_project_id_is_refused(emulator: Emulator, session: requests.Session) -> None:
    """A path naming a project other than the emulator's is VOD.10057."""
    vod = _client(emulator.url, session, project_id="f" * 32)
    with pytest.raises(RemoteError) as info:
        vod.asset_info([A1])
    assert (info.value.status, info.value.code) == (403, "VOD.10057")


def test_a_server_error_is_typed_with_its_status(emulator: Emulator, vod: VodClient) -> None:
    """A 503 from the gateway becomes RemoteError status 503 with its code."""
    emulator.add_fault("status", "asset_info", status=503)
    with pytest.raises(RemoteError) as info:
        vod.asset_info([A1])
    assert (info.value.status, info.value.code) == (503, "APIGW.0201")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_closed_port_is_a_transport_error(session: requests.Session) -> None:
    """Nothing listening: TransportError (not a timeout), without the URL in its text."""
    vod = _client(f"http://127.0.0.1:{_closed_port()}", session)
    with pytest.raises(TransportError) as info:
        vod.update_asset(_video_body())
    assert info.value.timeout is False
    assert "connection failed" in str(info.value) and "127.0.0.1" not in str(info.value)


def test_an_answer_that_never_comes_is_a_timeout(emulator: Emulator,
                                                 session: requests.Session) -> None:
    """A hanging server makes the read timeout fire as a TransportError with timeout=True."""
    emulator.add_fault("hang", "asset_info")
    vod = _client(emulator.url, session, timeout=(2.0, 0.3))
    with pytest.raises(TransportError) as info:
        vod.asset_info([A1])
    assert info.value.timeout is True
    assert "did not come in time" in str(info.value)


def test_the_pacer_is_asked_before_each_call_in_the_right_group(
        emulator: Emulator, session: requests.Session) -> None:
    """Every call acquires its flow-control group first, with the client's stop event."""
    pacer, stop = RecordingPacer(), threading.Event()
    vod = _client(emulator.url, session, pacer=pacer, stop=stop)
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    bucket, key = parse_object_url(vod.update_asset(_video_body())["video_upload_url"])
    vod.authority(http_verb="POST", bucket=bucket, object_key=key, content_type="video/mp4")
    vod.asset_info([A1])
    vod.confirm(A1, "FAILED")
    assert pacer.calls == [("acquire", "update_asset", None), ("acquire", "upload", None),
                           ("acquire", "query", None), ("acquire", "upload", None)]
    assert pacer.stops == [stop] * 4


class RefusingPacer(RecordingPacer):
    """A fake pacer whose stop event is set: acquire answers False, as Pacer does."""

    def acquire(self, group: str, stop: threading.Event | None = None) -> bool:
        super().acquire(group, stop)
        return False


def test_no_call_goes_out_when_the_pacer_refuses(emulator: Emulator,
                                                 session: requests.Session) -> None:
    """When acquire answers False (stopping), nothing is sent and a TransportError says so."""
    stop = threading.Event()
    stop.set()
    vod = _client(emulator.url, session, pacer=RefusingPacer(), stop=stop)
    with pytest.raises(TransportError, match="stopping"):
        vod.asset_info([A1])
    assert emulator.requests == []


def test_vod_throttling_tells_the_pacer(tmp_path: Path, session: requests.Session) -> None:
    """A VOD.10127 answer (over the tenant's rate) is reported to the pacer as throttled."""
    with Emulator(tmp_path / "emu", project_id=PID, limits={"query": (1, 60.0)}) as emu:
        pacer = RecordingPacer()
        vod = _client(emu.url, session, pacer=pacer)
        vod.asset_info([A1])
        with pytest.raises(RemoteError) as info:
            vod.asset_info([A1])
    assert (info.value.status, info.value.code) == (403, "VOD.10127")
    assert pacer.calls[-1] == ("throttled", "query", None)


def test_gateway_throttling_passes_retry_after_to_the_pacer(emulator: Emulator,
                                                            session: requests.Session) -> None:
    """A 429 APIGW.0308 with Retry-After reaches the pacer with those seconds."""
    emulator.add_fault("status", "update_asset", status=429, retry_after=7)
    pacer = RecordingPacer()
    vod = _client(emulator.url, session, pacer=pacer)
    with pytest.raises(RemoteError) as info:
        vod.update_asset(_video_body())
    assert (info.value.status, info.value.code) == (429, "APIGW.0308")
    assert info.value.fault.retry_after == 7.0
    assert pacer.calls == [("acquire", "update_asset", None),
                           ("throttled", "update_asset", 7.0)]


def test_other_errors_do_not_slow_everything_down(emulator: Emulator,
                                                  session: requests.Session) -> None:
    """A business error or a 5xx is not reported to the pacer as throttling."""
    emulator.add_fault("status", "asset_info", status=500)
    pacer = RecordingPacer()
    vod = _client(emulator.url, session, pacer=pacer)
    with pytest.raises(RemoteError):
        vod.asset_info([A1])
    with pytest.raises(RemoteError):
        vod.update_asset(_video_body())
    assert [c[0] for c in pacer.calls] == ["acquire", "acquire"]


# ---- the object store through signed URLs --------------------------------------------

PART = 100 * 1024


@pytest.fixture
def obs(session: requests.Session) -> ObsClient:
    return ObsClient(session, (2.0, 5.0))


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_parse_object_url_reads_virtual_host_style() -> None:
    """A virtual-host URL gives the bucket from the host and the decoded key from the path."""
    url = ("https://bucket.obs.cn-north-4.myhuaweicloud.com:443/a%7Bb%7D/c.mp4"
           "?AWSAccessKeyId=AK&Expires=1700000000&Signature=x%2By")
    assert parse_object_url(url) == ("bucket", "a{b}/c.mp4")


def test_parse_object_url_reads_path_style() -> None:
    """A path-style URL gives the first path segment as bucket and the rest as key."""
    url = f"http://127.0.0.1:8080/vod-bucket-emu/{PID}/{A1}/f%20g.mp4?uploads&Expires=5"
    assert parse_object_url(url) == ("vod-bucket-emu", f"{PID}/{A1}/f g.mp4")
    regional = "https://obs.cn-north-4.myhuaweicloud.com/bkt/k/v.mp4?Expires=5"
    assert parse_object_url(regional) == ("bkt", "k/v.mp4")


def test_parse_object_url_keeps_a_dotted_bucket_name_whole() -> None:
    """A virtual-host bucket with dots (allowed by OBS) is everything before '.obs.'."""
    url = "https://media.vod.obs.cn-north-4.myhuaweicloud.com:443/p/a/v.mp4?Expires=5"
    assert parse_object_url(url) == ("media.vod", "p/a/v.mp4")


@pytest.mark.parametrize(("url", "expected"), [
    ("https://b.obs.x.com/k?AWSAccessKeyId=A&Expires=1700000123&Signature=s", 1700000123.0),
    ("https://b.obs.x.com/k?Signature=s", None),
    ("https://b.obs.x.com/k?Expires=soon", None),
])
def test_url_expires_reads_the_expires_parameter(url: str, expected: float | None) -> None:
    """url_expires is the Expires epoch of a signed URL, None when absent or unreadable."""
    assert url_expires(url) == expected


def _video_url(emulator: Emulator, vod: VodClient, data: bytes = DATA) -> str:
    emulator.seed_asset(A1, "UPLOAD_FAILED")
    return str(vod.update_asset({**_video_body(), "video_md5": _md5(data)})["video_upload_url"])


def test_put_object_with_the_right_md5_stores_the_bytes(emulator: Emulator, vod: VodClient,
                                                        obs: ObsClient) -> None:
    """A single PUT with the signed Content-MD5 stores the video and returns its ETag."""
    url = _video_url(emulator, vod)
    assert url_expires(url) is not None
    etag = obs.put_object(url, DATA, "video/mp4", MD5)
    assert etag == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert emulator.read_object(A1, "video") == DATA


def test_put_object_streams_a_body_with_a_content_length(emulator: Emulator, vod: VodClient,
                                                         obs: ObsClient) -> None:
    """A Body of chunks goes out with Content-Length (the store refuses chunked uploads)."""
    url = _video_url(emulator, vod)
    chunks = iter([DATA[:500], DATA[500:]])
    obs.put_object(url, Body(chunks, len(DATA)), "video/mp4", MD5)
    assert emulator.read_object(A1, "video") == DATA


def test_put_object_with_bytes_not_matching_the_md5_is_bad_digest(
        emulator: Emulator, vod: VodClient, obs: ObsClient) -> None:
    """Bytes that do not match Content-MD5 raise a typed BadDigest without the URL in it."""
    url = _video_url(emulator, vod)
    with pytest.raises(RemoteError) as info:
        obs.put_object(url, DATA + b"!", "video/mp4", MD5)
    fault = info.value.fault
    assert (fault.service, fault.operation, fault.status, fault.code) == (
        "obs", "put_object", 400, "BadDigest")
    assert fault.error_msg and fault.request_id
    assert "Signature" not in str(info.value) and emulator.url not in str(info.value)
    assert emulator.read_object(A1, "video") is None


def test_put_object_with_another_md5_than_signed_fails_the_signature(
        emulator: Emulator, vod: VodClient, obs: ObsClient) -> None:
    """A Content-MD5 other than the one VOD signed is SignatureDoesNotMatch."""
    url = _video_url(emulator, vod)
    with pytest.raises(RemoteError) as info:
        obs.put_object(url, b"other", "video/mp4", _md5(b"other"))
    assert (info.value.status, info.value.code) == (403, "SignatureDoesNotMatch")


def test_an_expired_url_is_refused_as_access_denied(emulator: Emulator, vod: VodClient,
                                                    obs: ObsClient) -> None:
    """The store refuses a PUT through an expired URL with 403 AccessDenied."""
    url = _video_url(emulator, vod)
    emulator.add_fault("expired", "obs_put")
    with pytest.raises(RemoteError) as info:
        obs.put_object(url, DATA, "video/mp4", MD5)
    assert (info.value.status, info.value.code) == (403, "AccessDenied")
    assert "expired" in info.value.fault.error_msg


def test_a_dropped_connection_is_a_transport_error(emulator: Emulator, vod: VodClient,
                                                   obs: ObsClient) -> None:
    """A reset in the middle of the body is a TransportError whose text has no URL."""
    url = _video_url(emulator, vod)
    emulator.add_fault("reset", "obs_put", after_bytes=100)
    with pytest.raises(TransportError) as info:
        obs.put_object(url, DATA, "video/mp4", MD5)
    assert "Signature" not in str(info.value) and "127.0.0.1" not in str(info.value)


def _multipart(emulator: Emulator, vod: VodClient, obs: ObsClient, data: bytes
               ) -> tuple[str, str, str]:
    """Start a multipart upload of ``data`` as A1's video; (bucket, key, upload id)."""
    bucket, key = parse_object_url(_video_url(emulator, vod, data))
    upload_id = obs.initiate(vod.authority(http_verb="POST", bucket=bucket, object_key=key,
                                           content_type="video/mp4"), "video/mp4")
    return bucket, key, upload_id


def _send_part(vod: VodClient, obs: ObsClient, bucket: str, key: str, upload_id: str,
               n: int, chunk: bytes) -> str:
    url = vod.authority(http_verb="PUT", bucket=bucket, object_key=key,
                        content_md5=_md5(chunk), upload_id=upload_id, part_number=n)
    return obs.upload_part(url, chunk, _md5(chunk))


def test_a_full_multipart_upload_through_authority_urls(emulator: Emulator, vod: VodClient,
                                                        obs: ObsClient) -> None:
    """Initiate, five parts, a paged ListParts, complete: the object is byte-identical."""
    data = bytes(range(256)) * (PART * 4 // 256) + b"tail" * 1000
    bucket, key, upload_id = _multipart(emulator, vod, obs, data)
    chunks = [data[i:i + PART] for i in range(0, len(data), PART)]
    assert len(chunks) == 5
    etags = [_send_part(vod, obs, bucket, key, upload_id, n, c)
             for n, c in enumerate(chunks, 1)]
    assert etags == [f'"{hashlib.md5(c).hexdigest()}"' for c in chunks]
    list_url = vod.authority(http_verb="GET", bucket=bucket, object_key=key,
                             upload_id=upload_id)
    emulator.clear_requests()
    listed = obs.list_parts(list_url + "&max-parts=2")
    assert listed == [ListedPart(n, e, len(c)) for n, (e, c) in
                      enumerate(zip(etags, chunks, strict=True), 1)]
    pages = [r for r in emulator.requests if r.operation == "obs_list"]
    assert [(r.status, r.query.get("part-number-marker")) for r in pages] == [
        (200, None), (200, ["2"]), (200, ["4"])]
    obs.complete(vod.authority(http_verb="POST", bucket=bucket, object_key=key,
                               upload_id=upload_id), list(enumerate(etags, 1)))
    assert emulator.read_object(A1, "video") == data
    assert emulator.uploads() == []
    vod.confirm(A1)
    assert emulator.confirms(A1) == ["CREATED"]


def test_a_part_with_bytes_not_matching_its_md5_is_bad_digest(
        emulator: Emulator, vod: VodClient, obs: ObsClient) -> None:
    """UploadPart checks each part's Content-MD5: other bytes raise BadDigest."""
    bucket, key, upload_id = _multipart(emulator, vod, obs, DATA)
    url = vod.authority(http_verb="PUT", bucket=bucket, object_key=key,
                        content_md5=_md5(b"part"), upload_id=upload_id, part_number=1)
    with pytest.raises(RemoteError) as info:
        obs.upload_part(url, b"trap", _md5(b"part"))
    assert (info.value.fault.operation, info.value.code) == ("upload_part", "BadDigest")
    assert emulator.uploads()[0]["parts"] == []


def test_complete_with_a_wrong_etag_is_invalid_part(emulator: Emulator, vod: VodClient,
                                                    obs: ObsClient) -> None:
    """Completing with an ETag the store does not have raises InvalidPart."""
    bucket, key, upload_id = _multipart(emulator, vod, obs, DATA)
    _send_part(vod, obs, bucket, key, upload_id, 1, DATA)
    with pytest.raises(RemoteError) as info:
        obs.complete(vod.authority(http_verb="POST", bucket=bucket, object_key=key,
                                   upload_id=upload_id), [(1, '"00"')])
    assert (info.value.status, info.value.code) == (400, "InvalidPart")


def test_an_aborted_upload_is_gone_from_the_store(emulator: Emulator, vod: VodClient,
                                                  obs: ObsClient) -> None:
    """After abort, the upload is gone: ListParts raises NoSuchUpload (404)."""
    bucket, key, upload_id = _multipart(emulator, vod, obs, DATA)
    _send_part(vod, obs, bucket, key, upload_id, 1, DATA)
    obs.abort(vod.authority(http_verb="DELETE", bucket=bucket, object_key=key,
                            upload_id=upload_id))
    assert emulator.uploads() == []
    with pytest.raises(RemoteError) as info:
        obs.list_parts(vod.authority(http_verb="GET", bucket=bucket, object_key=key,
                                     upload_id=upload_id))
    assert (info.value.status, info.value.code) == (404, "NoSuchUpload")


def test_listing_an_upload_without_parts_is_empty(emulator: Emulator, vod: VodClient,
                                                  obs: ObsClient) -> None:
    """ListParts of a fresh upload returns no parts."""
    bucket, key, upload_id = _multipart(emulator, vod, obs, DATA)
    assert obs.list_parts(vod.authority(http_verb="GET", bucket=bucket, object_key=key,
                                        upload_id=upload_id)) == []
