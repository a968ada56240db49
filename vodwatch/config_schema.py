"""The third step of loading a config: check the interpolated YAML against ``SCHEMA``.

One table, ``SCHEMA``, lists every key with its check, default and description; it
drives validation and defaults, and a test keeps ``config.example.yaml`` in step
with it. ``check_config`` collects every problem rather than stopping at the
first, so one run of ``vodwatch check`` shows all there is to fix.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from vodwatch.config_yaml import INVALID, Interpolated, join_path, problem_at, show
from vodwatch.names import DEFAULT_LANGUAGE_MAP
from vodwatch.words import printable

STATUS_OFF = ""  # status_file: "" turns the status page off
_MAX_NAME = 64
_PLAIN_NAMES = frozenset({"inbox", "in", "drop", "incoming", "upload", "uploads"})

# --- checks: each takes the raw value and the config file's folder, returns the
# --- converted value or raises _Bad.


class _Bad(Exception):
    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


Check = Callable[[Any, Path], Any]
REQUIRED: Any = object()


def _number(*, whole: bool = False, least: float = 0, above: bool = False,
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
            raise _Bad(f"must be {want}, got {show(value)}")
        if whole and not isinstance(value, int):
            raise _Bad(f"must be {want}, got {show(value)}")
        if not math.isfinite(value) or value < least or (above and value == least) or (
                most is not None and value > most):
            raise _Bad(f"must be {want}, got {show(value)}")
        return value if whole else float(value)

    return check


def _bool(value: Any, base: Path) -> bool:
    if isinstance(value, Interpolated) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, got {show(value)}", "write true or false")
    return value


def _choice(*words: str) -> Check:
    def check(value: Any, base: Path) -> str:
        if not isinstance(value, str) or value.lower() not in words:
            raise _Bad(f"must be one of {', '.join(words)}, got {show(value)}",
                       "use one of those words")
        return value.lower()

    return check


def _text(value: Any, what: str, fix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"must be {what}, got {show(value)}", fix)
    return str(value)


def _key_text(value: Any, base: Path) -> str:
    """A key written in the file: kept as given (an ``Interpolated`` value stays one)."""
    del base
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"must be the key as text, got {show(value)}",
                   "write the key, or delete the line to use the environment")
    return value


def _url(value: Any, base: Path) -> str:
    fix = "write it like https://vod.cn-north-4.myhuaweicloud.com"
    text = _text(value, "an http:// or https:// URL", fix)
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise _Bad(f"must be an http:// or https:// URL, got {show(value)}", fix) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Bad(f"must be an http:// or https:// URL, got {show(value)}", fix)
    if parts.query or parts.fragment:
        raise _Bad(f"must be a URL without '?' or '#' parts, got {show(value)}", fix)
    return text.rstrip("/")


_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def _project_id(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise _Bad(f"must be 32 hexadecimal characters, got {show(value)}",
                   "copy the project ID of your region from My Credentials in the console")
    return str(value)


def _path(*, absolute: bool = False, existing: bool = False) -> Check:
    def check(value: Any, base: Path) -> Path:
        text = _text(value, "a path", "write a file or folder path")
        if absolute and not os.path.isabs(text):
            raise _Bad(f"must be an absolute path, got {show(value)}",
                       "write the full path, starting with /")
        # Relative paths follow the config file, not the daemon's working directory.
        path = Path(os.path.normpath(os.path.join(base, text)))
        if existing and not path.is_file():
            raise _Bad(f"{path} is not a file", "give the path of an existing file, or null")
        return path

    return check


_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _instance_id(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not _INSTANCE_ID.fullmatch(value):
        raise _Bad(f"must be 1 to 64 letters, digits, '.', '_' or '-', got {show(value)}",
                   "use the host name or another name unique among the daemons on a share")
    return str(value)


def _host_port(value: Any, base: Path) -> str:
    fix = "write it like 127.0.0.1:9464"
    text = _text(value, "host:port", fix)
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535 or " " in host:
        raise _Bad(f"must be host:port, got {show(value)}", fix)
    return text


_LANGUAGE = re.compile(r"[A-Za-z0-9_-]+")


def _language_map(value: Any, base: Path) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Bad(f"must be a mapping of language codes, got {show(value)}",
                   "write it like {en: EN, zh: CN}")
    merged = dict(DEFAULT_LANGUAGE_MAP)
    seen: set[str] = set()
    for key, code in value.items():
        if code is INVALID:
            continue
        if not isinstance(key, str) or not _LANGUAGE.fullmatch(key):
            raise _Bad(f"has {show(key)}, which is not a language code as used in file names",
                       "use codes such as en or zh")
        if key.lower() in seen:
            raise _Bad(f"gives {key.lower()!r} twice (codes are not case-sensitive)",
                       "keep only one of them")
        seen.add(key.lower())
        if not isinstance(code, str) or not code.strip():
            raise _Bad(f"maps {key!r} to {show(code)}, not to a VOD language code",
                       "write a code such as EN or CN")
        merged[key.lower()] = str(code).strip()
    return merged


def _name(value: Any, base: Path) -> str:
    fix = "write a short name such as news or promos"
    text = _text(value, "a name", fix).strip()
    if printable(text) != text:
        raise _Bad(f"must not hold control characters, got {show(value)}", fix)
    if len(text) > _MAX_NAME:
        raise _Bad(f"must be at most {_MAX_NAME} characters, got {len(text)}", fix)
    return text


def _status_file(value: Any, base: Path) -> Path | str:
    """An absolute path, or "" (returned as is) for no status page."""
    if isinstance(value, str) and not value.strip():
        return STATUS_OFF
    return _path(absolute=True)(value, base)  # type: ignore[no-any-return]


def _notify(value: Any, base: Path) -> tuple[str, ...]:
    from vodwatch.alerts import target_problem  # only configs with targets pay for requests

    if isinstance(value, str):
        raise _Bad(f"must be a list of URLs, got {show(_shown_url(value))}",
                   "write it as a list: [json://hooks.example.com/vodwatch]")
    if not isinstance(value, list):
        raise _Bad(f"must be a list of URLs, got {show(value)}",
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
        raise _Bad("; ".join(problem for problem, _ in problems), problems[0][1])
    return tuple(urls)


def _shown_url(url: str) -> str:
    from vodwatch.alerts import redact_url as redact

    return redact(url)


def default_label(inbox: Path) -> str:
    """How a folder set without a name is shown: the inbox's name, with its parent's
    when that name says nothing (``/srv/vod-drop/inbox`` -> ``vod-drop/inbox``)."""
    if not inbox.name:
        return str(inbox)
    if inbox.name.lower() in _PLAIN_NAMES and inbox.parent.name:
        return f"{inbox.parent.name}/{inbox.name}"
    return inbox.name


def default_status_file(inbox: Path) -> Path:
    """The status page beside the inbox: ``<inbox parent>/<inbox name> status.txt``."""
    return inbox.parent / f"{inbox.name} status.txt"


# --- the schema -------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One config key: dotted path (``folders[].x`` for each folder set), check, default, doc."""

    path: str
    check: Check
    default: Any
    doc: str

    @property
    def container(self) -> str:
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


