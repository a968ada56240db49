"""The body rules of UpdateAsset and CreateAssetByFileUpload: what a request may
ask for (file types, MD5s, subtitles, tags, options), checked into a Plan or
refused with Invalid naming the field. The create rules follow docs/VOD-CREATE.md.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from .assets import ASSET_ID, OTHER_CATEGORY

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
MAX_TAGS = 16
MAX_TAG_BYTES = 16
THUMBNAIL_TYPES = ("time", "dots")


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


@dataclass(frozen=True)
class CreatePlan:
    """What a CreateAssetByFileUpload body asks for, beyond the files (``plan``)."""

    plan: Plan
    description: str
    category_id: int
    tags: tuple[str, ...]
    auto_publish: int
    options: dict[str, Any]   # template_group_name, workflow_name, auto_encrypt, ... as sent


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


def _flag(body: dict[str, Any], name: str) -> int:
    """A 0/1 switch; the docs type them Integer, the SDK sends strings, so both pass."""
    value = body.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or value not in (0, 1, "0", "1"):
        raise Invalid(name, "must be 0 or 1")
    return int(value)


def _category(body: dict[str, Any]) -> int:
    value = body.get("category_id")
    if value is None or value == "":
        return OTHER_CATEGORY
    if isinstance(value, bool):
        raise Invalid("category_id", "must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise Invalid("category_id", "must be an integer") from err


def split_tags(value: Any, name: str = "tags", *, limit: int = MAX_TAG_BYTES) -> tuple[str, ...]:
    """``"a,b"`` -> ("a", "b"); at most 16 tags of at most ``limit`` bytes; raises Invalid."""
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise Invalid(name, "must be a comma-separated string")
    tags = tuple(t.strip() for t in value.split(",") if t.strip())
    if len(tags) > MAX_TAGS:
        raise Invalid(name, f"at most {MAX_TAGS} tags")
    for tag in tags:
        if len(tag.encode()) > limit:
            raise Invalid(name, f"each tag must be at most {limit} bytes")
    return tags


def _thumbnail(body: dict[str, Any]) -> None:
    value = body.get("thumbnail")
    if value is None:
        return
    if not isinstance(value, dict):
        raise Invalid("thumbnail", "must be an object")
    if value.get("type") not in THUMBNAIL_TYPES:
        raise Invalid("thumbnail.type", "must be time or dots")
    seconds = value.get("time")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)
                                or not 1 <= seconds <= 12):
        raise Invalid("thumbnail.time", "must be an integer from 1 to 12")
    dots = value.get("dots")
    if dots is not None and (not isinstance(dots, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in dots)):
        raise Invalid("thumbnail.dots", "must be a list of integers")


def _review(body: dict[str, Any]) -> None:
    value = body.get("review")
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("template_id"), str) \
            or not value["template_id"]:
        raise Invalid("review.template_id", "is required")


def check_create(body: Any) -> CreatePlan:
    """Validate a CreateAssetByFileUpload body (docs/VOD-CREATE.md §1); raises Invalid."""
    if not isinstance(body, dict):
        raise Invalid("body", "must be a JSON object")
    title = _text(body, "title", required=True, limit=128) or ""
    description = _text(body, "description", required=False, limit=1024) or ""
    video = _video(body, CREATE_VIDEO_TYPES, required=True)
    category = _category(body)
    tags = split_tags(body.get("tags"))
    auto_publish = _flag(body, "auto_publish")
    auto_encrypt = _flag(body, "auto_encrypt")
    _flag(body, "auto_preheat")
    template = _text(body, "template_group_name", required=False, limit=128)
    _text(body, "workflow_name", required=False, limit=128)
    if auto_encrypt and not template:
        raise Invalid("auto_encrypt", "encryption needs a transcoding template"
                      " (template_group_name) with HLS output")
    _thumbnail(body)
    _review(body)
    options = {k: body[k] for k in ("template_group_name", "workflow_name", "auto_encrypt",
                                    "auto_preheat", "thumbnail", "review") if k in body}
    plan = Plan(asset_id="", video=video, cover=_cover(body), subtitles=_subtitles(body),
                title=title)
    return CreatePlan(plan=plan, description=description, category_id=category, tags=tags,
                      auto_publish=auto_publish, options=options)
