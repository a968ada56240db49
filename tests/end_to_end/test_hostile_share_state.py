"""Hostile attacks on the state folder wait at start, an upload cancelled again and
again, and a failed journal, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import log_lines
from tests.mounts import full_tmpfs


def test_status_says_a_fresh_state_dir_is_full_while_run_waits(setup: Setup,
                                                              daemon_factory) -> None:
    """A first `run` waiting for a full state disk has no journal yet: `status` says the
    folder is full, not that vodwatch has not run and should be started."""
    with full_tmpfs(setup.state, size="1m"):
        daemon = daemon_factory()
        wait_for(lambda: "state.unavailable" in daemon.output(), 30, what="the wait")
        text = setup.cli("status")
        data = json.loads(setup.cli("status", "--json").stdout)
    assert text.returncode == 1
    assert f"{setup.state} is full" in text.stdout, text.stdout
    assert "start it with" not in text.stdout
    assert any(f"{setup.state} is full" in p for p in data["problems"]), data


@pytest.mark.xfail(strict=True, reason="a waiting `run` holds no lock: a second `run` waits "
                   "too, and whichever looks first once space is freed wins; the other "
                   "(perhaps the one systemd started) then exits 2 for good")
def test_a_second_run_while_the_first_waits_is_refused_at_once(setup: Setup,
                                                              daemon_factory) -> None:
    """`run` waiting for a full state disk already owns its state_dir: a second `run` on
    it is refused at once (exit 2) instead of waiting beside it."""
    with full_tmpfs(setup.state, size="1m"):
        first = daemon_factory(name="first")
        wait_for(lambda: "state.unavailable" in first.output(), 30, what="the first wait")
        second = daemon_factory(name="second")
        try:
            code = second.proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 2, second.output()
        assert first.proc.poll() is None


def test_a_wait_that_turns_read_only_then_a_reload_then_freed_starts(setup: Setup,
                                                                    daemon_factory) -> None:
    """Full, then remounted read-only while `run` waits: the new reason is told once; a
    SIGHUP meanwhile neither stops nor breaks it; writable again, it starts and delivers."""
    with full_tmpfs(setup.state, size="8m"):
        daemon = daemon_factory()
        wait_for(lambda: "state.unavailable" in daemon.output(), 30, what="the wait")
        subprocess.run(["mount", "-o", "remount,ro", str(setup.state)], check=True)
        wait_for(lambda: "read-only" in daemon.output(), 30, what="the read-only reason")
        daemon.signal(signal.SIGHUP)
        aid = asset_id(903)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        write_bytes(setup.inbox / f"{aid}.mp4", 50_000)
        time.sleep(1)
        assert daemon.proc.poll() is None, daemon.output()
        subprocess.run(["mount", "-o", "remount,rw", str(setup.state)], check=True)
        os.remove(setup.state / "filler")
        wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 60, what="the delivery")
        assert daemon.stop() == 0
    events = [e.get("event") for e in log_lines(daemon.output())]
    assert events.count("state.unavailable") == 2  # full, then read-only: each said once
    assert "Traceback" not in daemon.output()
