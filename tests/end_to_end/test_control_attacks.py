"""Hostile tests of the control room, pause/resume, the bandwidth timetable, journald
priorities, the heartbeat and the metrics, against real ``vodwatch run`` processes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from datetime import datetime, timedelta

import pytest
import requests
import yaml

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import free_port, log_lines, parts_sent
from tests.receiver import Receiver

MB = 1024 * 1024
TOKEN = "hostile-tester-token-0123456789"
NASTY = '<script>alert("x")<\\script><img src=x onerror=alert(1)>'


def _web(setup: Setup, daemon_factory, token: str | None = TOKEN, **overrides: object):
    port = free_port()
    extra: dict[str, object] = {"metrics": {"address": f"127.0.0.1:{port}"}}
    if token:
        extra["web"] = {"token": token}
    setup.write_config(**extra, **overrides)
    daemon = daemon_factory()
    wait_for(lambda: "metrics.listening" in daemon.output(), 20, what="the web page")
    return daemon, f"http://127.0.0.1:{port}", port


def _paused(setup: Setup) -> bool:
    data = json.loads(setup.cli("status", "--json").stdout)
    return bool(data["folders"][0]["paused"])


def _post(base: str, path: str, body: object, **headers: str) -> requests.Response:
    h = {"Content-Type": "application/json", **headers}
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return requests.post(base + path, data=data, headers=h, timeout=10)


# --- A. the web page ---------------------------------------------------------------


def test_hostile_names_and_why_are_text_in_html_and_json(setup: Setup, daemon_factory) -> None:
    """File names, the failure reason and the pause "why" never become markup on the page."""
    bad = f"{NASTY}.mp4"
    (setup.inbox / bad).write_bytes(b"not a video")
    daemon, base, _ = _web(setup, daemon_factory)
    wait_for(lambda: setup.names(setup.failed), 30, what="the hostile file failed")
    assert setup.cli("pause", "--why", NASTY).returncode == 0
    queued = f"{asset_id(801)}{NASTY[:20]}.mp4".replace("/", "")
    (setup.inbox / queued).write_bytes(b"x")
    def page() -> str:
        return requests.get(base + "/", timeout=10).text
    html = wait_for(lambda: (t := page()) and "paused" in t and t, 10, what="paused page")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html  # shown, as text
    doc = requests.get(base + "/status.json", timeout=10)
    assert doc.headers["Content-Type"].startswith("application/json")
    js = requests.get(base + "/app.js", timeout=10).text
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js
    assert daemon.stop() == 0


def test_actions_refused_without_token_cross_site_get_or_form(setup: Setup,
                                                              daemon_factory) -> None:
    """No token, a wrong one, cross-site, GET, a form body: refused and nothing paused."""
    daemon, base, port = _web(setup, daemon_factory)
    host = f"127.0.0.1:{port}"
    attempts = [
        _post(base, "/api/pause", {"folder": "inbox"}),
        _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": "wrong"}),
        _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": TOKEN[:-1]}),
        _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": TOKEN,
                                                           "Origin": "http://evil.example"}),
        _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": TOKEN,
                                                           "Origin": "null"}),
        _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": TOKEN,
                                                           "Sec-Fetch-Site": "cross-site"}),
        _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": TOKEN,
                                                           "Sec-Fetch-Site": "same-site"}),
        requests.post(base + "/api/pause", data={"folder": "inbox"},
                      headers={"X-Vodwatch-Token": TOKEN}, timeout=10),
        requests.post(base + "/api/pause", data="folder=inbox",
                      headers={"X-Vodwatch-Token": TOKEN, "Content-Type": "text/plain"},
                      timeout=10),
    ]
    for r in attempts:
        assert r.status_code == 403, (r.request.headers, r.status_code, r.text)
    get = requests.get(base + "/api/pause?folder=inbox", timeout=10)
    assert get.status_code in (404, 405)
    assert not _paused(setup)
    ok = _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": TOKEN,
                                                           "Origin": f"http://{host}",
                                                           "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 200
    wait_for(lambda: _paused(setup), 5, interval=0.3, what="paused by the good request")
    assert _post(base, "/api/resume", {"folder": "inbox"},
                 **{"X-Vodwatch-Token": TOKEN}).status_code == 200
    wait_for(lambda: not _paused(setup), 5, interval=0.3, what="resumed")
    assert daemon.stop() == 0


def test_huge_and_malformed_bodies_do_not_hurt_the_daemon(setup: Setup,
                                                          daemon_factory) -> None:
    """A 20 MB body, a bogus Content-Length and bad JSON are refused; the page still works."""
    daemon, base, port = _web(setup, daemon_factory)
    big = _post(base, "/api/pause", b"{" + b" " * (20 * MB) + b'"folder":"inbox"}',
                **{"X-Vodwatch-Token": TOKEN})
    assert big.status_code in (400, 413)
    assert _post(base, "/api/pause", b"[1,2", **{"X-Vodwatch-Token": TOKEN}).status_code == 400
    assert _post(base, "/api/pause", {"folder": "nope"},
                 **{"X-Vodwatch-Token": TOKEN}).status_code == 404
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /api/pause HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n"
                  b"Content-Type: application/json\r\nX-Vodwatch-Token: " + TOKEN.encode()
                  + b"\r\n\r\n{}")
        s.settimeout(5)
        with contextlib.suppress(OSError):
            s.recv(100)
    assert requests.get(base + "/healthz", timeout=5).status_code == 200
    assert not _paused(setup)
    time.sleep(0.5)
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0


def test_bogus_content_length_keeps_the_log_json(setup: Setup, daemon_factory) -> None:
    """A POST with ``Content-Length: abc`` leaves only JSON lines in the daemon's log."""
    daemon, _, port = _web(setup, daemon_factory)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /api/pause HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}")
        s.settimeout(5)
        with contextlib.suppress(OSError):
            s.recv(100)
    time.sleep(0.5)
    assert daemon.stop() == 0
    bad = [line for line in daemon.output().splitlines()
           if line.strip() and not line.lstrip().startswith("{")]
    assert not bad, bad[:5]


