"""`vodwatch demo` as a newcomer runs it: its web page answers while it runs, and every
"try it yourself" command it prints works exactly as printed, from the repo root."""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import ROOT, wait_for
from vodwatch.demo import GOOD_ASSET

VODWATCH = Path(sys.executable).parent / "vodwatch"  # the venv's script, as `make demo` runs it
ADDRESS = re.compile(r"The web page \(the control room\): (http://127\.0\.0\.1:\d+/)")
RECORD = re.compile(r"--- done/deliveries [^\n]*\.csv \(a record of each delivery\) ---\n")
TRY_HEADER = re.compile(r"or run these in another shell, in (.+):$")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _env() -> dict[str, str]:
    """The user's shell: no vodwatch settings, no credentials."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("VODWATCH_", "HUAWEICLOUD_"))}


def _get(url: str) -> tuple[int, bytes]:
    with _OPENER.open(url, timeout=10) as reply:
        return reply.status, reply.read()


class Demo:
    """A running `vodwatch demo`, its output read line by line as it comes."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [str(VODWATCH), "demo", *args], cwd=ROOT, env=_env(), text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"no {text!r} in the demo's output:\n" + self.output())
            self.lines.append(line)

    def output(self) -> str:
        return "\n".join(self.lines)

    def finish(self, stdin_text: str = "\n", timeout: float = 90.0) -> int:
        assert self.proc.stdin is not None
        if not self.proc.stdin.closed:
            self.proc.stdin.write(stdin_text)
            self.proc.stdin.close()
        code = self.proc.wait(timeout=timeout)
        self._drain()
        return code

    def _drain(self) -> None:
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def close(self) -> None:
        """Kill it if the test left it running (a failed test); close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self._drain()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(["--dir", str(tmp_path / "demo")])
    yield running
    running.close()


def try_it_commands(lines: list[str]) -> tuple[Path, list[str]]:
    """The folder the demo says to run its commands in, and those commands as printed."""
    for i, line in enumerate(lines):
        found = TRY_HEADER.search(line)
        if found:
            commands = []
            for item in lines[i + 1:]:
                if not item.strip():
                    break
                assert item.startswith("  "), item
                if not item.strip().startswith("#"):
                    commands.append(item.strip())
            return Path(found.group(1)), commands
    raise AssertionError("the demo printed no commands to try")


def readme_try_it() -> list[str]:
    """The lines of the README's "Try it yourself" shell block."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Try it yourself"):]
    block = section[section.index("```sh\n") + 6:]
    return block[:block.index("```")].splitlines()


