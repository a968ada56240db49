"""Media assets: their status words, the Asset record and the AssetBook holding
them all (what VOD knows about each asset; the request rules are in bodies.py).
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("UNCREATED", "DELETED", "CANCELLED", "SERVER_ERROR", "UPLOAD_FAILED", "CREATING",
            "PUBLISHED", "WAITING_TRANSCODE", "TRANSCODING", "TRANSCODE_FAILED",
            "TRANSCODE_SUCCEED", "CREATED", "NO_ASSET", "DELETING", "DELETE_FAILED",
            "OBS_CREATING", "OBS_CREATE_FAILED", "OBS_CREATE_SUCCESS")
# Video replacement is allowed only after a failed download/upload or a cancel.
VIDEO_UPDATABLE = ("UPLOAD_FAILED", "CANCELLED", "SERVER_ERROR")
UPLOADING = "CREATING"
# CreateAssetByFileUpload: category -1 (or none) is the preset "Other" category.
OTHER_CATEGORY = -1
ASSET_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


@dataclass
class Asset:
    asset_id: str
    status: str
    title: str = ""
    description: str = ""
    category_id: int = OTHER_CATEGORY
    tags: tuple[str, ...] = ()
    auto_publish: int = 0
    origin: str = "seed"                     # "seed" or "create" (CreateAssetByFileUpload)
    options: dict[str, Any] = field(default_factory=dict)
    video: dict[str, Any] | None = None      # key, name, type, md5, content_type
    cover: dict[str, Any] | None = None      # key, type, md5
    subtitles: dict[int, dict[str, Any]] = field(default_factory=dict)
    confirms: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    unlisted_until: float = 0.0  # a "lag" fault: ListAssetList does not show it before this

    def set_status(self, status: str) -> None:
        self.status = status
        self.history.append(status)
        self.updated = time.time()

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id, "status": self.status, "title": self.title,
            "description": self.description, "category_id": self.category_id,
            "tags": list(self.tags), "auto_publish": self.auto_publish, "origin": self.origin,
            "options": copy.deepcopy(self.options),
            "video": copy.deepcopy(self.video), "cover": copy.deepcopy(self.cover),
            "subtitles": {str(k): dict(v) for k, v in sorted(self.subtitles.items())},
            "confirms": list(self.confirms), "history": list(self.history),
            "created": self.created, "updated": self.updated,
        }


class AssetBook:
    """All assets by ID; callers hold ``lock`` while they read and change one."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock   # when assets are created (create_time, list filters)
        self.lock = threading.RLock()
        self._assets: dict[str, Asset] = {}
        self.categories: dict[int, str] = {OTHER_CATEGORY: "Other"}
        self.created: list[str] = []   # asset IDs made by CreateAssetByFileUpload, in order

    def get(self, asset_id: str) -> Asset | None:
        return self._assets.get(asset_id)

    def seed(self, asset_id: str, status: str) -> Asset | None:
        """Create or force an asset's status; "absent" deletes it."""
        if status != "absent" and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)} or 'absent'")
        if not ASSET_ID.match(asset_id):
            raise ValueError(f"bad asset ID {asset_id!r}")
        with self.lock:
            if status == "absent":
                self._assets.pop(asset_id, None)
                return None
            asset = self._assets.get(asset_id)
            if asset is None:
                asset = self._assets[asset_id] = Asset(asset_id=asset_id, status=status,
                                                       history=[status], created=self.clock())
            else:
                asset.set_status(status)
            return asset

    def all(self) -> list[Asset]:
        with self.lock:
            return list(self._assets.values())
