"""The ``vodwatch`` command: subcommands, and every error mapped to one line + exit code.

Exit codes: 0 success; 1 some files failed (``once``) or an operation failed;
2 bad usage or invalid config, another process already uses the state_dir, or the
state_dir cannot be used; 3 cannot reach VOD or credentials rejected.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .config import Config, default_config_path, load_config
from .errors import ConfigError, StateBusy, StateUnavailable, VodwatchError

if TYPE_CHECKING:
    from .state import StateLock

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vodwatch",
        description="Watch folders and upload dropped files to Huawei Cloud VOD media assets.")
    p.add_argument("--version", action="version", version=f"vodwatch {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", type=Path, metavar="PATH",
                        help="config file (default: $VODWATCH_CONFIG, then "
                        "/etc/vodwatch/config.yaml)")
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
        return sp

    with_config(sub.add_parser("run", help="the daemon: watch until SIGTERM/SIGINT"))
    with_config(sub.add_parser("once", help="handle what is in the inboxes now, wait, exit"))
    c = with_config(sub.add_parser("check", help="validate config, folders and credentials"))
    c.add_argument("--online", action="store_true",
                   help="also make a harmless signed call to VOD")
    s = with_config(sub.add_parser("status", help="queue, uploads in flight, recent outcomes"))
    s.add_argument("--json", action="store_true", help="machine-readable output")
    r = with_config(sub.add_parser("retry", help="move failed files back to the inbox"))
    r.add_argument("files", nargs="*", metavar="FILE", help="failed files (name or path)")
    r.add_argument("--all", action="store_true", help="every file in every failed/ folder")
    for verb, words in (("pause", "stop taking new work (kept across restarts)"),
                        ("resume", "take new work again after a pause")):
        pr = with_config(sub.add_parser(verb, help=words))
        pr.add_argument("folder_set", nargs="?", metavar="FOLDER-SET",
                        help="its name or inbox path (default: every folder set)")
        if verb == "pause":
            pr.add_argument("--why", default="", help="said wherever the pause is shown")
    # The emulator parses its own options (vodwatch emulator --help lists them).
    sub.add_parser("emulator", help="local VOD + object-store emulator", add_help=False)
    d = sub.add_parser("demo", help="emulator + daemon on a scratch folder, for a first try")
    d.add_argument("--dir", type=Path, help="folder to work in, kept after the demo "
                   "(default: a new temporary one, removed at the end)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "emulator":
        args.rest = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    debug = bool(getattr(args, "debug", False))
    try:
        return _dispatch(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"vodwatch: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except (StateBusy, StateUnavailable) as exc:
        # Not a bug and not the files' fault: the person must act (stop the other one,
        # fix the folder), and systemd must not restart into the same wall (exit 2).
        if debug:
            traceback.print_exc()
        print(f"vodwatch: {_redacted(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except VodwatchError as exc:
        if debug:
            traceback.print_exc()
        print(f"vodwatch: {_redacted(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(f"vodwatch: unexpected error: {_redacted(repr(exc))} (run again with --debug "
              "for details, and report it)", file=sys.stderr)
        return EXIT_FAILED


def _redacted(text: str) -> str:
    from .log import redact

    return redact(text)


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path(os.environ)


def _load(args: argparse.Namespace, need_credentials: bool = True) -> Config:
    return load_config(_config_path(args), dict(os.environ), need_credentials=need_credentials)


def _logging(config: Config, debug: bool) -> None:
    from .log import configure_logging

    secrets = [config.credentials.sk] if config.credentials else []
    configure_logging(config.log.format, "debug" if debug else config.log.level,
                      secrets=secrets)


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd in ("run", "once"):
        return _run(args, once=cmd == "once")
    if cmd == "check":
        from .check import run_check

        return run_check(_config_path(args), dict(os.environ), online=args.online,
                         out=sys.stdout)
    if cmd == "status":
        from .status import run_status

        return run_status(_load(args, need_credentials=False), as_json=args.json,
                          out=sys.stdout)
    if cmd == "retry":
        return _retry(args)
    if cmd in ("pause", "resume"):
        from .pause import run_pause

        return run_pause(_load(args, need_credentials=False).folders, args.folder_set,
                         resume_it=cmd == "resume", why=getattr(args, "why", ""))
    if cmd == "emulator":
        from .emulator import main as emulator_main

        return int(emulator_main([a for a in args.rest if a != "--"]))
    if cmd == "demo":
        from .demo import run_demo

        return run_demo(args.dir)
    raise AssertionError(cmd)


# The state_dir locks of this process: held until it exits (worker threads may still
# write to the journal after the daemon's run returns), and dropped by the kernel then.
_STATE_LOCKS: list[StateLock] = []


def _run(args: argparse.Namespace, *, once: bool) -> int:
    # A stop or reload asked for while vodwatch starts (imports, config, state folder) is
    # kept and handed to the daemon once it exists: SIGTERM at any moment is a clean stop.
    early: list[int] = []
    for asked in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(asked, lambda n, _frame: early.append(n))
    from .daemon import Daemon
    from .notify import Notifier
    from .state_wait import open_state, open_state_waiting

    config = _load(args)
    _logging(config, bool(getattr(args, "debug", False)))
    if once:
        _STATE_LOCKS.append(open_state(config.state_dir, once=True))
    else:  # a full or read-only state disk is waited out, not an exit systemd keeps
        lock = open_state_waiting(config.state_dir, Notifier(dict(os.environ)),
                                  lambda: any(n != signal.SIGHUP for n in early))
        if lock is None:
            return EXIT_OK
        _STATE_LOCKS.append(lock)
    daemon = Daemon(config, once=once, env=dict(os.environ))
    signal.signal(signal.SIGTERM, daemon.handle_signal)
    signal.signal(signal.SIGINT, daemon.handle_signal)
    signal.signal(signal.SIGHUP, daemon.handle_signal)
    for number in early:
        daemon.handle_signal(number, None)
    code = daemon.run()
    if daemon.hurry.is_set():
        # A second signal: leave now, even with upload threads still in a call. Exit 0,
        # as after the first: the journal holds every checkpoint for the next start.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _retry(args: argparse.Namespace) -> int:
    from .finish import (
        ERROR_SUFFIX,
        move_no_replace,
        orphan_error_files,
        remove_stale_error_file,
    )
    from .words import printable

    if not args.files and not args.all:
        print("vodwatch: name the failed files to retry, or use --all", file=sys.stderr)
        return EXIT_USAGE
    config = _load(args, need_credentials=False)
    wanted: list[tuple[Path, Path]] = []  # (failed file, inbox)
    missing = []
    for folder_set in config.folders:
        if args.all:
            try:
                names = sorted(p for p in os.listdir(folder_set.failed)
                               if not p.endswith(ERROR_SUFFIX)
                               and not p.startswith("."))
            except OSError as exc:
                print(f"vodwatch: cannot read {folder_set.failed}: {exc.strerror}", file=sys.stderr)
                continue
            wanted += [(folder_set.failed / n, folder_set.inbox) for n in names]
    for item in args.files:
        path = Path(item)
        found = None
        for folder_set in config.folders:
            bare = not path.is_absolute() and path.parent == Path()
            candidate = folder_set.failed / path if bare else path
            candidate = candidate.absolute()
            if candidate.parent == folder_set.failed.absolute() and candidate.is_file():
                found = (candidate, folder_set.inbox)
                break
        if found is None:
            missing.append(item)
        else:
            wanted.append(found)
    code = EXIT_OK
    for item in missing:
        print(f"vodwatch: {item} is not a file in a failed/ folder (give its name or its "
              "path in failed/)", file=sys.stderr)
        code = EXIT_FAILED
    for src, inbox in wanted:
        name = src.name  # every name vodwatch gives in failed/ is accepted back as it is
        try:
            move_no_replace(src, inbox / name)
        except FileExistsError:
            print(f"vodwatch: {name} is already in the inbox; left {src} where it is",
                  file=sys.stderr)
            code = EXIT_FAILED
            continue
        except OSError as exc:
            print(f"vodwatch: cannot move {src.name} to {inbox}: {exc.strerror}",
                  file=sys.stderr)
            code = EXIT_FAILED
            continue
        remove_stale_error_file(src)
        print(f"{src.name} -> {inbox / name}")
    if args.all:
        # Error files whose file was moved back by hand before: nothing left to explain.
        for folder_set in config.folders:
            try:
                orphans = orphan_error_files(folder_set.failed)
            except OSError:
                continue  # already said above
            for path in orphans:
                try:
                    path.unlink()
                    print(f"removed {printable(path.name)}: its file is no longer in failed/")
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    print(f"vodwatch: cannot remove {path}: {exc.strerror}", file=sys.stderr)
                    code = EXIT_FAILED
    return code
