"""AK/SK request signing, ``SDK-HMAC-SHA256`` (the API gateway's algorithm).

Pure: give it the request parts and the time, get the headers to send. The same
functions verify signatures in the emulator, so client and server cannot drift.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def sdk_date(now: datetime) -> str:
    """Format a time as ``X-Sdk-Date`` wants it: ``YYYYMMDDTHHMMSSZ`` in UTC."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_sdk_date(value: str) -> datetime:
    """Parse an ``X-Sdk-Date`` value; raises ValueError if malformed."""
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_uri(path: str) -> str:
    """Each segment decoded then RFC 3986-encoded, always ending in ``/``."""
    segments = [_encode(unquote(seg)) for seg in path.split("/")]
    uri = "/".join(segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: Iterable[tuple[str, str]]) -> str:
    """``k=v`` pairs sorted by raw name (then value), then encoded, joined with ``&``.

    Sorting before encoding is what the official signer does.
    """
    pairs = sorted((str(k), str(v)) for k, v in query)
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def _payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    if not body:
        return EMPTY_SHA256  # even with UNSIGNED-PAYLOAD, as the official signer does
    for name, value in headers.items():
        if name.lower() == "x-sdk-content-sha256" and value == UNSIGNED_PAYLOAD:
            return UNSIGNED_PAYLOAD
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path: str, query: Iterable[tuple[str, str]],
                   headers: Mapping[str, str], signed: list[str], body: bytes) -> str:
    """The string HMAC'd with the SK; ``signed`` is the sorted lowercase header names."""
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    canon_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in signed)
    canonical = "\n".join([
        method.upper(),
        canonical_uri(path),
        canonical_query(query),
        canon_headers,
        ";".join(signed),
        _payload_hash(headers, body),
    ])
    date = lowered.get("x-sdk-date", "")
    return f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature(sk: str, to_sign: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``to_sign`` keyed with the SK itself."""
    return hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def sign_headers(*, ak: str, sk: str, method: str, host: str, path: str,
                 query: Iterable[tuple[str, str]], headers: Mapping[str, str],
                 body: bytes, now: datetime) -> dict[str, str]:
    """Return ``headers`` plus ``X-Sdk-Date``, ``Host`` and ``Authorization``.

    Like the official SDK: every header present is signed except names that
    contain ``_``; a non-JSON/BSON Content-Type signs ``UNSIGNED-PAYLOAD``.
    """
    out = dict(headers)
    if not any(k.lower() == "x-sdk-date" for k in out):
        out["X-Sdk-Date"] = sdk_date(now)
    if not any(k.lower() == "host" for k in out):
        out["Host"] = host
    content_type = next((v for k, v in out.items() if k.lower() == "content-type"), None)
    if content_type is not None and not content_type.startswith(
            ("application/json", "application/bson")):
        out["X-Sdk-Content-Sha256"] = UNSIGNED_PAYLOAD
    query = list(query)
    signed = sorted({k.lower() for k in out if "_" not in k})
    to_sign = string_to_sign(method, path, query, out, signed, body)
    out["Authorization"] = (
        f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature(sk, to_sign)}"
    )
    return out


def parse_authorization(value: str) -> tuple[str, list[str], str] | None:
    """Split an ``Authorization`` header into (AK, signed header names, signature)."""
    if not value.startswith(ALGORITHM + " "):
        return None
    fields: dict[str, str] = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            return None
        fields[key] = val
    try:
        return fields["Access"], fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError:
        return None


def verify(*, sk: str, method: str, path: str, query: Iterable[tuple[str, str]],
           headers: Mapping[str, str], body: bytes, signed: list[str], sig: str) -> bool:
    """True when ``sig`` is the signature of this request under ``sk``."""
    expected = signature(sk, string_to_sign(method, path, query, headers, signed, body))
    return hmac.compare_digest(expected, sig)
