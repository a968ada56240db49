"""Log lines carry journald priorities when stdout is the journal, and no empty fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
from vodwatch.log import configure_logging, get_logger
configure_logging("json", "debug")
log = get_logger("t")
log.debug("d.line")
log.info("i.line", file="a.mp4", folder="news", asset_id=None, code="")
log.warning("w.line")
log.error("e.line", file="a.mp4", folder="news")
"""


def _run(tmp_path: Path, journal: bool) -> list[str]:
    out = tmp_path / "out.log"
    with out.open("wb") as handle:
        env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal:
            st = os.fstat(handle.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", SCRIPT], stdout=handle, env=env, check=True,
                       timeout=60)
    return out.read_text().splitlines()


def test_priority_prefix_when_stdout_is_the_journal(tmp_path: Path) -> None:
    lines = _run(tmp_path, journal=True)
    found = []
    for line in lines:
        assert line.startswith("<") and ">" in line, line
        prio, _, rest = line[1:].partition(">")
        found.append((int(prio), json.loads(rest)["event"]))
    assert found == [(7, "d.line"), (6, "i.line"), (4, "w.line"), (3, "e.line")]
    info = json.loads(lines[1].partition(">")[2])
    assert "asset_id" not in info and "code" not in info and info["file"] == "a.mp4"


def test_plain_json_lines_otherwise(tmp_path: Path) -> None:
    lines = _run(tmp_path, journal=False)
    assert [json.loads(line)["event"] for line in lines] == ["d.line", "i.line", "w.line",
                                                             "e.line"]
