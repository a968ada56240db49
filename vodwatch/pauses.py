"""Paused folder sets: by VOD (credentials, permission, account: re-checked until VOD
accepts them again) and by people (vodwatch pause, the web page, a PAUSE file).

A pause stops new work for its folder set; waiting jobs stay put and start again at
once when it is lifted. Someone's pause is kept on the share (vodwatch.pause), so
every daemon of the folder set honours it; VOD's pause is this daemon's own.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

import structlog

from . import pause
from .config import Config
from .errors import RemoteError, TransportError
from .journal import Journal
from .metrics import Metrics
from .retry import Action, classify
from .runtime import FolderSetRuntime

log = structlog.get_logger("vodwatch.daemon")


class PauseHost(Protocol):
    """What pausing reads and changes in the daemon."""

    config: Config
    metrics: Metrics
    once: bool
    stats: Any
    journal: Journal
    job_folder: dict[int, str]
    waiting: dict[int, float]


class Pauses:
    """The pauses of one daemon's folder sets."""

    def __init__(self, host: PauseHost) -> None:
        self.host = host
        self.looks: dict[str, float] = {}  # folder set -> when PAUSE files were looked for

    def pause(self, runtime: FolderSetRuntime, reason: str, detail: str) -> None:
        if runtime.paused is None:
            log.error("folder.paused", folder=runtime.folder_set.name, reason=reason, detail=detail,
                      hint="uploads resume by themselves once VOD accepts the credentials "
                      "again (fix them and send SIGHUP to reload)")
        runtime.paused = reason or "credentials"
        runtime.recheck_at = time.monotonic() + self.host.config.retry.credentials_recheck_seconds
        self.host.metrics.paused.labels(runtime.folder_set.name, runtime.paused).set(1)
        if self.host.once:
            self.host.stats.credentials = True
            self.host.stats.detail = detail

    def recheck(self, runtime: FolderSetRuntime, now: float) -> None:
        if now < runtime.recheck_at:
            return
        runtime.recheck_at = now + self.host.config.retry.credentials_recheck_seconds
        try:
            runtime.services.vod.asset_info(["0" * 32])
        except (RemoteError, TransportError) as exc:
            if classify(exc).action is Action.PAUSE:
                log.warning("folder.still_paused", folder=runtime.folder_set.name, error=str(exc))
                return
        self.unpause(runtime)

    def unpause(self, runtime: FolderSetRuntime) -> None:
        if runtime.paused is None:
            return
        log.warning("folder.resumed", folder=runtime.folder_set.name, was=runtime.paused)
        self.host.metrics.paused.labels(runtime.folder_set.name, runtime.paused).set(0)
        runtime.paused = None
        self.host.journal.clear_pause(runtime.folder_set.name)
        now = time.monotonic()
        for job_id, folder in self.host.job_folder.items():
            if folder == runtime.folder_set.name and job_id in self.host.waiting:
                self.host.waiting[job_id] = now

    def check_held(self, runtime: FolderSetRuntime, now: float) -> None:
        """Someone's pause (pause.py): one stat of the marker; a PAUSE file is looked for
        at least every second, when the scan of a polled inbox comes later."""
        if runtime.watch.mode == "polling" and now - self.looks.get(runtime.folder_set.name,
                                                                    0.0) >= 1.0:
            self.looks[runtime.folder_set.name] = now
            with contextlib.suppress(OSError):  # a few stats; the scan sees other spellings
                found = set(pause.likely_pause_files(runtime.folder_set.inbox))
                runtime.watch.pause_files = found | {
                    p for p in runtime.watch.pause_files if p.name not in {f.name for f in found}
                    and p.is_file()}
        held = pause.current(runtime.marker.read(runtime.folder_set.inbox),
                             runtime.watch.pause_files)
        if held == runtime.held:
            return
        was, runtime.held = runtime.held, held
        self.host.metrics.paused.labels(runtime.folder_set.name, "held").set(1 if held else 0)
        if held is not None:
            runtime.hold.set()  # in-flight uploads finish their part, checkpoint and wait
            log.warning("folder.held", folder=runtime.folder_set.name, by=held.who, why=held.why,
                        hint="no new work until it is resumed (vodwatch resume, the web "
                        "page, or removing the PAUSE file)")
            return
        runtime.hold.clear()
        log.warning("folder.resumed", folder=runtime.folder_set.name, was=was.reason if was else "")
        for job_id, folder in self.host.job_folder.items():
            if folder == runtime.folder_set.name and job_id in self.host.waiting:
                self.host.waiting[job_id] = now
