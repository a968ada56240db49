"""Create mode's steps (SPEC §2, ``create_assets: true``): a title's files become one new
asset with CreateAssetByFileUpload, exactly once, also across crashes and lost answers.

CreateAsset is not idempotent. So, before it is called, the intent is recorded twice:
on the share (``<inbox>/.vodwatch/titles/<digest>.json``: the title and its token, for
every daemon of the folder set and for a later job of the same title) and in the journal
(state ``creating`` with the token and the time). The token (``vw`` + 12 hex) travels in
the new asset's tags. A job found in ``creating`` (a crash, a lost answer, a retry) first
looks for an asset carrying its token with ListAssetList, and only creates when there is
none. A found asset is adopted the way a lost UpdateAsset answer is recovered: its open
upload is confirmed ``CANCELLED`` and UpdateAsset asks for fresh URLs (``requesting``).

The answer's asset ID is journaled with its upload URLs in one transaction; from there
on the job is an update of that asset (upload, confirm and finish are shared).

One list that finds nothing does not prove there is nothing: ListAssetList may lag
behind a create, and a create whose answer timed out may still be at work in VOD. So
the share's title map keeps ``sent_at``, when a create was last sent or last went
unanswered, and a job that finds no asset within CREATE_SETTLE_S of it waits and lists
again instead of creating. The list is not trusted blindly either: only records whose
title is the title sent count, and of several the oldest is taken.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from .asset_meta import TOKEN_PREFIX, MetaProblem, asset_title, create_request, read_sidecar
from .decide import FailFile, Later
from .errors import RemoteError, TransportError
from .explain import UPDATABLE, UPLOADING, incomplete_answer_failure
from .finish import Failure
from .group import ReadyFile
from .journal import FileRow, JobRow
from .names import Kind
from .services import Services, cancel_upload, parsed_name, refuse, to_send
from .states import FileState, JobState
from .step_send import _ready, _urls_for
from .titles import normal, read_mapping, stamp, write_mapping

log = structlog.get_logger("vodwatch.runner")

LIST_WINDOW_S = 24 * 3600  # how far before the first request ListAssetList looks
LIST_PAGE = 100  # ListAssetList's largest page (`size`, 1..100, VOD-CREATE.md §2)
# After a create was sent without an answer, how long a list that finds nothing is not
# believed. 120 s: VOD answers a create within a second or two when it answers at all,
# so a request still at work after the client gave up on it, or a list index behind a
# fresh asset, is a matter of seconds; two minutes is a wide margin. Waiting costs a rare
# lost answer two minutes; a second asset, once made, is never undone.
CREATE_SETTLE_S = 120.0
LIST_AGAIN_S = 5.0  # how often the list is asked again meanwhile
CHECKING = "checking whether VOD created the asset"


def new_token() -> str:
    """A fresh intent token: 14 bytes, within VOD's 16 bytes per tag."""
    return TOKEN_PREFIX + secrets.token_hex(6)


# ---- claimed: the metadata read, a title's earlier asset checked ---------------------

