"""What a folder set tells the people around the share: the status page beside the
inbox, the delivery records in done/, and notifications.

One ``News`` per folder set. The daemon calls it at the moments that matter (a file
delivered or failed, the folder set paused, unavailable or back) and every couple
of seconds with what it knows (``view``); nothing here ever delays an upload: the
page and the records are small local writes that report failure instead of
raising, and notifications are queued for their own threads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import structlog

from .alerts import Alerts
from .claim import STATE_DIR_NAME
from .config import FolderSet
from .errors import BadName
from .finish import error_file_for, read_failed_detail
from .group import send_order
from .journal import FileRow, JobRow
from .names import DEFAULT_LANGUAGE_MAP, ParsedName, parse_name
from .receipts import Delivery, DeliveryRecords, became
from .sharepage import SharePage
from .states import FileState

log = structlog.get_logger("vodwatch.news")

RECENT = 20


def _hex(md5_b64: str | None) -> str:
    try:
        return base64.b64decode(md5_b64 or "").hex()
    except ValueError:
        return ""


class News:
    """The status page, the delivery records and the notifications of one folder set."""

    def __init__(self, folder_set: FolderSet, daemon_id: str, state_dir: Path,
                 language_map: Mapping[str, str]) -> None:
        self.folder_set = folder_set
        self.language_map = language_map
        self.page = (SharePage(folder_set.status_file,
                               folder_set.inbox / STATE_DIR_NAME / "status", daemon_id,
                               folder_label=folder_set.label) if folder_set.status_file else None)
        digest = hashlib.sha256(folder_set.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        self.records = DeliveryRecords(folder_set.done, _label(daemon_id),
                                       state_dir / f"deliveries-pending-{digest}.jsonl")
        self.alerts = Alerts(folder_set.notify, folder_set.label,
                             deliveries=folder_set.notify_deliveries)
        self._view: dict[str, Any] | None = None
        self._said: str | None = None  # the last state the notifications told
        self._stamp = 0.0  # when the news last changed
        self._records_error: str | None = None  # the last records problem logged

    # ---- moments ---------------------------------------------------------------------

    def finished(self, job: JobRow, files: Iterable[FileRow]) -> None:
        """A job ended: a record per delivered file; a notification per failed one."""
        for f in files:
            if f.state == FileState.DONE:
                # Written with the others at the next refresh (a couple of seconds): a
                # burst of deliveries rewrites the day's file once, not once per file.
                self.records.record(self._delivery(job, f), write_now=False)
                self.alerts.delivered(Path(f.final_path or f.name).name, job.asset_id)
            elif f.state == FileState.FAILED:
                reason = json.loads(f.error or job.outcome_reason or "{}")
                self.alerts.failed(f.name, str(reason.get("sentence", "it could not be sent")))

    def _delivery(self, job: JobRow, f: FileRow) -> Delivery:
        try:
            parsed = parse_name(f.name, self.language_map, create=True)  # any accepted name
            what = became(str(parsed.kind), parsed.subtitle_id, parsed.language)
        except Exception:  # a name that parsed when the job began; never lose the record
            what = f.kind
        return Delivery(at=job.finished_at or time.time(),
                        file=Path(f.final_path or f.name).name, original=f.name,
                        asset_id=job.asset_id, became=what, size=f.size or 0,
                        md5_hex=_hex(f.md5), request_id=f.request_id or "",
                        folder=self.folder_set.label)

    def state(self, state: str, why: str | None) -> None:
        """Tell the notification targets when the folder set's state changes."""
        said = f"{state}:{why}" if state != "working" else "working"
        if said == self._said:
            return
        before, self._said = self._said, said
        if state == "paused":
            self.alerts.paused(why or "")
        elif state == "unavailable":
            self.alerts.unavailable(why or "")
        elif before is not None:
            self.alerts.resumed()

    # ---- every few seconds -----------------------------------------------------------

    def page_place_ok(self) -> bool:
        """The page may be written: its folder is there, and so is the inbox's hidden folder
        (made by the daemon when the share is there), where each daemon's part goes. When
        either is missing the share is away: nothing is written into an empty mount point."""
        return self.page is not None and self.page.page.parent.is_dir() \
            and self.page.parts_dir.parent.is_dir()

    def refresh(self, view: dict[str, Any], share_ok: bool) -> None:
        """Update the status page and write pending records.

        ``share_ok`` False (the folder set is unavailable): no records (done/ may be what
        refuses), but the page still says "Not available" and why when the share is
        mounted (e.g. done/ is read-only or the disk is full): see :meth:`page_place_ok`.
        """
        self.state(view["state"], view.get("why"))
        if share_ok:
            self.records.flush()
            self._say_records_problem()
        if self.page is None or not (share_ok or self.page_place_ok()):
            return  # never write into an empty mount point
        comparable = {k: v for k, v in view.items() if k != "updated_at"}
        if self._view is None or self._view != comparable:
            self._view = comparable
            view["updated_at"] = time.time()
            self._stamp = view["updated_at"]
        else:
            view["updated_at"] = self._stamp
        if not self.page.update(view) and self.page.last_error:
            log.warning("status_page.not_written", folder=self.folder_set.label,
                        error=self.page.last_error)

    def _say_records_problem(self) -> None:
        """Log a delivery record that cannot be written (e.g. Excel holds the day's CSV open)
        once when it starts and once when it ends, not at every refresh."""
        error = self.records.last_error
        if error == self._records_error:
            return
        before, self._records_error = self._records_error, error
        if error is not None:
            log.warning("delivery_record.not_written", folder=self.folder_set.label,
                        error=error, hint="it is kept and written as soon as done/ allows")
        elif before is not None:
            log.info("delivery_record.written", folder=self.folder_set.label)

    def stopped(self, share_ok: bool) -> None:
        if self.page is not None and (share_ok or self.page_place_ok()):
            self.page.stopped()
        self.alerts.close()

    @property
    def failures(self) -> int:
        return self.alerts.failures


