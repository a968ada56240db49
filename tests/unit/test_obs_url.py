"""OBS V2 query-string signatures: make and verify."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from vodwatch.vod import obs_url

AK, SK = "OBSTESTAK", "obs-test-secret"
NOW = 1_700_000_000


def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_signature_matches_the_published_s3_v2_example() -> None:
    """The HMAC-SHA1 signature equals the published AWS S3 query-auth example."""
    to_sign = obs_url.string_to_sign(verb="GET", content_md5="", content_type="",
                                     expires=1175139620, bucket="johnsmith",
                                     key="photos/puppy.jpg")
    assert to_sign == "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg"
    assert obs_url.signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             to_sign) == "NpgCjnDzrM+WFzoENXmpNDUsSn8="


def test_string_to_sign_sorts_subresources_and_ignores_plain_parameters() -> None:
    """Sub-resources are sorted into the resource; max-parts is not signed."""
    text = obs_url.string_to_sign(
        verb="put", content_md5="abc==", content_type="application/octet-stream",
        expires=5, bucket="b", key="p/a b.mp4",
        subresources=[("uploadId", "U1"), ("partNumber", "3"), ("max-parts", "2")])
    assert text == ("PUT\nabc==\napplication/octet-stream\n5\n"
                    "/b/p/a%20b.mp4?partNumber=3&uploadId=U1")


def test_string_to_sign_writes_a_bare_subresource_without_value() -> None:
    """``uploads`` is signed as a bare name."""
    text = obs_url.string_to_sign(verb="POST", content_md5="", content_type="video/mp4",
                                  expires=9, bucket="b", key="k", subresources=[("uploads", None)])
    assert text.endswith("\n/b/k?uploads")


def test_make_signed_url_is_path_style_with_auth_parameters_last() -> None:
    """The URL is ``base/bucket/key?subresources&AWSAccessKeyId&Expires&Signature``."""
    url = obs_url.make_signed_url(base_url="http://127.0.0.1:9/", bucket="b", key="p/k.mp4",
                                  ak=AK, sk=SK, verb="PUT", expires=NOW,
                                  subresources=[("partNumber", "1"), ("uploadId", "X")])
    split = urlsplit(url)
    assert split.path == "/b/p/k.mp4"
    assert [k for k, _ in _query(url)] == ["partNumber", "uploadId", "AWSAccessKeyId",
                                           "Expires", "Signature"]
    assert "+" not in split.query and "/" not in split.query.split("Signature=")[1]


def _verify(url: str, *, verb: str = "PUT", md5: str = "", ctype: str = "video/mp4",
            now: float = NOW - 10, sk: str = SK) -> obs_url.Check:
    split = urlsplit(url)
    bucket, _, key = unquote(split.path).lstrip("/").partition("/")
    check, _ = obs_url.verify(ak=AK, sk=sk, verb=verb, bucket=bucket, key=key,
                              query=_query(url), content_md5=md5, content_type=ctype, now=now)
    return check


@pytest.fixture
def put_url() -> str:
    return obs_url.make_signed_url(base_url="http://h", bucket="b", key="p/my video.mp4",
                                   ak=AK, sk=SK, verb="PUT", expires=NOW,
                                   content_type="video/mp4", content_md5="XrY7u+Ae7tCTyyK7j1rNww==")


def test_verify_accepts_the_request_it_signed(put_url: str) -> None:
    """Same verb, Content-Type and Content-MD5 verify OK."""
    assert _verify(put_url, md5="XrY7u+Ae7tCTyyK7j1rNww==") is obs_url.Check.OK


@pytest.mark.parametrize(("change", "expected"), [
    ({"ctype": "video/mpeg", "md5": "XrY7u+Ae7tCTyyK7j1rNww=="}, obs_url.Check.MISMATCH),
    ({"md5": ""}, obs_url.Check.MISMATCH),
    ({"verb": "POST", "md5": "XrY7u+Ae7tCTyyK7j1rNww=="}, obs_url.Check.MISMATCH),
    ({"sk": "other", "md5": "XrY7u+Ae7tCTyyK7j1rNww=="}, obs_url.Check.MISMATCH),
    ({"now": NOW + 1, "md5": "XrY7u+Ae7tCTyyK7j1rNww=="}, obs_url.Check.EXPIRED),
])
def test_verify_rejects_any_change(put_url: str, change: dict[str, object],
                                   expected: obs_url.Check) -> None:
    """A different Content-Type, MD5, verb or key fails; a passed Expires is EXPIRED."""
    assert _verify(put_url, **change) is expected  # type: ignore[arg-type]


def test_verify_reports_missing_and_unknown_keys(put_url: str) -> None:
    """No auth parameters is MISSING; another AWSAccessKeyId is UNKNOWN_KEY."""
    assert _verify(put_url.split("?")[0]) is obs_url.Check.MISSING
    other = put_url.replace(f"AWSAccessKeyId={AK}", "AWSAccessKeyId=SOMEONE")
    assert _verify(other, md5="XrY7u+Ae7tCTyyK7j1rNww==") is obs_url.Check.UNKNOWN_KEY


def test_verify_allows_unsigned_paging_parameters() -> None:
    """max-parts and part-number-marker may be appended to a signed list URL."""
    url = obs_url.make_signed_url(base_url="http://h", bucket="b", key="k", ak=AK, sk=SK,
                                  verb="GET", expires=NOW, subresources=[("uploadId", "U")])
    assert _verify(url + "&max-parts=2&part-number-marker=4", verb="GET",
                   ctype="") is obs_url.Check.OK
