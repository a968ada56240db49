"""Prometheus metrics and a health endpoint, served on ``metrics.address`` when set."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from .pacing import GROUPS, Pacer

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they only add noise to every dashboard

# Retry reasons (retry.py) and outcomes, so that every series exists from the start.
RETRY_REASONS = ("file_changed", "local_io", "network", "server_error",
                 "service_unavailable", "throttled", "timeout", "unexpected_response")
OUTCOMES = ("done", "failed")

if TYPE_CHECKING:
    from .web import WebApp

log = structlog.get_logger("vodwatch.metrics")


class Metrics:
    """The daemon's counters and gauges, in a registry of their own."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.files = Counter("vodwatch_files", "Files finished, by outcome",
                             ["folder", "outcome"], registry=r)
        self.bytes = Counter("vodwatch_bytes", "Bytes of finished files, by outcome",
                             ["folder", "outcome"], registry=r)
        self.inflight_bytes = Gauge("vodwatch_inflight_bytes",
                                    "Bytes sent so far of files being uploaded", registry=r)
        self.queue = Gauge("vodwatch_queue_depth", "Files waiting to settle or for a worker",
                           ["folder"], registry=r)
        self.retries = Counter("vodwatch_retries", "Retries, by reason", ["reason"],
                               registry=r)
        self.throttles = Counter("vodwatch_throttles", "Throttling answers from VOD, by group",
                                 ["group"], registry=r)
        self.paused = Gauge("vodwatch_paused", "1 while a folder set is paused",
                            ["folder", "reason"], registry=r)
        self.share_available = Gauge("vodwatch_share_available",
                                     "1 while the inbox can be read", ["folder"], registry=r)
        self.duration = Histogram("vodwatch_upload_duration_seconds",
                                  "Time from claim to done per job", registry=r,
                                  buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600))
        self.notify_failures = Gauge("vodwatch_notification_failures",
                                     "Notifications not delivered after every attempt",
                                     ["folder"], registry=r)
        self.last_success = Gauge("vodwatch_last_success_timestamp_seconds",
                                  "When a file last reached done/", registry=r)
        self.unavailable = Gauge("vodwatch_unavailable",
                                 "1 while a folder set's share cannot be used", ["folder"],
                                 registry=r)
        self.failed_waiting = Gauge("vodwatch_failed_files",
                                    "Files waiting in failed/ (counted at each report)",
                                    ["folder"], registry=r)
        for reason in RETRY_REASONS:
            self.retries.labels(reason)
        for group in GROUPS:
            self.throttles.labels(group)

    def folder(self, name: str) -> None:
        """Create every series of a folder set at 0, so each exists from the start."""
        for outcome in OUTCOMES:
            self.files.labels(name, outcome)
            self.bytes.labels(name, outcome)
        for gauge in (self.queue, self.share_available, self.notify_failures,
                      self.unavailable, self.failed_waiting):
            gauge.labels(name)
        self.paused.labels(name, "credentials")

    def render(self) -> bytes:
        return generate_latest(self.registry)


REQUEST_TIMEOUT_SECONDS = 20.0  # per connection, for reading a request


class MetricsServer:
    """``/metrics`` (Prometheus text), ``/healthz`` (JSON, 503 when unhealthy) and, with
    ``web``, the control room (web.py) on the same address."""

    def __init__(self, metrics: Metrics, address: str,
                 health: Callable[[], tuple[bool, dict[str, Any]]],
                 web: WebApp | None = None) -> None:
        from .web import SECURITY_HEADERS

        host, _, port = address.rpartition(":")
        metrics_ref, health_ref, web_ref = metrics, health, web

        class Handler(BaseHTTPRequestHandler):
            # A client that connects and says nothing (or dribbles) gives up its thread.
            timeout = REQUEST_TIMEOUT_SECONDS

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/metrics":
                    body, ctype, code = metrics_ref.render(), CONTENT_TYPE_LATEST, 200
                elif path == "/healthz":
                    ok, info = health_ref()
                    body = json.dumps({"healthy": ok, **info}).encode()
                    ctype, code = "application/json", 200 if ok else 503
                elif web_ref is not None and (page := web_ref.get(path)) is not None:
                    body, ctype, code = page.body, page.ctype, page.code
                else:
                    body, ctype, code = b"not found\n", "text/plain", 404
                self._send(code, ctype, body)

            def do_POST(self) -> None:
                try:
                    length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
                except ValueError:
                    self._send(400, "text/plain", b"bad Content-Length\n")
                    return
                data = self.rfile.read(length) if length > 0 else b""
                if web_ref is None:
                    self._send(404, "text/plain", b"not found\n")
                    return
                answer = web_ref.post(self.path.split("?")[0], dict(self.headers.items()), data)
                self._send(answer.code, answer.ctype, answer.body)

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in SECURITY_HEADERS.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _not_allowed(self) -> None:
                self._send(405, "text/plain", b"method not allowed\n")

            do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

            def do_HEAD(self) -> None:
                self._send(405, "text/plain", b"")

            def send_error(self, code: int, message: str | None = None,
                           explain: str | None = None) -> None:
                # http.server's own error pages, with the same headers as every answer.
                self.close_connection = True
                self._send(code, "text/plain", f"{code} {message or ''}\n".encode())

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)),
                                           Handler)
        self._server.daemon_threads = True
        self._server.handle_error = _log_request_error  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="metrics")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class CountingPacer:
    """The shared pacer, counting throttling answers for the metrics."""

    def __init__(self, pacer: Pacer, metrics: Metrics,
                 tell: Callable[[str, float | None], None] | None = None) -> None:
        self._pacer = pacer
        self._metrics = metrics
        self._tell = tell  # tells the tenant's other daemons (tenant.Tenant.throttled)

    def acquire(self, group: str, stop: threading.Event | None = None) -> bool:
        return self._pacer.acquire(group, stop)

    def throttled(self, group: str, retry_after: float | None) -> None:
        self._metrics.throttles.labels(group).inc()
        log.warning("vod.throttled", group=group, retry_after=retry_after)
        self._pacer.throttled(group, retry_after)
        if self._tell is not None:
            self._tell(group, retry_after)


def _log_request_error(request: Any, client_address: Any) -> None:
    """A request that broke its handler: one JSON log line, never a raw traceback."""
    import sys

    exc = sys.exc_info()[1]
    log.warning("web.request_failed", client=str(client_address[0]) if client_address else "",
                error=type(exc).__name__ if exc else "")
