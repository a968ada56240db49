"""``vodwatch demo``: the emulator and the daemon on a scratch folder, for a first try.

Drops a video, a cover and two subtitles of one asset, a video for an asset whose
state does not allow a replacement, a badly named file and a new film; then shows
where each one landed, what the error files say, the status page beside the inbox
and the delivery record in done/. The daemon's web page answers on a free loopback
port the whole time, and the demo keeps running (until Enter or Ctrl-C) so that the
"try it yourself" commands it prints can be tried.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import select
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from .config import Config, load_config
from .daemon import Daemon
from .demo_try import (
    DemoFolderError,
    fetch,
    fetch_json,
    free_port,
    scratch_folder,
    shown,
    try_it_commands,
)
from .emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from .log import configure_logging

GOOD_ASSET = "6c6b2d0e7d3a4f1b9e8c7a6b5d4c3b2a"
PUBLISHED_ASSET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PROJECT_ID = "0123456789abcdef0123456789abcdef"


NEW_TITLE = "Harbour at dawn"  # create mode: no asset ID in the name
DROPS = {
    f"{GOOD_ASSET}.mp4": 3 * 1024 * 1024,
    f"{GOOD_ASSET}.cover.jpg": 40 * 1024,
    f"{GOOD_ASSET}.1.en.srt": 2 * 1024,
    f"{GOOD_ASSET}.2.zh.srt": 2 * 1024,
    f"{PUBLISHED_ASSET}.mov": 1024 * 1024,
    "holiday-final-v3.webm": 512 * 1024,
    f"{NEW_TITLE}.mp4": 1024 * 1024,
    f"{NEW_TITLE}.cover.jpg": 30 * 1024,
}
EXPECTED_FAILED = 2  # the published asset's video and the badly named file
STOPPED_BY_SIGNAL = "stopped by a signal"


def _sample(path: Path, size: int, seed: str) -> None:
    block = hashlib.sha256(seed.encode()).digest() * 2048
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            fh.write(block[:left])
            left -= len(block)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt(STOPPED_BY_SIGNAL)


def run_demo(directory: Path | None = None, settle_seconds: float = 2.0,
             stdin: TextIO | None = None) -> int:
    """Run the demo in ``directory`` (default: a new temporary folder, removed at the end)
    until a line or the end of ``stdin`` (default: sys.stdin), Ctrl-C or SIGTERM; exit
    code: 0 when every file went where it should and the web page answered."""
    previous = signal.getsignal(signal.SIGTERM)
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly as after Ctrl-C
    try:
        with scratch_folder(directory) as root:
            return _demo(root, settle_seconds, sys.stdin if stdin is None else stdin)
    except DemoFolderError as exc:
        print(f"vodwatch demo: {exc}", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _write_config(root: Path, endpoint: str, address: str, token: str,
                  settle_seconds: float) -> Path:
    config_path = root / "config.yaml"

    def q(value: object) -> str:  # a quoted YAML string: a path may hold " #" or ": ",
        return json.dumps(str(value))  # a hex token may be all digits (a number)

    config_path.write_text(textwrap.dedent(f"""\
        # Written by `vodwatch demo`: the emulator stands in for VOD.
        vod:
          endpoint: {q(endpoint)}
          project_id: {PROJECT_ID}
        state_dir: {q(root / "state")}
        settle_seconds: {settle_seconds}
        scan_interval_seconds: 1
        upload:
          multipart_threshold_mb: 20
        log:
          format: console
        metrics:
          address: {q(address)}   # the web page, /status.json, /metrics and /healthz
        web:
          token: {q(token)}   # the web page's buttons ask for it
        folders:
          - inbox: {q(root / "inbox")}
            done: {q(root / "done")}
            failed: {q(root / "failed")}
            create_assets: true   # "Harbour at dawn.mp4" becomes a new asset
        """))
    return config_path


def _demo(root: Path, settle_seconds: float, stdin: TextIO) -> int:
    inbox, done, failed = root / "inbox", root / "done", root / "failed"
    for d in (inbox, done, failed):
        d.mkdir(exist_ok=True)
    print(f"vodwatch demo in {root}\n")
    address = f"127.0.0.1:{free_port()}"
    token = secrets.token_hex(8)
    with Emulator(root / "emulator", project_id=PROJECT_ID, assets="strict") as emu:
        emu.seed_asset(GOOD_ASSET, "UPLOAD_FAILED")
        emu.seed_asset(PUBLISHED_ASSET, "PUBLISHED")
        config_path = _write_config(root, emu.url, address, token, settle_seconds)
        env = dict(os.environ, HUAWEICLOUD_SDK_AK=DEFAULT_AK, HUAWEICLOUD_SDK_SK=DEFAULT_SK)
        config = load_config(config_path, env)
        configure_logging("console", "info", secrets=[DEFAULT_SK])
        print("Dropping into inbox/:")
        for name, size in DROPS.items():
            _sample(inbox / name, size, name)
            print(f"  {name}  ({size:,} bytes)")
        daemon = Daemon(config, once=False, env=env)
        outcome: list[int] = []
        runner = threading.Thread(target=lambda: outcome.append(daemon.run()),
                                  name="demo-daemon")
        started = time.monotonic()
        runner.start()
        verdict: list[bool] = []  # set once the drops are all handled and checked
        try:
            _while_running(root, config, emu, address, token, stdin, started, verdict)
        except KeyboardInterrupt as exc:
            print(f"\n{'SIGTERM' if STOPPED_BY_SIGNAL in str(exc) else 'Ctrl-C'}:"
                  " stopping the demo.")
            if not verdict:
                return 130
        finally:
            daemon.handle_signal(signal.SIGTERM, None)
            runner.join(timeout=config.shutdown_grace_seconds + 30)
            print("The daemon and the emulator have stopped.")
        return 0 if verdict[0] else 1


def _counts(page: dict[str, Any]) -> tuple[int, int]:
    """How many delivered and failed files the web page's status.json lists."""
    folders = page.get("folders") or [{}]
    return len(folders[0].get("recent_done") or []), len(folders[0].get("recent_failed") or [])