def test_retry_refuses_traversal_and_names_outside_failed(setup: Setup,
                                                          daemon_factory) -> None:
    """Retry of ``../../etc/passwd``, ``..``, a done/ file or a directory moves nothing."""
    (setup.done / "kept.mp4").write_bytes(b"done file")
    (setup.failed / "adir").mkdir()
    daemon, base, _ = _web(setup, daemon_factory)
    tok = {"X-Vodwatch-Token": TOKEN}
    for name in ("../../etc/passwd", "..", ".", "../done/kept.mp4", "kept.mp4", "adir",
                 "/etc/passwd", "a\x00b", "", ".vodwatch"):
        r = _post(base, "/api/retry", {"folder": "inbox", "file": name}, **tok)
        assert r.status_code in (400, 404, 409), (name, r.status_code, r.text)
    assert (setup.done / "kept.mp4").exists() and (setup.failed / "adir").is_dir()
    assert setup.names(setup.inbox) == []
    assert daemon.stop() == 0


def test_token_never_leaks(setup: Setup, daemon_factory) -> None:
    """The token appears in no log line, no /status.json, no HTML, no /metrics."""
    daemon, base, _ = _web(setup, daemon_factory)
    _post(base, "/api/pause", {"folder": "inbox", "why": f"x {TOKEN}"},
          **{"X-Vodwatch-Token": TOKEN})
    _post(base, "/api/resume", {"folder": TOKEN}, **{"X-Vodwatch-Token": TOKEN})
    _post(base, "/api/pause", {"folder": "inbox"}, **{"X-Vodwatch-Token": TOKEN + "x"})
    for path in ("/", "/status.json", "/metrics", "/healthz", "/app.js"):
        assert TOKEN not in requests.get(base + path, timeout=10).text, path
    assert TOKEN not in setup.cli("status", "--json").stdout
    assert daemon.stop() == 0
    assert TOKEN not in daemon.output()


SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options")


def test_security_headers_on_get_and_post_answers(setup: Setup, daemon_factory) -> None:
    """Every GET and POST answer, 404s and /metrics included, carries the security headers."""
    daemon, base, _ = _web(setup, daemon_factory)
    answers = [requests.get(base + p, timeout=10) for p in
               ("/", "/status.json", "/app.js", "/app.css", "/metrics", "/healthz",
                "/nope", "/../../etc/passwd", "/status.json?x=1")]
    answers += [_post(base, p, {"folder": "inbox"}) for p in ("/api/pause", "/nope")]
    for r in answers:
        for name in SECURITY:
            assert name in r.headers, (r.url, r.status_code, name)
    assert daemon.stop() == 0


def test_security_headers_on_other_methods(setup: Setup, daemon_factory) -> None:
    """PUT, DELETE and HEAD answers carry the security headers too."""
    daemon, base, _ = _web(setup, daemon_factory)
    for method in ("PUT", "DELETE", "HEAD", "OPTIONS"):
        r = requests.request(method, base + "/", timeout=10)
        for name in SECURITY:
            assert name in r.headers, (method, r.status_code, name)
    assert daemon.stop() == 0


def test_page_readable_without_javascript(setup: Setup, daemon_factory) -> None:
    """The HTML as served names the folder set, its state and the queued file."""
    aid = asset_id(802)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    assert setup.cli("pause", "--why", "lunch break").returncode == 0
    (setup.inbox / f"{aid}.mp4").write_bytes(b"x" * 1000)
    daemon, base, _ = _web(setup, daemon_factory, token=None)
    html = wait_for(lambda: (t := requests.get(base + "/", timeout=10).text)
                    and f"{aid}.mp4" in t and t, 10, what="the queued file on the page")
    assert "paused" in html and "lunch break" in html and "Read-only" in html
    assert daemon.stop() == 0


def test_slow_clients_do_not_block_uploads(setup: Setup, daemon_factory) -> None:
    """Sockets that dribble headers byte by byte do not stop uploads or other requests."""
    daemon, base, port = _web(setup, daemon_factory)
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"G")
        slow.append(s)
    aid = asset_id(803)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", 2 * MB)
    try:
        t0 = time.monotonic()
        for ch in b"ET / HTTP/1.1\r\nHost: x\r\n":
            for s in slow:
                s.send(bytes([ch]))
            assert requests.get(base + "/healthz", timeout=3).status_code == 200
            time.sleep(0.05)
            if f"{aid}.mp4" in setup.names(setup.done):
                break
        wait_for(lambda: f"{aid}.mp4" in setup.names(setup.done), 30, what="upload done")
        assert time.monotonic() - t0 < 30
    finally:
        for s in slow:
            s.close()
    assert daemon.stop() == 0


# --- B. pause / resume -------------------------------------------------------------


def test_pause_in_flight_keeps_the_same_upload(setup: Setup, daemon_factory) -> None:
    """Paused mid-upload: parts stop, the file stays, resume continues the same upload."""
    aid = asset_id(810)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.15)
    write_bytes(setup.inbox / f"{aid}.mp4", 30 * MB)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 2, 30, what="parts going")
    assert setup.cli("pause", "--why", "test").returncode == 0
    time.sleep(2.5)
    frozen = len(parts_sent(setup))
    time.sleep(2)
    assert len(parts_sent(setup)) == frozen < 30
    assert (setup.inbox / f"{aid}.mp4").exists() and setup.names(setup.done) == []
    assert setup.cli("resume").returncode == 0
    wait_for(lambda: f"{aid}.mp4" in setup.names(setup.done), 60, what="done after resume")
    ids = {u for u, _ in parts_sent(setup)}
    assert len(ids) == 1, ids
    assert daemon.stop() == 0


