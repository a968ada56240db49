"""Hostile tests of what editors drop (SPEC §2, §3, §6a): writers that hide their
writes, and names that are too long, full of control characters or not even UTF-8.

Real subprocesses, real folders; no mocks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import OUTPUTS, Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import file_md5, log_lines, ops, visible

# Truncates the file to its final size, then writes it in place in 64 KB chunks every
# 0.1-0.2 s, closing and reopening it, and puts the old mtime back after each write.
WRITER = r"""
import os, random, sys, time
path, size, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(42)
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
os.ftruncate(fd, size)
os.close(fd)
old = os.stat(path)
print("truncated", flush=True)
for offset in range(0, size, chunk):
    fd = os.open(path, os.O_WRONLY)
    os.pwrite(fd, rnd.randbytes(min(chunk, size - offset)), offset)
    os.close(fd)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    time.sleep(rnd.uniform(0.1, 0.2))
print("finished", repr(time.time()), flush=True)
"""


def test_in_place_writer_restoring_mtime_is_not_uploaded_early(setup: Setup,
                                                                daemon_factory) -> None:
    """A writer that sets the final size first and writes in place, putting the old mtime
    back after every write, is not uploaded before it finishes; the object sent is the
    final file."""
    aid = asset_id(8001)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(settle_seconds=0.8)
    name = f"{aid}.mp4"
    path = setup.inbox / name
    daemon = daemon_factory()
    wait_for(lambda: "daemon.ready" in daemon.output(), 30, what="the daemon")
    started = time.time()
    writer = subprocess.run([sys.executable, "-c", WRITER, str(path), str(3 * 1024 * 1024),
                             str(64 * 1024)], capture_output=True, text=True, timeout=120)
    assert writer.returncode == 0, writer.stderr
    finished = float(writer.stdout.split("finished", 1)[1])
    assert finished - started > 4  # 48 writes
    wait_for(lambda: name in visible(setup.done), 60, what="the file in done/")
    assert daemon.stop() == 0
    early = [r for r in setup.emulator.requests if r.time < finished
             and r.operation in ("update_asset", "obs_put", "obs_part", "confirm")]
    assert early == [], [(r.operation, round(finished - r.time, 2)) for r in early]
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == file_md5(setup.done / name)
    assert setup.emulator.confirms(aid) == ["CREATED"]
    assert visible(setup.failed) == set()


LONG_NAMES = {
    250: "Z" * 246 + ".mp4",
    254: "Episode 12 " + "x" * 239 + ".mov",
    255: "\u00e9" * 125 + "x.mp4",  # 2-byte characters: 255 bytes
}


def test_very_long_bad_names_fail_with_an_error_file_and_run_goes_on(setup: Setup,
                                                                     daemon_factory) -> None:
    """Names of 250, 254 and 255 bytes that are not accepted go to failed/ with an error file,
    and `run` goes on to deliver a normal file dropped after them."""
    aid = asset_id(8002)
    id_prefixed = f"{aid}." + "q" * (255 - 33 - 4) + ".mp4"  # an asset ID, then nonsense
    names = [*LONG_NAMES.values(), id_prefixed]
    for n in names:
        assert len(os.fsencode(n)) in (250, 254, 255), n
        write_bytes(setup.inbox / n, 1000)
    daemon = daemon_factory()
    wait_for(lambda: set(names) <= visible(setup.failed), 30, what="the long names in failed/")
    wait_for(lambda: len(visible(setup.failed)) == 2 * len(names), 10, what="error files")
    good = asset_id(8003)
    setup.emulator.seed_asset(good, "PUBLISHED")
    write_bytes(setup.inbox / f"{good}.cover.jpg", 1000)
    wait_for(lambda: (setup.done / f"{good}.cover.jpg").exists(), 30, what="a normal file")
    assert daemon.proc.poll() is None
    assert daemon.stop() == 0
    errors = sorted(visible(setup.failed) - set(names))
    assert all(e.endswith(".error.txt") and len(os.fsencode(e)) <= 255 for e in errors)
    for e in errors:
        text = (setup.failed / e).read_text()
        assert "What went wrong" in text and "Accepted names" in text
    assert visible(setup.inbox) == set()


CONTROL_NAMES = [
    "line\nbreak.mp4",
    "carriage\rreturn.mp4",
    "esc\x1b[31mred\x1b[0m.mp4",
    "bell\x07tab\t.mp4",
    "evil\u202egpj.mp4",
    "c1\x85next.mp4",
    "sep\u2028line.mp4",
]
RAW = ["\n", "\r", "\x1b", "\x07", "\t", "\u202e", "\x85", "\u2028"]


def _raw_controls(text: str) -> list[str]:
    return [repr(c) for c in RAW if c in text]


def test_control_characters_in_names_never_reach_outputs_raw(setup: Setup,
                                                             daemon_factory) -> None:
    """Names with line breaks, escapes, C1 controls or U+202E go to failed/; the error
    files, `vodwatch status` and the log carry the names escaped, never the raw control
    characters."""
    for n in CONTROL_NAMES:
        write_bytes(setup.inbox / n, 500)
    daemon = daemon_factory()
    wait_for(lambda: set(CONTROL_NAMES) <= visible(setup.failed), 30, what="failed/")
    wait_for(lambda: len(visible(setup.failed)) == 2 * len(CONTROL_NAMES), 10,
             what="the error files")
    status = setup.cli("status")
    status_json = setup.cli("status", "--json")
    assert daemon.stop() == 0
    for n in CONTROL_NAMES:
        text = (setup.failed / f"{n}.error.txt").read_text()
        for line in text.split("\n"):
            assert _raw_controls(line) == [], (n, line)
        assert "What went wrong" in text
    assert _raw_controls(status.stdout.replace("\n", "")) == []
    assert status.stdout.count("\n") == status.stdout.replace("\r", "").count("\n")
    for n in CONTROL_NAMES:
        assert n not in status.stdout
    assert json.loads(status_json.stdout)
    out = daemon.output()
    for line in out.split("\n"):
        assert _raw_controls(line) == [], line
    assert len(log_lines(out)) == len([x for x in out.split("\n") if x.strip()])


def test_a_name_that_is_not_utf8_does_not_stop_the_service(setup: Setup,
                                                           daemon_factory) -> None:
    """A name with bytes that are not UTF-8 is handled on its own (kept visible or failed
    with an error file); the daemon stays up and delivers a normal file beside it."""
    bad = os.fsencode(str(setup.inbox)) + b"/caf\xe9 \xff.mp4"
    with open(bad, "wb") as fh:
        fh.write(b"x" * 500)
    bad_id = os.fsencode(str(setup.inbox)) + b"/" + asset_id(8010).encode() + b"\xff.mp4"
    with open(bad_id, "wb") as fh:
        fh.write(b"y" * 500)
    daemon = daemon_factory()
    good = asset_id(8011)
    setup.emulator.seed_asset(good, "PUBLISHED")
    time.sleep(1.5)
    write_bytes(setup.inbox / f"{good}.cover.jpg", 1000)
    wait_for(lambda: (setup.done / f"{good}.cover.jpg").exists() or daemon.proc.poll()
             is not None, 30, what="a normal file beside them")
    assert daemon.proc.poll() is None, daemon.output()[-3000:]
    wait_for(lambda: len(os.listdir(os.fsencode(str(setup.failed)))) == 4, 30,
             what="both bad names in failed/ with error files")
    status = setup.cli("status")
    assert status.returncode in (0, 1), status.stderr
    assert "Traceback" not in status.stdout + status.stderr
    assert daemon.stop() == 0
    failed = os.listdir(os.fsencode(str(setup.failed)))
    assert b"caf\xe9 \xff.mp4" in failed
    errors = [f for f in failed if f.endswith(b".error.txt")]
    for e in errors:
        text = (Path(os.fsdecode(os.fsencode(str(setup.failed)) + b"/" + e))).read_text(
            errors="replace")
        assert "What went wrong" in text
    assert "job.crashed" not in daemon.output()
    assert not ops(setup, "update_asset") or all(
        r.body.get("asset_id") == good for r in ops(setup, "update_asset"))
    OUTPUTS.append(("status with a non-UTF-8 name", status.stdout + status.stderr))
