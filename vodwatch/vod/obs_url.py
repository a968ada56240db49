"""OBS "V2" query-string signatures: the signed upload URLs VOD hands out.

The string to sign is (VOD-API.md §3.3)::

    VERB \\n Content-MD5 \\n Content-Type \\n Expires \\n <x-obs-* headers><resource>

where ``resource`` is ``/bucket/key`` (the key percent-encoded with ``/`` kept)
followed by the signed sub-resources sorted by name (``?partNumber=1&uploadId=X``,
``?uploads``). The signature is base64 of HMAC-SHA1 keyed with the SK.

Pure functions: the emulator makes and checks URLs with them, so the two sides
cannot drift. ``max-parts`` and ``part-number-marker`` are not sub-resources, so
they can be added to a signed URL without breaking it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from urllib.parse import quote

# Sub-resources that are part of the signed resource (others, such as
# ``max-parts``, are plain parameters).
SUBRESOURCES = frozenset({
    "acl", "append", "cors", "delete", "length", "lifecycle", "location", "logging",
    "metadata", "notification", "partNumber", "policy", "position", "quota", "replication",
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore",
    "storageClass", "storagePolicy", "storageinfo", "tagging", "torrent", "uploadId",
    "uploads", "versionId", "versioning", "versions", "website",
})
AUTH_PARAMS = ("AWSAccessKeyId", "Expires", "Signature")
_HEADER_PREFIXES = ("x-obs-", "x-amz-")


class Check(StrEnum):
    """Outcome of checking a signed request."""

    OK = "ok"
    MISSING = "missing"          # no AWSAccessKeyId / Expires / Signature
    UNKNOWN_KEY = "unknown_key"  # AWSAccessKeyId is not the one we sign with
    EXPIRED = "expired"          # Expires is in the past
    MISMATCH = "mismatch"        # signature differs


def encode_key(key: str) -> str:
    """Percent-encode an object key for a URL path, keeping ``/``."""
    return quote(key, safe="/")


def canonical_resource(bucket: str, key: str,
                       subresources: Iterable[tuple[str, str | None]] = ()) -> str:
    """``/bucket/key`` plus the signed sub-resources, sorted by name."""
    picked = sorted((name, value) for name, value in subresources if name in SUBRESOURCES)
    resource = f"/{bucket}/{encode_key(key)}" if key else f"/{bucket}/"
    if not picked:
        return resource
    parts = [name if not value else f"{name}={value}" for name, value in picked]
    return resource + "?" + "&".join(parts)


def string_to_sign(*, verb: str, content_md5: str, content_type: str, expires: int,
                   bucket: str, key: str,
                   subresources: Iterable[tuple[str, str | None]] = (),
                   obs_headers: Mapping[str, str] | None = None) -> str:
    """The exact text HMAC'd for a V2 query-string signature."""
    headers = sorted(
        (name.lower(), value.strip()) for name, value in (obs_headers or {}).items()
        if name.lower().startswith(_HEADER_PREFIXES)
    )
    canon_headers = "".join(f"{name}:{value}\n" for name, value in headers)
    return (f"{verb.upper()}\n{content_md5}\n{content_type}\n{expires}\n"
            f"{canon_headers}{canonical_resource(bucket, key, subresources)}")


def signature(sk: str, to_sign: str) -> str:
    """Base64 HMAC-SHA1 of ``to_sign`` keyed with ``sk`` (not yet URL-encoded)."""
    digest = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def make_signed_url(*, base_url: str, bucket: str, key: str, ak: str, sk: str, verb: str,
                    expires: int, content_type: str = "", content_md5: str = "",
                    subresources: Sequence[tuple[str, str | None]] = ()) -> str:
    """A path-style URL ``{base_url}/{bucket}/{key}?{subresources}&AWSAccessKeyId=..``.

    ``subresources`` keep their order in the URL (``uploads`` has value None);
    the signature covers verb, Content-MD5, Content-Type, Expires and resource.
    """
    to_sign = string_to_sign(verb=verb, content_md5=content_md5, content_type=content_type,
                             expires=expires, bucket=bucket, key=key,
                             subresources=subresources)
    params = [name if value is None else f"{name}={quote(value, safe='')}"
              for name, value in subresources]
    params += [f"AWSAccessKeyId={quote(ak, safe='')}", f"Expires={expires}",
               f"Signature={quote(signature(sk, to_sign), safe='')}"]
    return f"{base_url.rstrip('/')}/{bucket}/{encode_key(key)}?{'&'.join(params)}"


def verify(*, ak: str, sk: str, verb: str, bucket: str, key: str,
           query: Sequence[tuple[str, str]], content_md5: str, content_type: str,
           now: float, obs_headers: Mapping[str, str] | None = None) -> tuple[Check, str]:
    """Check a request made to a signed URL.

    ``query`` is the decoded query (name, value) pairs, a bare name having value
    ``""``. Returns the verdict and the string the server expected to be signed
    (handy in a SignatureDoesNotMatch error).
    """
    values = dict(query)
    if any(name not in values for name in AUTH_PARAMS):
        return Check.MISSING, ""
    subresources = [(name, value or None) for name, value in query if name in SUBRESOURCES]
    try:
        expires = int(values["Expires"])
    except ValueError:
        return Check.MISSING, ""
    to_sign = string_to_sign(verb=verb, content_md5=content_md5, content_type=content_type,
                             expires=expires, bucket=bucket, key=key,
                             subresources=subresources, obs_headers=obs_headers)
    if values["AWSAccessKeyId"] != ak:
        return Check.UNKNOWN_KEY, to_sign
    if expires < now:
        return Check.EXPIRED, to_sign
    if not hmac.compare_digest(signature(sk, to_sign), values["Signature"]):
        return Check.MISMATCH, to_sign
    return Check.OK, to_sign