def test_odd_case_pause_file_holds_and_is_never_uploaded(setup: Setup,
                                                       daemon_factory) -> None:
    """``pAuSe.TxT`` and ``Pause`` hold the set; neither is uploaded nor failed."""
    aid = asset_id(811)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    (setup.inbox / "pAuSe.TxT").write_text("paused")
    (setup.inbox / "Pause").write_text("paused")
    daemon = daemon_factory()
    (setup.inbox / f"{aid}.mp4").write_bytes(b"x" * 1000)
    time.sleep(3)
    assert setup.names(setup.done) == [] and setup.names(setup.failed) == []
    (setup.inbox / "pAuSe.TxT").unlink()
    time.sleep(1.5)
    assert setup.names(setup.done) == []
    (setup.inbox / "Pause").unlink()
    wait_for(lambda: f"{aid}.mp4" in setup.names(setup.done), 20, what="done after removal")
    assert setup.names(setup.failed) == []
    assert daemon.stop() == 0


def test_once_while_paused_exits(setup: Setup) -> None:
    """``once`` with a PAUSE file exits promptly, leaving the file in the inbox."""
    aid = asset_id(814)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    (setup.inbox / "PAUSE").write_text("paused")
    (setup.inbox / f"{aid}.mp4").write_bytes(b"x" * 1000)
    result = setup.cli("once", timeout=20)
    assert "Traceback" not in result.stderr
    assert setup.names(setup.done) == [] and setup.names(setup.failed) == []
    assert f"{aid}.mp4" in setup.names(setup.inbox)


def test_pause_directory_can_be_resumed(setup: Setup, daemon_factory) -> None:
    """A directory named PAUSE in the inbox does not leave the set stuck after ``resume``."""
    aid = asset_id(812)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    (setup.inbox / "PAUSE").mkdir()
    (setup.inbox / "PAUSE" / "note.txt").write_text("x")
    daemon = daemon_factory()
    (setup.inbox / f"{aid}.mp4").write_bytes(b"x" * 1000)
    result = setup.cli("resume")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: f"{aid}.mp4" in setup.names(setup.done), 20, what="uploaded")
    assert daemon.stop() == 0


def test_pause_of_an_unknown_folder_set(setup: Setup) -> None:
    """``vodwatch pause nosuch`` exits 2 naming the set and the known ones; nothing paused."""
    for verb in ("pause", "resume"):
        r = setup.cli(verb, "no-such-set")
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert "no-such-set" in r.stderr and "inbox" in r.stderr and "Traceback" not in r.stderr
    assert not (setup.inbox / ".vodwatch" / "pause.json").exists()


def test_pause_applies_to_two_daemons_within_2_s(setup: Setup, daemon_factory) -> None:
    """A pause by one daemon's web page holds both daemons on the share within 2 s."""
    port = free_port()
    setup.write_config(metrics={"address": f"127.0.0.1:{port}"}, web={"token": TOKEN})
    cfg2 = yaml.safe_load(setup.config_path.read_text())
    cfg2["state_dir"] = str(setup.root / "state2")
    cfg2["claims"]["instance_id"] = "other-host"
    cfg2.pop("metrics", None)
    cfg2.pop("web", None)
    second = setup.root / "config2.yaml"
    second.write_text(yaml.safe_dump(cfg2))
    a = daemon_factory(name="a")
    b = daemon_factory(name="b", config=second)
    wait_for(lambda: "metrics.listening" in a.output(), 20, what="a's page")
    wait_for(lambda: "daemon" in b.output(), 20, what="b started")
    time.sleep(1)
    r = _post(f"http://127.0.0.1:{port}", "/api/pause", {"folder": "inbox"},
              **{"X-Vodwatch-Token": TOKEN})
    assert r.status_code == 200
    wait_for(lambda: "folder.held" in a.output() and "folder.held" in b.output(), 2.5,
             what="both daemons held within 2 s")
    aid = asset_id(813)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    (setup.inbox / f"{aid}.mp4").write_bytes(b"x" * 1000)
    time.sleep(2.5)
    assert setup.names(setup.done) == []
    assert a.stop() == 0 and b.stop() == 0


# --- C. bandwidth timetable --------------------------------------------------------


