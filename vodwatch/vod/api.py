"""The VOD API calls vodwatch makes: UpdateAsset, ConfirmAssetUpload, multipart
authority, asset info, and for create mode CreateAssetByFileUpload, ListAssetList
and CheckMd5Duplication (docs/VOD-CREATE.md). Signed with AK/SK, paced, typed
errors, no retries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests

from ..errors import RemoteError, RemoteFault, TransportError
from ..retry import classify
from .http import retry_after, transport_error
from .sign import sign_headers

# Which VOD flow-control group each call belongs to (VOD-API.md §6.4).
GROUP = {
    "update_asset": "update_asset",
    "confirm": "upload",
    "authority": "upload",
    "create_asset": "upload",
    "asset_info": "query",
    "list_assets": "query",
    # VOD limits the duplicate check to 100/min per tenant ("media upload, other"),
    # a group vodwatch has no bucket of its own for: sharing the 100/min UpdateAsset
    # bucket can never exceed it (docs/VOD-CREATE.md §4).
    "check_md5_duplication": "update_asset",
}


class Pacer(Protocol):
    """Shared per-group pacing; see :mod:`vodwatch.pacing`."""

    def acquire(self, group: str, stop: threading.Event | None = None) -> bool: ...

    def throttled(self, group: str, retry_after: float | None) -> None: ...


class VodClient:
    """One VOD endpoint and project, called with one AK/SK."""

    def __init__(self, endpoint: str, project_id: str, ak: str, sk: str, *,
                 session: requests.Session, timeout: tuple[float, float],
                 pacer: Pacer | None = None, stop: threading.Event | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        parts = urlsplit(endpoint.rstrip("/"))
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self.prefix = parts.path
        self.project_id = project_id
        self._ak = ak
        self._sk = sk
        self._session = session
        self._timeout = timeout
        self._pacer = pacer
        self._stop = stop
        self._now = now

    def update_asset(self, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT /v1.0/{project_id}/asset``: returns the upload URLs."""
        return self._call("update_asset", "PUT", "/v1.0/{pid}/asset", body=body)

    def confirm(self, asset_id: str, status: str = "CREATED") -> None:
        """``POST /v1.0/{project_id}/asset/status/uploaded`` with CREATED/FAILED/CANCELLED."""
        self._call("confirm", "POST", "/v1.0/{pid}/asset/status/uploaded",
                   body={"asset_id": asset_id, "status": status})

    def authority(self, *, http_verb: str, bucket: str, object_key: str,
                  content_type: str | None = None, content_md5: str | None = None,
                  upload_id: str | None = None, part_number: int | None = None) -> str:
        """``GET /v1.1/{project_id}/asset/authority``: a signed OBS URL for one step."""
        query: list[tuple[str, str]] = [("http_verb", http_verb), ("bucket", bucket),
                                        ("object_key", object_key)]
        if content_type is not None:
            query.append(("content_type", content_type))
        if content_md5 is not None:
            query.append(("content_md5", content_md5))
        if upload_id is not None:
            query.append(("upload_id", upload_id))
        if part_number is not None:
            query.append(("part_number", str(part_number)))
        answer = self._call("authority", "GET", "/v1.1/{pid}/asset/authority", query=query)
        sign_str = answer.get("sign_str")
        if not isinstance(sign_str, str) or not sign_str.startswith("http"):
            raise RemoteError(RemoteFault("vod", "authority", 200, "", "no sign_str in answer"))
        return sign_str

    def asset_info(self, asset_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``GET /v1.0/{project_id}/asset/info``: asset id -> info (with ``status``)."""
        answer = self._call("asset_info", "GET", "/v1.0/{pid}/asset/info",
                            query=[("asset_id", a) for a in asset_ids])
        infos = answer.get("asset_info_array") or []
        return {i.get("asset_id", ""): i for i in infos if isinstance(i, dict)}

    def create_asset(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1.0/{project_id}/asset`` (CreateAssetByFileUpload).

        Returns ``asset_id``, ``video_upload_url``, ``cover_upload_url``,
        ``subtitle_upload_urls`` and ``target`` {bucket, location, object}. Not
        idempotent: a retry after a lost answer creates a second asset.
        """
        return self._call("create_asset", "POST", "/v1.0/{pid}/asset", body=body)

    def list_assets(self, **query: str | int | Sequence[str]) -> dict[str, Any]:
        """``GET /v1.0/{project_id}/asset/list``: {"total", "assets": [brief records]}.

        Keyword names are the API's (``query_string``, ``tags``, ``status``,
        ``start_time``, ``page``, ...); a sequence (``status``, ``asset_id``,
        ``media_type``) is sent comma-joined, as the official SDK does.
        """
        params = [(name, value if isinstance(value, str) else
                   str(value) if isinstance(value, int) else ",".join(value))
                  for name, value in query.items()]
        return self._call("list_assets", "GET", "/v1.0/{pid}/asset/list", query=params)

    def check_md5_duplication(self, size: int, md5_hex: str) -> dict[str, Any]:
        """``GET /v1.0/{project_id}/asset/duplication``: {"is_duplicated": 0|1, "asset_ids"}.

        ``md5_hex`` is the hex MD5 of the file's first 1024 bytes, not the base64
        MD5 of the whole file that the upload calls use.
        """
        return self._call("check_md5_duplication", "GET", "/v1.0/{pid}/asset/duplication",
                          query=[("size", str(size)), ("md5", md5_hex)])

    def asset_status(self, asset_id: str) -> str:
        """The asset's ``status`` word (``UNCREATED`` when VOD does not know it)."""
        info = self.asset_info([asset_id]).get(asset_id)
        return str(info.get("status", "UNCREATED")) if info else "UNCREATED"

    def _call(self, operation: str, method: str, path: str, *,
              query: Sequence[tuple[str, str]] = (), body: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        group = GROUP[operation]
        if self._pacer is not None and not self._pacer.acquire(group, self._stop):
            raise TransportError(f"VOD {operation}: not sent, vodwatch is stopping")
        path = self.prefix + path.format(pid=self.project_id)
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        headers = {"Content-Type": "application/json", "X-Project-Id": self.project_id}
        headers = sign_headers(ak=self._ak, sk=self._sk, method=method, host=self.host,
                               path=path, query=query, headers=headers, body=payload,
                               now=self._now())
        url = f"{self.origin}{path}"
        if query:
            url += "?" + urlencode(list(query))
        try:
            resp = self._session.request(method, url, data=payload or None, headers=headers,
                                         timeout=self._timeout)
        except requests.RequestException as exc:
            raise transport_error(f"VOD {operation}", exc) from None
        if 200 <= resp.status_code < 300:
            try:
                data = resp.json() if resp.content else {}
            except ValueError:
                data = {}
            data = data if isinstance(data, dict) else {}
            # Kept for the delivery record: which VOD request took the file.
            data.setdefault("request_id", resp.headers.get("X-Request-Id", ""))
            return data
        error = RemoteError(_fault(operation, resp))
        decision = classify(error)
        if self._pacer is not None and decision.throttled:
            self._pacer.throttled(group, decision.retry_after)
        raise error


def _fault(operation: str, resp: requests.Response) -> RemoteFault:
    code, msg, request_id = "", "", resp.headers.get("X-Request-Id", "")
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = str(data.get("error_code") or "")
        msg = str(data.get("error_msg") or "")
        request_id = str(data.get("request_id") or request_id)
    elif resp.text:
        msg = resp.text[:200]
    return RemoteFault("vod", operation, resp.status_code, code, msg, request_id,
                       retry_after(resp.headers))
