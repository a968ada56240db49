"""What the daemon tells the outside, turn by turn: the heartbeat row ``status`` reads,
the status page in the share, sd_notify, metrics and the web page, the progress log
lines, a heartbeat URL; and the lease kept on each share.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import structlog

from . import report
from .config import Config
from .heartbeat import Heartbeat
from .metrics import MetricsServer
from .runtime import FolderSetRuntime

log = structlog.get_logger("vodwatch.daemon")

HEARTBEAT_SECONDS = 2.0
PRUNE_AFTER_DAYS = 90


class Reporter:
    """The daemon's reporting, with its own timers."""

    def __init__(self, host: Any) -> None:
        self.host = host  # the Daemon (typed loosely: reporting reads much of it)
        self._metrics_server: MetricsServer | None = None
        self.heartbeat: Heartbeat | None = None
        self._last_beat = 0.0
        self._last_shown: tuple[tuple[str, str | None], ...] = ()
        self._last_progress_log = time.monotonic()
        self._last_lease = 0.0
        self._last_prune = 0.0
        self._last_failed_count = -60.0

    def stop(self) -> None:
        if self._metrics_server is not None:
            self._metrics_server.stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def start(self) -> None:
        self._start_heartbeat(self.host.config)
        address = self.host.config.metrics.address
        if not address:
            return
        from .web import WebApp, warn_if_exposed

        warn_if_exposed(self.host.config)
        self._metrics_server = MetricsServer(self.host.metrics, address, self.health,
                                             WebApp(lambda: self.host.config))
        self._metrics_server.start()
        log.info("metrics.listening", address=address)

    def _start_heartbeat(self, config: Config) -> None:
        if config.metrics.heartbeat_url:  # pinged from a thread: never holds the loop
            self.heartbeat = Heartbeat(config.metrics.heartbeat_url, self.health,
                                       config.metrics.heartbeat_seconds)
            self.heartbeat.start()

    def reload(self, old: Config, new: Config) -> None:
        """A reload that changes the heartbeat URL or interval: a new heartbeat."""
        if (old.metrics.heartbeat_url, old.metrics.heartbeat_seconds) == (
                new.metrics.heartbeat_url, new.metrics.heartbeat_seconds):
            return
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None
        self._start_heartbeat(new)
        log.info("heartbeat.changed", pinging=self.heartbeat is not None,
                 every_s=new.metrics.heartbeat_seconds)

    def health(self) -> tuple[bool, dict[str, Any]]:
        return report.health(self.host.sets, len(self.host.running), self.host.stop.is_set(),
                             self.host.state_fault)

    def snapshot(self) -> dict[str, Any]:
        return report.snapshot(self.host.sets, len(self.host.waiting), self.host.state_fault,
                               self.host.bandwidth.view())

    def view(self, runtime: FolderSetRuntime) -> dict[str, Any]:
        return report.page_view(runtime, self.host.journal, set(self.host.running))

    def status_line(self) -> str:
        return report.status_line(self.host.sets, len(self.host.running), len(self.host.waiting),
                                  self.host.state_fault)

    def turn(self, now: float) -> None:
        self.host.bandwidth.apply()  # a timetable's boundary: the new limit at once
        host = self.host
        waiting = collections.Counter(host.job_folder.get(j, "") for j in host.waiting)
        # failed/ may hold thousands of files: counted once a minute, not every turn.
        count_failed = now - self._last_failed_count >= 60.0
        if count_failed:
            self._last_failed_count = now
        report.update_gauges(host.metrics, host.sets, waiting, count_failed)
        # An outage or a pause is written at once, not at the next beat: `status` and
        # /healthz must not disagree for seconds about whether a folder set is there.
        shown = tuple((name, runtime.watch.unavailable) for name, runtime in host.sets.items())
        if now - self._last_beat >= HEARTBEAT_SECONDS or shown != self._last_shown:
            self._last_beat = now
            self._last_shown = shown
            for runtime in self.host.sets.values():
                runtime.news.refresh(self.view(runtime), share_ok=runtime.watch.available)
            healthy, _ = self.health()
            self.host.journal.daemon_heartbeat("running" if healthy else "degraded",
                                          self.snapshot())
            if not self.host._ready:
                return
            self.host.notifier.status(self.status_line())
            # The ping proves the main loop turns; a paused folder set is reported in
            # STATUS and metrics, and a restart would not fix it.
            self.host.notifier.watchdog()
        if now - self._last_lease >= max(1.0, self.host.config.claims.lease_seconds / 4):
            self._last_lease = now
            for runtime in self.host.sets.values():
                if runtime.watch.available:
                    self.host.recovery.keep_lease(runtime)
        self.host.tenant.turn(now, [runtime.claims for runtime in self.host.sets.values()
                                    if runtime.watch.available])
        if now - self._last_prune >= 24 * 3600:
            self._last_prune = now
            # Keep months of history for status, not years of rows.
            self.host.journal.prune(time.time() - PRUNE_AFTER_DAYS * 86400)
        if now - self._last_progress_log >= self.host.config.upload.progress_log_seconds:
            self._last_progress_log = now
            report.log_progress(report.in_flight(self.host.sets))
