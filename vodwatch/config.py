"""Configuration: the frozen settings and the steps that load them from a file.

Loading goes YAML file (``config_yaml``: duplicate keys are problems) -> ``${VAR}``
interpolation (``config_yaml``) -> schema check (``config_schema``: one table,
``SCHEMA``, of every key with its check, default and description) -> credentials
-> frozen settings (here). Every problem is collected and reported at once, each
one reading ``FILE: at 'key.path': problem (fix)``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from vodwatch.config_schema import (
    REQUIRED,
    SCHEMA,
    Check,
    Key,
    check_config,
    default_label,
    default_status_file,
)
from vodwatch.config_yaml import INVALID, Interpolated, interpolate, problem_at, read_yaml
from vodwatch.errors import ConfigError
from vodwatch.log import add_secret
from vodwatch.names import DEFAULT_LANGUAGE_MAP

__all__ = [
    "AK_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_LANGUAGE_MAP",
    "REQUIRED",
    "SCHEMA",
    "SK_ENV",
    "Check",
    "ClaimSettings",
    "Config",
    "Credentials",
    "FolderSet",
    "Key",
    "LimitSettings",
    "LogSettings",
    "MetricsSettings",
    "RetrySettings",
    "UploadSettings",
    "VodSettings",
    "default_config_path",
    "default_label",
    "default_status_file",
    "load_config",
    "load_credentials",
]

DEFAULT_CONFIG_PATH = Path("/etc/vodwatch/config.yaml")
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
    ak: str | None = None  # written in the config file itself (discouraged)
    sk: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FolderSet:
    """One inbox with its done/ and failed/; endpoint and project_id already resolved.

    ``name`` (the inbox path) keys the journal's jobs and must not change; ``label``
    is what people see: the configured ``name``, else :func:`default_label`.
    ``status_file`` is resolved by the loader; None means no status page.
    """

    inbox: Path
    done: Path
    failed: Path
    endpoint: str
    project_id: str
    watch: str
    recursive: bool
    label: str = ""  # "" here: default_label(inbox)
    status_file: Path | None = None
    notify: tuple[str, ...] = ()
    notify_deliveries: bool = False

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", default_label(self.inbox))

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


# --- credentials -------------------------------------------------------------------


def _read_key(path: Path, key: str, private: bool, source: Path,
              problems: list[str]) -> str | None:
    try:
        with path.open(encoding="utf-8") as handle:
            if private and os.fstat(handle.fileno()).st_mode & 0o044:
                problems.append(problem_at(source, key, f"{path} is readable by other users",
                                           f"run: chmod 600 {path}"))
                return None
            text = handle.read().strip()
    except OSError as exc:
        problems.append(problem_at(source, key, f"cannot read {path}: {exc.strerror}",
                                   "check the path, and that vodwatch's user may read the file"))
        return None
    except UnicodeDecodeError:
        problems.append(problem_at(source, key, f"{path} is not text", "write the key alone in it"))
        return None
    if not text:
        problems.append(problem_at(source, key, f"{path} is empty", "write the key alone in it"))
        return None
    return text


def _private_config(source: Path, problems: list[str]) -> None:
    """A config file that holds the SK itself must be readable by its owner only."""
    try:
        mode = os.stat(source).st_mode
    except OSError:
        return
    if mode & 0o044:
        problems.append(problem_at(source, "vod.sk", f"{source} holds the secret key and is "
                                   "readable by other users", f"run: chmod 600 {source}"))


def _credentials(ak_file: Path | None, sk_file: Path | None, env: Mapping[str, str],
                 source: Path, ak: str | None = None, sk: str | None = None,
                 ) -> tuple[Credentials | None, list[str]]:
    problems: list[str] = []
    missing: list[tuple[str, str, str]] = []
    found: list[str | None] = []
    if sk is not None and not isinstance(sk, Interpolated):
        _private_config(source, problems)
    for inline, path, key, var, what, private in (
            (ak, ak_file, "vod.ak_file", AK_ENV, "access key", False),
            (sk, sk_file, "vod.sk_file", SK_ENV, "secret key", True)):
        if inline is not None:
            found.append(str(inline).strip())
            continue
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
        problems.append(problem_at(
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
                                   os.environ if env is None else env, source, vod.ak, vod.sk)
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
    data, problems = read_yaml(source)
    data = interpolate(data, env, source, problems)
    top, sections, folders = check_config(data, source, base, problems)

    vod = sections["vod"]
    credentials = None
    if need_credentials and INVALID not in (vod["ak_file"], vod["sk_file"], vod["ak"],
                                            vod["sk"]):
        credentials, found = _credentials(vod["ak_file"], vod["sk_file"], env, source,
                                          vod["ak"], vod["sk"])
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
                  watch=f["watch"], recursive=f["recursive"],
                  label=f["name"] or default_label(f["inbox"]), status_file=f["status_file"],
                  notify=f["notify"], notify_deliveries=f["notify_deliveries"])
        for f in folders)
    if any(fs.notify for fs in folder_sets):
        from vodwatch.alerts import register_secrets

        for fs in folder_sets:
            for url in fs.notify:
                register_secrets(url)  # notification URLs hold tokens
    return Config(
        source=source, vod=vod_settings, credentials=credentials,
        state_dir=top["state_dir"], settle_seconds=top["settle_seconds"],
        scan_interval_seconds=top["scan_interval_seconds"],
        rescan_seconds=top["rescan_seconds"], max_writing_hours=top["max_writing_hours"],
        language_map=MappingProxyType(dict(top["language_map"])),
        upload=_section(UploadSettings, sections["upload"]),
        limits=_section(LimitSettings, sections["limits"]),
        retry=_section(RetrySettings, sections["retry"]),
        claims=_section(ClaimSettings, sections["claims"]),
        shutdown_grace_seconds=top["shutdown_grace_seconds"],
        metrics=_section(MetricsSettings, sections["metrics"]),
        log=_section(LogSettings, sections["log"]),
        folders=folder_sets,
    )