_SECONDS = _number(above=True)
_PER_MINUTE = _number(above=True)

SCHEMA: tuple[Key, ...] = (
    Key("vod.endpoint", _url, REQUIRED, "VOD endpoint of your region, or the emulator's URL"),
    Key("vod.project_id", _project_id, REQUIRED, "project ID of that region: 32 hex characters"),
    Key("vod.ak_file", _path(), None, "file holding the access key ID; else $HUAWEICLOUD_SDK_AK"),
    Key("vod.sk_file", _path(), None,
        "file holding the secret access key, mode 600; else $HUAWEICLOUD_SDK_SK"),
    Key("vod.ak", _key_text, None, "the access key ID itself; prefer ak_file or the environment"),
    Key("vod.sk", _key_text, None,
        "the secret access key itself; the config file must then be private (mode 600)"),
    Key("vod.ca_bundle", _path(existing=True), None,
        "PEM bundle of CAs to trust instead of the system's"),
    Key("vod.verify_tls", _bool, True, "check the server's TLS certificate"),
    Key("vod.connect_timeout_seconds", _SECONDS, 10.0, "time allowed to connect"),
    Key("vod.read_timeout_seconds", _SECONDS, 120.0, "time allowed between bytes of an answer"),
    Key("state_dir", _path(), Path("/var/lib/vodwatch"), "where the journal is kept"),
    Key("settle_seconds", _number(), 10.0,
        "a file is ready when its size and mtime stayed unchanged this long"),
    Key("scan_interval_seconds", _SECONDS, 5.0,
        "polling interval; also how often pending files are re-checked"),
    Key("rescan_seconds", _SECONDS, 60.0, "events mode: full rescan of each inbox this often"),
    Key("max_writing_hours", _SECONDS, 24.0, "a file still changing after this long fails"),
    Key("language_map", _language_map, DEFAULT_LANGUAGE_MAP,
        "language code in file names -> VOD language code, merged over the defaults"),
    Key("upload.workers", _number(whole=True, least=1), 4, "assets handled in parallel"),
    Key("upload.parallel_parts", _number(whole=True, least=1), 4,
        "parts of one large file sent in parallel"),
    Key("upload.part_size_mb", _number(whole=True, least=1, most=5120), 20,
        "multipart part size; grows so that no file needs more than 10000 parts"),
    Key("upload.multipart_threshold_mb", _number(whole=True, least=1, most=20), 20,
        "files above this size go multipart; VOD takes at most 20 MB in one PUT"),
    Key("upload.bandwidth_limit_mbps", _number(), 0.0,
        "megabits per second for all uploads together; 0 = unlimited"),
    Key("upload.progress_log_seconds", _SECONDS, 10.0, "how often a long upload logs progress"),
    Key("limits.update_asset_per_minute", _PER_MINUTE, 90.0,
        "UpdateAsset calls per minute; VOD allows 100 per tenant"),
    Key("limits.upload_calls_per_minute", _PER_MINUTE, 1400.0,
        "authority and confirm calls per minute; VOD allows 1500 per tenant"),
    Key("limits.asset_query_per_minute", _PER_MINUTE, 1400.0, "asset detail queries per minute"),
    Key("retry.base_seconds", _SECONDS, 2.0, "first retry delay; doubles each attempt"),
    Key("retry.cap_seconds", _SECONDS, 300.0, "longest retry delay"),
    Key("retry.jitter", _number(most=1), 0.5, "fraction of each delay that is randomised (0..1)"),
    Key("retry.credentials_recheck_seconds", _SECONDS, 60.0,
        "how often paused folder sets re-try rejected credentials"),
    Key("claims.instance_id", _instance_id, None,
        "this daemon's name on a shared inbox; default: the host name"),
    Key("claims.lease_seconds", _SECONDS, 120.0,
        "a claim not renewed this long belongs to a dead daemon and is taken over"),
    Key("shutdown_grace_seconds", _number(), 30.0,
        "on SIGTERM, time allowed for in-flight parts to finish"),
    Key("metrics.address", _host_port, None,
        "host:port serving /metrics and /healthz; none if null"),
    Key("log.format", _choice("auto", "console", "json"), "auto",
        "console on a terminal and json otherwise when auto"),
    Key("log.level", _choice("debug", "info", "warning", "error"), "info", "lowest level logged"),
    Key("folders[].inbox", _path(absolute=True), REQUIRED, "where files are dropped"),
    Key("folders[].done", _path(absolute=True), REQUIRED, "where uploaded files go"),
    Key("folders[].failed", _path(absolute=True), REQUIRED,
        "where failed files go, each with an .error.txt"),
    Key("folders[].project_id", _project_id, None, "overrides vod.project_id"),
    Key("folders[].endpoint", _url, None, "overrides vod.endpoint"),
    Key("folders[].watch", _choice("auto", "events", "polling"), "auto",
        "auto: polling on network filesystems, change events elsewhere"),
    Key("folders[].recursive", _bool, False, "also handle files in sub-folders of the inbox"),
    Key("folders[].name", _name, None,
        "how messages and the status page call this folder set; default: from the inbox path"),
    Key("folders[].status_file", _status_file, None,
        "status page for editors; default: '<inbox> status.txt' beside the inbox; \"\": none"),
    Key("folders[].notify", _notify, (),
        "Apprise URLs told about failed files, pauses and outages; json:// is built in"),
    Key("folders[].notify_deliveries", _bool, False, "also send a message for each delivery"),
)

