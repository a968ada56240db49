"""The demo waits for Enter at a terminal; input that is not a terminal (a script, a pipe
nobody writes to) cannot keep it running for ever."""

from __future__ import annotations

import io
import os

import pytest

from vodwatch import demo


def _pipe() -> tuple[io.TextIOWrapper, int]:
    read_fd, write_fd = os.pipe()
    return os.fdopen(read_fd, "r"), write_fd


def test_a_pipe_nobody_writes_to_stops_the_demo_after_the_unattended_limit(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(demo, "UNATTENDED_SECONDS", 0.2)
    reader, writer = _pipe()
    try:
        assert demo._wait_for_enter(reader) is True
    finally:
        reader.close()
        os.close(writer)
    assert "nobody answered" in capsys.readouterr().out


def test_a_line_or_the_end_of_input_ends_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "UNATTENDED_SECONDS", 30.0)
    reader, writer = _pipe()
    os.write(writer, b"\n")
    assert demo._wait_for_enter(reader) is True
    os.close(writer)
    assert demo._wait_for_enter(reader) is False  # end of input
    reader.close()
    assert demo._wait_for_enter(io.StringIO("")) is False  # no descriptor at all