def _handled(root: Path, page: dict[str, Any]) -> bool:
    """Every dropped file is in done/ or failed/, and the web page lists each outcome and
    nothing left to do (it may lag the folders by a moment)."""
    left = [p for p in (root / "inbox").iterdir() if not p.name.startswith(".")]
    moved = sum(1 for name in DROPS if (root / "done" / name).exists()
                or (root / "failed" / name).exists())
    folders = page.get("folders") or []
    busy = any(f.get("queue") or f.get("in_flight") or f.get("waiting") for f in folders)
    return (not left and moved == len(DROPS) and not busy
            and _counts(page) == (len(DROPS) - EXPECTED_FAILED, EXPECTED_FAILED))


def _page_has_results(status_page: Path) -> bool:
    """The status page beside the inbox lists every dropped file among its results."""
    try:
        text = status_page.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return False
    results = text.partition("Latest results")[2]
    return all(name in results for name in DROPS)


def _while_running(root: Path, config: Config, emu: Emulator, address: str, token: str,
                   stdin: TextIO, started: float, verdict: list[bool]) -> None:
    url = f"http://{address}/"
    print(f"\nThe web page (the control room): {url}   (also {url}status.json, {url}metrics, "
          f"{url}healthz)\nOpen it now to watch the uploads. The daemon picks each file up "
          f"once it has not changed for {config.settle_seconds:g} s...\n")
    page: dict[str, Any] = {}
    answered = handled = False
    deadline = time.monotonic() + 120
    while not handled and time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            page = fetch_json(url + "status.json")
            answered = True
        except (OSError, ValueError):
            page = {}
        handled = _handled(root, page)
    took = time.monotonic() - started
    # The page beside the inbox is rewritten every couple of seconds: wait for the results.
    until = time.monotonic() + 10
    while time.monotonic() < until and not _page_has_results(root / "inbox status.txt"):
        time.sleep(0.3)
    html = b""
    try:
        html = fetch(url)
    except OSError as exc:
        print(f"The web page did not answer at {url}: {exc}")
    print(f"\nAll {len(DROPS)} files handled in {took:.1f} s.\n" if handled else
          f"\nNot every file was handled after {took:.0f} s: see the log above.\n")
    ok = _report(root, emu)
    delivered, gave_up = _counts(page)
    page_ok = answered and b"<html" in html.lower() and _handled(root, page)
    print(f"\nThe web page answered at {url} while the demo ran: {page_ok} (its status.json "
          f"lists {delivered} delivered and {gave_up} failed files)")
    verdict.append(ok and page_ok)
    cwd = Path.cwd()
    print(f"\nThe demo keeps running. Try it yourself: open {url} in a browser (its buttons "
          f"ask for the token {token}),\nor run these in another shell, in {cwd}:")
    for why, command in try_it_commands(root, NEW_TITLE, cwd):
        print(f"  # {why}\n  {command}")
    print(f"\nPress Enter (or Ctrl-C) to stop the demo; the daemon's log follows here. "
          f"Files: {shown(root, cwd)}/\n")
    sys.stdout.flush()
    if not _wait_for_enter(stdin):
        print("(no more input: stopping the demo)")


