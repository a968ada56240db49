"""UpdateAsset and the upload confirmation: an existing asset gets new upload URLs,
becomes CREATING, and the confirm moves it on (CREATED, UPLOAD_FAILED, CANCELLED)."""

from __future__ import annotations

from ..assets import UPLOADING, VIDEO_UPDATABLE
from ..bodies import Invalid, check_update
from ..replies import send_json, vod_error
from ..server import Exchange
from .base import BUCKET, VodBase


class UpdateApi(VodBase):
    """``PUT /v1.0/{pid}/asset`` and ``POST /v1.0/{pid}/asset/status/uploaded``."""

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
