"""The emulator's object store over real HTTP: signed single PUTs, multipart, S3 mode."""

from __future__ import annotations

import hashlib
import http.client
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from vodwatch.emulator import Emulator
from vodwatch.emulator.testing import VodCaller, md5_b64

A1 = "a1" * 16
BUCKET = "vod-bucket-emu"
PART = 100 * 1024


def _xml(text: str) -> dict[str, str]:
    """Leaf elements of an XML body by local name (last one wins)."""
    return {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in ET.fromstring(text).iter()}


def _start(emu: Emulator, vod: VodCaller, md5: str | None = None,
           **extra: object) -> dict[str, Any]:
    emu.seed_asset(A1, "UPLOAD_FAILED")
    body = {"asset_id": A1, "video_name": "v.mp4", "video_type": "MP4", **extra}
    if md5:
        body["video_md5"] = md5
    reply = vod.update_asset(body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_single_put_with_the_signed_headers_stores_the_video(emu: Emulator,
                                                             vod: VodCaller) -> None:
    """A PUT with the signed Content-Type and Content-MD5 is stored; ETag is the quoted hex MD5."""
    data = b"\x00video" * 5000
    url = _start(emu, vod, md5_b64(data))["video_upload_url"]
    reply = vod.obs("PUT", url, data, {"Content-Type": "video/mp4", "Content-MD5": md5_b64(data)})
    assert reply.status_code == 200
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert emu.read_object(A1, "video") == data
    assert emu.object_path(A1, "video").is_relative_to(emu.data_dir)  # type: ignore[union-attr]


def test_cover_and_subtitle_puts_use_their_content_types(emu: Emulator, vod: VodCaller) -> None:
    """A JPG cover is signed for image/jpeg, subtitles for application/octet-stream."""
    urls = _start(emu, vod, cover_type="JPG",
                  subtitles=[{"id": 2, "type": "SRT", "language": "EN"}])
    assert vod.obs("PUT", urls["cover_upload_url"], b"jpg",
                   {"Content-Type": "image/jpg"}).status_code == 403
    assert vod.obs("PUT", urls["cover_upload_url"], b"jpg",
                   {"Content-Type": "image/jpeg"}).status_code == 200
    assert vod.obs("PUT", urls["subtitle_upload_urls"][0], b"1\n",
                   {"Content-Type": "application/octet-stream"}).status_code == 200
    assert emu.read_object(A1, "cover") == b"jpg"
    assert emu.read_object(A1, "subtitle", 2) == b"1\n"
    assert emu.read_object(A1, "subtitle", 3) is None


@pytest.mark.parametrize("headers", [
    {"Content-Type": "video/mpeg"},
    {"Content-Type": "video/mp4"},  # Content-MD5 was signed but is missing
    {"Content-MD5": "placeholder"},  # Content-Type missing
])
def test_headers_other_than_the_signed_ones_fail_the_signature(
        emu: Emulator, vod: VodCaller, headers: dict[str, str]) -> None:
    """Another Content-Type or a missing Content-MD5 gets 403 SignatureDoesNotMatch."""
    data = b"abc"
    url = _start(emu, vod, md5_b64(data))["video_upload_url"]
    headers = {k: (md5_b64(data) if v == "placeholder" else v) for k, v in headers.items()}
    reply = vod.obs("PUT", url, data, headers)
    assert reply.status_code == 403
    error = _xml(reply.text)
    assert error["Code"] == "SignatureDoesNotMatch" and error["RequestId"]
    assert "StringToSign" in error
    assert emu.read_object(A1, "video") is None


def test_body_not_matching_the_md5_gets_bad_digest(emu: Emulator, vod: VodCaller) -> None:
    """Signed headers right but another body gets 400 BadDigest and stores nothing."""
    data = b"the real file"
    url = _start(emu, vod, md5_b64(data))["video_upload_url"]
    reply = vod.obs("PUT", url, b"something else",
                    {"Content-Type": "video/mp4", "Content-MD5": md5_b64(data)})
    assert reply.status_code == 400 and _xml(reply.text)["Code"] == "BadDigest"
    assert emu.read_object(A1, "video") is None


def test_expired_and_tampered_urls_are_refused(tmp_path: Path) -> None:
    """A URL past its Expires gets AccessDenied "Request has expired"; a changed one fails."""
    clock_now = [1_800_000_000.0]
    with Emulator(tmp_path, url_ttl_seconds=60, clock=lambda: clock_now[0]) as emu:
        from datetime import UTC, datetime
        with VodCaller(emu.url, now=lambda: datetime.fromtimestamp(clock_now[0], UTC)) as vod:
            url = _start(emu, vod)["video_upload_url"]
            tampered = vod.obs("PUT", url.replace("Signature=", "Signature=x"), b"v",
                               {"Content-Type": "video/mp4"})
            assert _xml(tampered.text)["Code"] == "SignatureDoesNotMatch"
            unsigned = vod.obs("PUT", url.split("?")[0], b"v", {"Content-Type": "video/mp4"})
            assert _xml(unsigned.text)["Code"] == "AccessDenied"
            clock_now[0] += 61
            late = vod.obs("PUT", url, b"v", {"Content-Type": "video/mp4"})
            assert late.status_code == 403
            error = _xml(late.text)
            assert (error["Code"], error["Message"]) == ("AccessDenied", "Request has expired")


def _authority(vod: VodCaller, key: str, **params: object) -> str:
    reply = vod.authority(bucket=BUCKET, object_key=key, **params)  # type: ignore[arg-type]
    assert reply.status_code == 200, reply.text
    return str(reply.json()["sign_str"])


def _initiate(emu: Emulator, vod: VodCaller) -> tuple[str, str]:
    _start(emu, vod)
    key = str(emu.asset(A1)["video"]["key"])  # type: ignore[index]
    url = _authority(vod, key, http_verb="POST", content_type="video/mp4")
    reply = vod.obs("POST", url, b"", {"Content-Type": "video/mp4"})
    assert reply.status_code == 200, reply.text
    root = ET.fromstring(reply.text)
    assert root.tag == "{http://obs.cn-north-4.myhuaweicloud.com/doc/2015-06-30/}" \
                       "InitiateMultipartUploadResult"
    fields = _xml(reply.text)
    assert (fields["Bucket"], fields["Key"]) == (BUCKET, key)
    return key, fields["UploadId"]


def _put_part(vod: VodCaller, key: str, upload_id: str, number: int, data: bytes,
              md5: str | None = None) -> requests.Response:
    md5 = md5 or md5_b64(data)
    url = _authority(vod, key, http_verb="PUT", upload_id=upload_id, part_number=number,
                     content_md5=md5)
    return vod.obs("PUT", url, data, {"Content-Type": "application/octet-stream",
                                      "Content-MD5": md5})


def _complete(vod: VodCaller, key: str, upload_id: str,
              parts: list[tuple[int, str]]) -> requests.Response:
    url = _authority(vod, key, http_verb="POST", upload_id=upload_id)
    body = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts
    ) + "</CompleteMultipartUpload>"
    return vod.obs("POST", url, body.encode(), {"Content-Type": "application/xml"})


