"""The second step of loading a config: fill in ``${VAR}`` from the environment.

A value that cannot be filled becomes ``INVALID``: its problem is reported here and
the schema check leaves it alone. A value that got text from the environment is an
``Interpolated`` string, from which the checks may parse numbers and booleans.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .yaml import INVALID, join_path, problem_at


class Interpolated(str):
    """A string that got text from the environment: numbers and booleans may be parsed from it."""

    __slots__ = ()


_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<name>[^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(data: Any, env: Mapping[str, str], source: Path, problems: list[str]) -> Any:
    """``data`` with every ``${VAR}`` filled from ``env``; a value that cannot be is INVALID.

    ``$${`` stands for a literal ``${``. Raises ConfigError when an alias refers to
    itself, as the values cannot then be written out.
    """
    try:
        return _interpolate(data, "", env, source, problems)
    except RecursionError:
        raise ConfigError([f"{source}: an alias refers to itself (write the values out)"]) from None


def _interpolate(value: Any, where: str, env: Mapping[str, str], source: Path,
                 problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, join_path(where, k), env, source, problems)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", env, source, problems)
                for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    used = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used
        name = match.group("name")
        fix = "write ${NAME}, or $${ for a literal ${"
        if match.group() == "$${":
            return "${"
        if name is None:
            problems.append(problem_at(source, where, "has a '${' that is not closed", fix))
        elif not _VAR_NAME.fullmatch(name):
            problems.append(problem_at(source, where, f"'${{{name}}}' is not a variable name",
                                       fix))
        elif name not in env:
            problems.append(problem_at(
                source, where, f"environment variable {name} is not set",
                f"set {name} in vodwatch's environment, or $${{ for a literal ${{"))
        else:
            used = True
            return env[name]
        return match.group()

    before = len(problems)
    text = _REFERENCE.sub(replace, value)
    if len(problems) > before:
        return INVALID
    return Interpolated(text) if used else text
