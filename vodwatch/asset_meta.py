"""A new asset's metadata (create mode): the sidecar ``<title>.yaml``/``.json``, the folder
set's defaults (``folders[].asset_defaults``) and the CreateAssetByFileUpload body.

Keys (VOD-CREATE.md §1.1): ``title``, ``description``, ``category_id``, ``tags``,
``auto_publish``, ``template_group_name``. A sidecar's keys win over the folder set's
defaults; ``title`` only comes from a sidecar (else the file name). Every problem
names the key and how to fix it (``MetaProblem``). Pure, apart from reading a file.

vodwatch puts its own tag in ``tags``: the intent token (``vw`` + 12 hex) by which a
lost answer is found again (vodwatch.step_create), so editors may give 15 tags.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .group import ReadyFile
from .name_rules import Kind
from .titles import MAX_TITLE_BYTES, shorten

KEYS = ("title", "description", "category_id", "tags", "auto_publish", "template_group_name")
DEFAULT_KEYS = KEYS[1:]  # what a folder set may default
MAX_DESCRIPTION_BYTES = 1024
MAX_TAGS = 16  # VOD's limit, vodwatch's own token included
MAX_TAG_BYTES = 16
TOKEN_PREFIX = "vw"


class MetaProblem(ValueError):
    """A metadata key that VOD would refuse: which key, what is wrong, how to fix it."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{key} {problem}")
        self.key, self.problem, self.fix = key, problem, fix


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def check_meta(raw: Any, *, allowed: Sequence[str] = KEYS) -> dict[str, Any]:
    """The metadata in ``raw`` checked and normalised; MetaProblem on the first bad key."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise MetaProblem("the file", "is not a list of keys and values",
                          "write one key per line, e.g. description: A short text")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise MetaProblem(str(key), "is not a key vodwatch knows",
                              f"use only {', '.join(allowed)}")
        out[str(key)] = _check_one(str(key), value)
    return out


def _check_one(key: str, value: Any) -> Any:
    if key in ("title", "description", "template_group_name"):
        if not isinstance(value, str) or not value.strip():
            raise MetaProblem(key, f"must be a text, got {value!r}", f"write {key}: some text")
        limit = {"title": MAX_TITLE_BYTES, "description": MAX_DESCRIPTION_BYTES}.get(key)
        if limit and _bytes(value) > limit:
            raise MetaProblem(key, f"has {_bytes(value)} bytes; VOD takes at most {limit}",
                              f"shorten the {key}")
        return value.strip() if key != "description" else value
    if key == "category_id":
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise MetaProblem(key, f"must be a category number from the VOD console, got "
                              f"{value!r}", "write category_id: 12345 (or -1 for Other)")
        return value
    if key == "auto_publish":
        if value in (True, 1):
            return 1
        if value in (False, 0):
            return 0
        raise MetaProblem(key, f"must be true or false, got {value!r}",
                          "write auto_publish: true or auto_publish: false")
    return _check_tags(value)


def _check_tags(value: Any) -> list[str]:
    tags = value.split(",") if isinstance(value, str) else value
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise MetaProblem("tags", f"must be a list of words, got {value!r}",
                          "write tags: [news, sport]")
    tags = [t.strip() for t in tags if t.strip()]
    if len(tags) > MAX_TAGS - 1:
        raise MetaProblem("tags", f"has {len(tags)} tags; at most {MAX_TAGS - 1} fit beside "
                          "vodwatch's own", f"keep {MAX_TAGS - 1} tags or fewer")
    for tag in tags:
        if _bytes(tag) > MAX_TAG_BYTES or "," in tag:
            raise MetaProblem("tags", f"has {tag!r}, longer than VOD's {MAX_TAG_BYTES} bytes "
                              "per tag" if "," not in tag else f"has {tag!r} with a comma",
                              "shorten that tag (or split it in two)")
    return tags


def read_sidecar(path: Path) -> dict[str, Any]:
    """A sidecar's metadata; MetaProblem when it cannot be read or a key is bad."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Notepad writes a BOM
    except UnicodeDecodeError:
        raise MetaProblem("the file", "is not UTF-8 text",
                          "save it as UTF-8 text and drop it again") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise MetaProblem("the file", f"cannot be read{line}: {str(exc).splitlines()[0]}",
                          "correct the file's syntax") from None
    return check_meta(raw)


def asset_title(title: str, meta: Mapping[str, Any]) -> str:
    """The title a new asset is given: the sidecar's or the file's, shortened for VOD."""
    return shorten(str(meta.get("title") or title))


def create_request(title: str, files: Sequence[ReadyFile], meta: Mapping[str, Any],
                   token: str) -> dict[str, Any]:
    """The CreateAssetByFileUpload body: metadata, the video, cover and subtitles, and
    the intent ``token`` among the tags. Raises ValueError without a video."""
    video = next((f for f in files if f.parsed.kind is Kind.VIDEO), None)
    if video is None:
        raise ValueError("a new asset needs its video")
    name = video.parsed.name
    body: dict[str, Any] = {
        "title": asset_title(title, meta),
        "video_name": shorten(name, keep_suffix=f".{video.parsed.ext}"),
        "video_type": video.parsed.file_type, "video_md5": video.md5_b64,
        "tags": ",".join([*meta.get("tags", []), token]),
    }
    for key in ("description", "category_id", "auto_publish", "template_group_name"):
        if key in meta:
            body[key] = meta[key]
    subtitles = []
    for f in sorted(files, key=lambda f: f.parsed.subtitle_id or 0):
        if f.parsed.kind is Kind.COVER:
            body.update(cover_type=f.parsed.file_type, cover_md5=f.md5_b64)
        elif f.parsed.kind is Kind.SUBTITLE:
            subtitles.append({"id": f.parsed.subtitle_id, "language": f.parsed.language,
                              "type": f.parsed.file_type,
                              "name": shorten(f.parsed.name, keep_suffix=f".{f.parsed.ext}"),
                              "md5": f.md5_b64})
    if subtitles:
        body["subtitles"] = subtitles
    return body
