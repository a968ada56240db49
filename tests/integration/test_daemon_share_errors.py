"""A share error that escapes a folder set's turn (EIO, ESTALE, ENOTCONN, EHOSTDOWN,
EACCES...) makes that folder set unavailable, with its cause, and the daemon goes on;
only an unexpected error that is not an OSError ends the daemon.

The daemon runs in-process against the emulator; the fault is a folder set's turn
that raises the error, as a dead share would."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from vodwatch.config import load_config
from vodwatch.daemon import Daemon


class Running:
    """A daemon whose ``run`` goes on in a thread."""

    def __init__(self, setup: Setup) -> None:
        for folder in (setup.inbox, setup.done, setup.failed):
            folder.mkdir(exist_ok=True)
        self.daemon = Daemon(load_config(setup.write_config(), setup.env()))
        self.outcome: list[Any] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.outcome.append(self.daemon.run())
        except BaseException as exc:  # the test looks at what ended it
            self.outcome.append(exc)

    def start(self) -> Running:
        self.thread.start()
        wait_for(lambda: self.daemon._ready, 20, what="ready")
        return self

    def stop(self) -> Any:
        self.daemon.handle_signal(signal.SIGTERM, None)
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.outcome[0]


@pytest.fixture
def running(setup: Setup) -> Iterator[Running]:
    run = Running(setup).start()
    yield run
    if run.thread.is_alive():
        run.stop()
    run.daemon.journal.close()


class Failing:
    """``real`` that raises ``exc`` until ``healed`` is set; counts the calls."""

    def __init__(self, exc: BaseException, real: Callable[..., Any]) -> None:
        self.exc, self.real = exc, real
        self.healed = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if not self.healed.is_set():
            raise self.exc
        return self.real(*args, **kwargs)


@pytest.mark.parametrize("code", [errno.EIO, errno.ESTALE, errno.ENOTCONN, errno.EHOSTDOWN,
                                  errno.EACCES])
def test_a_share_error_in_a_turn_makes_the_folder_set_unavailable(
        running: Running, setup: Setup, code: int) -> None:
    runtime = next(iter(running.daemon.sets.values()))
    error = OSError(code, os.strerror(code), str(setup.inbox / "a.mp4"))
    runtime.watch.tick = fault = Failing(error, runtime.watch.tick)  # type: ignore[method-assign]
    wait_for(lambda: runtime.watch.unavailable is not None, 20, what="unavailable")
    assert os.strerror(code) in str(runtime.watch.unavailable)
    assert running.daemon.journal.count_events("unavailable") == 1
    wait_for(lambda: fault.calls >= 3, 20, what="more turns")
    assert running.thread.is_alive(), "a share error ended the daemon"
    assert running.daemon.journal.count_events("unavailable") == 1, "said once"
    fault.healed.set()
    wait_for(lambda: runtime.watch.available, 20, what="available again")
    aid = asset_id(950)
    setup.emulator.seed_asset(aid, "PUBLISHED")
    write_bytes(setup.inbox / f"{aid}.cover.jpg", 500)
    wait_for(lambda: (setup.done / f"{aid}.cover.jpg").exists(), 30, what="done")
    assert running.stop() == 0


def test_a_share_error_outside_a_folder_sets_turn_names_its_folder_set(
        running: Running, setup: Setup) -> None:
    """Reporting writes to the share too: an error there naming the done folder makes
    that folder set unavailable; one naming no folder set is logged, and the daemon goes
    on either way."""
    runtime = next(iter(running.daemon.sets.values()))
    reporter = running.daemon.reporter
    error = OSError(errno.ESTALE, os.strerror(errno.ESTALE), str(setup.done / "status.html"))
    real = reporter.turn
    reporter.turn = fault = Failing(error, real)  # type: ignore[method-assign]
    wait_for(lambda: runtime.watch.unavailable is not None, 20, what="unavailable")
    assert os.strerror(errno.ESTALE) in str(runtime.watch.unavailable)
    fault.healed.set()
    wait_for(lambda: runtime.watch.available, 20, what="available again")
    elsewhere = OSError(errno.EIO, os.strerror(errno.EIO), "/nowhere/known")
    reporter.turn = fault = Failing(elsewhere, real)  # type: ignore[method-assign]
    wait_for(lambda: fault.calls >= 3, 20, what="the loop turning on")
    assert running.thread.is_alive()
    assert runtime.watch.available, "an error naming no folder set blames none"
    fault.healed.set()
    assert running.stop() == 0


def test_an_unexpected_error_that_is_not_an_oserror_ends_the_daemon(
        running: Running) -> None:
    runtime = next(iter(running.daemon.sets.values()))
    runtime.watch.tick = Failing(KeyError("a bug"), runtime.watch.tick)  # type: ignore[method-assign]
    running.thread.join(30)
    assert not running.thread.is_alive()
    assert isinstance(running.outcome[0], KeyError)


def test_a_share_error_while_the_journal_fails_is_a_state_fault(running: Running,
                                                                setup: Setup) -> None:
    """Saying the share failed needs the journal: when that fails too, the daemon reports
    the state folder unavailable and goes on; both heal by themselves."""
    daemon = running.daemon
    runtime = next(iter(daemon.sets.values()))
    event = Failing(sqlite3.OperationalError("disk I/O error"), daemon.journal.event)
    daemon.journal.event = event  # type: ignore[method-assign]
    error = OSError(errno.EIO, os.strerror(errno.EIO), str(setup.inbox))
    runtime.watch.tick = tick = Failing(error, runtime.watch.tick)  # type: ignore[method-assign]
    wait_for(lambda: daemon.state_fault is not None, 20, what="the state fault")
    assert "I/O error" in str(daemon.state_fault)
    assert running.thread.is_alive()
    event.healed.set()
    wait_for(lambda: runtime.watch.unavailable is not None, 20, what="unavailable")
    tick.healed.set()
    wait_for(lambda: runtime.watch.available and daemon.state_fault is None, 20,
             what="all well again")
    assert running.stop() == 0
