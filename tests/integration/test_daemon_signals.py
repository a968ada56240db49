"""The daemon's signal handlers only set flags and poke the loop awake: a signal that
lands while the main thread holds the hint queue's lock must not hang the daemon."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Setup
from vodwatch.config import load_config
from vodwatch.daemon import Daemon
from vodwatch.wake import Hints


@pytest.fixture
def daemon(setup: Setup) -> Iterator[Daemon]:
    setup.inbox.mkdir(exist_ok=True)
    built = Daemon(load_config(setup.write_config(), setup.env()))
    yield built
    built.pool.shutdown(wait=False)
    built.journal.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_while_the_queue_lock_is_held_returns_at_once(daemon: Daemon,
                                                              signum: int) -> None:
    """The handler runs while ``hints.get`` or ``put`` holds the queue's lock (here: the
    test holds it); it returns anyway, its flag is set, and the loop's wait wakes."""
    with daemon.hints.mutex:
        handler = threading.Thread(target=daemon.handle_signal, args=(signum, None),
                                   daemon=True)
        handler.start()
        handler.join(5)
        assert not handler.is_alive(), "the signal handler waited for the queue's lock"
    flag = daemon.reload if signum == signal.SIGHUP else daemon.stop
    assert flag.is_set()
    started = time.monotonic()
    assert daemon.hints.wait(30)
    assert time.monotonic() - started < 5, "the loop was not woken by the signal"


def test_a_second_sigterm_sets_hurry_without_a_lock(daemon: Daemon) -> None:
    with daemon.hints.mutex:
        for _ in range(2):
            daemon.handle_signal(signal.SIGTERM, None)  # same thread: a lock would hang
    assert daemon.stop.is_set() and daemon.hurry.is_set() and daemon.abort.is_set()


def test_a_hint_put_by_a_watcher_thread_wakes_the_wait() -> None:
    hints = Hints()
    assert not hints.wait(0.05)
    threading.Timer(0.2, hints.put, args=(Path("/inbox/a.mp4"),)).start()
    started = time.monotonic()
    assert hints.wait(30)
    assert time.monotonic() - started < 5
    assert hints.get_nowait() == Path("/inbox/a.mp4")
    assert not hints.wait(0.05), "a wake-up is taken once"


def test_many_pokes_never_block() -> None:
    """A full pipe already holds a wake-up: more pokes neither block nor fail."""
    hints = Hints()
    for _ in range(200_000):
        hints.poke()
    assert hints.wait(1)
    assert not hints.wait(0.05)
