"""Helpers for the hostile end-to-end tests: big files, listing samplers, mounts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import Setup
from tests.mounts import _mount, is_mount, umount

MB = 1024 * 1024


def ops(setup: Setup, operation: str) -> list:
    return [r for r in setup.emulator.requests if r.operation == operation]


def make_big(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes quickly; returns the hex MD5."""
    block = random.Random(path.name).randbytes(MB)
    h = hashlib.md5()
    with open(path, "wb") as fh:
        written, i = 0, 0
        while written < size:
            piece = (i.to_bytes(8, "big") + block[8:])[: size - written]
            fh.write(piece)
            h.update(piece)
            written += len(piece)
            i += 1
    return h.hexdigest()


def file_md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * MB):
            h.update(chunk)
    return h.hexdigest()


def visible(folder: Path) -> set[str]:
    """What an editor sees in ``folder``: ``os.listdir`` without dot-names."""
    return {n for n in os.listdir(folder) if not n.startswith(".")
            and not (n.startswith("deliveries ") and n.endswith(".csv"))}


def parts_sent(setup: Setup) -> list[tuple[str, int]]:
    """(uploadId, partNumber) of every part the store accepted."""
    return [(r.query.get("uploadId", [""])[0], int(r.query["partNumber"][0]))
            for r in ops(setup, "obs_part") if r.status == 200]


def status_json(setup: Setup) -> dict[str, Any]:
    result = setup.cli("status", "--json")
    return json.loads(result.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Sampler(threading.Thread):
    """Lists the inbox, then done/ and failed/, every few ms; records every sample in
    which one of ``names`` was in none of them (hidden from the editor)."""

    def __init__(self, inbox: Path, others: list[Path], names: list[str]) -> None:
        super().__init__(daemon=True)
        self.inbox, self.others, self.names = inbox, others, names
        self.missing: list[tuple[float, str, str]] = []
        self.samples = 0
        self.halt = threading.Event()
        self.paused = threading.Event()  # set while the share is knowingly away

    def run(self) -> None:
        while not self.halt.is_set():
            if not self.paused.is_set():
                try:
                    inbox = visible(self.inbox)  # first the inbox: a move links, then unlinks
                    rest: set[str] = set()
                    for folder in self.others:
                        rest |= visible(folder)
                except OSError:
                    inbox, rest = None, set()
                if inbox is not None and not self.paused.is_set():
                    self.samples += 1
                    for name in self.names:
                        if name not in inbox and name not in rest:
                            self.missing.append((time.time(), name, repr(sorted(inbox))))
            time.sleep(0.01)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def bind(source: Path, target: Path, read_only: bool = False) -> Iterator[Path]:
    """``source`` bind-mounted on ``target`` for the block (undone however often needed)."""
    _mount("--bind", str(source), str(target))
    try:
        if read_only:
            _mount("-o", "remount,ro,bind", str(target))
        yield target
    finally:
        for _ in range(3):
            if not is_mount(target):
                break
            umount(target)


def log_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


class NotifyListener(threading.Thread):
    """A systemd notify socket: collects every sd_notify datagram the daemon sends."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def statuses(self) -> list[str]:
        return [line[len("STATUS="):] for m in list(self.messages) for line in m.splitlines()
                if line.startswith("STATUS=")]

    def __enter__(self) -> NotifyListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self.join(5)
        self._sock.close()


def metric(port: int, line_start: str) -> float | None:
    """The value of the first /metrics sample line starting with ``line_start``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return None
