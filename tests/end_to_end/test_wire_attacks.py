"""Hostile tests of the settle-time part hashing and the remembered link (issue 12):
state_dir/link.json edited into nonsense, the daemon as a subprocess on the emulator."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import Setup, asset_id, wait_for
from tests.end_to_end.attack_helpers import file_md5, make_big

MB = 1024 * 1024


@pytest.mark.parametrize("entry", [
    '{"rate": 1e999, "rtt": 0.01, "at": NOW}',  # JSON reads it as infinity
    '{"rate": 1e308, "rtt": 0.01, "at": NOW}',  # finite, but times the parts overflows
    '{"rate": 25e6, "rtt": 0.01, "at": "yesterday"}',  # a date someone typed
    '{"rate": 25e6, "rtt": 0.01, "at": null}',
], ids=["infinite-rate", "huge-rate", "at-text", "at-null"])
def test_a_nonsense_link_json_is_not_trusted(setup: Setup, daemon_factory, entry: str) -> None:
    """link.json edited by hand (or half-restored from a backup) with numbers no link has
    shown: the daemon does not die on them (OverflowError, ValueError); it forgets them,
    and the file goes up whole and intact."""
    aid = asset_id(270)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"parallel_parts": 2})  # part_size_mb: auto (the default)
    setup.state.mkdir(parents=True, exist_ok=True)
    (setup.state / "link.json").write_text(
        f'{{"{setup.emulator.url}": {entry.replace("NOW", str(time.time()))}}}')
    path = setup.inbox / f"{aid}.mp4"
    digest = make_big(path, 30 * MB)
    daemon = daemon_factory()
    wait_for(lambda: (setup.done / path.name).exists() or daemon.proc.poll() is not None,
             60, what="done")
    assert daemon.proc.poll() is None, daemon.output()[-3000:]
    assert (setup.done / path.name).exists()
    assert daemon.stop() == 0
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    assert "Traceback" not in daemon.output() and "OverflowError" not in daemon.output()
    saved = json.loads((setup.state / "link.json").read_text())[setup.emulator.url]
    assert isinstance(saved["at"], float)