def test_full_multipart_flow_with_parallel_parts(emu: Emulator, vod: VodCaller) -> None:
    """Initiate, parallel parts, list, complete, confirm: the object is the parts in order."""
    key, upload_id = _initiate(emu, vod)
    chunks = [bytes([i]) * PART for i in range(1, 5)] + [b"tail"]

    def send(number: int) -> str:
        with VodCaller(emu.url) as own:
            reply = _put_part(own, key, upload_id, number, chunks[number - 1])
            assert reply.status_code == 200, reply.text
            return str(reply.headers["ETag"])

    with ThreadPoolExecutor(4) as pool:
        etags = list(pool.map(send, range(1, 6)))
    assert etags[0] == f'"{hashlib.md5(chunks[0]).hexdigest()}"'
    listed = vod.obs("GET", _authority(vod, key, http_verb="GET", upload_id=upload_id))
    parts = [(int(p.findtext("{*}PartNumber") or 0), p.findtext("{*}ETag"), p.findtext("{*}Size"))
             for p in ET.fromstring(listed.text).findall(".//{*}Part")]
    assert parts == [(n, etags[n - 1], str(len(chunks[n - 1]))) for n in range(1, 6)]
    done = _complete(vod, key, upload_id, list(enumerate(etags, 1)))
    assert done.status_code == 200, done.text
    expected = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest()
    assert _xml(done.text)["ETag"] == f'"{expected}-5"'
    assert emu.read_object(A1, "video") == b"".join(chunks)
    assert emu.uploads() == []
    assert vod.confirm(A1).status_code == 200


