"""The pure parts of the delivery record: what a slot is called, safe cells, names."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from vodwatch.names import Kind
from vodwatch.receipts import Delivery, DeliveryRecords, became, cell, csv_name


def test_became_names_video_cover_and_numbered_subtitle() -> None:
    """A video, a cover and a subtitle with its number and VOD language code read plainly."""
    assert became(Kind.VIDEO, None, None) == "video"
    assert became("cover", None, None) == "cover"
    assert became(Kind.SUBTITLE, 1, "EN") == "subtitle 1 (EN)"
    assert became("subtitle", 16, None) == "subtitle 16"


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)",
                                  " =1+1", "\uff1d1+1"])
def test_cell_defuses_formulas(name: str) -> None:
    """A value a spreadsheet would read as a formula starts with an apostrophe."""
    assert cell(name) == "'" + name


def test_cell_escapes_control_characters_and_keeps_plain_text() -> None:
    """Line breaks and bidi overrides are escaped; accents, CJK and emoji stay."""
    assert cell("a\nb.mp4") == "a\\x0ab.mp4"
    assert cell("\t=1.mp4") == "\\x09=1.mp4"
    assert cell("gpj\u202e.exe") == "gpj\\u202e.exe"
    assert cell("Café 影片 🎬.mp4") == "Café 影片 🎬.mp4"
    assert cell("a-b=c.mp4") == "a-b=c.mp4"


def test_csv_name_has_day_and_label() -> None:
    """The day's file is named by its date and the daemon's label."""
    assert csv_name(date(2026, 11, 30), "edit-01") == "deliveries 2026-11-30 edit-01.csv"


@pytest.mark.parametrize("label", ["", ".hidden", "a/b", "host.", "a b", "x" * 65, "é"])
def test_label_unfit_for_a_file_name_is_refused(tmp_path: Path, label: str) -> None:
    """A label that would make a hidden, nested or odd file name raises ValueError."""
    with pytest.raises(ValueError, match="label"):
        DeliveryRecords(tmp_path, label, tmp_path / "pending.jsonl")


@pytest.mark.parametrize("at", [float("nan"), 1e300])
def test_delivery_without_a_date_is_refused_at_once(tmp_path: Path, at: float) -> None:
    """A time with no date raises ValueError and leaves nothing pending to fail later."""
    rec = DeliveryRecords(tmp_path, "edit-01", tmp_path / "pending.jsonl")
    bad = Delivery(at, "a.mp4", "a.mp4", "x", "video", 1, "d41d8cd9", "r", "f")
    with pytest.raises(ValueError, match="no date"):
        rec.record(bad)
    assert rec.pending == 0
