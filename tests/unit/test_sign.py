"""AK/SK signing: the official SDK's test vectors, and agreement with the SDK on any input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vodwatch.vod.sign import (
    canonical_query,
    canonical_uri,
    parse_authorization,
    parse_sdk_date,
    sign_headers,
    string_to_sign,
    verify,
)

AK = "HPUAEXAMPLEAK0000001"
SK = "exampleSecretKey0000000000000000000000001"
HOST = "vod.cn-north-4.myhuaweicloud.com"
PID = "0123456789abcdef0123456789abcdef"
DATE = "20240101T120000Z"
NOW = parse_sdk_date(DATE)

TV1_QUERY = [("http_verb", "PUT"), ("bucket", "vod-bucket-65-cn-north-4"),
             ("object_key", f"{PID}/fea62a2845e43c37b4cbfb017c0d0821/my video.mp4"),
             ("content_type", "video/mp4"), ("content_md5", "hHZXtgjYL2fmLpu+yQ+Xgg=="),
             ("upload_id", "00000173C2ED862344C835374DFE33C8"), ("part_number", "1")]
TV2_BODY = (b'{"asset_id":"f488337c31c8e4622f1590735b134c65","video_name":"a.mp4",'
            b'"video_type":"MP4","video_md5":"1B2M2Y8AsgTpgAmY7PhCfg=="}')
TV3_BODY = b'{"asset_id":"f488337c31c8e4622f1590735b134c65","status":"CREATED"}'

VECTORS = [
    ("GET", f"/v1.1/{PID}/asset/authority", TV1_QUERY,
     {"Content-Type": "application/json", "X-Sdk-Date": DATE}, b"",
     "content-type;host;x-sdk-date",
     "f88843c60124ba578c7257e7626eeeb2c6844420ba94687bf4b2cb1ac6db3eba"),
    ("PUT", f"/v1.0/{PID}/asset", [],
     {"Content-Type": "application/json;charset=UTF-8", "X-Sdk-Date": DATE,
      "X-Project-Id": PID}, TV2_BODY, "content-type;host;x-project-id;x-sdk-date",
     "b4181fc4cd1672769059a89d96c878f72526d4d48fc19f8341394597fdbf9bbd"),
    ("POST", f"/v1.0/{PID}/asset/status/uploaded", [],
     {"Content-Type": "application/json", "X-Sdk-Date": DATE}, TV3_BODY,
     "content-type;host;x-sdk-date",
     "83d2c2347f117fcf06bf01898699e7c4d833e0df46b05b3cfeaf37c334121350"),
    ("POST", f"/v1.0/{PID}/asset/status/uploaded", [],
     {"Content-Type": "application/octet-stream", "X-Sdk-Date": DATE}, b"\x00\x01binary",
     "content-type;host;x-sdk-content-sha256;x-sdk-date",
     "342ec3f3787152f39727ef51b1b7996e0f961d8e43a42dee40b3e38514287f26"),
]


@pytest.mark.parametrize(("method", "path", "query", "headers", "body", "signed", "sig"),
                         VECTORS)
def test_official_vectors(method: str, path: str, query: list[tuple[str, str]],
                          headers: dict[str, str], body: bytes, signed: str, sig: str) -> None:
    """Each of the four vectors from VOD-API.md §4.4 gives the SDK's exact Authorization."""
    out = sign_headers(ak=AK, sk=SK, method=method, host=HOST, path=path, query=query,
                       headers=headers, body=body, now=NOW)
    assert out["Authorization"] == (
        f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={signed}, Signature={sig}")
    assert out["Host"] == HOST


def test_tv1_intermediate_values() -> None:
    """The canonical URI, query and string to sign of TV1 match the documented ones."""
    assert canonical_uri(f"/v1.1/{PID}/asset/authority") == f"/v1.1/{PID}/asset/authority/"
    assert canonical_query(TV1_QUERY) == (
        "bucket=vod-bucket-65-cn-north-4&content_md5=hHZXtgjYL2fmLpu%2ByQ%2BXgg%3D%3D"
        "&content_type=video%2Fmp4&http_verb=PUT&object_key=0123456789abcdef0123456789abcdef"
        "%2Ffea62a2845e43c37b4cbfb017c0d0821%2Fmy%20video.mp4&part_number=1"
        "&upload_id=00000173C2ED862344C835374DFE33C8")
    headers = {"Content-Type": "application/json", "X-Sdk-Date": DATE, "Host": HOST}
    assert string_to_sign("GET", f"/v1.1/{PID}/asset/authority", TV1_QUERY, headers,
                          ["content-type", "host", "x-sdk-date"], b"") == (
        "SDK-HMAC-SHA256\n20240101T120000Z\n"
        "00ea45ace1a20e3c3b879647d4dec9072ba21215565a29700a35633d73475ceb")


def test_verify_accepts_own_signature_and_rejects_tampering() -> None:
    """verify() accepts a signed request and refuses it once the body changes."""
    out = sign_headers(ak=AK, sk=SK, method="PUT", host=HOST, path="/v1.0/p/asset", query=[],
                       headers={"Content-Type": "application/json"}, body=b"{}", now=NOW)
    parsed = parse_authorization(out["Authorization"])
    assert parsed is not None
    ak, signed, sig = parsed
    assert ak == AK
    assert verify(sk=SK, method="PUT", path="/v1.0/p/asset", query=[], headers=out,
                  body=b"{}", signed=signed, sig=sig)
    assert not verify(sk=SK, method="PUT", path="/v1.0/p/asset", query=[], headers=out,
                      body=b"{ }", signed=signed, sig=sig)
    assert not verify(sk="other", method="PUT", path="/v1.0/p/asset", query=[], headers=out,
                      body=b"{}", signed=signed, sig=sig)


def test_garbled_authorization_is_not_parsed() -> None:
    """A malformed Authorization header parses to None instead of raising."""
    assert parse_authorization("Basic abc") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access") is None
    assert parse_authorization("SDK-HMAC-SHA256 Access=a, Signature=b") is None


_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF,
                                       exclude_characters="\x7f"), max_size=12)
