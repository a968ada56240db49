"""``vodwatch status``: what the daemon is doing, read from the journal without disturbing it.

Three steps: ``collect`` (status_collect.py) reads the journal (read-only, so it
works while the daemon runs) into one plain dict; ``render`` (status_text.py,
pure) turns that dict into text and ``render_json`` into one JSON object with the
same information; ``exit_code`` says whether the daemon is healthy. Every string
taken from the journal is cleaned on the way in: registered secrets and URL
signatures are removed, and URLs with a query (signed upload URLs) are never
shown at all. This module is the command that runs the three.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from .config import Config, load_credentials
from .errors import ConfigError
from .journal import Journal
from .log import add_secret
from .state_wait import disk_fault
from .status_collect import (
    ACTIVE_STATES,
    HEARTBEAT_TIMEOUT_SECONDS,
    RECENT,
    clean,
    collect,
    daemon_summary,
    exit_code,
    problems,
    upload_progress,
)
from .status_text import ago, duration, progress_bar, render, render_json, size

__all__ = [
    "ACTIVE_STATES",
    "HEARTBEAT_TIMEOUT_SECONDS",
    "RECENT",
    "ago",
    "clean",
    "collect",
    "daemon_summary",
    "duration",
    "exit_code",
    "problems",
    "progress_bar",
    "render",
    "render_json",
    "run_status",
    "size",
    "upload_progress",
]


def _register_secret(config: Config, env: Mapping[str, str]) -> None:
    """Know the SK, if it can be read, so it is removed wherever it might appear."""
    credentials = config.credentials
    if credentials is None:
        try:
            credentials = load_credentials(config.vod, env, config.source)
        except (ConfigError, OSError):
            return  # status works without credentials; the other cleaning still applies
    add_secret(credentials.sk)


def _no_journal(path: Path, why: str, as_json: bool, out: TextIO) -> int:
    if as_json:
        out.write(render_json({"journal": clean(path), "healthy": False,
                               "problems": [clean(why)], "daemon": None, "folders": []}))
    else:
        out.write(clean(f"vodwatch: {why}") + "\n")
    return 1


def run_status(config: Config, as_json: bool, out: TextIO, now: float | None = None,
               env: Mapping[str, str] | None = None) -> int:
    """Print the status (text or ``--json``); 0 when healthy, 1 when degraded or not running."""
    _register_secret(config, os.environ if env is None else env)
    path = config.state_dir / "journal.sqlite3"
    if not path.is_file():
        # A `run` waiting for a full or read-only state disk has no journal yet either:
        # what stops it is told, not "start it".
        disk = disk_fault(config.state_dir) if config.state_dir.is_dir() else None
        return _no_journal(path, f"no journal at {path} yet: " + (
            f"{disk}; vodwatch run starts once it can write there" if disk else
            f"vodwatch has not run with state_dir {config.state_dir} (start it with "
            "'vodwatch run')"), as_json, out)
    try:
        journal = Journal.open(config.state_dir, readonly=True)
    except sqlite3.Error as exc:
        return _no_journal(path, f"cannot open the journal {path}: {exc} (check that this "
                           "user may read state_dir)", as_json, out)
    try:
        data = collect(journal, config, time.time() if now is None else now)
    except sqlite3.Error as exc:
        return _no_journal(path, f"cannot read the journal {path}: {exc} (check that this "
                           "user may read state_dir, and that it is vodwatch's journal)",
                           as_json, out)
    finally:
        journal.close()
    out.write(render_json(data) if as_json else render(data))
    return exit_code(data)

