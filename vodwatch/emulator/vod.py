"""The VOD API handlers: update asset, confirm, multipart authority, info, details,
create (upload mode), asset list and the duplicate check (docs/VOD-CREATE.md)."""

from __future__ import annotations

import hashlib
import json
import re
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
    split_tags,
)
from .faults import FaultBook
from .replies import apigw_error, send_json, vod_error
from .server import BodyTooLarge, Exchange
from .store import ObjectStore

BUCKET = "vod-bucket-emu"
LOCATION = "cn-north-4"
MAX_BODY = 12 * 1024 * 1024  # AK/SK-signed bodies are limited to 12 MB
MAX_SKEW = 15 * 60
# The duplicate check hashes the first 1024 bytes of the file (VOD-CREATE.md §3).
DUPLICATION_HEAD = 1024
LIST_MAX_RESULTS = 20_000
LIST_STATUSES = ("CREATING", "FAILED", "CREATED", "PUBLISHED", "TRANSCODING",
                 "TRANSCODE_SUCCEED", "TRANSCODE_FAILED", "THUMBNAILING", "THUMBNAIL_SUCCEED",
                 "THUMBNAIL_FAILED", "UN_REVIEW", "REVIEWING", "REVIEW_SUSPICIOUS",
                 "REVIEW_PASSED", "REVIEW_FAILED", "REVIEW_BLOCKED")
# The emulator's one status word -> the list's asset_status / transcode_status (inferred).
_LIST_ASSET_STATUS = {"CREATING": "CREATING", "UPLOAD_FAILED": "FAILED",
                      "SERVER_ERROR": "FAILED", "CANCELLED": "FAILED",
                      "OBS_CREATE_FAILED": "FAILED", "PUBLISHED": "PUBLISHED",
                      "DELETED": "DELETED"}
_TRANSCODE_STATUSES = ("WAITING_TRANSCODE", "TRANSCODING", "TRANSCODE_SUCCEED",
                       "TRANSCODE_FAILED")
