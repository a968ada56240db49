"""Shared fixtures: a real emulator on loopback, real folders, the real CLI."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator

PID = "0123456789abcdef0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


def asset_id(n: int) -> str:
    """A valid 32-hex asset ID derived from a number."""
    return hashlib.md5(f"asset-{n}".encode()).hexdigest()


def write_bytes(path: Path, size: int, seed: str = "") -> bytes:
    """Write ``size`` deterministic pseudo-random bytes to ``path``; returns them."""
    block = hashlib.sha256((seed or path.name).encode()).digest() * 4096
    data = (block * (size // len(block) + 1))[:size]
    path.write_bytes(data)
    return data


def catches(pid: int, signum: int) -> bool:
    """True once process ``pid`` has a handler for ``signum`` (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((int(line.split()[1], 16) for line in status.splitlines()
                   if line.startswith("SigCgt:")), 0)
    return bool(caught >> (signum - 1) & 1)


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
             what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Setup:
    """One folder set with its config, for a test."""

    root: Path
    emulator: Emulator
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VODWATCH_")}
        env.update(HUAWEICLOUD_SDK_AK=DEFAULT_AK, HUAWEICLOUD_SDK_SK=DEFAULT_SK,
                   PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def write_config(self, **overrides: Any) -> Path:
        """Write config.yaml for this setup; nested dicts merge over the defaults."""
        config: dict[str, Any] = {
            "vod": {"endpoint": self.emulator.url, "project_id": PID,
                    "connect_timeout_seconds": 2, "read_timeout_seconds": 10},
            "state_dir": str(self.state),
            "settle_seconds": 0.5,
            "scan_interval_seconds": 0.2,
            "rescan_seconds": 1,
            "retry": {"base_seconds": 0.1, "cap_seconds": 1, "jitter": 0.2,
                      "credentials_recheck_seconds": 0.5},
            "claims": {"instance_id": "test-host", "lease_seconds": 3},
            "shutdown_grace_seconds": 5,
            "log": {"format": "json", "level": "info"},
            "folders": [{"inbox": str(self.inbox), "done": str(self.done),
                         "failed": str(self.failed)}],
        }
        merged = {**self.overrides, **overrides}
        for key, value in merged.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        self.config_path.write_text(yaml.safe_dump(config))
        return self.config_path

    def cli(self, *args: str, timeout: float = 120, **env: str
            ) -> subprocess.CompletedProcess[str]:
        """Run ``vodwatch ARGS --config config.yaml`` to completion."""
        result = subprocess.run([sys.executable, "-m", "vodwatch", *args, "--config",
                                 str(self.config_path)], env=self.env(**env), cwd=self.root,
                                capture_output=True, text=True, timeout=timeout)
        OUTPUTS.append((f"vodwatch {' '.join(args)} in {self.root}",
                        result.stdout + result.stderr))
        return result

    def names(self, folder: Path) -> list[str]:
        """The editors' files in ``folder``: not hidden ones, nor done/'s delivery records."""
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")
                      and not (p.name.startswith("deliveries ") and p.name.endswith(".csv")))


# Every output of every daemon and CLI run in this test session, scanned at the end.
OUTPUTS: list[tuple[str, Path | str]] = []
_SIGNATURE = re.compile(r"Signature=(?!REDACTED)[^&\s\"',]+")


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_output() -> Iterator[None]:
    """After the whole run: the SK and URL signatures appear in no daemon or CLI output."""
    yield
    leaks = []
    for label, item in OUTPUTS:
        text = item.read_text(errors="replace") if isinstance(item, Path) else item
        if isinstance(item, Path):
            # Error files written beside failed files are part of what people read.
            for error_file in item.parent.rglob("*.error.txt"):
                text += error_file.read_text(errors="replace")
        if DEFAULT_SK in text or _SIGNATURE.search(text):
            leaks.append(label)
    assert not leaks, f"secret or URL signature found in the output of: {leaks[:5]}"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """A strict emulator (unknown assets do not exist) on a random loopback port."""
    with Emulator(tmp_path / "emulator", project_id=PID, assets="strict") as emu:
        yield emu


@pytest.fixture
def setup(tmp_path: Path, emulator: Emulator) -> Setup:
    """Inbox, done and failed folders and a config pointing at the emulator."""
    s = Setup(tmp_path / "site", emulator)
    for d in (s.inbox, s.done, s.failed):
        d.mkdir(parents=True)
    s.write_config()
    return s


class Daemon:
    """``vodwatch run`` as a subprocess, with its output kept in a file."""

    def __init__(self, setup: Setup, name: str = "daemon", config: Path | None = None,
                 **env: str) -> None:
        self.setup = setup
        self.log_path = setup.root / f"{name}.log"
        self.config = config or setup.config_path
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed in stop)
        OUTPUTS.append((f"daemon {self.log_path}", self.log_path))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vodwatch", "run", "--config", str(self.config)],
            env=setup.env(**env), stdout=self._log, stderr=subprocess.STDOUT,
            cwd=setup.root)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self, timeout: float = 60) -> int:
        # Not while the interpreter itself starts, before vodwatch handles the signal (the
        # default action there is death by SIGTERM, whatever vodwatch would do).
        deadline = time.monotonic() + 20
        while (self.proc.poll() is None and not catches(self.proc.pid, signal.SIGTERM)
               and time.monotonic() < deadline):
            time.sleep(0.005)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        return code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def daemon_factory(setup: Setup) -> Iterator[Callable[..., Daemon]]:
    """Start daemons on demand; all are stopped at the end of the test."""
    started: list[Daemon] = []

    def start(**kwargs: Any) -> Daemon:
        d = Daemon(setup, **kwargs)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.stop()
        if not d._log.closed:
            d._log.close()
