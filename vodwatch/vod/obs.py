"""Requests to the object store through the signed URLs VOD hands out.

Single PUT, and the multipart steps (initiate, part, list, complete, abort).
Headers follow VOD-API.md §3.3 exactly, because the URL signature covers them.
Error texts never include a URL: its query carries a signature.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from ..errors import RemoteError, RemoteFault
from .http import retry_after, transport_error

_VHOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.obs\.", re.IGNORECASE)


def parse_object_url(url: str) -> tuple[str, str]:
    """(bucket, object key) from a signed upload URL, virtual-host or path style."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = parts.path
    m = _VHOST.match(host)
    if m:
        return m.group("bucket"), unquote(path.lstrip("/"))
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)


# A signed URL this close to its expiry is treated as expired: a PUT of a few MB
# must not start with seconds left.
EXPIRY_MARGIN = 60.0


def url_expires(url: str) -> float | None:
    """The ``Expires`` epoch seconds of a signed URL, or None if it has none."""
    values = parse_qs(urlsplit(url).query).get("Expires")
    try:
        return float(values[0]) if values else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ListedPart:
    """A part as the store lists it."""

    part_number: int
    etag: str
    size: int


class Body:
    """A streamed request body: ``length`` bytes produced by ``chunks``.

    ``__len__`` lets requests send a Content-Length instead of chunked encoding.
    """

    def __init__(self, chunks: Iterator[bytes], length: int) -> None:
        self._chunks = chunks
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


class ObsClient:
    """Talks to the object store; every method takes a ready signed URL."""

    def __init__(self, session: requests.Session, timeout: tuple[float, float]) -> None:
        self._session = session
        self._timeout = timeout

    def put_object(self, url: str, body: Body | bytes, content_type: str,
                   content_md5: str | None) -> str:
        """Single PUT; returns the ETag."""
        headers = {"Content-Type": content_type}
        if content_md5:
            headers["Content-MD5"] = content_md5
        resp = self._send("put_object", "PUT", url, headers, body)
        return resp.headers.get("ETag", "")

    def initiate(self, url: str, content_type: str) -> str:
        """InitiateMultipartUpload; returns the UploadId."""
        resp = self._send("initiate", "POST", url, {"Content-Type": content_type}, b"")
        upload_id = _find(_xml(resp), "UploadId")
        if not upload_id:
            raise RemoteError(RemoteFault("obs", "initiate", resp.status_code, "",
                                          "no UploadId in the answer"))
        return upload_id

    def upload_part(self, url: str, body: Body | bytes, content_md5: str) -> str:
        """UploadPart; returns the part's ETag, quotes kept."""
        headers = {"Content-Type": "application/octet-stream", "Content-MD5": content_md5}
        resp = self._send("upload_part", "PUT", url, headers, body)
        etag = resp.headers.get("ETag", "")
        if not etag:
            raise RemoteError(RemoteFault("obs", "upload_part", resp.status_code, "",
                                          "no ETag in the answer"))
        return etag

    def list_parts(self, url: str) -> list[ListedPart]:
        """ListParts, following ``NextPartNumberMarker`` past 1000 parts."""
        parts: list[ListedPart] = []
        marker = 0
        while True:
            sep = "&" if "?" in url else "?"
            page_url = url + (f"{sep}part-number-marker={marker}" if marker else "")
            root = _xml(self._send("list_parts", "GET", page_url, {}, None))
            for el in root.iter():
                if _local(el.tag) == "Part":
                    fields = {_local(c.tag): (c.text or "") for c in el}
                    parts.append(ListedPart(int(fields.get("PartNumber", "0")),
                                            fields.get("ETag", ""),
                                            int(fields.get("Size", "0") or 0)))
            truncated = (_find(root, "IsTruncated") or "false").lower() == "true"
            next_marker = int(_find(root, "NextPartNumberMarker") or 0)
            if not truncated or next_marker <= marker:
                return sorted(parts, key=lambda p: p.part_number)
            marker = next_marker

    def complete(self, url: str, parts: list[tuple[int, str]]) -> str:
        """CompleteMultipartUpload with (part number, ETag) pairs; returns the object ETag."""
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{_esc(etag)}</ETag></Part>"
            for n, etag in sorted(parts)) + "</CompleteMultipartUpload>"
        resp = self._send("complete", "POST", url, {"Content-Type": "application/xml"},
                          xml.encode())
        return _find(_xml(resp), "ETag") or ""

    def abort(self, url: str) -> None:
        """AbortMultipartUpload."""
        self._send("abort", "DELETE", url, {}, None)

    def _send(self, operation: str, method: str, url: str, headers: dict[str, str],
              body: Any) -> requests.Response:
        try:
            resp = self._session.request(method, url, headers=headers, data=body,
                                         timeout=self._timeout)
        except requests.RequestException as exc:
            raise transport_error(f"object store {operation}", exc) from None
        if 200 <= resp.status_code < 300:
            return resp
        code, msg, request_id = "", "", resp.headers.get("x-obs-request-id", "")
        try:
            root = ET.fromstring(resp.content) if resp.content else None
        except ET.ParseError:
            root = None
        if root is not None:
            code = _find(root, "Code") or ""
            msg = _find(root, "Message") or ""
            request_id = _find(root, "RequestId") or request_id
        raise RemoteError(RemoteFault("obs", operation, resp.status_code, code, msg, request_id,
                                      retry_after(resp.headers)))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name:
            return el.text
    return None


def _xml(resp: requests.Response) -> ET.Element:
    try:
        return ET.fromstring(resp.content)
    except ET.ParseError:
        raise RemoteError(RemoteFault("obs", "parse", resp.status_code, "",
                                      "the answer is not XML")) from None


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
