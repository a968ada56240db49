"""The control room: the web page in a real headless browser, and pause / resume."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.browser import Browser
from tests.end_to_end.test_operating import free_port

MB = 1024 * 1024
TOKEN = "control-room-test-token"
HTML_NAME = "<img src=x onerror=alert(1)>.mp4"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _two_sets(setup: Setup, **overrides: object) -> Path:
    other = setup.root / "archive"
    for d in ("inbox", "done", "failed"):
        (other / d).mkdir(parents=True, exist_ok=True)
    setup.write_config(folders=[
        {"inbox": str(setup.inbox), "done": str(setup.done), "failed": str(setup.failed),
         "name": "news"},
        {"inbox": str(other / "inbox"), "done": str(other / "done"),
         "failed": str(other / "failed"), "name": "archive"}], **overrides)
    return other


def _status(setup: Setup) -> dict[str, dict[str, object]]:
    data = json.loads(setup.cli("status", "--json").stdout)
    return {f["label"]: f for f in data["folders"]}


def _only(setup: Setup) -> object:
    return next(iter(_status(setup).values()))["paused"]


def test_web_page_in_a_browser(setup: Setup, daemon_factory, tmp_path: Path) -> None:
    """Progress moves, a paused set and a failed file show, names stay text, actions need
    the token."""
    port = free_port()
    _two_sets(setup, metrics={"address": f"127.0.0.1:{port}"}, web={"token": TOKEN},
              upload={"part_size_mb": 1, "parallel_parts": 1})
    assert setup.cli("pause", "archive", "--why", "tape library moves").returncode == 0
    aid = asset_id(701)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.3)
    (setup.inbox / HTML_NAME).write_bytes(b"not a video")
    write_bytes(setup.inbox / f"{aid}.mp4", 40 * MB)
    daemon = daemon_factory()
    wait_for(lambda: "metrics.listening" in daemon.output(), 20, what="the web page")
    url = f"http://127.0.0.1:{port}/"
    with urllib.request.urlopen(url, timeout=10) as resp:
        headers = resp.headers
        served = resp.read().decode()
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "<img" not in served and "archive" in served  # readable without JavaScript

    browser = Browser(tmp_path / "profile")
    try:
        browser.goto(url)

        def percent() -> float:
            value = browser.evaluate(
                "(function(){var p=document.querySelector('article[data-folder] progress');"
                "return p ? Number(p.value) : -1;})()")
            return float(value)

        first = wait_for(lambda: (p := percent()) > 0 and p, 40, what="an upload on the page")
        wait_for(lambda: percent() > first, 40, interval=0.3, what="the bar moving")
        archive = browser.evaluate(
            "Array.from(document.querySelectorAll('article')).filter(a => "
            "a.querySelector('h2').textContent.startsWith('archive'))[0].textContent")
        assert "paused" in archive and "paused by" in archive and "tape library" in archive
        failed = wait_for(lambda: browser.evaluate(
            "Array.from(document.querySelectorAll('.failed li')).map(l => l.textContent)"
            ".join('|')") or None, 40, interval=0.3, what="the failed file")
        assert HTML_NAME in failed
        assert browser.evaluate("document.querySelectorAll('main img').length") == 0
        # The README's picture is refreshed only when asked (VODWATCH_SCREENSHOT=1): a test
        # run never changes a tracked file.
        shot = DOCS / "web-page.png" if os.environ.get("VODWATCH_SCREENSHOT") else (
            tmp_path / "web-page.png")
        browser.screenshot(shot)
        assert shot.stat().st_size > 1000

        refused = browser.evaluate(
            "fetch('/api/pause', {method: 'POST', headers: {'Content-Type': "
            "'application/json'}, body: JSON.stringify({folder: 'news'})}).then(r => r.status)")
        assert refused == 403
        assert "paused by" not in str(_status(setup)["news"]["paused"])
        browser.evaluate(f"document.getElementById('token').value = '{TOKEN}'")
        browser.evaluate("Array.from(document.querySelectorAll('button.act')).filter(b => "
                         "b.dataset.action === 'pause' && b.closest('article').querySelector("
                         "'h2').textContent.startsWith('news'))[0].click()")
        wait_for(lambda: "paused by web page" in (browser.evaluate(
            "document.getElementById('said').textContent") or ""), 10, what="the answer")
        wait_for(lambda: "paused" in browser.evaluate(
            "document.querySelector('article').className"), 10, what="news shown paused")
    finally:
        browser.close()
    assert daemon.stop() == 0


def test_pause_by_cli_and_by_pause_file_survives_a_restart(setup: Setup,
                                                           daemon_factory) -> None:
    """A paused set takes no new work within 2 s, stays paused across a restart, and
    the in-flight upload stops after its part and finishes after the resume."""
    aid, later = asset_id(702), asset_id(703)
    for a in (aid, later):
        setup.emulator.seed_asset(a, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 1})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.2)
    write_bytes(setup.inbox / f"{aid}.mp4", 24 * MB)
    daemon = daemon_factory()
    wait_for(lambda: "upload.multipart_started" in daemon.output(), 30, what="the upload")
    assert setup.cli("pause").returncode == 0
    wait_for(lambda: "folder.held" in daemon.output(), 2.5, what="the pause within 2 s")
    write_bytes(setup.inbox / f"{later}.mp4", 1 * MB)
    time.sleep(3)
    assert (setup.inbox / f"{later}.mp4").exists() and (setup.inbox / f"{aid}.mp4").exists()
    paused = _only(setup)
    assert paused and "paused by" in str(paused)
    assert daemon.stop() == 0

    daemon = daemon_factory(name="second")  # restart: still paused
    time.sleep(3)
    assert setup.names(setup.done) == []
    assert setup.cli("resume").returncode == 0
    wait_for(lambda: len(setup.names(setup.done)) == 2, 60, what="both files done")

    (setup.inbox / "pause.TXT").write_text("back at 3")  # the producer's PAUSE file
    wait_for(lambda: daemon.output().count("folder.held") >= 1, 3, what="the PAUSE file")
    third = asset_id(704)
    setup.emulator.seed_asset(third, "UPLOAD_FAILED")
    write_bytes(setup.inbox / f"{third}.mp4", 1 * MB)
    time.sleep(2.5)
    assert (setup.inbox / f"{third}.mp4").exists() and (setup.inbox / "pause.TXT").exists()
    assert "PAUSE file" in str(_only(setup))
    (setup.inbox / "pause.TXT").unlink()
    wait_for(lambda: f"{third}.mp4" in setup.names(setup.done), 30, what="resumed")
    assert "pause.TXT" not in setup.names(setup.failed)
    assert daemon.stop() == 0


@pytest.mark.parametrize("name", ["PAUSE", "Pause.txt"])
def test_pause_file_names(name: str) -> None:
    from vodwatch.pause import is_pause_file

    assert is_pause_file(name) and not is_pause_file(f"{name}.mp4")
