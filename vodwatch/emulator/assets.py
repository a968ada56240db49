"""Media assets: their state, and the body rules of UpdateAsset / CreateAsset."""

from __future__ import annotations

import base64
import binascii
import copy
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

UPDATE_VIDEO_TYPES = ("MP4", "TS", "MOV", "MXF", "MPG", "FLV", "WMV", "AVI", "M4V", "F4V",
                      "MPEG", "3GP", "ASF", "MKV")
AUDIO_TYPES = ("MP3", "OGG", "WAV", "WMA", "APE", "FLAC", "AAC", "AC3", "MMF", "AMR", "M4A",
               "M4R", "WV", "MP2")
CREATE_VIDEO_TYPES = (*UPDATE_VIDEO_TYPES, "WEBM", *AUDIO_TYPES)
MIME = {"MP4": "video/mp4", "MOV": "video/quicktime", "MXF": "application/mxf",
        "TS": "video/mp2t", "MPG": "video/mpeg", "MPEG": "video/mpeg", "FLV": "video/flv",
        "WMV": "video/x-ms-wmv", "AVI": "video/x-msvideo", "M4V": "video/m4v",
        "F4V": "application/f4v", "3GP": "video/3gpp", "ASF": "video/x-ms-asf",
        "MKV": "video/x-matroska", "WEBM": "video/webm", "JPG": "image/jpeg",
        "PNG": "image/png"}
SUBTITLE_MIME = "application/octet-stream"
COVER_TYPES = ("JPG", "PNG")
SUBTITLE_TYPES = ("SRT", "VTT")
STATUSES = ("UNCREATED", "DELETED", "CANCELLED", "SERVER_ERROR", "UPLOAD_FAILED", "CREATING",
            "PUBLISHED", "WAITING_TRANSCODE", "TRANSCODING", "TRANSCODE_FAILED",
            "TRANSCODE_SUCCEED", "CREATED", "NO_ASSET", "DELETING", "DELETE_FAILED",
            "OBS_CREATING", "OBS_CREATE_FAILED", "OBS_CREATE_SUCCESS")
# Video replacement is allowed only after a failed download/upload or a cancel.
VIDEO_UPDATABLE = ("UPLOAD_FAILED", "CANCELLED", "SERVER_ERROR")
UPLOADING = "CREATING"
ASSET_ID = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def mime_for(file_type: str) -> str:
    """Content-Type VOD signs for a file of this type (VOD-API.md §8)."""
    if file_type in SUBTITLE_TYPES:
        return SUBTITLE_MIME
    if file_type in AUDIO_TYPES:
        return f"audio/{file_type.lower()}"
    return MIME.get(file_type, "application/octet-stream")


class Invalid(Exception):
    """A body rule is broken; ``field`` names the offending field."""

    def __init__(self, field_name: str, why: str) -> None:
        super().__init__(f"{field_name} ({why})")
        self.field = field_name
        self.why = why


@dataclass(frozen=True)
class VideoSpec:
    name: str
    type: str
    md5: str | None


@dataclass(frozen=True)
class CoverSpec:
    type: str
    md5: str | None


@dataclass(frozen=True)
class SubtitleSpec:
    id: int
    type: str
    language: str
    md5: str | None
    name: str | None


@dataclass(frozen=True)
class Plan:
    """What an update or create request asks for."""

    asset_id: str
    video: VideoSpec | None
    cover: CoverSpec | None
    subtitles: tuple[SubtitleSpec, ...]
    title: str = ""


