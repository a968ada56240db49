"""config.example.yaml is rendered from the schema, documents every key, and loads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from vodwatch.config import REQUIRED, SCHEMA, load_config
from vodwatch.config.example import render
from vodwatch.config.validate import default_of

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
ENV = {"HUAWEICLOUD_SDK_AK": "AKEXAMPLE", "HUAWEICLOUD_SDK_SK": "sk-example-secret"}


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of the leaves, with ``folders[]`` standing for every folder set."""
    if isinstance(value, dict):
        if prefix == "language_map":
            return {prefix}
        paths: set[str] = set()
        for key, item in value.items():
            paths |= key_paths(item, f"{prefix}.{key}" if prefix else str(key))
        return paths
    if isinstance(value, list) and value:  # an empty list (notify: []) is a value itself
        return set().union(*(key_paths(item, prefix + "[]") for item in value))
    return {prefix}


def raw_example() -> Any:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_example_is_rendered_from_the_schema() -> None:
    """The committed example is exactly what the schema renders, so no key goes undocumented."""
    assert EXAMPLE.read_text(encoding="utf-8") == render(), (
        "config.example.yaml differs from the schema; regenerate it with: "
        "python -m vodwatch.config.example > config.example.yaml")


def test_rendered_example_is_valid_yaml_with_the_defaults() -> None:
    """What the generator writes parses back to the values it means to show."""
    raw = yaml.safe_load(render())
    for key in SCHEMA:
        node = raw
        for part in key.path.replace("[]", ".0").split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        shown = key.shown
        if isinstance(shown, tuple | Path):
            shown = list(shown) if isinstance(shown, tuple) else str(shown)
        assert node == shown, key.path


def test_every_schema_key_is_in_the_example() -> None:
    """The example has exactly the schema's keys, in the right sections."""
    assert key_paths(raw_example()) == {key.path for key in SCHEMA}


def test_every_key_has_a_comment() -> None:
    """The line above each key is a comment describing it."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for key in SCHEMA:
        start = 0
        if key.container:
            section = key.container.removesuffix("[]")
            start = lines.index(f"{section}:")
        pattern = re.compile(rf"^\s+(- )?{key.name}:" if key.container else rf"^{key.name}:")
        index = next(i for i in range(start, len(lines)) if pattern.match(lines[i]))
        assert lines[index - 1].lstrip().startswith(("#", "- #")), key.path


def test_example_shows_the_defaults() -> None:
    """Every optional key in the example is set to its schema default, so the docs stay true."""
    raw = raw_example()
    base = EXAMPLE.parent
    for key in SCHEMA:
        if key.default is REQUIRED:
            continue
        node = raw
        for part in key.path.replace("[]", ".0").split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        shown = None if node is None else key.check(node, base)
        assert shown == default_of(key, base), key.path


def test_example_loads_and_is_realistic() -> None:
    """The example loads as it is, with a realistic endpoint, project ID and drop folders."""
    config = load_config(EXAMPLE, ENV)
    assert re.fullmatch(r"[0-9a-f]{32}", config.vod.project_id)
    assert config.vod.endpoint.startswith("https://vod.")
    (folder,) = config.folders
    assert str(folder.inbox).startswith("/srv/vod-drop/")
    assert config.credentials is not None


def test_systemd_credentials_form_in_the_example_works(tmp_path: Path) -> None:
    """The commented ak_file/sk_file lines, once enabled, load keys from $CREDENTIALS_DIRECTORY."""
    text = EXAMPLE.read_text(encoding="utf-8")
    shown = dict(re.findall(r"^\s*#\s+((?:ak|sk)_file): (\$\{CREDENTIALS_DIRECTORY\}/\w+)$",
                            text, flags=re.M))
    assert set(shown) == {"ak_file", "sk_file"}
    for name, value in shown.items():
        text = text.replace(f"  {name}: null\n", f"  {name}: {value}\n")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(text, encoding="utf-8")
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "ak").write_text("AKFROMSYSTEMD\n", encoding="utf-8")
    (creds / "sk").write_text("sk-from-systemd\n", encoding="utf-8")
    (creds / "sk").chmod(0o400)
    config = load_config(config_path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.credentials is not None
    assert (config.credentials.ak, config.credentials.sk) == ("AKFROMSYSTEMD", "sk-from-systemd")
    assert config.vod.sk_file == creds / "sk"


@pytest.mark.parametrize("name", ["HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "VODWATCH_CONFIG"])
def test_example_names_the_environment_it_uses(name: str) -> None:
    """The variables vodwatch reads are named in the example's comments."""
    assert name in EXAMPLE.read_text(encoding="utf-8")
