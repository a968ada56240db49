"""kill -9 in create mode's most dangerous window: the create request has reached VOD,
the answer has not come back (issue 14, exactly once across crashes)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conftest import Daemon, Setup, wait_for, write_bytes
from tests.end_to_end.test_create import create_mode, mapping


def test_kill_9_while_the_create_is_at_vod_makes_exactly_one_asset(
        setup: Setup, daemon_factory: Callable[..., Daemon]) -> None:
    """The create is slow (3 s) at VOD; the daemon is killed -9 the moment the request has
    arrived and restarted at once. VOD finishes the create after the crash; the restart
    lists (and, finding nothing yet, waits and lists again) instead of creating again."""
    create_mode(setup)
    setup.emulator.add_fault("slow", "create_asset", 1, delay=3)
    video = write_bytes(setup.inbox / "Window.mp4", 200_000)
    first = daemon_factory()
    # The fault is taken when the request arrives, before it is handled.
    wait_for(lambda: not setup.emulator.faults(), 30, what="the create request at VOD")
    first.kill()
    killed_at = time.time()
    assert setup.emulator.assets_created() == []  # still at work: no answer could exist
    second = daemon_factory()
    wait_for(lambda: (setup.done / "Window.mp4").exists(), 60, what="Window.mp4 in done/")
    time.sleep(max(0.0, killed_at + 3.5 - time.time()))  # the killed create has finished
    assert second.stop() == 0
    (made,) = setup.emulator.assets_created()
    aid = made["asset_id"]
    ops = [r.operation for r in setup.emulator.requests]
    assert ops.count("create_asset") == 1, ops
    lists = [r for r in setup.emulator.requests if r.operation == "list_assets"]
    assert lists and all(r.time >= killed_at for r in lists)  # the restart looked first
    assert all(r.query.get("size") == ["100"] for r in lists)
    assert setup.emulator.read_object(aid, "video") == video
    assert mapping(setup, "Window")["asset_id"] == aid
    assert setup.names(setup.failed) == []
