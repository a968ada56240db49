"""Ready files of one asset -> one update request (SPEC §2). Pure.

An UpdateAsset request carries at most one video, one cover and one subtitle per
subtitle number. When more files of one asset are ready (two videos, two
subtitles numbered 1), the one first by name goes now and the rest wait for a
later batch, so the outcome does not depend on the order files were noticed.
Files dropped together go together: a ready group waits for its siblings still
settling (:func:`groups_settling`).
:func:`send_order` is that order for every ready file, as the status page numbers
the queue. Names go to VOD shortened to its 128-byte limit (:func:`vod_name`).
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from .names import Kind, ParsedName

T = TypeVar("T")

VOD_NAME_MAX = 128  # bytes of UTF-8 in video_name and a subtitle's name (docs/VOD-CREATE.md)


@dataclass(frozen=True)
class ReadyFile:
    """A settled file, understood and hashed, about to be sent."""

    parsed: ParsedName
    path: Path
    size: int
    md5_b64: str  # base64 of the 16-byte MD5 digest (VOD-API.md §7)


def md5_b64(digest: bytes) -> str:
    """Base64 of a raw 16-byte MD5 digest, the form VOD and OBS want (24 chars, ``==``)."""
    if len(digest) != 16:
        raise ValueError(f"an MD5 digest has 16 bytes, not {len(digest)}")
    return base64.b64encode(digest).decode("ascii")


def _slot(parsed: ParsedName) -> Hashable:
    """Files sharing a slot cannot travel in one request."""
    return (parsed.kind, parsed.subtitle_id)


def _identity(item: ParsedName) -> ParsedName:
    return item


@overload
def plan_jobs(ready: Sequence[ParsedName]) -> list[list[ParsedName]]: ...
@overload
def plan_jobs(ready: Sequence[T], parsed: Callable[[T], ParsedName]) -> list[list[T]]: ...


def plan_jobs(ready: Sequence[Any], parsed: Callable[[Any], ParsedName] = _identity,
              ) -> list[list[Any]]:
    """One batch per asset (or create-mode title), assets and files in name order.

    A batch holds at most one video, one cover and one subtitle per number; what
    does not fit is left out and should be planned again after the batch is done.
    ``parsed`` extracts the ParsedName when ``ready`` holds richer items; items with
    equal names keep their input order.
    """
    by_asset: dict[str, list[Any]] = {}
    for item in sorted(ready, key=lambda item: parsed(item).name):
        by_asset.setdefault(group_key(parsed(item)), []).append(item)
    batches: list[list[Any]] = []
    for asset_id in sorted(by_asset):
        taken: set[Hashable] = set()
        batch: list[Any] = []
        for item in by_asset[asset_id]:
            slot = _slot(parsed(item))
            if slot not in taken:
                taken.add(slot)
                batch.append(item)
        batches.append(_request_order(batch, parsed))
    return batches


def send_order(ready: Sequence[T], parsed: Callable[[T], ParsedName | None],
               ) -> list[list[T]]:
    """The order in which ``ready`` files are sent, one inner list per request.

    The order ``FolderWatch.dispatch`` takes them in: files that cannot be sent
    (``parsed`` gives None: a refused name, an empty file) first, each on its own and
    in the order given; then the :func:`plan_jobs` batches, and what did not fit in a
    batch after them, planned again the same way. ``ready`` should be sorted as
    dispatch sorts it (by path).
    """
    alone: list[list[T]] = [[item] for item in ready if parsed(item) is None]
    good = [(item, p) for item in ready if (p := parsed(item)) is not None]
    batches: list[list[T]] = []
    while good:
        planned = plan_jobs(good, lambda pair: pair[1])
        batches += [[item for item, _ in batch] for batch in planned]
        taken = {id(pair) for batch in planned for pair in batch}
        good = [pair for pair in good if id(pair) not in taken]
    return alone + batches


def vod_name(name: str) -> str:
    """``name`` as VOD takes it for ``video_name`` or a subtitle's ``name``: at most
    :data:`VOD_NAME_MAX` UTF-8 bytes. A longer name (copy markers add up) is cut at a
    character boundary before its extension, which stays; the file keeps its whole
    name on the share and in every record."""
    if len(name.encode("utf-8", "surrogatepass")) <= VOD_NAME_MAX:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8", "surrogatepass")) > VOD_NAME_MAX // 2:
        stem, dot, ext = name, "", ""
    room = VOD_NAME_MAX - len(f"{dot}{ext}".encode("utf-8", "surrogatepass"))
    cut = stem.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore").rstrip()
    return f"{cut}{dot}{ext}"


def group_key(parsed: ParsedName) -> str:
    """Files of one asset (an asset ID), or of one title (create mode), go together."""
    # macOS writes decomposed (NFD) names: one title, however its letters are spelled.
    title = unicodedata.normalize("NFC", parsed.title) if parsed.title else ""
    return f"title:{title}" if title else parsed.asset_id


def _order_key(parsed: ParsedName) -> tuple[int, int]:
    rank = {Kind.VIDEO: 0, Kind.COVER: 1, Kind.SUBTITLE: 2, Kind.METADATA: 3}[parsed.kind]
    return rank, parsed.subtitle_id or 0


def _request_order(items: Sequence[T], parsed: Callable[[T], ParsedName]) -> list[T]:
    return sorted(items, key=lambda item: _order_key(parsed(item)))


def update_request(asset_id: str, files: Sequence[ReadyFile]) -> dict[str, Any]:
    """The UpdateAsset JSON body for ``files`` of ``asset_id``; subtitles by ascending id.

    Raises ValueError for an empty batch, a file of another asset, or two files in
    one slot (plan_jobs never builds such a batch).
    """
    if not files:
        raise ValueError("an update request needs at least one file")
    slots: set[Hashable] = set()
    for file in files:
        if file.parsed.asset_id != asset_id.lower():
            raise ValueError(f"{file.parsed.name} belongs to asset {file.parsed.asset_id}, "
                             f"not {asset_id}")
        slot = _slot(file.parsed)
        if slot in slots:
            raise ValueError(f"two files for one {file.parsed.kind} slot in one request")
        slots.add(slot)
    body: dict[str, Any] = {"asset_id": asset_id.lower()}
    subtitles: list[dict[str, Any]] = []
    for file in _request_order(files, lambda f: f.parsed):
        p = file.parsed
        if p.kind is Kind.VIDEO:
            body.update(video_name=vod_name(p.name), video_type=p.file_type,
                        video_md5=file.md5_b64)
        elif p.kind is Kind.COVER:
            body.update(cover_id=0, cover_type=p.file_type, cover_md5=file.md5_b64)
        else:
            subtitles.append({"id": p.subtitle_id, "language": p.language, "type": p.file_type,
                              "name": vod_name(p.name), "md5": file.md5_b64})
    if subtitles:
        body["subtitles"] = subtitles
    return body


def pair_upload_urls(response: Mapping[str, Any],
                     files: Sequence[ReadyFile]) -> list[tuple[ReadyFile, str]]:
    """Match an UpdateAsset response's upload URLs to the files of its request.

    ``subtitle_upload_urls`` follow the request's subtitle order (ascending id).
    Raises ValueError when a URL is missing.
    """
    ordered = _request_order(files, lambda f: f.parsed)
    subtitle_urls = list(response.get("subtitle_upload_urls") or [])
    subtitles = [f for f in ordered if f.parsed.kind is Kind.SUBTITLE]
    if len(subtitle_urls) < len(subtitles):
        raise ValueError(f"the response has {len(subtitle_urls)} subtitle upload URL(s) "
                         f"for {len(subtitles)} subtitle(s)")
    pairs: list[tuple[ReadyFile, str]] = []
    next_subtitle = iter(subtitle_urls)
    for file in ordered:
        url: object
        if file.parsed.kind is Kind.SUBTITLE:
            url = next(next_subtitle)
        else:
            field = "video_upload_url" if file.parsed.kind is Kind.VIDEO else "cover_upload_url"
            url = response.get(field)
        if not isinstance(url, str) or not url:
            raise ValueError(f"the response has no upload URL for {file.parsed.name}")
        pairs.append((file, url))
    return pairs


def groups_settling(seen: Iterable[Path], ready: set[Path],
                    parse: Callable[[str], ParsedName | None], *, create: bool,
                    held: MutableMapping[str, float], now: float, hold: float) -> set[str]:
    """Group keys (:func:`group_key`) whose ready files wait for a sibling still settling.

    A create-mode title waits until every file of it is stable: it becomes one asset.
    A group with an asset ID waits at most ``hold`` seconds (one settle window) from when
    it first waited, so files dropped together go in one UpdateAsset while a cover does
    not wait an hour for a video still being copied. ``held`` remembers when each group
    first waited; groups no longer waiting are forgotten there.
    """
    settling = set()
    for path in seen:
        if path not in ready and (parsed := parse(path.name)) is not None:
            if parsed.title and not create:
                continue  # a name without an asset ID fails outside create mode
            settling.add(group_key(parsed))
    waiting = set()
    for key in settling:
        since = held.setdefault(key, now)
        if key.startswith("title:") or now - since < hold:
            waiting.add(key)
    for key in [k for k in held if k not in settling]:
        del held[key]
    return waiting
