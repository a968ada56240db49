"""Asset queries by ID: asset info (up to 10 at once) and asset details, with the
base info (video, cover and subtitle URLs of what was uploaded)."""

from __future__ import annotations

from typing import Any

from ..assets import Asset
from ..replies import send_json, vod_error
from ..server import Exchange
from .base import BUCKET, LOCATION, VodBase, vod_time


class QueryApi(VodBase):
    """``GET /v1.0/{pid}/asset/info`` and ``GET /v1.0/{pid}/asset/details``."""

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
            "create_time": vod_time(asset.created),
            "last_modified": vod_time(asset.updated),
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
