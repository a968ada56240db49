"""The VOD API handlers: update asset, confirm, multipart authority, info, details, create."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vodwatch.vod import obs_url, sign

from .assets import (
    UPLOADING,
    VIDEO_UPDATABLE,
    Asset,
    AssetBook,
    Invalid,
    Plan,
    check_create,
    check_update,
    md5_field,
    mime_for,
)
from .faults import FaultBook
from .replies import apigw_error, send_json, vod_error
from .server import BodyTooLarge, Exchange
from .store import ObjectStore

BUCKET = "vod-bucket-emu"
LOCATION = "cn-north-4"
MAX_BODY = 12 * 1024 * 1024  # AK/SK-signed bodies are limited to 12 MB
MAX_SKEW = 15 * 60


@dataclass(frozen=True)
class VodSettings:
    ak: str
    sk: str
    obs_ak: str
    obs_sk: str
    project_id: str | None
    assets: str  # "auto" | "strict"
    url_ttl_seconds: float


class VodApi:
    """Answers VOD calls once routed; ``operation`` names which one."""

    def __init__(self, settings: VodSettings, book: AssetBook, store: ObjectStore,
                 faults: FaultBook, clock: Callable[[], float],
                 base_url: Callable[[Exchange], str]) -> None:
        self.s = settings
        self.book = book
        self.store = store
        self.faults = faults
        self.clock = clock
        self.base_url = base_url

    # -- gate: body, AK/SK, project ---------------------------------------------
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

    # -- helpers -----------------------------------------------------------------
    def _expires(self, ex: Exchange) -> int:
        if self.faults.take(ex.operation, kinds=("expired",)) is not None:
            return int(self.clock()) - 1
        return int(self.clock() + self.s.url_ttl_seconds)

    def _put_url(self, ex: Exchange, key: str, content_type: str, md5: str | None,
                 expires: int) -> str:
        self.store.expect_md5(BUCKET, key, md5)
        return obs_url.make_signed_url(
            base_url=self.base_url(ex), bucket=BUCKET, key=key, ak=self.s.obs_ak,
            sk=self.s.obs_sk, verb="PUT", expires=expires, content_type=content_type,
            content_md5=md5 or "")

    def _lookup(self, ex: Exchange, asset_id: str, *, create: bool) -> Asset | None:
        asset = self.book.get(asset_id)
        if asset is None and create and self.s.assets == "auto":
            asset = self.book.seed(asset_id, "UPLOAD_FAILED")
        return asset

    def _grant(self, ex: Exchange, pid: str, asset: Asset, plan: Plan) -> dict[str, Any]:
        """Give the asset new upload URLs for what the plan carries."""
        expires = self._expires(ex)
        out: dict[str, Any] = {"asset_id": asset.asset_id}
        if plan.video is not None:
            ext = plan.video.type.lower()
            key = f"{pid}/{asset.asset_id}/{secrets.token_hex(16)}.{ext}"
            content_type = mime_for(plan.video.type)
            asset.video = {"key": key, "name": plan.video.name, "type": plan.video.type,
                           "md5": plan.video.md5, "content_type": content_type}
            out["video_upload_url"] = self._put_url(ex, key, content_type, plan.video.md5,
                                                    expires)
        if plan.cover is not None:
            key = f"{pid}/{asset.asset_id}/cover/Cover0.{plan.cover.type.lower()}"
            asset.cover = {"key": key, "type": plan.cover.type, "md5": plan.cover.md5}
            out["cover_upload_url"] = self._put_url(ex, key, mime_for(plan.cover.type),
                                                    plan.cover.md5, expires)
        urls = []
        for sub in plan.subtitles:
            key = f"{pid}/{asset.asset_id}/subtitle/{sub.id}.{sub.type.lower()}"
            asset.subtitles[sub.id] = {"key": key, "type": sub.type, "language": sub.language,
                                       "name": sub.name, "md5": sub.md5}
            urls.append(self._put_url(ex, key, mime_for(sub.type), sub.md5, expires))
        if urls:
            out["subtitle_upload_urls"] = urls
        asset.updated = self.clock()
        return out

    # -- the APIs ----------------------------------------------------------------
    def update_asset(self, ex: Exchange, pid: str) -> None:
        try:
            plan = check_update(ex.json)
        except Invalid as err:
            vod_error(ex, 400, "VOD.10053", str(err))
            return
        with self.book.lock:
            asset = self._lookup(ex, plan.asset_id, create=True)
            if asset is None or asset.status == "DELETED":
                vod_error(ex, 403, "VOD.10062", f"asset {plan.asset_id}")
                return
            if plan.video is not None and asset.status not in VIDEO_UPDATABLE:
                vod_error(ex, 403, "VOD.10061", f"asset {asset.asset_id} is {asset.status}")
                return
            reply = self._grant(ex, pid, asset, plan)
            if plan.video is not None:
                asset.set_status(UPLOADING)
        send_json(ex, 200, reply)

    def create_asset(self, ex: Exchange, pid: str) -> None:
        try:
            plan = check_create(ex.json)
        except Invalid as err:
            vod_error(ex, 400, "VOD.10053", str(err))
            return
        with self.book.lock:
            asset = self.book.seed(uuid.uuid4().hex, UPLOADING)
            assert asset is not None
            asset.title = plan.title
            reply = self._grant(ex, pid, asset, plan)
            assert asset.video is not None
            reply["target"] = {"bucket": BUCKET, "location": LOCATION,
                               "object": asset.video["key"]}
        send_json(ex, 200, reply)

    def confirm(self, ex: Exchange, pid: str) -> None:
        body = ex.json
        if not isinstance(body, dict) or not isinstance(body.get("asset_id"), str):
            vod_error(ex, 400, "VOD.10053", "asset_id (is required)")
            return
        status = body.get("status")
        if status not in ("CREATED", "FAILED", "CANCELLED"):
            vod_error(ex, 400, "VOD.10053", "status (must be CREATED, FAILED or CANCELLED)")
            return
        with self.book.lock:
            asset = self.book.get(body["asset_id"])
            if asset is None:
                vod_error(ex, 403, "VOD.10062", f"asset {body['asset_id']}")
                return
            if asset.status != UPLOADING:
                vod_error(ex, 403, "VOD.10126", f"asset {asset.asset_id} is {asset.status}")
                return
            if status == "CREATED" and (
                    asset.video is None or self.store.get(BUCKET, asset.video["key"]) is None):
                vod_error(ex, 403, "VOD.10126", f"the media file of asset {asset.asset_id}"
                          " has not been uploaded")
                return
            asset.confirms.append(status)
            asset.set_status({"CREATED": "CREATED", "FAILED": "UPLOAD_FAILED",
                              "CANCELLED": "CANCELLED"}[status])
        send_json(ex, 200, {"asset_id": asset.asset_id})

    def authority(self, ex: Exchange, pid: str) -> None:
        verb = (ex.param("http_verb") or "").upper()
        bucket, key = ex.param("bucket") or "", ex.param("object_key") or ""
        upload_id = ex.param("upload_id") or ""
        for name, value in (("http_verb", verb), ("bucket", bucket), ("object_key", key)):
            if not value:
                vod_error(ex, 400, "VOD.10053", f"{name} (is required)")
                return
        if verb not in ("PUT", "POST", "GET", "DELETE"):
            vod_error(ex, 400, "VOD.10053", "http_verb (must be PUT, POST, GET or DELETE)")
            return
        if bucket != BUCKET:
            vod_error(ex, 400, "VOD.10053", f"bucket (must be {BUCKET})")
            return
        content_md5 = ex.param("content_md5") or ""
        if content_md5:
            try:
                md5_field({"content_md5": content_md5}, "content_md5")
            except Invalid as err:
                vod_error(ex, 400, "VOD.10053", str(err))
                return
        segments = key.split("/")
        with self.book.lock:
            asset = self.book.get(segments[1]) if len(segments) > 2 else None
            if asset is None:
                vod_error(ex, 403, "VOD.10062", f"no asset owns object {key}")
                return
            if asset.status != UPLOADING:
                vod_error(ex, 403, "VOD.10135", f"asset {asset.asset_id} is {asset.status}")
                return
            if asset.video is None or asset.video["key"] != key:
                vod_error(ex, 400, "VOD.10053", "object_key (is not the asset's video object)")
                return
        signed = self._authority_request(ex, verb, upload_id, content_md5)
        if signed is None:
            return
        content_type, md5, subresources = signed
        url = obs_url.make_signed_url(
            base_url=self.base_url(ex), bucket=bucket, key=key, ak=self.s.obs_ak,
            sk=self.s.obs_sk, verb=verb, expires=self._expires(ex), content_type=content_type,
            content_md5=md5, subresources=subresources)
        send_json(ex, 200, {"sign_str": url})

    @staticmethod
    def _authority_request(ex: Exchange, verb: str, upload_id: str, content_md5: str,
                           ) -> tuple[str, str, list[tuple[str, str | None]]] | None:
        """What gets signed: (Content-Type, Content-MD5, sub-resources) per operation."""
        if verb == "POST" and not upload_id:
            content_type = ex.param("content_type") or ""
            if not content_type:
                vod_error(ex, 400, "VOD.10053", "content_type (is required to initiate)")
                return None
            return content_type, "", [("uploads", None)]
        if not upload_id:
            vod_error(ex, 400, "VOD.10053", "upload_id (is required)")
            return None
        if verb == "PUT":
            number = ex.param("part_number") or ""
            if not number.isdigit() or not 1 <= int(number) <= 10_000:
                vod_error(ex, 400, "VOD.10053", "part_number (must be 1 to 10000)")
                return None
            return ("application/octet-stream", content_md5,
                    [("partNumber", str(int(number))), ("uploadId", upload_id)])
        content_type = "application/xml" if verb == "POST" else ""
        return content_type, "", [("uploadId", upload_id)]

    def asset_info(self, ex: Exchange, pid: str) -> None:
        ids = [v for k, v in ex.query if k == "asset_id"]
        if len(ids) > 10:
            vod_error(ex, 400, "VOD.10053", "asset_id (at most 10)")
            return
        with self.book.lock:
            found = ids or [a.asset_id for a in self.book.all()]
            array: list[dict[str, Any]] = []
            for asset_id in found:
                asset = self._lookup(ex, asset_id, create=True) if asset_id else None
                if asset is None:
                    array.append({"asset_id": asset_id, "status": "UNCREATED"})
                    continue
                array.append({"asset_id": asset.asset_id, "status": asset.status,
                              "description": "", "base_info": self._base_info(ex, asset)})
        send_json(ex, 200, {"asset_info_array": array, "is_truncated": 0,
                            "total": len(array)})

    def asset_details(self, ex: Exchange, pid: str) -> None:
        asset_id = ex.param("asset_id")
        if not asset_id:
            vod_error(ex, 400, "VOD.10053", "asset_id (is required)")
            return
        with self.book.lock:
            asset = self._lookup(ex, asset_id, create=True)
            if asset is None:
                vod_error(ex, 403, "VOD.10062", f"asset {asset_id}")
                return
            reply = {"asset_id": asset.asset_id, "status": asset.status,
                     "base_info": self._base_info(ex, asset)}
        send_json(ex, 200, reply)

    def _base_info(self, ex: Exchange, asset: Asset) -> dict[str, Any]:
        info: dict[str, Any] = {
            "title": asset.title,
            "create_time": _vod_time(asset.created),
            "last_modified": _vod_time(asset.updated),
            "cover_info_array": [],
            "subtitle_info": [],
        }
        if asset.video is not None:
            meta = self.store.get(BUCKET, asset.video["key"])
            info.update(video_name=asset.video["name"], video_type=asset.video["type"],
                        video_url=f"{self.base_url(ex)}/{BUCKET}/{asset.video['key']}",
                        source_path={"bucket": BUCKET, "location": LOCATION,
                                     "object": asset.video["key"]},
                        meta_data={"size": meta.size if meta else 0})
        if asset.cover is not None and self.store.get(BUCKET, asset.cover["key"]):
            info["cover_info_array"].append({
                "cover_id": 0,
                "cover_url": f"{self.base_url(ex)}/{BUCKET}/{asset.cover['key']}"})
        for sid, sub in sorted(asset.subtitles.items()):
            if self.store.get(BUCKET, sub["key"]):
                info["subtitle_info"].append({"id": sid, "type": sub["type"],
                                              "language": sub["language"],
                                              "url": f"{self.base_url(ex)}/{BUCKET}/{sub['key']}"})
        return info


def _vod_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H%M%S")