_FOLDERS = "folders[]"
_NAMES: dict[str, list[str]] = {}
for _key in SCHEMA:
    _NAMES.setdefault(_key.container, []).append(_key.name)
    _top = _key.path.split(".")[0].removesuffix("[]")
    if _top not in _NAMES.setdefault("", []):
        _NAMES[""].append(_top)


# --- checking against the schema -----------------------------------------------


def _check_names(raw: dict[Any, Any], container: str, where: str, source: Path,
                 problems: list[str]) -> None:
    known = _NAMES[container]
    for name in raw:
        if name in known:
            continue
        close = difflib.get_close_matches(str(name), known, n=1)
        homes = [c for c, names in _NAMES.items() if name in names and c != container]
        if close:
            fix = f"did you mean '{close[0]}'?"
        elif homes:
            fix = ("it belongs in each entry of folders" if homes[0] == _FOLDERS
                   else f"it belongs under '{homes[0]}'" if homes[0] else "it belongs at the top")
        else:
            fix = "remove it; known keys here: " + ", ".join(known)
        problems.append(problem_at(source, join_path(where, name), "unknown key", fix))


def _check_mapping(raw: Any, container: str, where: str, source: Path, base: Path,
                   problems: list[str]) -> dict[str, Any]:
    """Values of one mapping by key name: converted, default, or INVALID."""
    if raw is None or raw is INVALID:
        raw = {}  # a section whose keys are all commented out
    if not isinstance(raw, dict):
        problems.append(problem_at(source, where, f"must be a mapping of keys, got {show(raw)}",
                                   "indent its keys below it"))
        raw = {}
    _check_names(raw, container, where, source, problems)
    out: dict[str, Any] = {}
    for key in SCHEMA:
        if key.container != container:
            continue
        path = join_path(where, key.name)
        value = raw.get(key.name)
        if value is INVALID:
            pass
        elif value is None:
            if key.default is REQUIRED:
                problems.append(problem_at(source, path, "missing required key",
                                           f"add it: {key.doc}"))
                value = INVALID
            else:
                value = key.default
        else:
            try:
                value = key.check(value, base)
            except _Bad as bad:
                fix = bad.fix or (f"the default is {show(key.default)}; delete the line to use it"
                                  if key.default is not None else key.doc)
                problems.append(problem_at(source, path, bad.problem, fix))
                value = INVALID
        out[key.name] = value
    return out


