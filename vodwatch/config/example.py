"""config.example.yaml, rendered from the schema: every key with its doc and default.

Regenerate the committed file after changing the schema::

    python -m vodwatch.config.example > config.example.yaml

A test fails while the committed file differs from what this renders.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Mapping
from typing import Any

from .schema import INTRO, SECTIONS, Key, Section

WIDTH = 84  # longest comment line, indentation included
_PLAIN = re.compile(r"[A-Za-z0-9/][A-Za-z0-9_./:<>@+-]*")


def _comment(text: str, indent: str) -> list[str]:
    """``text`` as comment lines: a line starting with a space is kept, others are wrapped."""
    lines: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith(" "):
            lines.append(f"{indent}# {line}".rstrip())
            continue
        hang = "  " if line.startswith("- ") else ""
        lines.extend(textwrap.wrap(line, WIDTH, initial_indent=f"{indent}# ",
                                   subsequent_indent=f"{indent}# {hang}",
                                   break_long_words=False, break_on_hyphens=False))
    return lines


def _sentence(doc: str) -> str:
    return doc[:1].upper() + doc[1:] + ("" if doc.endswith(".") else ".")


def _value(value: Any) -> str:
    """A value as YAML on one line (mappings aside)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    text = str(value)
    if _PLAIN.fullmatch(text) and text not in ("null", "true", "false"):
        return text
    return json.dumps(text)  # a JSON string is a YAML one too


def _key(key: Key, indent: str, first: str) -> list[str]:
    """A key's comment and line; ``first`` starts the first comment line (a list's "- ")."""
    text = _sentence(key.doc) + (" " + key.details if key.details else "")
    if key.restart:
        text += " A change takes effect at a restart; a reload keeps the running value."
    lines = _comment(text, indent)
    lines[0] = first + lines[0][len(first):]
    if isinstance(key.shown, Mapping):
        lines.append(f"{indent}{key.name}:")
        lines.extend(f"{indent}  {name}: {_value(code)}" for name, code in key.shown.items())
    else:
        lines.append(f"{indent}{key.name}: {_value(key.shown)}")
    return lines


def _section(section: type[Section]) -> list[str]:
    blocks: list[list[str]] = []
    if not section.path:  # keys at the top: a paragraph each
        return [line for key in section.keys for line in ["", *_key(key, "", "")]]
    head = _comment(section.intro, "") if section.intro else []
    name = section.path.removesuffix("[]")
    head.append(f"{name}:")
    blocks.append(head)
    listed = section.path.endswith("[]")
    indent = "    " if listed else "  "
    for index, key in enumerate(section.keys):
        blocks.append(_key(key, indent, "  - " if listed and index == 0 else ""))
    return ["", *(line for block in blocks for line in block)]


def render() -> str:
    """The text of config.example.yaml."""
    lines = _comment(INTRO, "")
    for section in SECTIONS:
        lines.extend(_section(section))
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