def prepare_title(services: Services, job: JobRow, files: list[FileRow]) -> None:
    """Read the sidecar of a new title (a bad one fails the group); refuse files that
    cannot go with this job (metadata for an existing asset, a second video for a title
    whose asset has its video)."""
    live = [f for f in files if not f.error and f.state != FileState.UPLOADED]
    metadata = [f for f in live if f.kind == Kind.METADATA]
    if job.asset_id:  # the title became an asset earlier: this is an update of it
        for f in metadata:
            refuse(services, job, f, Failure(
                f"{f.name} gives metadata for {job.title}, which is already asset "
                f"{job.asset_id}; metadata is only read together with a new title's video.",
                "change the asset's details in the VOD console", asset_id=job.asset_id))
        video = next((f for f in live if f.kind == Kind.VIDEO), None)
        if video is not None:
            status = services.vod.asset_status(job.asset_id)
            if status not in UPDATABLE | UPLOADING:
                failure = Failure(
                    f"{video.name} has the title {job.title}, which already became asset "
                    f"{job.asset_id} (its video is in place, state {status}).",
                    f"rename the file to create another asset (for example "
                    f"{job.title} v2{Path(video.name).suffix}), or give it the asset ID "
                    f"{job.asset_id} to replace that asset's video",
                    asset_id=job.asset_id, state=status)
                if len([f for f in live if f.kind != Kind.METADATA]) == 1:
                    raise FailFile(failure)
                refuse(services, job, video, failure)
        return
    meta = dict(services.asset_defaults)
    for f in metadata:
        try:
            meta.update(read_sidecar(Path(f.inbox_path)))
        except MetaProblem as exc:
            raise FailFile(Failure(
                f"{f.name} cannot be used: {exc.key} {exc.problem}.",
                f"{exc.fix} in {f.name}, then put it back in the inbox with the other files "
                f"of {job.title}")) from None
        services.journal.set_file(f.id, state=FileState.UPLOADED)  # read, never sent
    video = next((f for f in live if f.kind == Kind.VIDEO), None)
    if video is None:
        names = ", ".join(f.name for f in live)
        made = str((read_mapping(services.claims.inbox, job.title or "") or {}).get("asset_id")
                   or "")
        if made:  # follow_titles: false, the title's later files do not follow it
            first = next((f.name for f in live if f.kind != Kind.METADATA), "")
            example = first[len(job.title or ""):] or ".cover.jpg"
            raise FailFile(Failure(
                f"{names} belong to {job.title}, and no video of that title is being "
                f"created; this folder set does not update an earlier asset of the same "
                f"title by itself (that title became asset {made}).",
                f"to update asset {made}, rename the file to {made}{example} and put it "
                f"back in the inbox; to create a new asset, put it back together with a new "
                f"video of that title", asset_id=made))
        raise FailFile(Failure(
            f"{names} belong to {job.title}, which has no asset yet, and no video of that "
            "title came with them.",
            f"put them back in the inbox together with the video ({job.title}.mp4) so that "
            "one new asset is created with all of them"))
    if parsed_name(services, video).content_type.startswith("audio/"):
        for f in live:  # VOD gives audio assets no subtitles (VOD-CREATE.md §1.1)
            if f.kind == Kind.SUBTITLE:
                refuse(services, job, f, Failure(
                    f"{f.name} is a subtitle for {job.title}, whose media file {video.name} "
                    "is audio; VOD takes no subtitles for audio.",
                    "keep subtitles for video titles only"))
    services.journal.set_job(job.id, create_meta=json.dumps(
        {k: list(v) if isinstance(v, tuple) else v for k, v in meta.items()}))


# ---- ready → creating → requested ------------------------------------------------------

def ready_or_create(services: Services, job: JobRow) -> None:
    """An update asks UpdateAsset; a new title records its intent, then creates."""
    if job.asset_id or not job.title:
        _ready(services, job)
        return
    inbox = services.claims.inbox
    known = read_mapping(inbox, job.title) or {}
    if known.get("asset_id"):  # made by an earlier job of this title
        if (known.get("token") == job.create_token
                or services.vod.asset_status(str(known["asset_id"])) in UPDATABLE | UPLOADING):
            _adopt(services, job, str(known["asset_id"]))  # its video is not in: this job's
            return
        # follow_titles: false, and that asset has its video: this video is a new asset.
        known = {}
        write_mapping(inbox, job.title, asset_id=None, token=None, requested_at=None,
                      sent_at=None)
    token = str(known.get("token") or job.create_token or new_token())
    first = stamp(known.get("requested_at")) or job.create_requested_at or services.clock()
    write_mapping(inbox, job.title, token=token, requested_at=first)
    services.journal.set_job(job.id, state=JobState.CREATING, create_token=token,
                        create_requested_at=first)
    if known.get("token"):
        # An earlier job of this title asked before: its asset may exist. Look first.
        _creating(services, services.journal.job(job.id))
        return
    _send_create(services, services.journal.job(job.id))