def _check_folders(raw: Any, source: Path, base: Path, problems: list[str]) -> list[dict[str, Any]]:
    fix = "add at least one folder set: - inbox: /srv/vod-drop/inbox, with done: and failed:"
    if raw is INVALID:
        return []
    if raw is None:
        problems.append(problem_at(source, "folders", "missing required key", fix))
        return []
    if not isinstance(raw, list) or not raw:
        if isinstance(raw, list):
            problems.append(problem_at(source, "folders", "is empty", fix))
        else:
            problems.append(problem_at(source, "folders", f"must be a list, got {show(raw)}",
                                       "start each folder set with '- ' below folders:"))
        return []
    sets = []
    for index, item in enumerate(raw):
        where = f"folders[{index}]"
        if item is INVALID:
            continue
        if not isinstance(item, dict):
            problems.append(problem_at(source, where, f"must be a mapping, got {show(item)}",
                                       "give it inbox:, done: and failed:"))
            continue
        folder = _check_mapping(item, _FOLDERS, where, source, base, problems)
        folder["index"] = index
        sets.append(folder)
    inboxes: dict[Path, int] = {}
    for folder in sets:
        where = f"folders[{folder['index']}]"
        inbox = folder["inbox"]
        if inbox is INVALID:
            continue
        if inbox in inboxes:
            problems.append(problem_at(source, f"{where}.inbox",
                                       f"is also the inbox of folders[{inboxes[inbox]}]",
                                       "give each inbox to one folder set only"))
        inboxes.setdefault(inbox, folder["index"])
        for name in ("done", "failed"):
            path = folder[name]
            if path is INVALID:
                continue
            if path == inbox:
                problems.append(problem_at(
                    source, f"{where}.{name}", "is the inbox itself",
                    f"use a folder of its own, such as {inbox.parent / name}"))
            elif folder["recursive"] is True and path.is_relative_to(inbox):
                problems.append(problem_at(source, f"{where}.{name}",
                                           "is inside an inbox that is watched recursively",
                                           "move it out of the inbox, or set recursive: false"))
        if folder["done"] is not INVALID and folder["done"] == folder["failed"] != inbox:
            problems.append(problem_at(source, f"{where}.failed", "is the same folder as done",
                                       "keep failed files apart from uploaded ones"))
        _check_status_file(folder, where, source, problems)
    names: dict[str, int] = {}
    for folder in sets:
        name = folder["name"]
        if name is None or name is INVALID:
            continue
        if name.lower() in names:
            problems.append(problem_at(
                source, f"folders[{folder['index']}].name",
                f"is also the name of folders[{names[name.lower()]}]",
                "give each folder set a name of its own (names are not case-sensitive)"))
        names.setdefault(name.lower(), folder["index"])
    return sets