def md5_field(body: dict[str, Any], name: str) -> str | None:
    """``body[name]`` if it is a base64 MD5 (24 characters), None if absent; raises Invalid."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 24:
        raise Invalid(name, "must be the base64 MD5 of the file, 24 characters")
    try:
        if len(base64.b64decode(value, validate=True)) != 16:
            raise Invalid(name, "must be the base64 MD5 of the file, 24 characters")
    except binascii.Error as err:
        raise Invalid(name, "must be the base64 MD5 of the file, 24 characters") from err
    return value


def _text(body: dict[str, Any], name: str, *, required: bool, limit: int = 1024) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise Invalid(name, "is required")
        return None
    if not isinstance(value, str) or len(value.encode()) > limit:
        raise Invalid(name, f"must be a string of at most {limit} bytes")
    return value


def _asset_id(body: dict[str, Any]) -> str:
    value = body.get("asset_id")
    if not isinstance(value, str) or not ASSET_ID.match(value):
        raise Invalid("asset_id", "is required and must be an asset ID")
    return value


def _video(body: dict[str, Any], types: tuple[str, ...], required: bool) -> VideoSpec | None:
    if not required and not any(body.get(k) not in (None, "") for k in
                                ("video_name", "video_type", "video_md5")):
        return None
    name = _text(body, "video_name", required=True, limit=128)
    kind = body.get("video_type")
    if not isinstance(kind, str) or kind not in types:
        raise Invalid("video_type", f"must be one of {', '.join(types)}")
    return VideoSpec(name=name or "", type=kind, md5=md5_field(body, "video_md5"))


def _cover(body: dict[str, Any]) -> CoverSpec | None:
    cover_id = body.get("cover_id")
    if cover_id is not None and (isinstance(cover_id, bool) or cover_id != 0):
        raise Invalid("cover_id", "must be 0: only one cover is supported")
    kind = body.get("cover_type")
    if kind is None:
        if body.get("cover_md5") is not None:
            raise Invalid("cover_type", "is required with cover_md5")
        return None
    if kind not in COVER_TYPES:
        raise Invalid("cover_type", "must be JPG or PNG")
    return CoverSpec(type=kind, md5=md5_field(body, "cover_md5"))


def _subtitles(body: dict[str, Any]) -> tuple[SubtitleSpec, ...]:
    items = body.get("subtitles")
    if items is None:
        return ()
    if not isinstance(items, list) or not items:
        raise Invalid("subtitles", "must be a non-empty list")
    specs: list[SubtitleSpec] = []
    for index, item in enumerate(items):
        where = f"subtitles[{index}]"
        if not isinstance(item, dict):
            raise Invalid(where, "must be an object")
        sid = item.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int) or not 1 <= sid <= 16:
            raise Invalid(f"{where}.id", "must be an integer from 1 to 16")
        if any(s.id == sid for s in specs):
            raise Invalid(f"{where}.id", f"subtitle id {sid} is given twice")
        kind = item.get("type")
        if kind not in SUBTITLE_TYPES:
            raise Invalid(f"{where}.type", "must be SRT or VTT")
        language = item.get("language")
        if not isinstance(language, str) or not language.strip():
            raise Invalid(f"{where}.language", "is required")
        md5 = md5_field(item, "md5")
        name = _text(item, "name", required=False, limit=128)
        specs.append(SubtitleSpec(id=sid, type=kind, language=language, md5=md5, name=name))
    return tuple(specs)


def check_update(body: Any) -> Plan:
    """Validate an UpdateAsset body (VOD-API.md §1.1-1.2); raises Invalid."""
    if not isinstance(body, dict):
        raise Invalid("body", "must be a JSON object")
    asset_id = _asset_id(body)
    if all(body.get(k) in (None, "") for k in ("video_name", "cover_type", "subtitles")):
        raise Invalid("video_name", "at least one of video_name, cover_type, subtitles is"
                      " required")
    return Plan(asset_id=asset_id, video=_video(body, UPDATE_VIDEO_TYPES, required=False),
                cover=_cover(body), subtitles=_subtitles(body))


def check_create(body: Any) -> Plan:
    """Validate a CreateAssetByFileUpload body (VOD-API.md §10); raises Invalid."""
    if not isinstance(body, dict):
        raise Invalid("body", "must be a JSON object")
    title = _text(body, "title", required=True, limit=128) or ""
    _text(body, "description", required=False, limit=1024)
    return Plan(asset_id="", video=_video(body, CREATE_VIDEO_TYPES, required=True),
                cover=_cover(body), subtitles=_subtitles(body), title=title)


@dataclass
class Asset:
    asset_id: str
    status: str
    title: str = ""
    video: dict[str, Any] | None = None      # key, name, type, md5, content_type
    cover: dict[str, Any] | None = None      # key, type, md5
    subtitles: dict[int, dict[str, Any]] = field(default_factory=dict)
    confirms: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def set_status(self, status: str) -> None:
        self.status = status
        self.history.append(status)
        self.updated = time.time()

    def to_dict(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id, "status": self.status, "title": self.title,
            "video": copy.deepcopy(self.video), "cover": copy.deepcopy(self.cover),
            "subtitles": {str(k): dict(v) for k, v in sorted(self.subtitles.items())},
            "confirms": list(self.confirms), "history": list(self.history),
            "created": self.created, "updated": self.updated,
        }


class AssetBook:
    """All assets by ID; callers hold ``lock`` while they read and change one."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._assets: dict[str, Asset] = {}

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
                                                       history=[status])
            else:
                asset.set_status(status)
            return asset

    def all(self) -> list[Asset]:
        with self.lock:
            return list(self._assets.values())