_VOD_TIME = re.compile(r"^\d{14}$")
_HEX_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


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
        """CreateAssetByFileUpload: a new asset in the uploading state, with upload URLs."""
        try:
            wanted = check_create(ex.json)
        except Invalid as err:
            vod_error(ex, 400, "VOD.10053", str(err))
            return
        with self.book.lock:
            if wanted.category_id not in self.book.categories:
                vod_error(ex, 403, "VOD.10064", f"category_id {wanted.category_id}")
                return
            asset = self.book.seed(uuid.uuid4().hex, UPLOADING)
            assert asset is not None
            asset.title = wanted.plan.title
            asset.description = wanted.description
            asset.category_id = wanted.category_id
            asset.tags = wanted.tags
            asset.auto_publish = wanted.auto_publish
            asset.options = wanted.options
            asset.origin = "create"
            self.book.created.append(asset.asset_id)
            reply = self._grant(ex, pid, asset, wanted.plan)
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
            created = "PUBLISHED" if asset.auto_publish else "CREATED"
            asset.set_status({"CREATED": created, "FAILED": "UPLOAD_FAILED",
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

    def list_assets(self, ex: Exchange, pid: str) -> None:
        """ListAssetList: brief records, newest first, filtered as documented."""
        try:
            query = _ListQuery.parse(ex)
        except Invalid as err:
            vod_error(ex, 400, "VOD.10053", str(err))
            return
        with self.book.lock:
            found = [a for a in self.book.all() if self._listed(a, query)]
            found.sort(key=lambda a: (a.created, a.asset_id), reverse=query.order == "desc")
            page = found[query.page * query.size:(query.page + 1) * query.size]
            assets = [self._summary(ex, a) for a in page]
        send_json(ex, 200, {"total": min(len(found), LIST_MAX_RESULTS), "assets": assets})

    def _listed(self, asset: Asset, q: _ListQuery) -> bool:
        if asset.status == "DELETED":
            return False
        if q.asset_ids and asset.asset_id not in q.asset_ids:
            return False
        if q.statuses and not set(_list_statuses(asset)) & set(q.statuses):
            return False
        created = _vod_time(asset.created)
        if (q.start and created < q.start) or (q.end and created > q.end):
            return False
        if q.category_id is not None and asset.category_id != q.category_id:
            return False
        if q.tags and not set(q.tags) <= set(asset.tags):
            return False
        if q.media_types and (asset.video is None or asset.video["type"] not in q.media_types):
            return False
        if q.text:
            category = self.book.categories.get(asset.category_id, "")
            haystack = "\n".join((asset.title, asset.description, category)).casefold()
            if q.text.casefold() not in haystack:
                return False
        return True

    def _summary(self, ex: Exchange, asset: Asset) -> dict[str, Any]:
        asset_status, transcode_status = _list_statuses(asset)
        meta = self.store.get(BUCKET, asset.video["key"]) if asset.video else None
        covers = []
        if asset.cover is not None and self.store.get(BUCKET, asset.cover["key"]):
            covers.append({"cover_url": f"{self.base_url(ex)}/{BUCKET}/{asset.cover['key']}"})
        summary: dict[str, Any] = {
            "asset_id": asset.asset_id,
            "title": asset.title,
            "description": asset.description,
            "duration": 0,
            "size": meta.size if meta else 0,
            "category": self.book.categories.get(asset.category_id, ""),
            "covers": covers,
            "create_time": _vod_time(asset.created),
            "asset_status": asset_status,
            "transcode_status": transcode_status,
            "thumbnail_status": "UN_THUMBNAIL",
            "review_status": "UN_REVIEW",
            "exec_desc": f"asset_exec_desc:{asset.status}",
        }
        if asset.video is not None:
            summary["media_type"] = asset.video["type"]
            if meta is not None:
                summary["original_url"] = f"{self.base_url(ex)}/{BUCKET}/{asset.video['key']}"
        return summary

    def check_md5_duplication(self, ex: Exchange, pid: str) -> None:
        """CheckMd5Duplication: assets whose stored video has this size and head MD5 (hex)."""
        size, md5 = ex.param("size"), ex.param("md5")
        if size is None or not size.isdigit():
            vod_error(ex, 400, "VOD.10053", "size (is required, a whole number of bytes)")
            return
        if md5 is None or not _HEX_MD5.match(md5):
            vod_error(ex, 400, "VOD.10053", "md5 (is required, the hex MD5 of the first"
                      " 1024 bytes of the file)")
            return
        wanted = md5.lower()
        with self.book.lock:
            ids = [a.asset_id for a in self.book.all()
                   if a.status != "DELETED" and self._head_md5(a, int(size)) == wanted]
        send_json(ex, 200, {"is_duplicated": 1 if ids else 0, "asset_ids": ids})

    def _head_md5(self, asset: Asset, size: int) -> str | None:
        if asset.video is None:
            return None
        meta = self.store.get(BUCKET, asset.video["key"])
        if meta is None or meta.size != size:
            return None
        with self.store.object_file(BUCKET, asset.video["key"]).open("rb") as f:
            return hashlib.md5(f.read(DUPLICATION_HEAD)).hexdigest()

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


def _list_statuses(asset: Asset) -> tuple[str, str]:
    """(asset_status, transcode_status) of the list API for the emulator's status word."""
    if asset.status in _TRANSCODE_STATUSES:
        return "CREATED", asset.status
    return _LIST_ASSET_STATUS.get(asset.status, "CREATED"), "UN_TRANSCODE"


def _many(ex: Exchange, name: str) -> list[str]:
    """Array query parameters: repeated (``a=1&a=2``) or comma-joined (``a=1,2``, the SDK)."""
    return [v for raw in (value for key, value in ex.query if key == name)
            for v in raw.split(",") if v]


@dataclass(frozen=True)
class _ListQuery:
    asset_ids: list[str]
    statuses: list[str]
    start: str
    end: str
    category_id: int | None
    tags: tuple[str, ...]
    text: str
    media_types: list[str]
    page: int
    size: int
    order: str

    @classmethod
    def parse(cls, ex: Exchange) -> _ListQuery:
        """The documented query parameters, checked; raises Invalid naming the bad one."""
        asset_ids = _many(ex, "asset_id")
        if len(asset_ids) > 10:
            raise Invalid("asset_id", "at most 10")
        statuses = _many(ex, "status")
        for status in statuses:
            if status not in LIST_STATUSES:
                raise Invalid("status", f"{status} is not a status of the list")
        times: dict[str, str] = {}
        for name in ("start_time", "end_time"):
            when = ex.param(name) or ""
            if when and not (_VOD_TIME.match(when) and _valid_vod_time(when)):
                raise Invalid(name, "must be yyyymmddhhmmss in UTC")
            times[name] = when
        category = ex.param("category_id")
        if category is not None and not re.fullmatch(r"-?\d+", category):
            raise Invalid("category_id", "must be an integer")
        media_types = _many(ex, "media_type")
        if len(media_types) > 20:
            raise Invalid("media_type", "at most 20")
        numbers = {}
        for name, default in (("page", 0), ("size", 10)):
            value = ex.param(name)
            if value is not None and not value.isdigit():
                raise Invalid(name, "must be a whole number")
            numbers[name] = int(value) if value is not None else default
        if not 1 <= numbers["size"] <= 100:
            raise Invalid("size", "must be from 1 to 100")
        if (numbers["page"] + 1) * numbers["size"] > LIST_MAX_RESULTS:
            raise Invalid("page", "(page + 1) x size must not exceed 20000")
        order = (ex.param("order") or "desc").lower()
        if order not in ("asc", "desc"):
            raise Invalid("order", "must be asc or desc")
        return cls(asset_ids=asset_ids, statuses=statuses, start=times["start_time"],
                   end=times["end_time"],
                   category_id=int(category) if category is not None else None,
                   tags=split_tags(ex.param("tags"), limit=24), text=ex.param("query_string") or "",
                   media_types=[m.upper() for m in media_types], page=numbers["page"],
                   size=numbers["size"], order=order)


def _valid_vod_time(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True
