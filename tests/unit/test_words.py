"""Names made safe to show: controls and bidi overrides escaped, the rest untouched."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodwatch.words import BIDI_CONTROLS, printable


@pytest.mark.parametrize(("name", "shown"), [
    ("clip.mp4", "clip.mp4"),
    ("Schöne Grüße 🎬 素材.mp4", "Schöne Grüße 🎬 素材.mp4"),
    ("a\\b.mp4", "a\\b.mp4"),
    ("two\nlines.mp4", "two\\x0alines.mp4"),
    ("tab\there", "tab\\x09here"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ("nul\x00", "nul\\x00"),
    ("del\x7f", "del\\x7f"),
    ("c1\x85\x9b", "c1\\x85\\x9b"),
    ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),
    ("\u2066iso\u2069 \u200fmark\u061c", "\\u2066iso\\u2069 \\u200fmark\\u061c"),
    ("line\u2028sep", "line\\u2028sep"),
    ("zero\u200dwidth joiner", "zero\u200dwidth joiner"),
    (os.fsdecode(b"raw\xff.mp4"), "raw\\xff.mp4"),
])
def test_printable_escapes_controls_only(name: str, shown: str) -> None:
    """C0, DEL, C1, separators, bidi controls and undecodable bytes are escaped."""
    assert printable(name) == shown


@given(st.text())
def test_printable_output_has_no_control_or_bidi_character(name: str) -> None:
    """Whatever the name, what is shown cannot break a line or reorder text."""
    shown = printable(name)
    assert not any(ch in BIDI_CONTROLS for ch in shown)
    assert not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in shown)
    assert "\u2028" not in shown and "\u2029" not in shown
    assert not any(0xD800 <= ord(ch) <= 0xDFFF for ch in shown)
    if all(ch.isprintable() and ch not in BIDI_CONTROLS for ch in name):
        assert shown == name