_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
                min_size=1, max_size=10).filter(lambda n: n[0] != "-")


@settings(max_examples=150, deadline=None)
@given(method=st.sampled_from(["GET", "PUT", "POST", "DELETE"]),
       segments=st.lists(_text.filter(lambda s: "/" not in s and s not in (".", "..")),
                         min_size=1, max_size=4),
       query=st.lists(st.tuples(_name, _text), max_size=5, unique_by=lambda kv: kv[0]),
       # Header names are case-insensitive: a request never has X-U and X-u both.
       extra=st.dictionaries(_name.map(lambda n: "X-" + n), _text.map(str.strip), max_size=3)
       .filter(lambda d: len({k.lower() for k in d}) == len(d)),
       content_type=st.sampled_from(["application/json", "application/json;charset=UTF-8",
                                     "application/octet-stream", "text/plain"]),
       body=st.binary(max_size=64))
def test_agrees_with_the_official_signer(method: str, segments: list[str],
                                         query: list[tuple[str, str]],
                                         extra: dict[str, str], content_type: str,
                                         body: bytes) -> None:
    """On random methods, paths, queries, headers and bodies we sign as huaweicloudsdkcore does."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    path = "/" + "/".join(segments)
    headers = {"Content-Type": content_type, "X-Sdk-Date": DATE}
    for k, v in extra.items():
        if k.lower() not in ("x-sdk-date", "x-sdk-content-sha256"):
            headers[k] = v
    req = SdkRequest(method=method, schema="https", host=HOST, resource_path=path,
                     query_params=list(query), header_params=dict(headers), body=body)
    Signer(BasicCredentials(AK, SK)).sign(req)
    ours = sign_headers(ak=AK, sk=SK, method=method, host=HOST, path=path, query=query,
                        headers=headers, body=body, now=datetime(2024, 1, 1, 12, tzinfo=UTC))
    assert ours["Authorization"] == req.header_params["Authorization"]
