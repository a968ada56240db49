"""Error and success bodies exactly as VOD, its API gateway and OBS write them."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from typing import Any

from .server import Exchange

OBS_NS = "http://obs.cn-north-4.myhuaweicloud.com/doc/2015-06-30/"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"

# Messages of the real services (VOD-API.md §6), so clients can be tested on them.
VOD_MESSAGES = {
    "VOD.10051": "Internal system error.",
    # As the docs' example writes it (vod_04_0050): "..., illegal field: {xx}."
    "VOD.10053": "The request parameter is illegal, illegal field",
    "VOD.10057": "The tenant or project ID check failed.",
    "VOD.10061": "The current media asset status is not allowed to be updated.",
    "VOD.10062": "Media asset or resource does not exist, please check.",
    "VOD.10064": "The media asset category does not exist, please check.",
    "VOD.10126": "The current media asset status does not allow upload confirmation.",
    "VOD.10127": "APIGW rate limit: the request was throttled, please try again later.",
    "VOD.10135": "The media asset is not in the uploading state and cannot obtain temporary"
                 " authorization.",
}
APIGW_MESSAGES = {
    "APIGW.0101": "The API does not exist or has not been published in the environment",
    "APIGW.0201": "Request entity too large",
    "APIGW.0301": "Incorrect IAM authentication information",
    "APIGW.0303": "Incorrect app authentication information",
    "APIGW.0308": "The throttling threshold has been reached",
}
_GATEWAY_STATUS = {502: "Backend unavailable", 503: "Backend unavailable",
                   504: "Backend timeout"}


def retry_after_header(seconds: float | None) -> dict[str, str]:
    """``Retry-After`` in whole seconds (rounded up), or nothing."""
    return {} if seconds is None else {"Retry-After": str(max(0, math.ceil(seconds)))}


def send_json(ex: Exchange, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
    ex.respond(status, json.dumps(body).encode(), content_type="application/json;charset=UTF-8",
               headers=headers)


def vod_error(ex: Exchange, status: int, code: str, detail: str = "",
              headers: dict[str, str] | None = None) -> None:
    """``{"error_code","error_msg"}``; ``detail`` (e.g. the bad field) follows the message."""
    message = VOD_MESSAGES.get(code, "Error")
    if detail:
        message = f"{message.rstrip('.')}: {detail}"
    ex.error_code = code
    send_json(ex, status, {"error_code": code, "error_msg": message}, headers)


def apigw_error(ex: Exchange, status: int, code: str, detail: str = "",
                headers: dict[str, str] | None = None) -> None:
    """Gateway errors add ``request_id`` to the body."""
    message = APIGW_MESSAGES.get(code, "Gateway error")
    if detail:
        message = f"{message}: {detail}"
    ex.error_code = code
    send_json(ex, status, {"error_code": code, "error_msg": message,
                           "request_id": ex.request_id}, headers)


def vod_status_error(ex: Exchange, status: int, code: str = "", message: str = "",
                     retry_after: float | None = None) -> None:
    """An injected VOD-side failure with the body the real service would send."""
    headers = retry_after_header(retry_after)
    if status == 429:
        apigw_error(ex, 429, code or "APIGW.0308", message, headers)
    elif status == 403:
        vod_error(ex, 403, code or "VOD.10127", message, headers)
    elif status in _GATEWAY_STATUS and not code:
        apigw_error(ex, status, "APIGW.0201", message or _GATEWAY_STATUS[status], headers)
    elif code.startswith("APIGW."):
        apigw_error(ex, status, code, message, headers)
    else:
        vod_error(ex, status, code or "VOD.10051", message, headers)


def xml_bytes(root: ET.Element) -> bytes:
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text


def element(tag: str, children: dict[str, Any] | None = None, ns: str | None = None,
            ) -> ET.Element:
    """``<tag xmlns=ns><k>v</k>...</tag>``; list values repeat the element."""
    root = ET.Element(tag, {"xmlns": ns} if ns else {})
    for name, value in (children or {}).items():
        add_children(root, name, value)
    return root


def add_children(parent: ET.Element, name: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        child = ET.SubElement(parent, name)
        if isinstance(item, dict):
            for sub_name, sub_value in item.items():
                add_children(child, sub_name, sub_value)
        elif isinstance(item, bool):
            child.text = "true" if item else "false"
        elif item is not None:
            child.text = str(item)


_OBS_STATUS_CODES = {500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
                     504: "GatewayTimeout", 429: "TooManyRequests", 403: "AccessDenied"}
_OBS_STATUS_MESSAGES = {
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Please reduce your request rate.",
    "TooManyRequests": "Please reduce your request rate.",
    "AccessDenied": "Access Denied",
}


def obs_error(ex: Exchange, status: int, code: str, message: str = "",
              extra: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> None:
    """``<Error><Code/><Message/><RequestId/><HostId/></Error>`` with OBS headers."""
    ex.error_code = code
    fields: dict[str, Any] = {"Code": code,
                              "Message": message or _OBS_STATUS_MESSAGES.get(code, code)}
    fields.update(extra or {})
    fields["RequestId"] = ex.request_id
    fields["HostId"] = "vodwatch-emulator"
    all_headers = {"x-obs-request-id": ex.request_id, "x-amz-request-id": ex.request_id}
    all_headers.update(headers or {})
    body = b"" if ex.method == "HEAD" else xml_bytes(element("Error", fields))
    ex.respond(status, body, content_type="application/xml", headers=all_headers,
               length=None)


def obs_status_error(ex: Exchange, status: int, code: str = "", message: str = "",
                     retry_after: float | None = None) -> None:
    """An injected object-store failure."""
    obs_error(ex, status, code or _OBS_STATUS_CODES.get(status, "InternalError"), message,
              headers=retry_after_header(retry_after))