@pytest.mark.parametrize("table,names", [
    ("25:00,off", "25:00"), ("08:00,fast", "fast"), ("Mon-08:00", "Mon-08:00"),
    ("Xyz-08:00,4", "Xyz"), ("08:00,40 08:00,off", "08:00"), ("08:00,-5", "-5"),
    ("08:00,nan", "nan"), ("08:00,inf", "inf"), ("   ", "empty"), ("08:60,4", "08:60"),
])
def test_bad_timetables_rejected_by_check(setup: Setup, table: str, names: str) -> None:
    """``vodwatch check`` refuses a wrong timetable with exit 2, naming the entry."""
    setup.write_config(upload={"bandwidth_limit_mbps": table})
    r = setup.cli("check")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    out = r.stdout + r.stderr
    assert "bandwidth_limit_mbps" in out and names in out and "Traceback" not in out


def test_timetable_boundary_during_an_upload_changes_the_rate(setup: Setup,
                                                              daemon_factory) -> None:
    """A boundary crossed mid-upload lifts an 8 Mbit/s limit: the rest goes fast."""
    # Shift local time (TZ with seconds) so that the next minute starts ~6 s from now.
    utc = datetime.utcnow()
    shift = (54 - utc.second) % 60
    tz = f"XXX-0:00:{shift:02d}" if shift else "UTC"
    local = utc + timedelta(seconds=shift)
    start = local.replace(second=0, microsecond=0)
    boundary = start + timedelta(minutes=1)
    table = f"{start:%H:%M},8 {boundary:%H:%M},off"
    setup.write_config(upload={"bandwidth_limit_mbps": table, "part_size_mb": 1})
    aid = asset_id(820)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", 24 * MB)
    daemon = daemon_factory(TZ=tz)
    wait_for(lambda: "bandwidth.changed" in daemon.output() or f"{aid}.mp4"
             in setup.names(setup.done), 30, what="the boundary")
    wait_for(lambda: f"{aid}.mp4" in setup.names(setup.done), 20, what="done")
    lines = [x for x in log_lines(daemon.output()) if x.get("event") == "job.finished"]
    assert lines
    # At 8 Mbit/s all the way 24 MB take 25 s; the boundary cuts it to ~10 s.
    assert float(lines[0].get("duration_s", lines[0].get("duration", 0))) < 18, lines[0]
    assert "bandwidth.changed" in daemon.output()
    assert daemon.stop() == 0


# --- D. journald, heartbeat, metrics -----------------------------------------------


