"""`folders[].follow_titles` (create mode): loaded, defaulted, checked."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_config import ENV, MINIMAL, problems_of, with_folder, write
from vodwatch.config import load_config


def test_follow_titles_defaults_to_true_and_loads_false(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    assert load_config(path, ENV).folders[0].follow_titles is True
    path = write(tmp_path, with_folder(create_assets="true", follow_titles="false"))
    folder = load_config(path, ENV).folders[0]
    assert (folder.create_assets, folder.follow_titles) == (True, False)


def test_follow_titles_must_be_a_boolean(tmp_path: Path) -> None:
    path = write(tmp_path, with_folder(follow_titles="sometimes"))
    (problem,) = problems_of(path)
    assert "folders[0].follow_titles" in problem and "true or false" in problem
