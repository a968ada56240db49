"""One folder set: watch its inbox, settle files, group them and start jobs.

Steps 1 to 4 for one inbox: ``tick`` (from the daemon's loop) returns settled files,
``dispatch`` claims them (markers in the share's hidden folder; the files stay in the
inbox). A share fault makes the folder set *unavailable* until it clears.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from .claim import Claims, ShareIdentity
from .config import FolderSet
from .errors import BadName
from .finish import Failure
from .folder_share import ShareState
from .group import group_key, groups_settling, plan_jobs
from .journal import CLAIMED, Journal, NewFile
from .look import fail_undecodable_now, look, note_unreadable, share_wide
from .names import Kind, ParsedName, is_ignored, is_text, parse_name
from .pause import is_pause_file
from .prehash import Prehasher, entry_identity
from .settle import Settler
from .share_faults import share_fault
from .states import JobState
from .titles import batch_title, job_lock, read_mapping
from .watch import Entry, EventWatcher, choose_mode, scan
from .words import printable

log = structlog.get_logger("vodwatch.folder")


@dataclass
class FolderWatch(ShareState):
    """Scanning, settling and dispatching for one inbox."""

    folder_set: FolderSet
    journal: Journal
    claims: Claims
    settle_seconds: float
    max_writing_seconds: float
    scan_interval: float
    rescan_seconds: float
    language_map: Any
    hints: queue.Queue[Path]
    clock: Callable[[], float] = time.monotonic
    mode: str = "polling"
    mode_why: str = ""
    unavailable: str | None = None  # why the share cannot be used now, in one sentence
    active_assets: set[str] = field(default_factory=set)
    entries: dict[Path, Entry] = field(default_factory=dict)
    busy: set[Path] = field(default_factory=set)  # files of our unfinished jobs
    elsewhere: set[Path] = field(default_factory=set)  # files another daemon holds
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it is not handled
    unreadable: dict[Path, str] = field(default_factory=dict)  # look.py: why, per path
    pause_files: set[Path] = field(default_factory=set)  # PAUSE files seen: they pause
    _next_scan: float = 0.0
    _watcher: EventWatcher | None = None
    _prepared: bool = False
    prehash: Prehasher | None = None
    part_plan: Callable[[int], int] | None = None  # a new upload's part size (0: none)
    _names: dict[str, ParsedName | None] = field(default_factory=dict)
    _held: dict[str, float] = field(default_factory=dict)  # group -> waiting for siblings since
    _scan_unreadable: set[Path] = field(default_factory=set)
    on_back: Callable[[], None] | None = None  # folder_share.ShareState.open_share

    def __post_init__(self) -> None:
        self.settler: Settler[Path] = Settler(self.settle_seconds, self.max_writing_seconds)
        self.identity = ShareIdentity(self.folder_set.inbox)

    def reconfigure(self, folder_set: FolderSet, settle_seconds: float, max_writing_seconds: float,
                    scan_interval: float, rescan_seconds: float, language_map: Any) -> None:
        """Apply reloaded settings to new work at once (files already settling included)."""
        self.folder_set = folder_set
        self.settler.settle_seconds = settle_seconds
        self.settler.max_writing_seconds = max_writing_seconds
        self.scan_interval, self.rescan_seconds = scan_interval, rescan_seconds
        self.language_map = language_map
        self._names.clear()  # the language map or create mode may have changed
        self._next_scan = 0.0  # look again now, with the new settings

    def start(self) -> None:
        """Choose events or polling, and start the watcher (falling back to polling)."""
        self.mode, self.mode_why = choose_mode(self.folder_set.watch, self.folder_set.inbox)
        if self.mode == "events" and self.available:
            watcher = EventWatcher(self.folder_set.inbox, self.folder_set.recursive, self.hints)
            try:
                watcher.start()
                self._watcher = watcher
            except OSError as exc:
                self.mode = "polling"
                self.mode_why = f"change events are not available ({exc}); polling instead"
                log.warning("watch.fallback_polling", folder=self.name, error=str(exc))
        log.info("watch.started", folder=self.name, mode=self.mode, why=self.mode_why)

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def hint(self, path: Path) -> None:
        """A change event for a path in this inbox: look at it soon."""
        if is_pause_file(path.name) and path.parent == self.folder_set.inbox:
            if _is_file(path):
                self.pause_files.add(path)
            else:
                self.pause_files.discard(path)
        elif not is_ignored(path.name) and path not in self.busy:
            self.settler.poke(path, self.clock())

    # ---- the scan is the truth --------------------------------------------------------

    def tick(self, now: float) -> list[Path]:
        """Rescan if due, re-stat files that are due; return settled paths."""
        interval = self.scan_interval if self.mode == "polling" else self.rescan_seconds
        if not self.available:
            interval = min(interval, 2.0)  # look again soon: it may be back
        if now >= self._next_scan:
            self._next_scan = now + interval
            if self.available or self.open_share():
                self._full_scan(now)
        if not self.available:
            return []
        for path in self.settler.due(now):
            try:
                entry = look(path, self.folder_set.inbox, self.unreadable)
            except OSError as exc:
                self.set_unavailable(share_fault(exc, self.name))
                return []
            if entry is None or not self._wanted(entry):
                self.settler.forget(path)
                self.entries.pop(path, None)
                if path in self.unreadable:
                    self.skipped[printable(path.name)] = self.unreadable[path]
            else:
                self._observe(path, entry, now)
        return self.settler.ready(now)

    def _wanted(self, entry: Entry) -> bool:
        if is_ignored(entry.name) or entry.path in self.busy or entry.path in self.elsewhere:
            return False
        if is_pause_file(entry.name) and entry.path.parent == self.folder_set.inbox:
            return False  # it pauses the folder set (pause.py); it is never uploaded
        return not entry.is_dir

    def _full_scan(self, now: float) -> None:
        try:
            found = list(scan(self.folder_set.inbox, self.folder_set.recursive,
                              on_error=self._unreadable))
            share_there = self.identity.path.exists()
        except OSError as exc:
            self.set_unavailable(share_fault(exc, self.name))
            return
        if not share_there:
            # The hidden folder went with the inbox (removed and recreated, or
            # unmounted): check the share again rather than trust an empty listing.
            self.open_share()
            return
        seen: dict[Path, Entry] = {}
        skipped: dict[str, str] = {}
        for entry in found:
            if entry.is_dir and not self.folder_set.recursive and not entry.name.startswith("."):
                skipped[entry.name] = ("a folder: vodwatch does not look inside folders here; "
                                       "move the files themselves into the inbox")
            elif self._wanted(entry):
                seen[entry.path] = entry
        if self.unreadable:  # (a set of every path costs the idle scan of a big inbox)
            there = {e.path for e in found} | set(self._scan_unreadable)
            for path in [p for p in self.unreadable if p not in there]:
                del self.unreadable[path]  # gone, or removed by the editor
        skipped.update((printable(p.name), why) for p, why in self.unreadable.items())
        self._scan_unreadable.clear()
        self.skipped = skipped
        self.pause_files = {e.path for e in found if is_pause_file(e.name) and e.is_file
                            and e.path.parent == self.folder_set.inbox}
        for path in list(self.elsewhere):
            if path not in {e.path for e in found} or not self.claims.is_claimed(path):
                self.elsewhere.discard(path)  # done elsewhere, or free again
        for path in list(self.entries):
            if path not in seen:
                self.settler.forget(path)
                self.entries.pop(path)
        for path, entry in seen.items():
            self._observe(path, entry, now)

    def _unreadable(self, path: Path, exc: OSError) -> None:
        """A scan could not read one entry: the share's fault (raise) or the file's."""
        if share_wide(exc, self.folder_set.inbox):
            raise exc
        self._scan_unreadable.add(path)
        note_unreadable(self.unreadable, path, exc)

    def _observe(self, path: Path, entry: Entry, now: float) -> None:
        """Feed the settler; a file that looks still is hashed while it settles."""
        before = self.entries.get(path)
        self.entries[path] = entry
        if self.settler.observe(path, entry.size, entry.mtime_ns, now, entry.ino,
                                ctime_ns=entry.ctime_ns, fresh=entry.fresh):
            log.warning("share.inodes_unstable", folder=self.name, file=printable(path.name),
                        hint="this filesystem gives a file a new inode number on each look "
                        "(FUSE, or an SMB mount with noserverino): settling no longer "
                        "compares inode numbers here")
        now_seen = entry_identity(entry)
        still = before is not None and entry_identity(before) == now_seen
        if self.prehash is not None and entry.is_file and (entry.fresh or still):
            self.prehash.consider(path, now_seen, self.part_plan)

    # ---- grouping and claiming --------------------------------------------------------

    def dispatch(self, ready: list[Path], limit: int = 1_000_000) -> list[int]:
        """Turn settled files into claimed jobs (at most ``limit``); returns their ids."""
        good: list[tuple[Path, ParsedName]] = []
        jobs: list[int] = []
        for path in sorted(ready):
            if len(jobs) >= limit or not self.available:
                return jobs
            entry = self.entries.get(path)
            if entry is None:
                continue
            if not is_text(str(path)):
                fail_undecodable_now(self, path)
                continue
            parsed = self._parse(path.name)
            if parsed is None or not entry.is_file or entry.size == 0:
                # A file with a problem is a job of its own; the runner explains it.
                job = self._claim_job(parsed.asset_id if parsed else "", False,
                                      [(path, parsed)])
                if job is not None:
                    jobs.append(job)
                continue
            good.append((path, parsed))
        waiting = groups_settling(self.entries, set(ready), self._parse, held=self._held,
                                  create=self.folder_set.create_assets, now=self.clock(),
                                  hold=self.settle_seconds)
        for batch in plan_jobs(good, lambda item: item[1]):
            if len(jobs) >= limit or not self.available:
                break
            asset_id, title = batch[0][1].asset_id, batch[0][1].title
            if group_key(batch[0][1]) in waiting:
                continue  # files dropped together go together (group.groups_settling)
            try:
                title = batch_title(self.folder_set.inbox, [p for _, p in batch])
                key = job_lock(asset_id, title)
                if key in self.active_assets:
                    continue  # serialised: the next batch waits for this asset's job
                if not self.claims.lock_asset(key):
                    continue  # another daemon is updating this asset
                if title and self.folder_set.follow_titles:  # the asset it became, if any
                    asset_id = str((read_mapping(self.folder_set.inbox, title)
                                    or {}).get("asset_id")
                                   or "")
            except OSError as exc:
                self.set_unavailable(share_fault(exc, str(self.claims.asset_locks)))
                break
            has_video = any(p.kind == Kind.VIDEO for _, p in batch)
            job = self._claim_job(asset_id, has_video, list(batch), title=title)
            if job is None:
                self.claims.unlock_asset(key)
            else:
                jobs.append(job)
        return jobs

    def fail_before_claim(self, path: Path, failure: Failure) -> int | None:
        """Claim a file that is already known to fail, with the failure journaled first."""
        parsed = self._parse(path.name)
        return self._claim_job(parsed.asset_id if parsed else "", False, [(path, parsed)],
                               failure)

    def _parse(self, name: str) -> ParsedName | None:
        """The name understood (None if it is not): parsed once per name, not per turn."""
        if name not in self._names:
            if len(self._names) > 50_000:
                self._names.clear()  # bounded: names come and go over months
            try:
                self._names[name] = parse_name(name, self.language_map,
                                               create=self.folder_set.create_assets)
            except BadName:
                self._names[name] = None
        return self._names[name]

    def _claim_job(self, asset_id: str, has_video: bool,
                   files: list[tuple[Path, ParsedName | None]],
                   failure: Failure | None = None, title: str = "") -> int | None:
        """Journal a job, then take its files' markers; its id if any file is ours.

        The files stay in the inbox. A ``failure`` decided before the claim is
        journaled before the markers too.
        """
        new = [NewFile(path.name, str(parsed.kind) if parsed else "unknown", str(path),
                       str(self.claims.marker_for(path)),
                       json.dumps(dataclasses.asdict(parsed)) if parsed else None)
               for path, parsed in files]
        job_id, file_ids = self.journal.create_job(self.folder_set.name, asset_id, has_video, new)
        if title:
            self.journal.set_job(job_id, title=title)
        if failure is not None:
            self.journal.set_job(job_id, outcome=JobState.FAILED,
                                 outcome_reason=json.dumps(failure.__dict__))
        kept: list[Path] = []
        for (path, _), file_id in zip(files, file_ids, strict=True):
            self.settler.forget(path)
            self.entries.pop(path, None)
            try:
                marker = self.claims.claim(path, job_id)
            except OSError as exc:
                self.set_unavailable(share_fault(exc, str(self.claims.markers)))
                marker = None
            if marker is not None:
                kept.append(path)
            else:
                if self.available:
                    self.elsewhere.add(path)
                self.journal.drop_file(file_id)
        if not kept:
            self.journal.set_job(job_id, state=JobState.ABANDONED, wait_reason="claimed elsewhere")
            return None
        self.journal.set_job(job_id, state=CLAIMED)
        self.busy.update(kept)
        self.claims.write_ticket(job_id, self.ticket(job_id))
        if key := job_lock(asset_id, title):
            self.active_assets.add(key)
        log.info("job.claimed", folder=self.folder_set.name, job_id=job_id, asset_id=asset_id,
                 title=title or None, files=[path.name for path in kept])
        return job_id

    def ticket(self, job_id: int) -> dict[str, Any]:
        """The job's ticket for the share: its journal rows (no URL) and our inbox path."""
        return {**self.journal.export_job(job_id), "inbox": str(self.folder_set.inbox)}

    def job_ended(self, paths: list[Path], asset_id: str) -> None:
        """A job of ours ended: its files that are still here may be looked at again.

        ``asset_id`` is the lock the job held (vodwatch.titles.job_lock)."""
        for path in paths:
            self.busy.discard(path)
        if asset_id:
            self.active_assets.discard(asset_id)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False  # unreadable: the next scan tells the file's fault from the share's
