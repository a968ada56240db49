"""Hostile unit tests: the demo's config as YAML reads it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from vodwatch.config import load_config
from vodwatch.demo import _write_config

ENV = {"HUAWEICLOUD_SDK_AK": "A" * 20, "HUAWEICLOUD_SDK_SK": "s" * 40}


@pytest.mark.parametrize("folder", ["my demo", "demo #2", "a: b", "'quoted'", "Café"])
def test_demo_config_keeps_every_path_whatever_its_characters(tmp_path: Path,
                                                              folder: str) -> None:
    """`vodwatch demo --dir 'demo #2'`: " #" starts a YAML comment, ": " a mapping."""
    root = tmp_path / folder
    root.mkdir()
    config = load_config(_write_config(root, "http://127.0.0.1:9", "127.0.0.1:9",
                                       "ab12", 2.0), ENV)
    assert config.state_dir == root / "state"
    assert [(f.inbox, f.done, f.failed) for f in config.folders] == [
        (root / "inbox", root / "done", root / "failed")]


@pytest.mark.parametrize("token", ["1234567890123456", "0000000000000000", "12345678e1234567"])
def test_demo_token_of_hex_digits_only_stays_text(tmp_path: Path, token: str) -> None:
    """secrets.token_hex(8) is all digits about once in 2,000 demos: YAML reads a number
    and the config is refused."""
    config = load_config(_write_config(tmp_path, "http://127.0.0.1:9", "127.0.0.1:9",
                                       token, 2.0), ENV)
    assert config.web.token == token
