"""sd_notify: the Notifier against real AF_UNIX datagram sockets, as systemd listens."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from vodwatch.notify import Notifier


def receive(sock: socket.socket) -> dict[str, str]:
    """One datagram, as the KEY=value fields systemd would read from it."""
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound to a file in tmp_path, like /run/systemd/notify."""
    address = str(tmp_path / "notify")
    if len(address) >= 108:  # sun_path limit
        pytest.skip(f"tmp_path too long for a unix socket path ({len(address)} bytes)")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    yield sock, address
    sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket in the abstract namespace, named as NOTIFY_SOCKET writes it (@name)."""
    name = f"vodwatch-test-{os.getpid()}-{secrets.token_hex(4)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield sock, "@" + name
    sock.close()


def send_all(notifier: Notifier) -> None:
    notifier.ready("0 queued, 0 in flight, 0 waiting")
    notifier.status("2 queued, 1 in flight, 0 waiting")
    notifier.watchdog()
    notifier.reloading(123456789)
    notifier.stopping()


def expect_all(sock: socket.socket) -> None:
    assert receive(sock) == {"READY": "1", "STATUS": "0 queued, 0 in flight, 0 waiting",
                             "MAINPID": str(os.getpid())}
    assert receive(sock) == {"STATUS": "2 queued, 1 in flight, 0 waiting"}
    assert receive(sock) == {"WATCHDOG": "1"}
    assert receive(sock) == {"RELOADING": "1", "MONOTONIC_USEC": "123456789"}
    assert receive(sock) == {"STOPPING": "1", "STATUS": "stopping"}


def test_messages_reach_a_path_socket_in_order(path_socket: tuple[socket.socket, str]) -> None:
    """READY, STATUS, WATCHDOG, RELOADING and STOPPING arrive at a path socket in order."""
    sock, address = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    send_all(notifier)
    expect_all(sock)


def test_messages_reach_an_abstract_socket_in_order(
        abstract_socket: tuple[socket.socket, str]) -> None:
    """An ``@name`` NOTIFY_SOCKET is the abstract socket ``\\0name``, and gets every message."""
    sock, address = abstract_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    send_all(notifier)
    expect_all(sock)


def test_without_notify_socket_everything_is_a_silent_no_op() -> None:
    """Outside systemd (no NOTIFY_SOCKET) the notifier is disabled and never raises."""
    notifier = Notifier({})
    assert not notifier.enabled
    send_all(notifier)
    assert notifier.watchdog_seconds == 0.0


def test_a_socket_that_is_gone_is_ignored(tmp_path: Path) -> None:
    """A NOTIFY_SOCKET naming nothing (systemd gone) does not disturb the daemon."""
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert notifier.enabled
    send_all(notifier)


def test_a_closed_receiver_does_not_disturb_later_messages(
        path_socket: tuple[socket.socket, str], tmp_path: Path) -> None:
    """After a failed send to a vanished socket, a later receiver still gets its messages."""
    sock, address = path_socket
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).watchdog()
    Notifier({"NOTIFY_SOCKET": address}).watchdog()
    assert receive(sock) == {"WATCHDOG": "1"}


@pytest.mark.parametrize(("env", "seconds"), [
    ({"WATCHDOG_USEC": "60000000"}, 60.0),
    ({"WATCHDOG_USEC": "500000"}, 0.5),
    ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 60.0),
    ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}, 0.0),
    ({"WATCHDOG_USEC": "sixty"}, 0.0),
    ({"WATCHDOG_USEC": "-5"}, 0.0),
    ({"WATCHDOG_USEC": ""}, 0.0),
    ({}, 0.0),
])
def test_watchdog_usec_parsing(env: dict[str, str], seconds: float) -> None:
    """WATCHDOG_USEC gives the watchdog period in seconds, only for this process's PID."""
    assert Notifier(env).watchdog_seconds == seconds
