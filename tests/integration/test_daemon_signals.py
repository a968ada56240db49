"""The daemon's signal handler takes no lock: a signal that lands while the main thread
holds the hint queue's lock, or an Event's (its own earlier handler inside ``set``),
must not hang the daemon. The handler writes to a pipe; the ``signals`` thread sets
the flags and wakes the loop."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def every_lock_held(daemon: Daemon) -> Iterator[None]:
    """Hold the hint queue's lock and every flag's lock, as the main thread may when a
    signal lands (inside ``hints.get``, ``reload.clear()``, or an earlier ``set``)."""
    events = (daemon.stop, daemon.reload, daemon.hurry, daemon.abort)
    with contextlib.ExitStack() as stack:
        stack.enter_context(daemon.hints.mutex)
        for event in events:
            stack.enter_context(event._cond)  # type: ignore[attr-defined]
        yield


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_while_the_locks_are_held_returns_at_once(daemon: Daemon,
                                                           signum: int) -> None:
    """The handler returns while the queue's and the flags' locks are held; the flag is
    set and the loop's wait wakes once they are free."""
    daemon.hints.wait(0)  # no wake-up left over from the start
    with every_lock_held(daemon):
        handler = threading.Thread(target=daemon.handle_signal, args=(signum, None),
                                   daemon=True)
        handler.start()
        handler.join(5)
        assert not handler.is_alive(), "the signal handler waited for a lock"
    flag = daemon.reload if signum == signal.SIGHUP else daemon.stop
    assert flag.wait(10), "the signal was not acted on"
    started = time.monotonic()
    assert daemon.hints.wait(30)
    assert time.monotonic() - started < 5, "the loop was not woken by the signal"


def test_signals_in_the_thread_that_holds_the_locks_do_not_hang(daemon: Daemon) -> None:
    """As a handler interrupted by the next signal: same thread, every lock held."""
    with every_lock_held(daemon):
        for _ in range(2):
            daemon.handle_signal(signal.SIGTERM, None)  # a lock taken here would hang
        daemon.handle_signal(signal.SIGHUP, None)
    assert daemon.hurry.wait(10) and daemon.abort.wait(10) and daemon.stop.wait(10)
    assert daemon.reload.wait(10)


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
