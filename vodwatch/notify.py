"""sd_notify: tell systemd we are ready, alive, reloading or stopping.

A datagram to ``$NOTIFY_SOCKET`` (path or abstract ``@name``); silent when the
variable is unset, so the daemon runs the same outside systemd.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends sd_notify messages; a no-op without ``NOTIFY_SOCKET``."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_seconds = (int(usec) / 1e6 if usec.isdigit() and (
            not pid or pid == str(os.getpid())) else 0.0)

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, **fields: str) -> None:
        """Send ``KEY=value`` lines, e.g. ``send(READY="1", STATUS="...")``."""
        if not self._address:
            return
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.send(message)
        except OSError:
            pass  # systemd gone or socket unwritable: nothing useful to do

    def ready(self, status: str) -> None:
        self.send(READY="1", STATUS=status, MAINPID=str(os.getpid()))

    def status(self, status: str) -> None:
        self.send(STATUS=status)

    def watchdog(self) -> None:
        self.send(WATCHDOG="1")

    def reloading(self, monotonic_usec: int) -> None:
        self.send(RELOADING="1", MONOTONIC_USEC=str(monotonic_usec))

    def stopping(self) -> None:
        self.send(STOPPING="1", STATUS="stopping")
