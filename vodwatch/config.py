"""Configuration: YAML file -> ``${VAR}`` interpolation -> schema check -> frozen settings.

One table, ``SCHEMA``, lists every key with its check, default and description; it
drives validation and defaults, and a test keeps ``config.example.yaml`` in step
with it. Every problem is collected and reported at once, each one reading
``FILE: at 'key.path': problem (fix)``.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
import re
import socket
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import yaml

from vodwatch.errors import ConfigError
from vodwatch.log import add_secret

DEFAULT_CONFIG_PATH = Path("/etc/vodwatch/config.yaml")
DEFAULT_LANGUAGE_MAP: Mapping[str, str] = MappingProxyType({"en": "EN", "zh": "CN", "cn": "CN"})
AK_ENV = "HUAWEICLOUD_SDK_AK"
SK_ENV = "HUAWEICLOUD_SDK_SK"


@dataclass(frozen=True)
class Credentials:
    """AK/SK pair; the SK never shows in ``repr`` or ``str``."""

    ak: str
    sk: str = field(repr=False)


@dataclass(frozen=True)
class VodSettings:
    endpoint: str
    project_id: str
    ak_file: Path | None
    sk_file: Path | None
    ca_bundle: Path | None
    verify_tls: bool
    connect_timeout_seconds: float
    read_timeout_seconds: float


@dataclass(frozen=True)
class FolderSet:
    """One inbox with its done/ and failed/; endpoint and project_id already resolved."""

    inbox: Path
    done: Path
    failed: Path
    endpoint: str
    project_id: str
    watch: str
    recursive: bool

    @property
    def name(self) -> str:
        return str(self.inbox)


@dataclass(frozen=True)
class UploadSettings:
    workers: int
    parallel_parts: int
    part_size_mb: int
    multipart_threshold_mb: int
    bandwidth_limit_mbps: float
    progress_log_seconds: float


@dataclass(frozen=True)
class LimitSettings:
    update_asset_per_minute: float
    upload_calls_per_minute: float
    asset_query_per_minute: float


@dataclass(frozen=True)
class RetrySettings:
    base_seconds: float
    cap_seconds: float
    jitter: float
    credentials_recheck_seconds: float


@dataclass(frozen=True)
class ClaimSettings:
    instance_id: str
    lease_seconds: float


@dataclass(frozen=True)
class MetricsSettings:
    address: str | None  # "host:port"


@dataclass(frozen=True)
class LogSettings:
    format: str
    level: str


@dataclass(frozen=True)
class Config:
    source: Path
    vod: VodSettings
    credentials: Credentials | None
    state_dir: Path
    settle_seconds: float
    scan_interval_seconds: float
    rescan_seconds: float
    max_writing_hours: float
    language_map: Mapping[str, str]
    upload: UploadSettings
    limits: LimitSettings
    retry: RetrySettings
    claims: ClaimSettings
    shutdown_grace_seconds: float
    metrics: MetricsSettings
    log: LogSettings
    folders: tuple[FolderSet, ...]


# --- checks: each takes the raw value and the config file's folder, returns the
# --- converted value or raises _Bad.


class _Bad(Exception):
    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


class _Interpolated(str):
    """A string that got text from the environment: numbers and booleans may be parsed from it."""

    __slots__ = ()


Check = Callable[[Any, Path], Any]
REQUIRED: Any = object()
_INVALID: Any = object()  # a value already reported as a problem


def _show(value: Any) -> str:
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


def _number(*, whole: bool = False, least: float = 0, above: bool = False,
            most: float | None = None) -> Check:
    noun = "a whole number" if whole else "a number"
    if most is not None:
        want = f"{noun} from {least:g} to {most:g}"
    else:
        want = f"{noun} greater than {least:g}" if above else f"{noun} of at least {least:g}"

    def check(value: Any, base: Path) -> Any:
        if isinstance(value, _Interpolated):
            with contextlib.suppress(ValueError):
                value = int(value) if whole else float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Bad(f"must be {want}, got {_show(value)}")
        if whole and not isinstance(value, int):
            raise _Bad(f"must be {want}, got {_show(value)}")
        if not math.isfinite(value) or value < least or (above and value == least) or (
                most is not None and value > most):
            raise _Bad(f"must be {want}, got {_show(value)}")
        return value if whole else float(value)

    return check


def _bool(value: Any, base: Path) -> bool:
    if isinstance(value, _Interpolated) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, got {_show(value)}", "write true or false")
    return value


def _choice(*words: str) -> Check:
    def check(value: Any, base: Path) -> str:
        if not isinstance(value, str) or value.lower() not in words:
            raise _Bad(f"must be one of {', '.join(words)}, got {_show(value)}",
                       "use one of those words")
        return value.lower()

    return check


def _text(value: Any, what: str, fix: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"must be {what}, got {_show(value)}", fix)
    return str(value)


def _url(value: Any, base: Path) -> str:
    fix = "write it like https://vod.cn-north-4.myhuaweicloud.com"
    text = _text(value, "an http:// or https:// URL", fix)
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise _Bad(f"must be an http:// or https:// URL, got {_show(value)}", fix) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Bad(f"must be an http:// or https:// URL, got {_show(value)}", fix)
    if parts.query or parts.fragment:
        raise _Bad(f"must be a URL without '?' or '#' parts, got {_show(value)}", fix)
    return text.rstrip("/")


_HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def _project_id(value: Any, base: Path) -> str:
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise _Bad(f"must be 32 hexadecimal characters, got {_show(value)}",
                   "copy the project ID of your region from My Credentials in the console")
    return str(value)


def _path(*, absolute: bool = False, existing: bool = False) -> Check:
    def check(value: Any, base: Path) -> Path:
        text = _text(value, "a path", "write a file or folder path")
        if absolute and not os.path.isabs(text):
            raise _Bad(f"must be an absolute path, got {_show(value)}",
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
        raise _Bad(f"must be 1 to 64 letters, digits, '.', '_' or '-', got {_show(value)}",
                   "use the host name or another name unique among the daemons on a share")
    return str(value)


def _host_port(value: Any, base: Path) -> str:
    fix = "write it like 127.0.0.1:9464"
    text = _text(value, "host:port", fix)
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535 or " " in host:
        raise _Bad(f"must be host:port, got {_show(value)}", fix)
    return text


_LANGUAGE = re.compile(r"[A-Za-z0-9_-]+")


def _language_map(value: Any, base: Path) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Bad(f"must be a mapping of language codes, got {_show(value)}",
                   "write it like {en: EN, zh: CN}")
    merged = dict(DEFAULT_LANGUAGE_MAP)
    seen: set[str] = set()
    for key, code in value.items():
        if code is _INVALID:
            continue
        if not isinstance(key, str) or not _LANGUAGE.fullmatch(key):
            raise _Bad(f"has {_show(key)}, which is not a language code as used in file names",
                       "use codes such as en or zh")
        if key.lower() in seen:
            raise _Bad(f"gives {key.lower()!r} twice (codes are not case-sensitive)",
                       "keep only one of them")
        seen.add(key.lower())
        if not isinstance(code, str) or not code.strip():
            raise _Bad(f"maps {key!r} to {_show(code)}, not to a VOD language code",
                       "write a code such as EN or CN")
        merged[key.lower()] = str(code).strip()
    return merged


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
)

_FOLDERS = "folders[]"
_NAMES: dict[str, list[str]] = {}
for _key in SCHEMA:
    _NAMES.setdefault(_key.container, []).append(_key.name)
    _top = _key.path.split(".")[0].removesuffix("[]")
    if _top not in _NAMES.setdefault("", []):
        _NAMES[""].append(_top)


def _at(source: Path, where: str, problem: str, fix: str) -> str:
    return f"{source}: at '{where}': {problem} ({fix})"


def _join(where: str, name: object) -> str:
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
                self._label(value_node, _join(path, key_node.value), seen)
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
                path = _join(self._paths.get(id(node), ""), key)
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


def _read_yaml(source: Path) -> tuple[dict[Any, Any], list[str]]:
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
                           f"and folders:, got {_show(data)} (start from config.example.yaml)"])
    problems = [_at(source, path, f"duplicate key on line {line}, first set on line {first}",
                    "keep only one of them")
                for path, line, first in sorted(loader.duplicates, key=lambda d: d[1])]
    return data, problems


# --- ${VAR} ------------------------------------------------------------------

_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<name>[^}]*)\}|\$\{")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _interpolate(value: Any, where: str, env: Mapping[str, str], source: Path,
                 problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, _join(where, k), env, source, problems)
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
            problems.append(_at(source, where, "has a '${' that is not closed", fix))
        elif not _VAR_NAME.fullmatch(name):
            problems.append(_at(source, where, f"'${{{name}}}' is not a variable name", fix))
        elif name not in env:
            problems.append(_at(source, where, f"environment variable {name} is not set",
                                f"set {name} in vodwatch's environment, or $${{ for a literal ${{"))
        else:
            used = True
            return env[name]
        return match.group()

    before = len(problems)
    text = _REFERENCE.sub(replace, value)
    if len(problems) > before:
        return _INVALID
    return _Interpolated(text) if used else text


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
        problems.append(_at(source, _join(where, name), "unknown key", fix))


def _check_mapping(raw: Any, container: str, where: str, source: Path, base: Path,
                   problems: list[str]) -> dict[str, Any]:
    """Values of one mapping by key name: converted, default, or _INVALID."""
    if raw is None or raw is _INVALID:
        raw = {}  # a section whose keys are all commented out
    if not isinstance(raw, dict):
        problems.append(_at(source, where, f"must be a mapping of keys, got {_show(raw)}",
                            "indent its keys below it"))
        raw = {}
    _check_names(raw, container, where, source, problems)
    out: dict[str, Any] = {}
    for key in SCHEMA:
        if key.container != container:
            continue
        path = _join(where, key.name)
        value = raw.get(key.name)
        if value is _INVALID:
            pass
        elif value is None:
            if key.default is REQUIRED:
                problems.append(_at(source, path, "missing required key", f"add it: {key.doc}"))
                value = _INVALID
            else:
                value = key.default
        else:
            try:
                value = key.check(value, base)
            except _Bad as bad:
                fix = bad.fix or (f"the default is {_show(key.default)}; delete the line to use it"
                                  if key.default is not None else key.doc)
                problems.append(_at(source, path, bad.problem, fix))
                value = _INVALID
        out[key.name] = value
    return out


def _check_folders(raw: Any, source: Path, base: Path, problems: list[str]) -> list[dict[str, Any]]:
    fix = "add at least one folder set: - inbox: /srv/vod-drop/inbox, with done: and failed:"
    if raw is _INVALID:
        return []
    if raw is None:
        problems.append(_at(source, "folders", "missing required key", fix))
        return []
    if not isinstance(raw, list) or not raw:
        if isinstance(raw, list):
            problems.append(_at(source, "folders", "is empty", fix))
        else:
            problems.append(_at(source, "folders", f"must be a list, got {_show(raw)}",
                                "start each folder set with '- ' below folders:"))
        return []
    sets = []
    for index, item in enumerate(raw):
        where = f"folders[{index}]"
        if item is _INVALID:
            continue
        if not isinstance(item, dict):
            problems.append(_at(source, where, f"must be a mapping, got {_show(item)}",
                                "give it inbox:, done: and failed:"))
            continue
        folder = _check_mapping(item, _FOLDERS, where, source, base, problems)
        folder["index"] = index
        sets.append(folder)
    inboxes: dict[Path, int] = {}
    for folder in sets:
        where = f"folders[{folder['index']}]"
        inbox = folder["inbox"]
        if inbox is _INVALID:
            continue
        if inbox in inboxes:
            problems.append(_at(source, f"{where}.inbox",
                                f"is also the inbox of folders[{inboxes[inbox]}]",
                                "give each inbox to one folder set only"))
        inboxes.setdefault(inbox, folder["index"])
        for name in ("done", "failed"):
            path = folder[name]
            if path is _INVALID:
                continue
            if path == inbox:
                problems.append(_at(source, f"{where}.{name}", "is the inbox itself",
                                    f"use a folder of its own, such as {inbox.parent / name}"))
            elif folder["recursive"] is True and path.is_relative_to(inbox):
                problems.append(_at(source, f"{where}.{name}",
                                    "is inside an inbox that is watched recursively",
                                    "move it out of the inbox, or set recursive: false"))
        if folder["done"] is not _INVALID and folder["done"] == folder["failed"] != inbox:
            problems.append(_at(source, f"{where}.failed", "is the same folder as done",
                                "keep failed files apart from uploaded ones"))
    return sets


# --- credentials -------------------------------------------------------------------


def _read_key(path: Path, key: str, private: bool, source: Path,
              problems: list[str]) -> str | None:
    try:
        with path.open(encoding="utf-8") as handle:
            if private and os.fstat(handle.fileno()).st_mode & 0o044:
                problems.append(_at(source, key, f"{path} is readable by other users",
                                    f"run: chmod 600 {path}"))
                return None
            text = handle.read().strip()
    except OSError as exc:
        problems.append(_at(source, key, f"cannot read {path}: {exc.strerror}",
                            "check the path, and that vodwatch's user may read the file"))
        return None
    except UnicodeDecodeError:
        problems.append(_at(source, key, f"{path} is not text", "write the key alone in it"))
        return None
    if not text:
        problems.append(_at(source, key, f"{path} is empty", "write the key alone in it"))
        return None
    return text


def _credentials(ak_file: Path | None, sk_file: Path | None, env: Mapping[str, str],
                 source: Path) -> tuple[Credentials | None, list[str]]:
    problems: list[str] = []
    missing: list[tuple[str, str, str]] = []
    found: list[str | None] = []
    for path, key, var, what, private in ((ak_file, "vod.ak_file", AK_ENV, "access key", False),
                                          (sk_file, "vod.sk_file", SK_ENV, "secret key", True)):
        if path is not None:
            found.append(_read_key(path, key, private, source, problems))
            continue
        value = env.get(var, "").strip()
        if not value:
            missing.append((what, var, key))
        found.append(value or None)
    if missing:
        whats, variables, keys = (list(column) for column in zip(*missing, strict=True))
        verb = "is" if len(missing) == 1 else "are"
        problems.append(_at(
            source, "vod",
            f"no {' or '.join(whats)}: {' and '.join(variables)} {verb} not set "
            f"and {'/'.join(keys)} {verb} not given",
            f"set {AK_ENV} and {SK_ENV}, or vod.ak_file/vod.sk_file"))
    ak, sk = found
    if problems or ak is None or sk is None:
        return None, problems
    add_secret(sk)  # from now on the SK is blanked out of every log line
    return Credentials(ak=ak, sk=sk), []


def load_credentials(vod: VodSettings, env: Mapping[str, str] | None, source: Path) -> Credentials:
    """Read the AK/SK from ``vod.ak_file``/``vod.sk_file``, else from the environment.

    The SK is registered with ``vodwatch.log.add_secret``. Raises ConfigError
    naming the key when a file is missing, unreadable or empty, when the SK file
    is readable by other users, or when nothing provides a key.
    """
    found, problems = _credentials(vod.ak_file, vod.sk_file,
                                   os.environ if env is None else env, source)
    if found is None:
        raise ConfigError(problems)
    return found


# --- loading ----------------------------------------------------------------------

_T = TypeVar("_T")


def _section(cls: type[_T], values: dict[str, Any]) -> _T:
    return cls(**{f.name: values[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$VODWATCH_CONFIG`` if set and not empty, else /etc/vodwatch/config.yaml."""
    value = (os.environ if env is None else env).get("VODWATCH_CONFIG", "")
    return Path(value) if value else DEFAULT_CONFIG_PATH


