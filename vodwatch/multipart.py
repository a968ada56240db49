"""Large files in parts: started or resumed from the store's own list of parts, parts
hashed and signed ahead of the connections that send them, completed when every part
is in; aborted when the job gives up.
"""

from __future__ import annotations

import contextvars
import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import structlog

from .errors import (
    FileChanged,
    Interrupted,
    RemoteError,
    TransportError,
)
from .group import md5_b64
from .identity import check_same_bytes, journaled_snapshot
from .journal import FileRow, Journal, PartRow
from .part_plan import PartPlanner
from .parts_ahead import PartHashes, SettledStore, Signed
from .partsize import LinkEstimate, save_link
from .vod.api import VodClient
from .vod.obs import Body, ObsClient, url_expires

if TYPE_CHECKING:
    from .upload import Progress

from .states import FileState
from .vod.obs import EXPIRY_MARGIN

log = structlog.get_logger("vodwatch.upload")
_T = TypeVar("_T")




class MultipartSender(PartPlanner):
    """The multipart half of the Uploader (its fields are declared there)."""

    if TYPE_CHECKING:
        vod: VodClient
        obs: ObsClient
        journal: Journal
        part_size: int
        parallel_parts: int
        stop: threading.Event
        abort: threading.Event
        retry_part: Callable[[BaseException, int], float | None]
        sleep: Callable[[float], None]
        clock: Callable[[], float]
        on_started: Callable[[int], None] | None
        adaptive: bool
        calls_per_minute: float
        link: LinkEstimate
        settled: SettledStore
        link_file: Path | None
        endpoint: str
        _uploads: int
        _uploads_lock: threading.Lock

        def _chunks(self, fd: int, offset: int, length: int, progress: Progress | None,
                    hasher: hashlib._Hash | None = None) -> Iterator[bytes]: ...

        def _hash_range(self, fd: int, offset: int, length: int) -> str: ...

        def _with_retry(self, fn: Callable[[], _T], what: str) -> _T: ...

    def put_multipart(self, row: FileRow, path: Path, content_type: str,
                      progress: Progress | None = None) -> None:
        """Multipart upload through VOD's authority API, resuming from the journal."""
        with self._uploads_lock:
            self._uploads += 1
        try:
            self._put_multipart(row, path, content_type, progress)
        finally:
            with self._uploads_lock:
                self._uploads -= 1
            if self.link_file is not None:
                try:  # what the link showed outlives a restart
                    save_link(self.link_file, self.endpoint, self.link)
                except OSError as exc:
                    log.debug("upload.link_not_saved", error=str(exc))

    def _put_multipart(self, row: FileRow, path: Path, content_type: str,
                       progress: Progress | None) -> None:
        assert row.size is not None and row.bucket and row.object_key
        bucket, key, size = row.bucket, row.object_key, row.size
        fd = os.open(path, os.O_RDONLY)
        hashes: PartHashes | None = None
        settled = self.settled.take(row.id)
        snap = journaled_snapshot(row)
        if settled is not None and (snap is None or settled.identity != (
                snap.size, snap.mtime_ns, snap.ctime_ns, snap.ino)):
            settled = None  # read before the file last changed: never trusted
        try:
            upload_id, part_size = row.upload_id, row.part_size
            if upload_id and part_size and not self._reconcile(row, fd, bucket, key, upload_id,
                                                               part_size):
                upload_id = None  # the store forgot it: start afresh
            if not upload_id or not part_size:
                why = ""

                def initiate() -> str:
                    # The part size is chosen once VOD answered the first call (its
                    # time is a first sample of the round trip), and the first parts
                    # are hashed while the store initiates the upload.
                    nonlocal hashes, part_size, why
                    started = time.monotonic()
                    url = self.vod.authority(http_verb="POST", bucket=bucket, object_key=key,
                                             content_type=content_type)
                    if hashes is None:
                        part_size, why, known = self._plan(fd, size,
                                                           time.monotonic() - started, settled)
                        count = max(1, math.ceil(size / part_size))
                        hashes = self._hashes(fd, size, part_size, list(range(1, count + 1)),
                                              known)
                    started = time.monotonic()
                    upload_id = self.obs.initiate(url, content_type)
                    self.link.saw_round_trip(time.monotonic() - started)
                    return upload_id

                upload_id = self._with_retry(initiate, "initiate")
                assert part_size
                self.journal.replace_parts(row.id, [])
                self.journal.set_file(row.id, upload_id=upload_id, part_size=part_size,
                                      state=FileState.UPLOADING, upload_started_at=self.clock())
                if self.on_started is not None:
                    self.on_started(row.job_id)  # the job's ticket on the share learns the ID
                log.info("upload.multipart_started", file=row.name, parts=math.ceil(
                    size / part_size) or 1, part_size=part_size, why=why)
            # A resumed upload keeps its journaled part size: its parts were cut so.
            count = max(1, math.ceil(size / part_size))
            done = {p.part_number for p in self.journal.parts(row.id)}
            if progress is not None:
                progress.add(sum(p.size for p in self.journal.parts(row.id)))
            todo = [n for n in range(1, count + 1) if n not in done]
            if hashes is None:
                known = settled.md5s if settled and settled.part_size == part_size else None
                hashes = self._hashes(fd, size, part_size, todo, known)
            self._send_parts(row, fd, bucket, key, upload_id, part_size, hashes, len(todo),
                             progress)
            snap = check_same_bytes(path, self.journal.file(row.id), self.stop,
                                    parts=self.journal.parts(row.id))
            if snap is not None:  # only metadata moved, the bytes sent are the file's
                self.journal.set_file(row.id, size=snap.size, mtime_ns=snap.mtime_ns,
                                      ctime_ns=snap.ctime_ns, ino=snap.ino)
            parts = [(p.part_number, p.etag) for p in self.journal.parts(row.id)]
            if [n for n, _ in parts] != list(range(1, count + 1)):
                raise FileChanged("the journal and the store disagree about the parts",
                                  "the upload is checked again")
            self._complete(bucket, key, upload_id, parts)
        finally:
            if hashes is not None:
                hashes.close()
            os.close(fd)

    def _hashes(self, fd: int, size: int, part_size: int, todo: list[int],
                known: tuple[str, ...] | None = None) -> PartHashes:
        """Start working out the MD5s of the parts in ``todo``, ahead of the senders
        (``known``: those read while the file settled, in order, for this part size)."""
        def hash_part(n: int) -> str:
            offset = (n - 1) * part_size
            length = min(part_size, size - offset)
            started = time.monotonic()
            md5 = self._hash_range(fd, offset, length)
            self.link.saw_hash(length, time.monotonic() - started)
            return md5

        workers = max(1, min(self.parallel_parts, len(todo)))
        if known is not None and len(known) != max(1, math.ceil(size / part_size)):
            known = None
        return PartHashes(hash_part, todo, 2 * workers + 1, known)  # sending + next, each

    def abort_multipart(self, row: FileRow) -> None:
        """Best effort: tell the store to drop a multipart upload we give up on."""
        if not (row.upload_id and row.bucket and row.object_key):
            return
        try:
            self.obs.abort(self.vod.authority(http_verb="DELETE", bucket=row.bucket,
                                              object_key=row.object_key,
                                              upload_id=row.upload_id))
        except (RemoteError, TransportError) as exc:
            log.info("upload.abort_failed", file=row.name, error=str(exc))
        self.journal.replace_parts(row.id, [])
        self.journal.set_file(row.id, upload_id=None, part_size=None)

    def _reconcile(self, row: FileRow, fd: int, bucket: str, key: str, upload_id: str,
                   part_size: int) -> bool:
        """Make the journal's parts agree with the store's; False if the upload is gone.

        A part the journal does not know by its ETag (sent by a daemon we took over
        from, or before a crash) is kept only if the store's ETag is the MD5 of the
        file's bytes at that place now; any other is sent again.
        """
        try:
            listed = self._with_retry(lambda: self.obs.list_parts(self.vod.authority(
                http_verb="GET", bucket=bucket, object_key=key, upload_id=upload_id)),
                "list_parts")
        except RemoteError as exc:
            if exc.code == "NoSuchUpload" or exc.status == 404:
                log.info("upload.restart", file=row.name, reason="the store forgot the upload")
                self.journal.replace_parts(row.id, [])
                return False
            raise
        journaled = {p.part_number: p for p in self.journal.parts(row.id)}
        agreed = []
        assert row.size is not None
        for lp in listed:
            mine = journaled.get(lp.part_number)
            if mine and mine.etag == lp.etag:
                agreed.append(PartRow(lp.part_number, lp.size, mine.md5, lp.etag))
                continue
            offset = (lp.part_number - 1) * part_size
            length = min(part_size, row.size - offset)
            md5 = _etag_md5(lp.etag)
            if md5 is None or length <= 0 or lp.size != length or (
                    self._hash_range(fd, offset, length) != md5):
                log.warning("upload.part_mismatch", file=row.name, part=lp.part_number,
                            action="send it again")
                continue
            agreed.append(PartRow(lp.part_number, lp.size, md5, lp.etag))
        self.journal.replace_parts(row.id, agreed)
        log.info("upload.resumed", file=row.name, parts_done=len(agreed))
        return True

    def _send_parts(self, row: FileRow, fd: int, bucket: str, key: str, upload_id: str,
                    part_size: int, hashes: PartHashes, parts: int,
                    progress: Progress | None) -> None:
        """Send the ``parts`` parts ``hashes`` hands out on ``parallel_parts`` connections.

        Hash ahead, authority ahead, send: hasher threads work out the parts' MD5s in
        order, a few parts ahead of the senders; each connection takes its next part
        as soon as it starts sending the current one and asks VOD for that part's
        signed URL (which needs the MD5) meanwhile, so between two parts it waits for
        no VOD round trip. The ahead URL's Expires is checked before it is used.
        """
        assert row.size is not None
        size = row.size
        give_up = threading.Event()  # one part failed: the others stop taking new parts
        workers = max(1, min(self.parallel_parts, parts))
        authorizer = ThreadPoolExecutor(workers, thread_name_prefix="part-url")

        def span(n: int) -> tuple[int, int]:
            offset = (n - 1) * part_size
            return offset, min(part_size, size - offset)

        def authorize(n: int, md5: Future[str]) -> Signed:
            digest = md5.result()
            try:
                return Signed(digest, self._part_url(bucket, key, upload_id, n, digest))
            except (RemoteError, TransportError) as exc:
                # Asked again when the part is sent, under the part's retry rules.
                log.info("upload.url_ahead_failed", file=row.name, part=n, error=str(exc))
                return Signed(digest, None)

        def worker() -> None:
            current = hashes.take()
            signed = None if current is None else authorizer.submit(authorize, *current)
            while current is not None and signed is not None:
                if give_up.is_set():
                    return
                if self.stop.is_set():
                    raise Interrupted("stopping: remaining parts are left for later")
                ready = signed.result()
                following = hashes.take()
                signed = None if following is None else authorizer.submit(authorize,
                                                                          *following)
                self._send_part(row, fd, bucket, key, upload_id, current[0],
                                *span(current[0]), progress, ready)
                current = following

        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="part") as pool:
                # Each sender runs in a copy of this job's logging context (job, asset).
                futures: list[Future[None]] = [
                    pool.submit(contextvars.copy_context().run, worker) for _ in range(workers)]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in done if f.exception() is not None]
                if failed:
                    give_up.set()
                    wait(futures)
                    exc = failed[0].exception()
                    assert exc is not None
                    raise exc
        finally:
            authorizer.shutdown(wait=True, cancel_futures=True)

    def _part_url(self, bucket: str, key: str, upload_id: str, n: int, md5: str) -> str:
        return self.vod.authority(http_verb="PUT", bucket=bucket, object_key=key,
                                  content_md5=md5, upload_id=upload_id, part_number=n)

    def _send_part(self, row: FileRow, fd: int, bucket: str, key: str, upload_id: str,
                   n: int, offset: int, length: int, progress: Progress | None,
                   signed: Signed) -> None:
        """Send part ``n`` with the URL obtained ahead (fetched again if it has expired
        or a retry needs a new one), retrying as ``retry_part`` says."""
        md5 = signed.md5
        url: str | None = signed.url
        attempt = 0
        while True:
            try:
                if url is not None:
                    expires = url_expires(url)
                    if expires is not None and expires < self.clock() + EXPIRY_MARGIN:
                        log.info("upload.url_expired", file=row.name, part=n,
                                 action="asking for a new one")
                        url = None
                if url is None:
                    url = self._part_url(bucket, key, upload_id, n, md5)
                started = time.monotonic()
                etag = self.obs.upload_part(url, Body(self._chunks(fd, offset, length, progress),
                                                      length), md5)
                self.link.saw_part(length, time.monotonic() - started)
            except (RemoteError, TransportError) as exc:
                url = None  # a retry asks for a new URL
                if progress is not None:
                    progress.rewind(length)
                if isinstance(exc, RemoteError) and exc.code == "BadDigest":
                    # The bytes changed between hashing and sending.
                    raise FileChanged(f"{row.name} changed while vodwatch was sending it",
                                      "it will be sent again once it stays unchanged") from None
                attempt += 1
                delay = self.retry_part(exc, attempt)
                if delay is None:
                    raise
                log.info("upload.part_retry", file=row.name, part=n, attempt=attempt,
                         delay=round(delay, 1), error=str(exc))
                self.sleep(delay)
                continue
            self.journal.add_part(row.id, PartRow(n, length, md5, etag))
            return

    def _complete(self, bucket: str, key: str, upload_id: str,
                  parts: list[tuple[int, str]]) -> None:
        tried = False

        def complete() -> None:
            nonlocal tried
            try:
                self.obs.complete(self.vod.authority(http_verb="POST", bucket=bucket,
                                                     object_key=key, upload_id=upload_id),
                                  parts)
            except RemoteError as exc:
                if not (tried and exc.code == "NoSuchUpload"):
                    raise
                # An earlier complete whose answer was lost did merge the parts.
            finally:
                tried = True

        self._with_retry(complete, "complete")


def _etag_md5(etag: str) -> str | None:
    """The base64 MD5 inside a part ETag (quoted hex MD5), or None if it is not one."""
    hexdigest = etag.strip('"')
    try:
        raw = bytes.fromhex(hexdigest)
    except ValueError:
        return None
    return md5_b64(raw) if len(raw) == 16 else None
