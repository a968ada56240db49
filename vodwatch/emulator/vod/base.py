"""What every VOD handler shares: the settings, the asset book and object store,
and handing an asset fresh signed upload URLs (UpdateAsset and CreateAsset both do)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...vod import obs_url
from ..assets import Asset, AssetBook
from ..bodies import Plan, mime_for
from ..faults import FaultBook
from ..server import Exchange
from ..store import ObjectStore

BUCKET = "vod-bucket-emu"
LOCATION = "cn-north-4"


@dataclass(frozen=True)
class VodSettings:
    ak: str
    sk: str
    obs_ak: str
    obs_sk: str
    project_id: str | None
    assets: str  # "auto" | "strict"
    url_ttl_seconds: float


class VodBase:
    """The state a VOD handler works on; the handlers are mixins of this class."""

    def __init__(self, settings: VodSettings, book: AssetBook, store: ObjectStore,
                 faults: FaultBook, clock: Callable[[], float],
                 base_url: Callable[[Exchange], str]) -> None:
        self.s = settings
        self.book = book
        self.store = store
        self.faults = faults
        self.clock = clock
        self.base_url = base_url

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


def vod_time(epoch: float) -> str:
    """VOD's time format: ``yyyymmddhhmmss`` in UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H%M%S")
