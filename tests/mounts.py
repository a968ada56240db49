"""Real mounts for state_dir tests: a read-only folder and a tiny tmpfs that is full.

Being root, the tests cannot get EACCES from chmod; a read-only bind mount gives the
real EROFS and a small tmpfs the real ENOSPC. Every mount is undone on the way out;
where mounting is refused (no privilege, no mount namespace), the test is skipped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    run = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        pytest.skip(f"cannot mount here (mount {' '.join(args)}: {run.stderr.strip()})")


def umount(path: Path) -> None:
    run = subprocess.run(["umount", str(path)], capture_output=True, check=False)
    if run.returncode != 0:  # still busy: detach it so that tmp_path can be removed
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` (an existing folder) bind-mounted read-only over itself, for the block."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,ro,bind", str(path))
        yield path
    finally:
        umount(path)


@contextlib.contextmanager
def full_tmpfs(path: Path, size: str = "64k") -> Iterator[Path]:
    """A ``size`` tmpfs on ``path`` (created if missing) filled to the last byte."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
    try:
        fill(path / "filler")
        yield path
    finally:
        umount(path)


def is_mount(path: Path) -> bool:
    """Whether something is mounted on ``path`` (bind mounts of the same disk included)."""
    target = os.path.realpath(path)
    with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == target:
                return True
    return False


@contextlib.contextmanager
def mounted(path: Path, *mount_args: str) -> Iterator[Path]:
    """``mount MOUNT_ARGS path`` for the block, undone however often needed (a test may
    have mounted something over it meanwhile)."""
    _mount(*mount_args, str(path))
    try:
        yield path
    finally:
        for _ in range(3):
            if not is_mount(path):
                break
            umount(path)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """An empty ``size`` tmpfs on ``path`` (created if missing) for the block."""
    path.mkdir(parents=True, exist_ok=True)
    with mounted(path, "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs"):
        yield path


def fill(path: Path) -> None:
    """Write ``path`` until its filesystem says it is full."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        while True:
            try:
                os.write(fd, b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        while True:  # the last bytes
            try:
                os.write(fd, b"\0" * 512)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return
    finally:
        os.close(fd)
