"""The checks of config values: each takes the raw value and the config file's folder
and returns the converted value, or raises ``Bad`` saying what is wrong and how to fix it.

``schema`` names one check per key.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..names import DEFAULT_LANGUAGE_MAP
from ..timetable import EXAMPLE, TimetableError, parse
from ..words import printable
from .interpolate import Interpolated
from .yaml import INVALID, show

STATUS_OFF = ""  # status_file: "" turns the status page off
_MAX_NAME = 64


class Bad(Exception):
    """A value's problem, with how to fix it when the key's doc does not say."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


Check = Callable[[Any, Path], Any]


def number(*, whole: bool = False, least: float = 0, above: bool = False,
            most: float | None = None) -> Check:
    noun = "a whole number" if whole else "a number"
    if most is not None:
        want = f"{noun} from {least:g} to {most:g}"
    else:
        want = f"{noun} greater than {least:g}" if above else f"{noun} of at least {least:g}"

    def check(value: Any, base: Path) -> Any:
        if isinstance(value, Interpolated):
            with contextlib.suppress(ValueError):
                value = int(value) if whole else float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Bad(f"must be {want}, got {show(value)}")
        if whole and not isinstance(value, int):
            raise Bad(f"must be {want}, got {show(value)}")
        if not math.isfinite(value) or value < least or (above and value == least) or (
                most is not None and value > most):
            raise Bad(f"must be {want}, got {show(value)}")
        return value if whole else float(value)

    return check


def auto_or(inner: Check) -> Check:
    """The word ``auto`` (returned as None), or what ``inner`` accepts."""
    def check(value: Any, base: Path) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return None
        try:
            return inner(value, base)
        except Bad as exc:
            raise Bad(f"{exc.problem} (or auto)", "write auto, or a number") from None

    return check


def boolean(value: Any, base: Path) -> bool:
    if isinstance(value, Interpolated) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise Bad(f"must be true or false, got {show(value)}", "write true or false")
    return value


def choice(*words: str) -> Check:
    def check(value: Any, base: Path) -> str:
        if not isinstance(value, str) or value.lower() not in words:
            raise Bad(f"must be one of {', '.join(words)}, got {show(value)}",
                      "use one of those words")
        return value.lower()

    return check


