"""``vodwatch check``: a checklist a person can act on, one line per check.

Each line reads ``[ OK ] what was checked``, or ``[FAIL]``/``[WARN]`` with what
is wrong and what to do about it. Exit code: 0 when nothing failed (warnings
allowed), 1 when a local check failed, 2 when the config is invalid, 3 when VOD
cannot be reached or refuses the credentials (``--online``); 3 wins over 1.
``--online`` also sends a test message to every notification target (a target
that refuses it is a failed local check: exit 1).

This module runs the checks and prints the lines; the checks themselves are in
check_local.py (folders, inotify, state) and check_online.py (credentials, VOD,
notification targets), a line is check_result.Result.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from .check_local import (
    check_folder_set,
    check_inotify,
    check_journal,
    check_state_dir,
    count_dirs,
    inotify_results,
    other_filesystems,
    probe,
    read_int,
)
from .check_online import check_credentials, check_notifications, check_online, judge_remote
from .check_result import EXIT_CONFIG, FAIL, OK, WARN, Result, exit_code
from .config import load_config
from .errors import ConfigError
from .log import redact

__all__ = [
    "FAIL",
    "OK",
    "WARN",
    "Result",
    "check_credentials",
    "check_folder_set",
    "check_inotify",
    "check_journal",
    "check_notifications",
    "check_online",
    "check_state_dir",
    "count_dirs",
    "exit_code",
    "inotify_results",
    "judge_remote",
    "other_filesystems",
    "probe",
    "read_int",
    "run_check",
]


def run_check(config_path: Path, env: dict[str, str], online: bool, out: TextIO) -> int:
    """Run every check, print one line each and a summary; return the exit code."""
    results: list[Result] = []

    def report(found: Iterable[Result]) -> None:
        for result in found:
            results.append(result)
            out.write(result.line() + "\n")
        out.flush()

    try:
        config = load_config(config_path, env, need_credentials=False)
    except ConfigError as exc:
        out.write(redact(f"[FAIL] config {config_path} is not valid "
                         f"({len(exc.problems)} problem(s)):") + "\n")
        for problem in exc.problems:
            out.write(redact(f"       {problem}") + "\n")
        return EXIT_CONFIG
    report([Result(OK, f"config {config_path} is valid ({len(config.folders)} folder set(s))")])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        report([Result(WARN, "checking as root proves what root may do, not the daemon's user",
                       "run the check as that user too, e.g. sudo -u vodwatch vodwatch check")])
    for folder_set in config.folders:
        report(check_folder_set(folder_set, config.rescan_seconds))
    report(check_inotify(config.folders))
    report(check_state_dir(config.state_dir))
    creds, found = check_credentials(config, env)
    report(found)
    if online:
        if creds is None:
            report([Result(FAIL, "the online check against VOD was skipped",
                           "fix the credentials above first")])
        else:
            report(check_online(config, creds))
        report(check_notifications(config.folders))
    code = exit_code(results)
    failed = sum(r.level == FAIL for r in results)
    warned = sum(r.level == WARN for r in results)
    if failed:
        out.write(f"{failed} check(s) failed, {warned} warning(s): fix the [FAIL] lines and "
                  "run vodwatch check again\n")
    else:
        done = "all checks passed" + ("" if online else " (add --online to try VOD too)")
        out.write(f"{done}, {warned} warning(s)\n" if warned else f"{done}\n")
    return code
