"""ListAssetList: brief asset records, newest first, filtered and paged as
documented (status, time range, category, tags, text, media type)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..assets import Asset
from ..bodies import Invalid, split_tags
from ..replies import send_json, vod_error
from ..server import Exchange
from .base import BUCKET, VodBase, vod_time

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


class ListApi(VodBase):
    """``GET /v1.0/{pid}/asset/list``."""

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
        if asset.status == "DELETED" or asset.unlisted_until > self.clock():
            return False
        if q.asset_ids and asset.asset_id not in q.asset_ids:
            return False
        if q.statuses and not set(_list_statuses(asset)) & set(q.statuses):
            return False
        created = vod_time(asset.created)
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
            "create_time": vod_time(asset.created),
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
            if when and not (_VOD_TIME.match(when) and _validvod_time(when)):
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


def _validvod_time(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True
