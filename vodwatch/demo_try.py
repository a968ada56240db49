"""The helpers of ``vodwatch demo`` that let a newcomer try things while it runs.

Its scratch folder (a new temporary one, or ``--dir`` kept between runs and locked
while a demo uses it), a free loopback port for the web page, fetching that page,
and the "try it yourself" commands written so that they work exactly as printed in
the shell the demo was started from.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MARKER = ".vodwatch-demo"  # in a --dir folder: written by the demo, so it may be emptied

# Loopback needs no proxy, whatever http_proxy says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DemoFolderError(Exception):
    """The --dir folder cannot be used (not a demo's folder, or a demo runs in it)."""


@contextlib.contextmanager
def scratch_folder(directory: Path | None) -> Iterator[Path]:
    """The demo's folder, emptied and locked; a temporary one is removed at the end.

    A ``--dir`` folder is emptied only if it is new, empty or left by an earlier demo
    (it holds ``MARKER``), and kept at the end so that its files can be read after.
    """
    if directory is None:
        root = Path(tempfile.mkdtemp(prefix="vodwatch-demo-"))
        try:
            yield root
        finally:
            shutil.rmtree(root, ignore_errors=True)
            print(f"Removed the scratch folder {root}.")
        return
    root = directory.absolute()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name (someone's notes), a read-only disk...
        raise DemoFolderError(f"{root} cannot be the demo's folder: "
                              f"{exc.strerror or exc}") from None
    marker = root / MARKER
    if not marker.exists() and any(root.iterdir()):
        raise DemoFolderError(f"{root} is not empty and was not made by `vodwatch demo`; "
                              "give a new or empty folder")
    with open(marker, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoFolderError(f"another `vodwatch demo` runs in {root}; stop it first "
                                  "(Enter in its terminal)") from None
        for item in root.iterdir():
            if item.name == MARKER:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
        yield root
        print(f"The demo's files stay in {shown(root)} (the next `vodwatch demo` there "
              "empties it).")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fetch(url: str, timeout: float = 5.0) -> bytes:
    """GET ``url`` (the demo's own web page), without any proxy."""
    with _OPENER.open(url, timeout=timeout) as reply:
        body: bytes = reply.read()
        return body


def fetch_json(url: str) -> dict[str, Any]:
    found = json.loads(fetch(url))
    if not isinstance(found, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return found


def shown(path: Path, cwd: Path | None = None) -> str:
    """``path`` as the user types it in the shell the demo was started from: relative
    when it is below that folder, absolute otherwise; quoted for the shell."""
    here = (cwd or Path.cwd()).absolute()
    path = path.absolute()
    text = str(path.relative_to(here)) if path.is_relative_to(here) else str(path)
    return shlex.quote(text)


def vodwatch_command(cwd: Path | None = None) -> str:
    """How to run this very vodwatch from the user's shell.

    ``vodwatch`` when that name finds it on PATH; else the path of the script the demo
    runs from (``make demo``: ``.venv/bin/vodwatch``); else ``<python> -m vodwatch``.
    """
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "vodwatch" and script.is_file():
        on_path = shutil.which("vodwatch")
        if on_path is not None and os.path.samefile(on_path, script):
            return "vodwatch"
        return shown(script, cwd)
    return f"{shown(Path(sys.executable), cwd)} -m vodwatch"


def try_it_commands(root: Path, title: str, cwd: Path | None = None) -> list[tuple[str, str]]:
    """The (explanation, command) pairs the demo offers while it runs."""
    cmd = vodwatch_command(cwd)
    config = f"--config {shown(root / 'config.yaml', cwd)}"
    return [
        ("the queue, the uploads and the latest results, as the web page shows them",
         f"{cmd} status {config}"),
        ("stop taking new work: the web page and 'inbox status.txt' say who paused and why",
         f"{cmd} pause {config} --why 'trying the demo'"),
        ("take new work again", f"{cmd} resume {config}"),
        ("drop a file: a new asset is created and the file lands in done/ seconds later",
         f"cp {shown(root / 'done' / f'{title}.mp4', cwd)} "
         f"{shown(root / 'inbox' / 'Harbour at dusk.mp4', cwd)}"),
    ]