def test_journal_priorities_and_plain_json(setup: Setup, daemon_factory) -> None:
    """With JOURNAL_STREAM naming stdout each line starts ``<N>``; without, plain JSON."""
    setup.write_config(log={"format": "json", "level": "info"},
                       metrics={"heartbeat_url": "http://127.0.0.1:9/hc",
                                "heartbeat_seconds": 0.5})
    from tests.conftest import Daemon
    log_path = setup.root / "journal.log"
    log_path.touch()
    st = os.stat(log_path)
    d = Daemon(setup, name="journal", JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    try:
        wait_for(lambda: "heartbeat.not_delivered" in d.output(), 20, what="a warning")
    finally:
        d.stop()
    lines = [x for x in d.output().splitlines() if x.strip()]
    assert lines and all(x[:3] in ("<6>", "<4>", "<3>", "<7>", "<2>") for x in lines), lines[:3]
    assert any(x.startswith("<4>") and "heartbeat.not_delivered" in x for x in lines)
    assert any(x.startswith("<6>") for x in lines)
    plain = daemon_factory(name="plain")
    wait_for(lambda: "heartbeat.not_delivered" in plain.output(), 20, what="a warning")
    plain.stop()
    assert all(x.startswith("{") for x in plain.output().splitlines() if x.strip())


def test_heartbeat_pings_and_fails_when_paused(setup: Setup, daemon_factory) -> None:
    """GET while healthy, POST /fail with a reason while paused; the URL is not logged."""
    with Receiver() as rx:
        url = rx.url("/ping/5f2e9c1a-secret-uuid", scheme="http")
        setup.write_config(metrics={"heartbeat_url": url, "heartbeat_seconds": 0.5})
        d = daemon_factory()
        rx.wait(1, 20)
        assert rx.requests[0].method == "GET"
        assert setup.cli("pause", "--why", "hb").returncode == 0
        wait_for(lambda: any(r.method == "POST" and r.path.endswith("/fail")
                             for r in rx.requests), 10, what="a /fail ping")
        assert d.stop() == 0
    assert "5f2e9c1a-secret-uuid" not in d.output()


def test_failing_heartbeat_blocks_nothing_and_hides_its_url(setup: Setup,
                                                            daemon_factory) -> None:
    """A dead heartbeat target neither slows an upload nor appears in the log."""
    token = "7c0ffee0-dead-beef-hc-token"
    setup.write_config(metrics={"heartbeat_url": f"http://127.0.0.1:9/{token}",
                                "heartbeat_seconds": 0.5})
    d = daemon_factory()
    aid = asset_id(830)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{aid}.mp4", 1 * MB)
    wait_for(lambda: f"{aid}.mp4" in setup.names(setup.done), 20, what="upload done")
    wait_for(lambda: "heartbeat.not_delivered" in d.output(), 10, what="the warning")
    assert d.stop() == 0
    assert token not in d.output()


def test_heartbeat_pings_get_while_healthy(setup: Setup, daemon_factory) -> None:
    """A healthy daemon pings its heartbeat URL with GET, and never logs that URL."""
    with Receiver() as rx:
        url = rx.url("/ping/5f2e9c1a-secret-uuid", scheme="http")
        setup.write_config(metrics={"heartbeat_url": url, "heartbeat_seconds": 0.3})
        d = daemon_factory()
        got = rx.wait(2, 20)
        assert all(r.method == "GET" and r.path == "/ping/5f2e9c1a-secret-uuid" for r in got)
        assert d.stop() == 0
    assert "5f2e9c1a-secret-uuid" not in d.output()


def test_slow_heartbeat_receiver_blocks_nothing(setup: Setup, daemon_factory) -> None:
    """A heartbeat receiver that takes 8 s to answer does not hold an upload up."""
    with Receiver(delay=8) as rx:
        setup.write_config(metrics={"heartbeat_url": rx.url("/hc", scheme="http"),
                                    "heartbeat_seconds": 0.5})
        d = daemon_factory()
        rx.wait(1, 20)
        aid = asset_id(831)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        t0 = time.monotonic()
        write_bytes(setup.inbox / f"{aid}.mp4", 1 * MB)
        wait_for(lambda: f"{aid}.mp4" in setup.names(setup.done), 20, what="upload done")
        assert time.monotonic() - t0 < 7
        assert d.stop() == 0


def test_every_metric_series_from_the_start(setup: Setup, daemon_factory) -> None:
    """Right after start every documented series exists, and no ``_created`` series."""
    daemon, base, _ = _web(setup, daemon_factory, token=None)
    text = requests.get(base + "/metrics", timeout=10).text
    series = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
              if line and not line.startswith("#")}
    for name in ("vodwatch_files_total", "vodwatch_bytes_total", "vodwatch_inflight_bytes",
                 "vodwatch_queue_depth", "vodwatch_retries_total", "vodwatch_throttles_total",
                 "vodwatch_paused", "vodwatch_share_available",
                 "vodwatch_upload_duration_seconds_count",
                 "vodwatch_last_success_timestamp_seconds", "vodwatch_unavailable",
                 "vodwatch_failed_files", "vodwatch_notification_failures"):
        assert name in series, name
    assert not [s for s in series if s.endswith("_created")]
    for reason in ("network", "throttled", "server_error"):
        assert f'vodwatch_retries_total{{reason="{reason}"}}' in text
    for outcome in ("done", "failed"):
        assert f'outcome="{outcome}"' in text
    assert daemon.stop() == 0