def _check_status_file(folder: dict[str, Any], where: str, source: Path,
                       problems: list[str]) -> None:
    """Resolve ``status_file`` (None: off) and keep it out of inbox, done and failed."""
    inbox, given = folder["inbox"], folder["status_file"]
    if inbox is INVALID or given is INVALID:
        return
    if given == STATUS_OFF:
        folder["status_file"] = None
        return
    path = default_status_file(inbox) if given is None else given
    folder["status_file"] = path
    beside = default_status_file(inbox)
    for role in ("inbox", "done", "failed"):
        folder_path = folder[role]
        if folder_path is INVALID or not path.is_relative_to(folder_path):
            continue
        if given is None:
            problem = f"is not given, and its default {path} would be inside {role} {folder_path}"
            fix = "set status_file to a path outside inbox, done and failed, or \"\" for none"
        else:
            problem = f"is inside {role} {folder_path}, where editors' files go"
            fix = f"put it beside the inbox, e.g. {beside}, or write \"\" for none"
        problems.append(problem_at(source, f"{where}.status_file", problem, fix))
        folder["status_file"] = INVALID
        return


class Checked(NamedTuple):
    """Checked values by key name (converted, default, or INVALID), section by section."""

    top: dict[str, Any]
    sections: dict[str, dict[str, Any]]  # vod, upload, limits, ...
    folders: list[dict[str, Any]]  # one per folder set, with its "index" in the file


def check_config(data: dict[Any, Any], source: Path, base: Path,
                 problems: list[str]) -> Checked:
    """Check the whole document, adding every problem found to ``problems``.

    ``base`` is the config file's folder: relative paths are taken from there.
    """
    top = _check_mapping(data, "", "", source, base, problems)
    sections = {name: _check_mapping(data.get(name), name, name, source, base, problems)
                for name in _NAMES if name and name != _FOLDERS}
    folders = _check_folders(data.get("folders"), source, base, problems)
    retry = sections["retry"]
    if INVALID not in (retry["base_seconds"], retry["cap_seconds"]) and (
            retry["cap_seconds"] < retry["base_seconds"]):
        problems.append(problem_at(source, "retry.cap_seconds",
                                   "is smaller than retry.base_seconds",
                                   "make the cap at least as long as the first delay"))
    return Checked(top, sections, folders)
