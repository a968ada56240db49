"""The main loop: recover → watch → settle → group → dispatch, until told to stop.

The signal handler takes no lock: a thread sets the flags (``wake.py``). The loop drains
change events, rescans on a timer, hands ready jobs to ``dispatch.py`` (the worker pool),
re-runs waiting jobs when their time comes, re-checks paused folder sets, and reports
(``daemon_report.py``). A reload (SIGHUP) rebuilds every folder set with ``runtime.build``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import signal
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import structlog

from .bandwidth import Bandwidth
from .config import Config, load_config
from .daemon_report import Reporter
from .decide import part_retry
from .dispatch import Dispatch
from .errors import ConfigError
from .journal import Journal
from .log import add_secret, configure_logging
from .metrics import CountingPacer, Metrics
from .notify import Notifier
from .pacing import Pacer
from .pauses import Pauses
from .prehash import Prehasher
from .recovery import Recovery
from .retry import LOOK_AGAIN_SECONDS
from .run_stats import RunStats
from .runner import TurnEnd
from .runtime import FolderSetRuntime, Shared, build, keep_running, needs_restart
from .share import daemon_id
from .share_faults import share_fault
from .state import journal_error, state_error, under
from .tenant import Tenant
from .upload import RateLimit
from .wake import Hints, SignalPipe

log = structlog.get_logger("vodwatch.daemon")


@dataclass
class Daemon:
    """Runs until ``stop`` is set (``run``), or until the inboxes are empty (``once``)."""

    config: Config
    once: bool = False
    env: dict[str, str] | None = None
    notifier: Notifier = field(default_factory=Notifier)
    stats: RunStats = field(default_factory=RunStats)

    def __post_init__(self) -> None:
        self.stop = threading.Event()  # first SIGTERM: no new work
        self.reload = threading.Event()
        self.hints = Hints()  # watchers put hints; signals and finished jobs poke it
        self.metrics = Metrics()
        self.journal = Journal.open(self.config.state_dir)
        self.pool = ThreadPoolExecutor(self.config.upload.workers, thread_name_prefix="job")
        self.running: dict[int, Future[TurnEnd]] = {}
        self.waiting: dict[int, float] = {}  # job id -> monotonic time to run again
        self.job_folder: dict[int, str] = {}
        self.sets: dict[str, FolderSetRuntime] = {}
        self.rate = RateLimit(0.0)
        self.bandwidth = Bandwidth(self.config.upload.bandwidth_limit_mbps, self.rate)
        self.abort = threading.Event()  # second signal: stop sending at once
        self.hurry = threading.Event()  # second signal: no grace period
        self.reporter = Reporter(self)
        self.pauses = Pauses(self)
        self.dispatch = Dispatch(self)
        self.state_fault: str | None = None
        self.prehash = Prehasher(stop=self.abort)
        self.daemon_id = daemon_id(self.config.state_dir, self.config.claims.instance_id)
        self.recovery = Recovery(self)
        self.tenant = Tenant(self.daemon_id)  # limits shared with the tenant's daemons
        self.shared = Shared(self.journal, self.hints, self.rate, self.prehash, self.daemon_id,
                             self.stop, self.abort, self.dispatch.on_outcome,
                             self.dispatch.count_retry,
                             functools.partial(part_retry, stopping=self.stop,
                                               count=self.dispatch.count_retry))
        self._signals = 0
        self._ready = False
        self.signals = SignalPipe(self._on_signal)

    # ---- building --------------------------------------------------------------------

    def _build(self, config: Config) -> None:
        """Build (at start) or rebuild (at a reload) every folder set from ``config``.

        The one build path: ``runtime.build``. Folder sets added to the config start,
        removed ones stop taking work (their jobs wait in the journal).
        """
        assert config.credentials is not None
        add_secret(config.credentials.sk)
        self.bandwidth.set(config.upload.bandwidth_limit_mbps)
        pacer = CountingPacer(self.tenant.attach(Pacer.from_limits(config.limits)),
                              self.metrics, self.tenant.throttled)
        wanted = {folder_set.name: folder_set for folder_set in config.folders}
        for name in [n for n in self.sets if n not in wanted]:
            gone = self.sets.pop(name)
            gone.watch.stop()
            gone.news.stopped(share_ok=gone.watch.available)
            log.warning("config.folder_removed", folder=name,
                        hint="its unfinished jobs wait until it is configured again")
        for name, folder_set in wanted.items():
            previous = self.sets.get(name)
            runtime = build(config, folder_set, self.shared, pacer, previous)
            self.sets[name] = runtime
            if previous is not None and self._ready and (
                    previous.folder_set.watch, previous.folder_set.recursive) != (
                    folder_set.watch, folder_set.recursive):
                runtime.watch.stop()  # a new watcher, events or polling, for the new settings
                runtime.watch.start()
            if previous is None and self._ready:
                log.info("config.folder_added", folder=name)
                if runtime.watch.open_share():
                    self.recovery.recover_share(runtime)
                runtime.watch.start()

    # ---- the loop --------------------------------------------------------------------

    def run(self) -> int:
        """Recover, watch and upload until stopped; returns the process exit code."""
        self.journal.daemon_started(os.getpid())
        self._build(self.config)
        self.recovery.recover()
        for runtime in self.sets.values():
            runtime.watch.start()
        self.reporter.start()
        self._tick(time.monotonic())  # first scan before READY
        self._ready = True
        self.notifier.ready(self.reporter.status_line())
        log.info("daemon.ready", folders=len(self.sets), mode="once" if self.once else "run")
        try:
            while not self.stop.is_set():
                if self.reload.is_set():
                    self.reload.clear()
                    self._reload()
                now = time.monotonic()
                if not self._tick_guarded(now):
                    self.stop.wait(LOOK_AGAIN_SECONDS)  # the state folder failed
                    continue
                if self.once and self.stats.once_finished(self.sets, self.running, self.waiting,
                                                                self.job_folder):
                    break
                self._sleep(now)
        finally:
            self._shutdown()
        return self.stats.exit_code(self.once)

    def _tick_guarded(self, now: float) -> bool:
        """One turn of the loop; a fault of the state folder is a state, not a crash, and
        so is a share's (that folder set is unavailable)."""
        try:
            try:
                self._tick(now)
            except OSError as exc:
                if under(exc.filename, self.config.state_dir):
                    raise
                self._outside_a_turn(exc)
                return True
        except sqlite3.Error as exc:
            self._state_fault(str(journal_error(self.config.state_dir, exc)))
            return False
        except OSError as exc:
            self._state_fault(str(state_error(self.config.state_dir, exc)))
            return False
        if self.state_fault is not None:
            log.warning("state.available_again", was=self.state_fault)
            self.state_fault = None
        return True

    def _outside_a_turn(self, exc: OSError) -> None:
        """A share error outside any folder set's turn (reporting, a waiting job): the
        folder set whose folders it names is unavailable; the daemon itself goes on."""
        owner = next((r for r in self.sets.values() if any(
            under(exc.filename, folder) for folder in
            (r.folder_set.inbox, r.folder_set.done, r.folder_set.failed))), None)
        if owner is None:
            log.error("daemon.turn_failed", error=str(exc), errno=exc.errno)
        else:
            self._share_failed(owner, exc)

    def _state_fault(self, why: str) -> None:
        if self.state_fault != why:
            log.error("state.unavailable", reason=why,
                      hint="nothing is lost: files stay in the inbox and jobs carry on when "
                      "the state folder works again")
        self.state_fault = why
        with contextlib.suppress(Exception):
            self.notifier.status(f"UNAVAILABLE: {why}")
        if self.once:
            self.stats.unreachable = True
            self.stats.detail = why

    def _sleep(self, now: float) -> None:
        """Wait for a change event, a finished job, or the next thing due."""
        wake = now + 1.0
        for runtime in self.sets.values():
            nxt = runtime.watch.settler.next_check_at(now)
            if nxt is not None:
                wake = min(wake, max(nxt, now + 0.05))
        if self.waiting:
            wake = min(wake, max(min(self.waiting.values()), now + 0.01))
        self.hints.wait(wake - time.monotonic())  # the next turn takes the hints

    def _route_hint(self, path: Path) -> None:
        for runtime in self.sets.values():
            if runtime.folder_set.inbox in path.parents:
                runtime.watch.hint(path)
                return

    def _tick_set(self, runtime: FolderSetRuntime, now: float) -> None:
        ready = runtime.watch.tick(now)
        for path in runtime.watch.settler.writing_too_long(now):
            self.dispatch.fail_still_writing(runtime, path)
        if runtime.watch.available:
            self.pauses.check_held(runtime, now)
        if runtime.paused:
            self.pauses.recheck(runtime, now)
        elif ready and not self.stop.is_set() and runtime.held is None:
            # Claim only what the workers can start now: on a shared inbox the rest
            # stays free for the other daemons.
            room = self.config.upload.workers - len(self.running)
            if room > 0:
                for job_id in runtime.watch.dispatch(ready, limit=room):
                    self.dispatch.submit(runtime, job_id)

    def _share_failed(self, runtime: FolderSetRuntime, exc: OSError) -> None:
        """A share error (EIO, ESTALE, ENOTCONN, EACCES...) that escaped a folder set's
        turn: that folder set is unavailable, with the cause, until its share answers."""
        log.error("folder.turn_failed", folder=runtime.folder_set.name, error=str(exc),
                  errno=exc.errno)
        # A journal error here is the state folder's fault: the loop says so (state_fault).
        runtime.watch.set_unavailable(
            share_fault(exc, str(exc.filename or runtime.folder_set.inbox)))

    def _tick(self, now: float) -> None:
        while True:
            try:
                self._route_hint(self.hints.get_nowait())
            except queue.Empty:
                break
        self.dispatch.reap()
        for runtime in self.sets.values():
            try:
                self._tick_set(runtime, now)
            except OSError as exc:
                if under(exc.filename, self.config.state_dir):
                    raise
                self._share_failed(runtime, exc)
        for job_id, at in list(self.waiting.items()):
            owner = self.sets.get(self.job_folder.get(job_id, ""))
            if owner is not None and at <= now and not owner.paused and (
                    owner.held is None and owner.watch.available) and not self.stop.is_set():
                del self.waiting[job_id]
                self.dispatch.submit(owner, job_id)
        self.reporter.turn(now)

    # ---- start, reload, stop ---------------------------------------------------------

    def _reload(self) -> None:
        """SIGHUP: read the config again and apply every setting a reload can apply."""
        self.notifier.reloading(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        try:
            new = load_config(self.config.source, self.env)
        except ConfigError as exc:
            log.error("config.reload_rejected", problems=exc.problems,
                      hint="the old configuration stays in force")
            self.notifier.ready(self.reporter.status_line())
            return
        restart = needs_restart(self.config, new)
        if restart:
            log.warning("config.reload_needs_restart", settings=restart,
                        hint="these keep their old values until vodwatch is restarted; "
                        "every other setting is in force now")
        old, new = self.config, keep_running(self.config, new)
        self.config = new
        if (new.log.format, new.log.level) != (old.log.format, old.log.level):
            secrets = [new.credentials.sk] if new.credentials else []
            configure_logging(new.log.format, new.log.level, secrets=secrets)
        self.reporter.reload(old, new)
        self._build(new)
        for runtime in self.sets.values():
            self.pauses.unpause(runtime)  # new credentials are tried at once
        log.info("config.reloaded", source=str(new.source))
        self.notifier.ready(self.reporter.status_line())

    def _shutdown(self) -> None:
        self.stop.set()
        self.notifier.stopping()
        log.info("daemon.stopping", in_flight=len(self.running),
                 grace_s=self.config.shutdown_grace_seconds)
        for runtime in self.sets.values():
            runtime.watch.stop()
        grace = 0.0 if self.hurry.is_set() else self.config.shutdown_grace_seconds
        deadline = time.monotonic() + grace
        for fut in list(self.running.values()):
            # A timeout or a crash here is fine: the journal lets the next start resume.
            # A second signal during the grace ends the wait at once (a job blocked in a
            # call VOD never answers would hold it to the read timeout).
            while not self.hurry.is_set() and (left := deadline - time.monotonic()) > 0:
                try:
                    fut.result(timeout=min(left, 0.1))
                except TimeoutError:
                    continue
                except Exception:  # the job's own end is journaled
                    pass
                break
        self.abort.set()
        self.prehash.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.reporter.stop()
        try:
            self.journal.daemon_heartbeat("stopped", self.reporter.snapshot())
        except (sqlite3.Error, OSError) as exc:
            # The state folder already failed, and said so: stopping is not a crash, and
            # the next start reads the journal as it last was.
            log.warning("state.not_written", what="the last heartbeat", error=str(exc))
        for runtime in self.sets.values():
            with contextlib.suppress(Exception):  # the journal may be what failed
                runtime.news.refresh(self.reporter.view(runtime), share_ok=runtime.watch.available)
            runtime.news.stopped(share_ok=runtime.watch.available)
        log.info("daemon.stopped")

    def handle_signal(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: hands the signal to the ``signals`` thread (wake.py) and
        takes no lock, not even an Event's."""
        del frame
        self.signals.handle(signum)

    def _on_signal(self, signum: int) -> None:
        """On the ``signals`` thread. First SIGTERM/SIGINT: finish in-flight work; second:
        leave at once (exit status 0: the journal lets the next start resume). SIGHUP:
        reload. Each wakes the loop."""
        if signum == signal.SIGHUP:
            self.reload.set()
        else:
            self._signals += 1
            if self._signals > 1:
                self.hurry.set()  # the loop leaves at once; the journal covers the rest
                self.abort.set()
            self.stop.set()
        self.hints.poke()
