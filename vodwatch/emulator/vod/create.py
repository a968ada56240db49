"""CreateAssetByFileUpload (docs/VOD-CREATE.md): a new asset, CREATING from the
start, keeping title/description/category/tags, with its upload URLs."""

from __future__ import annotations

import uuid

from ..assets import UPLOADING
from ..bodies import Invalid, check_create
from ..replies import send_json, vod_error
from ..server import Exchange
from .base import BUCKET, LOCATION, VodBase


class CreateApi(VodBase):
    """``POST /v1.0/{pid}/asset``."""

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
            lag = self.faults.take(ex.operation, kinds=("lag",))
            if lag is not None:  # the list's index lags behind the create
                asset.unlisted_until = self.clock() + lag.delay
            self.book.created.append(asset.asset_id)
            reply = self._grant(ex, pid, asset, wanted.plan)
            assert asset.video is not None
            reply["target"] = {"bucket": BUCKET, "location": LOCATION,
                               "object": asset.video["key"]}
        send_json(ex, 200, reply)
