"""Every metrics series exists from the start (no *_created), and the heartbeat URL is
pinged while healthy and told the reason at <url>/fail while not."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.receiver import Receiver
from vodwatch.heartbeat import Heartbeat
from vodwatch.metrics import Metrics, MetricsServer

SERIES = ["vodwatch_paused{", "vodwatch_unavailable{", "vodwatch_retries_total{",
          "vodwatch_throttles_total{", "vodwatch_notification_failures{",
          "vodwatch_failed_files{", "vodwatch_queue_depth{", "vodwatch_files_total{"]


def test_every_series_is_scraped_right_after_start() -> None:
    metrics = Metrics()
    metrics.folder("news")
    server = MetricsServer(metrics, "127.0.0.1:0", lambda: (True, {}))
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics",
                                    timeout=10) as resp:
            text = resp.read().decode()
    finally:
        server.stop()
    for name in SERIES:
        assert name in text, name
    assert 'vodwatch_paused{folder="news",reason="credentials"} 0.0' in text
    assert 'vodwatch_throttles_total{group="update_asset"} 0.0' in text
    assert "_created" not in text


def test_heartbeat_pings_while_healthy_and_fails_with_the_reason() -> None:
    state: dict[str, Any] = {"ok": True}

    def health() -> tuple[bool, dict[str, Any]]:
        if state["ok"]:
            return True, {}
        return False, {"paused": {"news": "credentials"}, "unavailable": {}, "state": "ok"}

    with Receiver() as receiver:
        beat = Heartbeat(f"http://127.0.0.1:{receiver.port}/ping/abc", health, interval=0.1)
        beat.start()
        try:
            wait_for(lambda: any(r.method == "GET" and r.path == "/ping/abc"
                                 for r in receiver.requests), 10, what="a ping")
            state["ok"] = False
            fail = wait_for(lambda: [r for r in receiver.requests
                                     if r.path == "/ping/abc/fail"], 10, what="a /fail")
        finally:
            beat.stop()
    assert fail[0].method == "POST" and fail[0].body == "news: paused (credentials)"


def test_a_client_that_says_nothing_is_dropped_and_others_are_served(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that sends half a request and waits (slowloris) is closed after the
    request timeout; /healthz answers meanwhile."""
    import socket

    import vodwatch.metrics as metrics_module
    monkeypatch.setattr(metrics_module, "REQUEST_TIMEOUT_SECONDS", 0.5)
    server = MetricsServer(Metrics(), "127.0.0.1:0", lambda: (True, {}))
    server.start()
    try:
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz",
                                    timeout=10) as resp:
            assert resp.status == 200
        started = time.monotonic()
        assert idle.recv(1024) == b""  # the server closed it
        assert time.monotonic() - started < 5
        idle.close()
    finally:
        server.stop()