def test_list_parts_pages_with_max_parts_and_marker(emu: Emulator, vod: VodCaller) -> None:
    """max-parts and part-number-marker page the part list; IsTruncated and the marker follow."""
    key, upload_id = _initiate(emu, vod)
    for number in range(1, 6):
        assert _put_part(vod, key, upload_id, number, b"p%d" % number).status_code == 200
    url = _authority(vod, key, http_verb="GET", upload_id=upload_id)
    first = _xml(vod.obs("GET", url + "&max-parts=2").text)
    assert (first["IsTruncated"], first["NextPartNumberMarker"], first["MaxParts"]) == (
        "true", "2", "2")
    last = vod.obs("GET", url + "&max-parts=2&part-number-marker=4").text
    numbers = [p.text for p in ET.fromstring(last).findall(".//{*}PartNumber")]
    assert numbers == ["5"] and _xml(last)["IsTruncated"] == "false"


def test_part_with_a_wrong_md5_gets_bad_digest(emu: Emulator, vod: VodCaller) -> None:
    """A part whose body does not match Content-MD5 gets 400 BadDigest."""
    key, upload_id = _initiate(emu, vod)
    reply = _put_part(vod, key, upload_id, 1, b"other body", md5=md5_b64(b"the part"))
    assert reply.status_code == 400 and _xml(reply.text)["Code"] == "BadDigest"


def test_complete_enforces_obs_rules(emu: Emulator, vod: VodCaller) -> None:
    """A wrong ETag, unordered parts or a small middle part are refused with the OBS code."""
    key, upload_id = _initiate(emu, vod)
    etags = {n: _put_part(vod, key, upload_id, n, data).headers["ETag"]
             for n, data in ((1, b"x" * PART), (2, b"small"), (3, b"end"))}
    cases = [
        ([(1, '"0123"'), (3, etags[3])], "InvalidPart"),
        ([(1, etags[1]), (4, etags[3])], "InvalidPart"),
        ([(3, etags[3]), (1, etags[1])], "InvalidPartOrder"),
        ([(1, etags[1]), (2, etags[2]), (3, etags[3])], "EntityTooSmall"),
    ]
    for parts, code in cases:
        reply = _complete(vod, key, upload_id, parts)
        assert (reply.status_code, _xml(reply.text)["Code"]) == (400, code)
    # Leaving out part 2 is allowed; it is dropped.
    done = _complete(vod, key, upload_id, [(1, etags[1]), (3, etags[3])])
    assert done.status_code == 200
    assert emu.read_object(A1, "video") == b"x" * PART + b"end"


def test_unknown_or_finished_upload_gets_no_such_upload(emu: Emulator, vod: VodCaller) -> None:
    """Parts, list and complete on an unknown or aborted upload ID get 404 NoSuchUpload."""
    key, upload_id = _initiate(emu, vod)
    assert _put_part(vod, key, upload_id, 1, b"a").status_code == 200
    abort = vod.obs("DELETE", _authority(vod, key, http_verb="DELETE", upload_id=upload_id))
    assert abort.status_code == 204
    for reply in (_put_part(vod, key, upload_id, 2, b"b"),
                  _put_part(vod, key, "NOPE", 1, b"b"),
                  vod.obs("GET", _authority(vod, key, http_verb="GET", upload_id=upload_id)),
                  _complete(vod, key, upload_id, [(1, '"x"')])):
        assert (reply.status_code, _xml(reply.text)["Code"]) == (404, "NoSuchUpload")


def test_initiate_with_another_content_type_fails_the_signature(
        emu: Emulator, vod: VodCaller) -> None:
    """Initiate must send exactly the content_type given to the authority call."""
    _start(emu, vod)
    key = str(emu.asset(A1)["video"]["key"])  # type: ignore[index]
    url = _authority(vod, key, http_verb="POST", content_type="video/mp4")
    reply = vod.obs("POST", url, b"", {"Content-Type": "application/octet-stream"})
    assert _xml(reply.text)["Code"] == "SignatureDoesNotMatch"