def _text(value: Any, what: str, fix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Bad(f"must be {what}, got {show(value)}", fix)
    return str(value)


def key_text(value: Any, base: Path) -> str:
    """A key written in the file: kept as given (an ``Interpolated`` value stays one)."""
    del base
    if not isinstance(value, str) or not value.strip():
        raise Bad(f"must be the key as text, got {show(value)}",
                  "write the key, or delete the line to use the environment")
    return value


def url(value: Any, base: Path) -> str:
    fix = "write it like https://vod.cn-north-4.myhuaweicloud.com"
    text = _text(value, "an http:// or https:// URL", fix)
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise Bad(f"must be an http:// or https:// URL, got {show(value)}", fix) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise Bad(f"must be an http:// or https:// URL, got {show(value)}", fix)
    if parts.query or parts.fragment:
        raise Bad(f"must be a URL without '?' or '#' parts, got {show(value)}", fix)
    return text.rstrip("/")


_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def project_id(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise Bad(f"must be 32 hexadecimal characters, got {show(value)}",
                  "copy the project ID of your region from My Credentials in the console")
    return str(value)


def path(*, absolute: bool = False, existing: bool = False) -> Check:
    def check(value: Any, base: Path) -> Path:
        text = _text(value, "a path", "write a file or folder path")
        if absolute and not os.path.isabs(text):
            raise Bad(f"must be an absolute path, got {show(value)}",
                      "write the full path, starting with /")
        # Relative paths follow the config file, not the daemon's working directory.
        found = Path(os.path.normpath(os.path.join(base, text)))
        if existing and not found.is_file():
            raise Bad(f"{found} is not a file", "give the path of an existing file, or null")
        return found

    return check


_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def instance_id(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not _INSTANCE_ID.fullmatch(value):
        raise Bad(f"must be 1 to 64 letters, digits, '.', '_' or '-', got {show(value)}",
                  "use the host name or another name unique among the daemons on a share")
    return str(value)


def host_port(value: Any, base: Path) -> str:
    fix = "write it like 127.0.0.1:9464"
    text = _text(value, "host:port", fix)
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535 or " " in host:
        raise Bad(f"must be host:port, got {show(value)}", fix)
    return text


_LANGUAGE = re.compile(r"[A-Za-z0-9_-]+")


def language_map(value: Any, base: Path) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Bad(f"must be a mapping of language codes, got {show(value)}",
                  "write it like {en: EN, zh: CN}")
    merged = dict(DEFAULT_LANGUAGE_MAP)
    seen: set[str] = set()
    for key, code in value.items():
        if code is INVALID:
            continue
        if not isinstance(key, str) or not _LANGUAGE.fullmatch(key):
            raise Bad(f"has {show(key)}, which is not a language code as used in file names",
                      "use codes such as en or zh")
        if key.lower() in seen:
            raise Bad(f"gives {key.lower()!r} twice (codes are not case-sensitive)",
                      "keep only one of them")
        seen.add(key.lower())
        if not isinstance(code, str) or not code.strip():
            raise Bad(f"maps {key!r} to {show(code)}, not to a VOD language code",
                      "write a code such as EN or CN")
        merged[key.lower()] = str(code).strip()
    return merged


def name(value: Any, base: Path) -> str:
    fix = "write a short name such as news or promos"
    text = _text(value, "a name", fix).strip()
    if printable(text) != text:
        raise Bad(f"must not hold control characters, got {show(value)}", fix)
    if len(text) > _MAX_NAME:
        raise Bad(f"must be at most {_MAX_NAME} characters, got {len(text)}", fix)
    return text


def status_file(value: Any, base: Path) -> Path | str:
    """An absolute path, or "" (returned as is) for no status page."""
    if isinstance(value, str) and not value.strip():
        return STATUS_OFF
    return path(absolute=True)(value, base)  # type: ignore[no-any-return]


def asset_defaults(value: Any, base: Path) -> tuple[tuple[str, Any], ...]:
    """A new asset's metadata defaults (vodwatch.asset_meta), as sorted pairs."""
    from ..asset_meta import DEFAULT_KEYS, MetaProblem, check_meta
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise Bad(f"must be a mapping of metadata keys, got {show(value)}",
                  "write it like {category_id: 12345, tags: [news]}")
    try:
        checked = check_meta(value, allowed=DEFAULT_KEYS)
    except MetaProblem as exc:
        raise Bad(f"has {exc.key}, which {exc.problem}", exc.fix) from None
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in checked.items()))


def notify(value: Any, base: Path) -> tuple[str, ...]:
    from ..alerts import target_problem  # only configs with targets pay for requests

    if isinstance(value, str):
        raise Bad(f"must be a list of URLs, got {show(_shown_url(value))}",
                  "write it as a list: [json://hooks.example.com/vodwatch]")
    if not isinstance(value, list):
        raise Bad(f"must be a list of URLs, got {show(value)}",
                  "write it like [json://hooks.example.com/vodwatch]")
    urls: list[str] = []
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        if item is INVALID:
            continue
        found = target_problem(item)
        if found is not None:
            problems.append((f"entry {index + 1} {found[0]}", found[1]))
        elif str(item).strip() not in urls:
            urls.append(str(item).strip())
    if problems:
        raise Bad("; ".join(problem for problem, _ in problems), problems[0][1])
    return tuple(urls)


def _shown_url(text: str) -> str:
    from ..alerts import redact_url as redact

    return redact(text)


def bandwidth(value: Any, base: Path) -> Any:
    """Megabits per second (0: no limit), or a timetable (vodwatch.timetable's grammar)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)  # "40" from the environment is a number
    if isinstance(value, str):
        try:
            return parse(value)
        except TimetableError as exc:
            raise Bad(f"is not a valid timetable: {exc}",
                      f"write a number of megabits per second, or a timetable like {EXAMPLE}"
                      ) from None
    try:
        return number()(value, base)
    except Bad:
        raise Bad(f"must be a number of megabits per second (0: no limit) or a timetable, "
                  f"got {show(value)}", f"write for example 40, or {EXAMPLE}") from None