def _label(daemon_id: str) -> str:
    """A file-name-safe label for this daemon's delivery records."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in daemon_id)
    return cleaned.strip(".-")[:64] or "vodwatch"


def queue_positions(settled: Mapping[Path, int],
                    language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP) -> dict[Path, int]:
    """Each settled file's place in line (1: next), in the order files are sent
    (:func:`group.send_order`, the order ``FolderWatch.dispatch`` takes them in). Files
    sent in one request share a place. ``settled`` maps each path to its size."""

    def parsed(path: Path) -> ParsedName | None:
        if settled[path] == 0:
            return None  # an empty file is a job of its own, like a refused name
        try:
            return parse_name(path.name, language_map)
        except (BadName, UnicodeError, ValueError):
            return None

    return {path: place for place, batch in enumerate(send_order(sorted(settled), parsed), 1)
            for path in batch}


def _result(item: Mapping[str, Any]) -> dict[str, Any]:
    """A latest result for the page: a failure's detail says the name it has in failed/
    (journaled by the runner), which names its error file."""
    if item.get("outcome") != "failed":
        return dict(item)
    sentence, kept_as = read_failed_detail(item.get("detail"))
    result = {**item, "detail": sentence}
    if kept_as:
        result["error_file"] = error_file_for(Path("failed") / kept_as).name
    return result


def shown_name(path: Path | str, inbox: Path | None) -> str:
    """How the page names a file of the inbox: its path from the inbox (``Episode 12/<id>.mp4``
    in a recursive inbox, where two folders may hold files of one name), else its name."""
    path = Path(path)
    if inbox is not None:
        try:
            return path.relative_to(inbox).as_posix()
        except ValueError:
            pass
    return path.name


def view(*, state: str, why: str | None, pending: Mapping[Path, Any],
         jobs: list[dict[str, Any]], not_handled: Mapping[str, str],
         recent: list[dict[str, Any]],
         language_map: Mapping[str, str] = DEFAULT_LANGUAGE_MAP,
         inbox: Path | None = None) -> dict[str, Any]:
    """The status page's view of one folder set from what the daemon knows.

    ``pending`` is the settler's snapshot (files still copying, or settled and waiting
    for a worker); ``jobs`` lists files of this daemon's unfinished jobs with their
    state. Queue positions follow the order files are sent (:func:`queue_positions`).
    Files are named by their path from ``inbox`` (:func:`shown_name`).
    """
    files: list[dict[str, Any]] = []
    places = queue_positions({p: info.size for p, info in pending.items() if info.settled},
                             language_map)
    for path, info in sorted(pending.items()):
        name = shown_name(path, inbox)
        if info.settled:
            files.append({"name": name, "state": "paused" if state == "paused" else "queued",
                          "size": info.size, "position": places[path]})
        else:
            files.append({"name": name, "state": "copying", "size": info.size})
    files.extend(jobs)
    return {"state": state, "why": why, "files": files, "not_handled": dict(not_handled),
            "recent": [_result(item) for item in recent]}