def _status(url: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(_get(url + "status.json")[1])
    return found


def test_demo_web_page_answers_and_every_printed_command_works(demo: Demo,
                                                               tmp_path: Path) -> None:
    demo.until("Press Enter")
    text = demo.output()
    found = ADDRESS.search(text)
    assert found, text
    url = found.group(1)
    assert f"The web page answered at {url} while the demo ran: True" in text, text
    # The status page it shows beside the inbox lists the results, not the files in flight.
    page = text.split("--- inbox status.txt")[1].split("\n\n---")[0].split("The emulator")[0]
    results = page.partition("Latest results")[2]
    assert "✓ Harbour at dawn.mp4" in results and "✗ holiday-final-v3.webm" in results, page
    # ... and the delivery record in done/: a CSV row per delivered file, with its asset.
    found_record = RECORD.search(text)
    assert found_record, text
    rows = list(csv.reader(io.StringIO(
        text[found_record.end():].split("\n\n")[0].strip("\n"))))
    assert rows[0][:4] == ["Time", "File", "Asset ID", "Became"], rows
    delivered = {row[1]: row for row in rows[1:]}
    assert delivered[f"{GOOD_ASSET}.mp4"][2:4] == [GOOD_ASSET, "video"], rows
    assert delivered[f"{GOOD_ASSET}.cover.jpg"][2] == GOOD_ASSET, rows
    assert all(len(row[5]) == 32 and row[6] for row in rows[1:]), rows  # MD5, request ID
    # The page answers this test too, while the demo runs: each of its four addresses.
    code, html = _get(url)
    assert code == 200 and b"<html" in html.lower()
    assert _get(url + "healthz")[0] == 200
    assert b"vodwatch_" in _get(url + "metrics")[1]
    assert [len(f["recent_done"]) for f in _status(url)["folders"]] == [6]

    where, commands = try_it_commands(demo.lines)
    # The README shows the very block `make demo` prints (its folder is .demo).
    start = next(i for i, line in enumerate(demo.lines) if TRY_HEADER.search(line)) + 1
    block = demo.lines[start:demo.lines.index("", start)]
    as_make_demo = [line.strip().replace(str(tmp_path / "demo"), ".demo")
                    .replace(str(VODWATCH.relative_to(ROOT) if VODWATCH.is_relative_to(ROOT)
                                 else VODWATCH), ".venv/bin/vodwatch") for line in block]
    assert as_make_demo == readme_try_it()
    assert where == ROOT  # where the demo was started: relative paths hold there
    assert len(commands) >= 4, commands
    for command in commands:
        done = subprocess.run(["/bin/sh", "-c", command], cwd=where, env=_env(), text=True,
                              capture_output=True, timeout=60)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        # Each command does what the demo says it does.
        if " pause " in command:
            wait_for(lambda: all(f["paused"] for f in _status(url)["folders"]), timeout=10,
                     what="the web page to show the pause")
            paused = _status(url)["folders"][0]["paused"]
            assert "trying the demo" in json.dumps(paused)
        elif " resume " in command:
            wait_for(lambda: not any(f["paused"] for f in _status(url)["folders"]),
                     timeout=10, what="the web page to show the resume")
        elif " status " in command:
            assert "Delivered" in done.stdout or "done" in done.stdout, done.stdout
        elif command.startswith("cp "):
            wait_for(lambda: (tmp_path / "demo" / "done" / "Harbour at dusk.mp4").exists(),
                     timeout=60, what="the dropped file to land in done/")
    assert demo.finish() == 0, demo.output()
    assert "The daemon and the emulator have stopped." in demo.output()
    with pytest.raises(OSError):
        _get(url + "healthz")  # the page went away with the demo
    # A --dir folder is kept, so its files can be read after the demo.
    assert (tmp_path / "demo" / "done" / "Harbour at dusk.mp4").exists()


def test_demo_without_input_stops_and_removes_its_temporary_folder() -> None:
    """No --dir: a temporary folder, named in the commands by its absolute path and
    removed at the end; at the end of input the demo stops by itself (exit 0)."""
    run = Demo([])
    try:
        run.until("Press Enter")
        _, commands = try_it_commands(run.lines)
        root = Path(run.lines[0].removeprefix("vodwatch demo in "))
        assert root.is_absolute() and root.is_dir()
        assert f"--config {root / 'config.yaml'}" in commands[0]
        assert run.finish(stdin_text="") == 0, run.output()
    finally:
        run.close()
    assert "(no more input: stopping the demo)" in run.output()
    assert f"Removed the scratch folder {root}." in run.output()
    assert not root.exists()


def test_demo_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "thesis.txt").write_text("years of work")
    done = subprocess.run([str(VODWATCH), "demo", "--dir", str(tmp_path)], cwd=ROOT,
                          env=_env(), text=True, capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "not empty and was not made by `vodwatch demo`" in done.stderr
    assert (tmp_path / "thesis.txt").read_text() == "years of work"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_only_vodwatch_and_make_test_the_test_extras(
        tmp_path: Path) -> None:
    """Dry runs of the Makefile in a copy without a venv: what each target would install."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)

    def plan(target: str) -> str:
        return subprocess.run(["make", "-n", target, f"PYTHON={sys.executable}"],
                              cwd=tmp_path, text=True, capture_output=True, check=True,
                              timeout=60).stdout

    demo, test = plan("demo"), plan("test")
    assert "install" in demo and "-e ." in demo and "[test]" not in demo, demo
    assert ".venv/bin/vodwatch demo --dir .demo" in demo
    assert "-e '.[test]'" in test, test
    # `make test` marks the runtime as installed too: `make demo` after it installs nothing.
    assert re.search(r"touch \S*installed-test \S*installed-run", test), test