def _raw(emu: Emulator, method: str, path: str, body: bytes,
         headers: dict[str, str]) -> tuple[int, bytes]:
    split = urlsplit(emu.url)
    conn = http.client.HTTPConnection(split.hostname or "", split.port, timeout=5)
    try:
        conn.putrequest(method, path)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            conn.send(body)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def test_chunked_bodies_are_refused_with_411(emu: Emulator, vod: VodCaller) -> None:
    """Transfer-Encoding: chunked gets 411 MissingContentLength."""
    url = _start(emu, vod)["video_upload_url"]
    split = urlsplit(url)
    status, body = _raw(emu, "PUT", f"{split.path}?{split.query}", b"3\r\nabc\r\n0\r\n\r\n",
                        {"Transfer-Encoding": "chunked", "Content-Type": "video/mp4"})
    assert status == 411 and b"MissingContentLength" in body


def test_connections_are_kept_alive_between_requests(emu: Emulator, vod: VodCaller) -> None:
    """Several requests share one HTTP/1.1 connection."""
    split = urlsplit(emu.url)
    conn = http.client.HTTPConnection(split.hostname or "", split.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("GET", "/_emulator/stats")
            reply = conn.getresponse()
            reply.read()
            assert reply.status == 200 and reply.version == 11
        assert conn.sock is not None
    finally:
        conn.close()


S3_AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request,"
                            " SignedHeaders=host, Signature=00", "x-amz-content-sha256": "UNSIGNED"}


def test_s3_compat_mode_serves_aws_signed_requests(tmp_path: Path) -> None:
    """With s3_compat, AWS-signed bucket, object, listing and multipart calls work."""
    with Emulator(tmp_path, s3_compat=True) as emu, requests.Session() as s3:
        base = emu.url
        assert s3.put(f"{base}/bkt", headers=S3_AUTH).status_code == 200
        assert s3.head(f"{base}/bkt", headers=S3_AUTH).status_code == 200
        put = s3.put(f"{base}/bkt/dir/one.bin", data=b"one", headers={
            **S3_AUTH, "Content-MD5": md5_b64(b"one"), "x-amz-meta-mtime": "7"})
        assert put.headers["ETag"] == f'"{hashlib.md5(b"one").hexdigest()}"'
        head = s3.head(f"{base}/bkt/dir/one.bin", headers=S3_AUTH)
        assert head.headers["Content-Length"] == "3" and head.headers["x-amz-meta-mtime"] == "7"
        assert s3.get(f"{base}/bkt/dir/one.bin", headers={**S3_AUTH, "Range": "bytes=1-"}
                      ).content == b"ne"
        assert s3.head(f"{base}/bkt/missing", headers=S3_AUTH).status_code == 404
        init = s3.post(f"{base}/bkt/big.bin?uploads", headers=S3_AUTH)
        upload_id = _xml(init.text)["UploadId"]
        etag = s3.put(f"{base}/bkt/big.bin?partNumber=1&uploadId={upload_id}", data=b"p1",
                      headers=S3_AUTH).headers["ETag"]
        done = s3.post(f"{base}/bkt/big.bin?uploadId={upload_id}", headers=S3_AUTH,
                       data=f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                            f"<ETag>{etag}</ETag></Part></CompleteMultipartUpload>")
        assert done.status_code == 200 and _xml(done.text)["ETag"].endswith('-1"')
        listing = s3.get(f"{base}/bkt?list-type=2&prefix=&delimiter=/", headers=S3_AUTH).text
        assert re.findall(r"<Key>([^<]+)</Key>", listing) == ["big.bin"]
        assert "<Prefix>dir/</Prefix>" in listing
        assert "<Name>bkt</Name>" in s3.get(f"{base}/", headers=S3_AUTH).text
        assert s3.delete(f"{base}/bkt/big.bin", headers=S3_AUTH).status_code == 204


def test_aws_signed_requests_are_refused_without_s3_compat(emu: Emulator) -> None:
    """Without s3_compat, an AWS-signed PUT gets 403 AccessDenied."""
    reply = requests.put(f"{emu.url}/bkt/k", data=b"x", headers=S3_AUTH, timeout=5)
    assert reply.status_code == 403 and _xml(reply.text)["Code"] == "AccessDenied"