def _creating(services: Services, job: JobRow) -> None:
    """The answer is missing (crash, lost answer, retry): find the asset by its token,
    adopt it if it is there; create again (with the same token) only once the last send
    is CREATE_SETTLE_S old, else wait and list again."""
    found = find_by_token(services, job)
    if found:
        log.warning("job.create_took_effect", job_id=job.id, asset_id=found, title=job.title,
                    action="adopt the asset, cancel its open upload and ask again")
        _adopt(services, job, found)
        return
    sent = stamp((read_mapping(services.claims.inbox, job.title or "") or {}).get("sent_at"))
    if sent is not None:
        left = sent + CREATE_SETTLE_S - services.clock()
        if left > 0:
            log.info("job.create_unseen", job_id=job.id, title=job.title,
                     list_again_in=round(min(left, LIST_AGAIN_S), 1))
            raise Later(CHECKING, min(left, LIST_AGAIN_S))
    _send_create(services, job)


def find_by_token(services: Services, job: JobRow) -> str | None:
    """The asset whose tags hold the job's token (ListAssetList), or None.

    Only records titled as sent count (a filter VOD ignored must not adopt a stranger's
    asset); of several, the oldest (the first create) is taken.
    """
    assert job.create_token and job.title
    since = (job.create_requested_at or services.clock()) - LIST_WINDOW_S
    answer = services.vod.list_assets(tags=job.create_token, start_time=_vod_time(since),
                                      size=LIST_PAGE)
    ids = created_ids(answer.get("assets"),
                      asset_title(job.title, json.loads(job.create_meta or "{}")))
    if len(ids) > 1:
        log.error("job.create_duplicates", job_id=job.id, title=job.title, assets=ids)
    return ids[0] if ids else None


def created_ids(records: Any, title: str) -> list[str]:
    """The IDs of the list's records titled ``title`` (as sent), oldest first."""
    wanted = normal(title)
    found = [a for a in records or [] if isinstance(a, dict) and a.get("asset_id")
             and normal(str(a.get("title") or "")) == wanted]
    found.sort(key=lambda a: (str(a.get("create_time") or ""), str(a["asset_id"])))
    return [str(a["asset_id"]) for a in found]


def _adopt(services: Services, job: JobRow, asset_id: str) -> None:
    services.journal.set_asset(job.id, asset_id)
    write_mapping(services.claims.inbox, job.title or "", asset_id=asset_id)
    if any(f.kind == Kind.VIDEO for f in to_send(services, job.id)):
        cancel_upload(services, asset_id)
    services.journal.set_job(job.id, state=JobState.REQUESTING)


def _send_create(services: Services, job: JobRow) -> None:
    files = to_send(services, job.id)
    ready = []
    for f in files:
        assert f.md5 is not None and f.size is not None
        ready.append(ReadyFile(parsed_name(services, f), Path(f.inbox_path), f.size, f.md5))
    meta: dict[str, Any] = json.loads(job.create_meta or "{}")
    assert job.title and job.create_token
    try:
        body = create_request(job.title, ready, meta, job.create_token)
    except ValueError as exc:
        raise FailFile(Failure(f"{job.title} cannot become an asset: {exc}.",
                               f"put the video of {job.title} back in the inbox")) from None
    inbox = services.claims.inbox
    write_mapping(inbox, job.title, sent_at=services.clock())  # before: a crash may follow
    try:
        answer = services.vod.create_asset(body)
    except TransportError:
        write_mapping(inbox, job.title, sent_at=services.clock())  # VOD may be at it still
        raise
    except RemoteError as exc:
        if exc.status < 500:  # refused: nothing was created
            write_mapping(inbox, job.title, sent_at=None)
        raise
    asset_id = str(answer.get("asset_id") or "")
    if not asset_id:
        raise FailFile(incomplete_answer_failure("", "the answer has no asset_id"))
    urls = _urls_for(files, ready, answer, job)
    services.journal.store_urls(job.id, urls, asset_id=asset_id)
    request_id = str(answer.get("request_id") or "") or None
    for f in files:
        services.journal.set_file(f.id, request_id=request_id)
    write_mapping(services.claims.inbox, job.title, asset_id=asset_id)
    log.info("job.asset_created", job_id=job.id, asset_id=asset_id, title=job.title,
             files=[f.name for f in files])


def _vod_time(epoch: float) -> str:
    """VOD's time format for ListAssetList: ``yyyymmddhhmmss`` in UTC."""
    return datetime.fromtimestamp(max(epoch, 0), UTC).strftime("%Y%m%d%H%M%S")