def load_config(path: Path, env: Mapping[str, str] | None = None, *,
                need_credentials: bool = True) -> Config:
    """Read, interpolate and check the config file at ``path``.

    ``env`` (default: ``os.environ``) provides ``${VAR}`` values and the AK/SK;
    the SK is registered with ``vodwatch.log.add_secret``. With
    ``need_credentials=False`` the AK/SK are not looked for and
    ``Config.credentials`` is None. Raises ConfigError listing every problem.
    """
    env = os.environ if env is None else env
    source = Path(path)
    base = source.absolute().parent
    data, problems = _read_yaml(source)
    try:
        data = _interpolate(data, "", env, source, problems)
    except RecursionError:
        raise ConfigError([f"{source}: an alias refers to itself (write the values out)"]) from None
    top = _check_mapping(data, "", "", source, base, problems)
    sections = {name: _check_mapping(data.get(name), name, name, source, base, problems)
                for name in _NAMES if name and name != _FOLDERS}
    folders = _check_folders(data.get("folders"), source, base, problems)
    retry = sections["retry"]
    if _INVALID not in (retry["base_seconds"], retry["cap_seconds"]) and (
            retry["cap_seconds"] < retry["base_seconds"]):
        problems.append(_at(source, "retry.cap_seconds", "is smaller than retry.base_seconds",
                            "make the cap at least as long as the first delay"))

    vod = sections["vod"]
    credentials = None
    if need_credentials and _INVALID not in (vod["ak_file"], vod["sk_file"]):
        credentials, found = _credentials(vod["ak_file"], vod["sk_file"], env, source)
        problems.extend(found)
    if problems:
        raise ConfigError(problems)

    if sections["claims"]["instance_id"] is None:
        sections["claims"]["instance_id"] = socket.gethostname()
    vod_settings = _section(VodSettings, vod)
    folder_sets = tuple(
        FolderSet(inbox=f["inbox"], done=f["done"], failed=f["failed"],
                  endpoint=f["endpoint"] or vod_settings.endpoint,
                  project_id=f["project_id"] or vod_settings.project_id,
                  watch=f["watch"], recursive=f["recursive"])
        for f in folders)
    return Config(
        source=source, vod=vod_settings, credentials=credentials,
        state_dir=top["state_dir"], settle_seconds=top["settle_seconds"],
        scan_interval_seconds=top["scan_interval_seconds"],
        rescan_seconds=top["rescan_seconds"], max_writing_hours=top["max_writing_hours"],
        language_map=MappingProxyType(dict(top["language_map"])),
        upload=_section(UploadSettings, sections["upload"]),
        limits=_section(LimitSettings, sections["limits"]),
        retry=_section(RetrySettings, retry),
        claims=_section(ClaimSettings, sections["claims"]),
        shutdown_grace_seconds=top["shutdown_grace_seconds"],
        metrics=_section(MetricsSettings, sections["metrics"]),
        log=_section(LogSettings, sections["log"]),
        folders=folder_sets,
    )
