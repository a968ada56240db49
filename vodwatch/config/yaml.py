"""The first step of loading a config: read the YAML file.

Reading refuses what leaves nothing to check (no file, not UTF-8, broken YAML, no
mapping at the top) and reports duplicate keys as problems, so they come out with
everything else. ``INVALID`` marks a value whose problem is already reported: the
later steps leave it alone.

Problems read ``FILE: at 'key.path': problem (fix)``; ``problem_at`` writes them.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

INVALID: Any = object()  # a value already reported as a problem


def show(value: Any) -> str:
    """A raw value as a problem quotes it."""
    if isinstance(value, str):
        return repr(str(value))
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def problem_at(source: Path, where: str, problem: str, fix: str) -> str:
    return f"{source}: at '{where}': {problem} ({fix})"


def join_path(where: str, name: object) -> str:
    return f"{where}.{name}" if where else str(name)


# --- YAML ------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys (with lines) and knows only true/false as booleans.

    YAML 1.1 also reads yes/no/on/off as booleans, which would turn the language
    code ``no`` (Norwegian) into ``False``.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.duplicates: list[tuple[str, int, int]] = []  # (key path, line, first line)
        self._paths: dict[int, str] = {}

    def construct_document(self, node: yaml.Node) -> Any:
        self._label(node, "", set())
        return super().construct_document(node)

    def _label(self, node: yaml.Node, path: str, seen: set[int]) -> None:
        if id(node) in seen:  # an alias may point back up the tree
            return
        seen.add(id(node))
        self._paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                self._label(value_node, join_path(path, key_node.value), seen)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._label(item, f"{path}[{index}]", seen)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys from a merge may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class reports it
            line = key_node.start_mark.line + 1
            if key in first_line:
                path = join_path(self._paths.get(id(node), ""), key)
                self.duplicates.append((path, line, first_line[key]))
            else:
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def read_yaml(source: Path) -> tuple[dict[Any, Any], list[str]]:
    """Parse the file; raise ConfigError for anything that leaves nothing to check."""
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([f"{source}: cannot read the config file: {exc.strerror} "
                           "(create it from config.example.yaml or pass --config)"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read the config file: {exc.strerror} "
                           "(check the path and its permissions, or pass --config)"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source}: the config file is not UTF-8 text: {exc.reason} "
                           f"at byte {exc.start} (save it as UTF-8)"]) from None
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError([f"{source}: {where}: invalid YAML: {exc.problem or exc.context} "
                           "(check the indentation and quoting there)"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc} (check the file's syntax)"]) from None
    finally:
        loader.dispose()
    if data is None:
        raise ConfigError([f"{source}: the config file is empty "
                           "(start from config.example.yaml)"])
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of keys such as vod: "
                           f"and folders:, got {show(data)} (start from config.example.yaml)"])
    problems = [problem_at(source, path, f"duplicate key on line {line}, first set on line {first}",
                           "keep only one of them")
                for path, line, first in sorted(loader.duplicates, key=lambda d: d[1])]
    return data, problems
