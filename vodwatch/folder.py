"""One folder set: watch its inbox, settle files, group them and start jobs.

Steps 1 to 4 of a file's flow for one inbox; the daemon calls ``tick`` from its
main loop and runs the jobs this returns on its worker pool.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from .claim import Claims
from .config import FolderSet
from .errors import BadName
from .finish import Failure
from .group import plan_jobs
from .journal import CLAIMED, Journal, NewFile
from .names import Kind, ParsedName, is_ignored, parse_name
from .settle import Settler
from .watch import Entry, EventWatcher, choose_mode, scan, stat_entry

log = structlog.get_logger("vodwatch.folder")


@dataclass
class FolderWatch:
    """Scanning, settling and dispatching for one inbox."""

    fs: FolderSet
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
    available: bool = True
    active_assets: set[str] = field(default_factory=set)
    entries: dict[Path, Entry] = field(default_factory=dict)
    _next_scan: float = 0.0
    _watcher: EventWatcher | None = None

    def __post_init__(self) -> None:
        self.settler: Settler[Path] = Settler(self.settle_seconds, self.max_writing_seconds)

    @property
    def name(self) -> str:
        return str(self.fs.inbox)

    def start(self) -> None:
        """Choose events or polling, and start the watcher (falling back to polling)."""
        self.mode, self.mode_why = choose_mode(self.fs.watch, self.fs.inbox)
        if self.mode == "events":
            watcher = EventWatcher(self.fs.inbox, self.fs.recursive, self.hints)
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
        if not is_ignored(path.name):
            self.settler.poke(path, self.clock())

    # ---- the scan is the truth --------------------------------------------------------

    def tick(self, now: float) -> list[Path]:
        """Rescan if due, re-stat files that are due; return settled paths."""
        interval = self.scan_interval if self.mode == "polling" else self.rescan_seconds
        if now >= self._next_scan:
            self._full_scan(now)
            self._next_scan = now + interval
        for path in self.settler.due(now):
            entry = stat_entry(path)
            if entry is None or not self._wanted(entry):
                self.settler.forget(path)
                self.entries.pop(path, None)
            else:
                self.entries[path] = entry
                self.settler.observe(path, entry.size, entry.mtime_ns, now, entry.ino)
        return self.settler.ready(now)

    def _wanted(self, entry: Entry) -> bool:
        if is_ignored(entry.name):
            return False
        return entry.is_file or entry.is_symlink

    def _full_scan(self, now: float) -> None:
        try:
            seen = {}
            for entry in scan(self.fs.inbox, self.fs.recursive):
                if self._wanted(entry):
                    seen[entry.path] = entry
        except OSError as exc:
            if self.available:
                log.error("folder.unavailable", folder=self.name, error=str(exc),
                          hint="the share or folder is gone; files stay where they are and "
                          "nothing is uploaded again when it comes back")
                self.journal.event(self.name, "unavailable", detail=str(exc))
            self.available = False
            for path in list(self.entries):
                self.settler.forget(path)
            self.entries.clear()
            return
        if not self.available:
            log.warning("folder.available_again", folder=self.name)
            self.journal.event(self.name, "available", detail="")
            self.available = True
        for path in list(self.entries):
            if path not in seen:
                self.settler.forget(path)
                self.entries.pop(path)
        for path, entry in seen.items():
            self.entries[path] = entry
            self.settler.observe(path, entry.size, entry.mtime_ns, now, entry.ino)

    # ---- grouping and claiming --------------------------------------------------------

    def dispatch(self, ready: list[Path], limit: int = 1_000_000) -> list[int]:
        """Turn settled files into claimed jobs (at most ``limit``); returns their ids."""
        good: list[tuple[Path, ParsedName]] = []
        jobs: list[int] = []
        for path in sorted(ready):
            if len(jobs) >= limit:
                return jobs
            entry = self.entries.get(path)
            if entry is None:
                continue
            parsed = self._parse(path.name)
            if parsed is None or entry.is_symlink or entry.size == 0:
                # A file with a problem is a job of its own; the runner explains it.
                job = self._claim_job(parsed.asset_id if parsed else "", False,
                                      [(path, parsed)])
                if job is not None:
                    jobs.append(job)
                continue
            good.append((path, parsed))
        for batch in plan_jobs(good, lambda item: item[1]):
            if len(jobs) >= limit:
                break
            asset_id = batch[0][1].asset_id
            if asset_id in self.active_assets:
                continue  # serialised: the next batch waits for this asset's job
            if not self.claims.lock_asset(asset_id):
                continue  # another daemon is updating this asset
            has_video = any(p.kind == Kind.VIDEO for _, p in batch)
            job = self._claim_job(asset_id, has_video, list(batch))
            if job is None:
                self.claims.unlock_asset(asset_id)
            else:
                jobs.append(job)
        return jobs

    def fail_before_claim(self, path: Path, failure: Failure) -> int | None:
        """Claim a file that is already known to fail, with the failure journaled first."""
        parsed = self._parse(path.name)
        return self._claim_job(parsed.asset_id if parsed else "", False, [(path, parsed)],
                               failure)

    def _parse(self, name: str) -> ParsedName | None:
        try:
            return parse_name(name, self.language_map)
        except BadName:
            return None

    def _claim_job(self, asset_id: str, has_video: bool,
                   files: list[tuple[Path, ParsedName | None]],
                   failure: Failure | None = None) -> int | None:
        """Journal a job, then rename its files into our claim folder; its id if any is ours.

        A ``failure`` decided before the claim is journaled before the renames too.
        """
        new = [NewFile(path.name, str(parsed.kind) if parsed else "unknown", str(path), "")
               for path, parsed in files]
        job_id, file_ids = self.journal.create_job(self.name, asset_id, has_video, new,
                                                   claim_path_for=self.claims.claim_path)
        if failure is not None:
            self.journal.set_job(job_id, outcome="failed",
                                 outcome_reason=json.dumps(failure.__dict__))
        self.claims.write_ticket(job_id, self.journal.export_job(job_id))
        kept = 0
        for (path, _), file_id in zip(files, file_ids, strict=True):
            self.settler.forget(path)
            self.entries.pop(path, None)
            if self.claims.claim(path, self.claims.claim_path(job_id, path.name)):
                kept += 1
            else:
                self.journal.drop_file(file_id)
        if not kept:
            self.journal.set_job(job_id, state="abandoned", wait_reason="claimed elsewhere")
            self.claims.drop_ticket(job_id)
            return None
        self.journal.set_job(job_id, state=CLAIMED)
        self.claims.write_ticket(job_id, self.journal.export_job(job_id))
        if asset_id:
            self.active_assets.add(asset_id)
        log.info("job.claimed", folder=self.name, job_id=job_id, asset_id=asset_id,
                 files=[path.name for path, _ in files])
        return job_id

    def queue_snapshot(self, limit: int = 50) -> list[dict[str, Any]]:
        """Files waiting in the inbox, for ``status``."""
        now = self.clock()
        out = []
        for path, info in list(self.settler.pending().items())[:limit]:
            out.append({"file": path.name, "size": info.size, "settled": info.settled,
                        "stable_for_s": round(now - info.stable_since, 1),
                        "waiting_for_s": round(now - info.first_seen, 1)})
        return out
