"""A small signed VOD caller for tests and demos against an emulator.

Not the product's client: it sends exactly what it is told, so tests can also
send what a correct client never would.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests

from ..vod import sign
from .core import DEFAULT_AK, DEFAULT_SK

PROJECT_ID = "0123456789abcdef0123456789abcdef"


def md5_b64(data: bytes) -> str:
    """Base64 of the binary MD5, as VOD and Content-MD5 want it."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class VodCaller:
    """Signs VOD calls with AK/SK and sends them with one requests session."""

    def __init__(self, url: str, *, ak: str = DEFAULT_AK, sk: str = DEFAULT_SK,
                 project_id: str = PROJECT_ID,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.ak, self.sk, self.project_id = ak, sk, project_id
        self.now = now
        self.timeout = timeout
        self.session = requests.Session()

    def __enter__(self) -> VodCaller:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, path: str, *, query: Sequence[tuple[str, str]] = (),
             body: Any = None, headers: dict[str, str] | None = None,
             signed: bool = True, sk: str | None = None) -> requests.Response:
        """Send ``method path`` (``{pid}`` in path is replaced) with a JSON body."""
        path = path.replace("{pid}", self.project_id)
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        base = {"Content-Type": "application/json"}
        base.update(headers or {})
        host = urlsplit(self.url).netloc
        if signed:
            base = sign.sign_headers(ak=self.ak, sk=sk or self.sk, method=method, host=host,
                                     path=path, query=list(query), headers=base, body=raw,
                                     now=self.now())
        query_text = sign.canonical_query(query)
        target = self.url + path + (f"?{query_text}" if query_text else "")
        return self.session.request(method, target, data=raw or None, headers=base,
                                    timeout=self.timeout)

    # Shorthands for the emulated APIs.
    def update_asset(self, body: dict[str, Any]) -> requests.Response:
        return self.call("PUT", "/v1.0/{pid}/asset", body=body)

    def create_asset(self, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", "/v1.0/{pid}/asset", body=body)

    def confirm(self, asset_id: str, status: str = "CREATED") -> requests.Response:
        return self.call("POST", "/v1.0/{pid}/asset/status/uploaded",
                         body={"asset_id": asset_id, "status": status})

    def authority(self, **params: str | int) -> requests.Response:
        return self.call("GET", "/v1.1/{pid}/asset/authority",
                         query=[(k, str(v)) for k, v in params.items()])

    def info(self, *asset_ids: str) -> requests.Response:
        return self.call("GET", "/v1.0/{pid}/asset/info",
                         query=[("asset_id", a) for a in asset_ids])

    def list_assets(self, **params: str | int) -> requests.Response:
        return self.call("GET", "/v1.0/{pid}/asset/list",
                         query=[(k, str(v)) for k, v in params.items()])

    def duplication(self, size: int, md5_hex: str) -> requests.Response:
        return self.call("GET", "/v1.0/{pid}/asset/duplication",
                         query=[("size", str(size)), ("md5", md5_hex)])

    def details(self, asset_id: str) -> requests.Response:
        return self.call("GET", "/v1.0/{pid}/asset/details", query=[("asset_id", asset_id)])

    # Object store calls to signed URLs, headers exactly as given.
    def obs(self, method: str, url: str, data: bytes = b"",
            headers: dict[str, str] | None = None) -> requests.Response:
        return self.session.request(method, url, data=data, headers=headers or {},
                                    timeout=self.timeout)