UNATTENDED_SECONDS = 600.0  # a demo whose input is not a terminal stops by itself after this


def _wait_for_enter(stdin: TextIO) -> bool:
    """Wait for a line on ``stdin``; False at its end. Input that is not a terminal (a
    script, a pipe nobody writes to) is waited for at most UNATTENDED_SECONDS."""
    try:
        fd = stdin.fileno()
    except (OSError, ValueError):
        return bool(stdin.readline())
    if not os.isatty(fd):
        ready, _, _ = select.select([fd], [], [], UNATTENDED_SECONDS)
        if not ready:
            print(f"(nobody answered for {UNATTENDED_SECONDS / 60:.0f} minutes: stopping the demo)")
            return True
    return bool(stdin.readline())


def _report(root: Path, emu: Emulator) -> bool:
    """Where each file landed, the error files, the status page, the delivery record and
    what the emulator holds; whether all of it is as it should be."""
    inbox, done, failed = root / "inbox", root / "done", root / "failed"
    for folder in (inbox, done, failed):
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")
                       and not p.name.startswith("deliveries "))
        print(f"{folder.name}/: " + ("(empty)" if not names else ""))
        for n in names:
            print(f"  {n}")
    for error_file in sorted(failed.glob("*.error.txt")):
        print(f"\n--- failed/{error_file.name} ---")
        print(error_file.read_text().rstrip())
    page = root / "inbox status.txt"
    if page.exists():
        print(f"\n--- {page.name} (the status page editors read beside the inbox) ---")
        print(page.read_text(encoding="utf-8-sig").rstrip())
    for record in sorted(done.glob("deliveries *.csv")):
        print(f"\n--- done/{record.name} (a record of each delivery) ---")
        print(record.read_text(encoding="utf-8-sig").rstrip())
    confirms = emu.confirms(GOOD_ASSET)
    print(f"\nThe emulator confirmed asset {GOOD_ASSET}: {confirms}")
    video = done / f"{GOOD_ASSET}.mp4"
    same = video.exists() and emu.read_object(GOOD_ASSET, "video") == video.read_bytes()
    print(f"The stored video is byte-identical to the file in done/: {same}")
    created = emu.assets_created()
    for asset in created:
        print(f"A new asset was created from a plain file name: {asset['asset_id']} "
              f"titled {asset['title']!r}, confirmed {emu.confirms(asset['asset_id'])}")
    ok = same and confirms == ["CREATED"]
    ok = ok and len(list(failed.glob("*.error.txt"))) == EXPECTED_FAILED
    return ok and len(created) == 1
