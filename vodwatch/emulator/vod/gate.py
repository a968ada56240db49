"""The gate every VOD call passes first: body size and JSON, the AK/SK signature
(SDK-HMAC-SHA256, with the 15-minute clock skew rule) and the project ID."""

from __future__ import annotations

import json

from ...vod import sign
from ..replies import apigw_error, vod_error
from ..server import BodyTooLarge, Exchange
from .base import VodBase

MAX_BODY = 12 * 1024 * 1024  # AK/SK-signed bodies are limited to 12 MB
MAX_SKEW = 15 * 60


class VodGate(VodBase):
    """Reads the body, checks the signature and the project; answers when they fail."""

    def read_body(self, ex: Exchange) -> bytes | None:
        try:
            body = ex.read_body(MAX_BODY)
        except BodyTooLarge:
            ex.close_after()
            apigw_error(ex, 413, "APIGW.0201", "the body is larger than 12 MB")
            return None
        if body:
            try:
                ex.json = json.loads(body)
            except ValueError:
                ex.json = None
        return body

    def authenticate(self, ex: Exchange, body: bytes) -> bool:
        """Check the SDK-HMAC-SHA256 signature; answers 401 and returns False if wrong."""
        auth = ex.header("Authorization")
        if not auth:
            why = ("token authentication is not supported here, sign requests with AK/SK"
                   if ex.header("X-Auth-Token") else "the Authorization header is missing")
            apigw_error(ex, 401, "APIGW.0301", why)
            return False
        parsed = sign.parse_authorization(auth)
        if parsed is None:
            apigw_error(ex, 401, "APIGW.0301", "the Authorization header is malformed")
            return False
        ak, signed, sig = parsed
        if ak != self.s.ak:
            apigw_error(ex, 401, "APIGW.0301", "the access key (AK) is not known")
            return False
        date = ex.header("X-Sdk-Date")
        if not date or "x-sdk-date" not in signed or "host" not in signed:
            apigw_error(ex, 401, "APIGW.0301", "X-Sdk-Date and Host must be sent and signed")
            return False
        try:
            when = sign.parse_sdk_date(date).timestamp()
        except ValueError:
            apigw_error(ex, 401, "APIGW.0301", "X-Sdk-Date is malformed")
            return False
        if abs(when - self.clock()) > MAX_SKEW:
            apigw_error(ex, 401, "APIGW.0303", "the request time (X-Sdk-Date) differs from"
                        " the server time by more than 15 minutes")
            return False
        headers = {name: value for name, value in ex.headers.items()}
        if not sign.verify(sk=self.s.sk, method=ex.method, path=ex.raw_path, query=ex.query,
                           headers=headers, body=body, signed=signed, sig=sig):
            apigw_error(ex, 401, "APIGW.0301", "verify aksk signature fail")
            return False
        return True

    def check_project(self, ex: Exchange, project_id: str) -> bool:
        if self.s.project_id is not None and project_id != self.s.project_id:
            vod_error(ex, 403, "VOD.10057", f"project {project_id} is not this account's")
            return False
        return True
