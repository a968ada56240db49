"""Shared pieces of the benchmarks: machine facts, test files, the emulator, the daemon.

Every benchmark runs its anchor in the same process run as vodwatch and prints
ratios, because absolute times on a small shared machine say little.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator

PID = "0123456789abcdef0123456789abcdef"
MiB = 1024 * 1024
GiB = 1024 * MiB
ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine() -> str:
    """Cores, Python version and kernel, for every report."""
    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def asset_id(n: int | str) -> str:
    """A valid 32-hex asset ID derived from ``n``."""
    return hashlib.md5(f"bench-asset-{n}".encode()).hexdigest()


def make_file(path: Path, size: int, seed: str = "") -> None:
    """Write ``size`` bytes quickly: a random 1 MiB block with a counter in each copy."""
    block = bytearray(hashlib.sha256((seed or path.name).encode()).digest() * (MiB // 32))
    with open(path, "wb") as fh:
        written, i = 0, 0
        while written < size:
            block[:8] = i.to_bytes(8, "big")
            piece = memoryview(block)[: size - written]
            fh.write(piece)
            written += len(piece)
            i += 1


def need_space(path: Path, size: int) -> None:
    """Stop the benchmark before it fills the disk."""
    free = shutil.disk_usage(path).free
    if free < size + GiB:
        raise SystemExit(f"benchmark needs {size / GiB:.1f} GiB free under {path}, "
                         f"only {free / GiB:.1f} GiB left")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until truthy; raises TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s")
        time.sleep(interval)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def drop_caches_dirty() -> None:
    """Flush dirty pages so one run's writes do not slow the next one down."""
    os.sync()


@dataclass
class Site:
    """An inbox, done and failed folder, a state folder and a config for the daemon."""

    root: Path

    def __post_init__(self) -> None:
        for d in (self.inbox, self.done, self.failed, self.stage, self.state):
            d.mkdir(parents=True, exist_ok=True)

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
    def stage(self) -> Path:
        """Where files are written before they are dropped (same filesystem)."""
        return self.root / "stage"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def write_config(self, url: str, **overrides: Any) -> Path:
        """config.yaml pointing at the emulator; nested dicts merge over the defaults."""
        config: dict[str, Any] = {
            "vod": {"endpoint": url, "project_id": PID},
            "state_dir": str(self.state),
            "settle_seconds": 0.5,
            "scan_interval_seconds": 1,
            "log": {"format": "json", "level": "info"},
            "claims": {"instance_id": "bench"},
            "folders": [{"inbox": str(self.inbox), "done": str(self.done),
                         "failed": str(self.failed), "watch": "events"}],
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        self.config_path.write_text(yaml.safe_dump(config))
        return self.config_path


class DaemonProc:
    """``vodwatch run`` as a subprocess, its output in ``daemon.log``."""

    def __init__(self, site: Site, name: str = "daemon",
                 launcher: Sequence[str] = ("-m", "vodwatch"), config: Path | None = None
                 ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VODWATCH_")}
        env.update(HUAWEICLOUD_SDK_AK=DEFAULT_AK, HUAWEICLOUD_SDK_SK=DEFAULT_SK)
        self.log_path = site.root / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed in stop)
        self.started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, *launcher, "run", "--config", str(config or site.config_path)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=site.root)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds from process start until the daemon logged ``daemon.ready``."""
        wait_until(lambda: b"daemon.ready" in self.log_path.read_bytes() or not self.alive(),
                   timeout, 0.01)
        if not self.alive():
            raise RuntimeError(f"daemon exited: {self.tail()}")
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"daemon.ready"' in line:
                stamp = json.loads(line)["timestamp"].replace("Z", "+00:00")
                return datetime.fromisoformat(stamp).timestamp() - self.started
        return time.time() - self.started

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss(self) -> float:
        return peak_rss_mib(self.pid)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code

    def tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def __enter__(self) -> DaemonProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def workdir(base: str | None, keep: bool = False) -> Iterator[Path]:
    """A scratch folder for one benchmark, removed afterwards unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix="vodwatch-bench-", dir=base))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def memory_dir(need: int) -> Path | None:
    """/dev/shm when it has room for ``need`` bytes: the emulator's store in memory, so the
    machine's disk (writeback stalls) is not what a benchmark measures."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > need + GiB:
        return shm
    return None


@contextmanager
def emulator(data: Path, **kwargs: Any) -> Iterator[Emulator]:
    """An emulator on a random loopback port (assets spring into being as updatable)."""
    kwargs.setdefault("assets", "auto")
    with Emulator(data, project_id=PID, **kwargs) as emu:
        yield emu


@dataclass
class Row:
    """One line of the results table."""

    metric: str
    anchor: str
    goal: str
    measured: str
    ok: bool | None  # None: informational


@dataclass
class Result:
    """What a benchmark reports: rows for the table, the command, details."""

    name: str
    command: str
    machine: str = field(default_factory=machine)
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, metric: str, anchor: str, goal: str, measured: str, ok: bool | None) -> None:
        self.rows.append(Row(metric, anchor, goal, measured, ok))

    def print(self) -> None:
        print(f"\n== {self.name}  ({self.machine}; {self.seconds:.0f} s)")
        print(f"   command: {self.command}")
        for r in self.rows:
            flag = "" if r.ok is None else ("  OK" if r.ok else "  MISSED")
            print(f"   {r.metric}: {r.measured}   [anchor: {r.anchor}; goal: {r.goal}]{flag}")

    def finish(self, json_path: str | None) -> int:
        """Print the results, write them as JSON if asked; the exit code (always 0)."""
        self.print()
        if json_path:
            Path(json_path).write_text(json.dumps(asdict(self), indent=1, default=str))
        return 0


def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--workdir", default=None,
                   help="parent of the scratch folder (default: the system temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return p


def command_line(script: str, quick: bool) -> str:
    return f".venv/bin/python benchmarks/{script}" + (" --quick" if quick else "")


def fmt_mb_s(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:.0f} MB/s"


def rclone_env(url: str) -> dict[str, str]:
    """The environment that makes the emulator's S3 mode rclone's remote ``emu:``."""
    env = dict(os.environ, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_EMU_TYPE="s3",
               RCLONE_CONFIG_EMU_PROVIDER="Other", RCLONE_CONFIG_EMU_ENDPOINT=url,
               RCLONE_CONFIG_EMU_ACCESS_KEY_ID="x", RCLONE_CONFIG_EMU_SECRET_ACCESS_KEY="y",
               RCLONE_CONFIG_EMU_FORCE_PATH_STYLE="true")
    env.pop("AWS_CA_BUNDLE", None)  # the AWS SDK in rclone trips on it for plain HTTP
    return env
