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

    def pause(self, rt: FolderSetRuntime, reason: str, detail: str) -> None:
        if rt.paused is None:
            log.error("folder.paused", folder=rt.fs.name, reason=reason, detail=detail,
                      hint="uploads resume by themselves once VOD accepts the credentials "
                      "again (fix them and send SIGHUP to reload)")
        rt.paused = reason or "credentials"
        rt.recheck_at = time.monotonic() + self.host.config.retry.credentials_recheck_seconds
        self.host.metrics.paused.labels(rt.fs.name, rt.paused).set(1)
        if self.host.once:
            self.host.stats.credentials = True
            self.host.stats.detail = detail

    def recheck(self, rt: FolderSetRuntime, now: float) -> None:
        if now < rt.recheck_at:
            return
        rt.recheck_at = now + self.host.config.retry.credentials_recheck_seconds
        try:
            rt.svc.vod.asset_info(["0" * 32])
        except (RemoteError, TransportError) as exc:
            if classify(exc).action is Action.PAUSE:
                log.warning("folder.still_paused", folder=rt.fs.name, error=str(exc))
                return
        self.unpause(rt)

    def unpause(self, rt: FolderSetRuntime) -> None:
        if rt.paused is None:
            return
        log.warning("folder.resumed", folder=rt.fs.name, was=rt.paused)
        self.host.metrics.paused.labels(rt.fs.name, rt.paused).set(0)
        rt.paused = None
        self.host.journal.clear_pause(rt.fs.name)
        now = time.monotonic()
        for job_id, folder in self.host.job_folder.items():
            if folder == rt.fs.name and job_id in self.host.waiting:
                self.host.waiting[job_id] = now

    def check_held(self, rt: FolderSetRuntime, now: float) -> None:
        """Someone's pause (pause.py): one stat of the marker; a PAUSE file is looked for
        at least every second, when the scan of a polled inbox comes later."""
        if rt.watch.mode == "polling" and now - self.looks.get(rt.fs.name, 0.0) >= 1.0:
            self.looks[rt.fs.name] = now
            with contextlib.suppress(OSError):
                rt.watch.pause_files = set(pause.pause_files(rt.fs.inbox))
        held = pause.current(rt.marker.read(rt.fs.inbox), rt.watch.pause_files)
        if held == rt.held:
            return
        was, rt.held = rt.held, held
        self.host.metrics.paused.labels(rt.fs.name, "held").set(1 if held else 0)
        if held is not None:
            rt.hold.set()  # in-flight uploads finish their part, checkpoint and wait
            log.warning("folder.held", folder=rt.fs.name, by=held.who, why=held.why,
                        hint="no new work until it is resumed (vodwatch resume, the web "
                        "page, or removing the PAUSE file)")
            return
        rt.hold.clear()
        log.warning("folder.resumed", folder=rt.fs.name, was=was.reason if was else "")
        for job_id, folder in self.host.job_folder.items():
            if folder == rt.fs.name and job_id in self.host.waiting:
                self.host.waiting[job_id] = now
