"""Loading a config file, step by step, into the frozen settings.

YAML file (``yaml``: duplicate keys are problems) -> ``${VAR}`` interpolation
(``interpolate``) -> schema check (``validate``, against ``schema.SCHEMA``) ->
credentials (``credentials``) -> frozen settings (``model``). Every problem is
collected and reported at once, each one reading ``FILE: at 'key.path': problem (fix)``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from ..errors import ConfigError
from .credentials import find_credentials
from .interpolate import interpolate
from .model import Config, FolderSet, default_label
from .schema import (
    ClaimSettings,
    FolderEntry,
    LimitSettings,
    LogSettings,
    MetricsSettings,
    RetrySettings,
    Section,
    UploadSettings,
    VodSettings,
    WebSettings,
)
from .validate import check_config
from .yaml import INVALID, read_yaml

DEFAULT_CONFIG_PATH = Path("/etc/vodwatch/config.yaml")

_S = TypeVar("_S", bound=Section)


def _section(cls: type[_S], values: dict[str, Any]) -> _S:
    """The section's dataclass from its checked values: one field per schema key."""
    return cls(**{key.name: values[key.name] for key in cls.keys})


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$VODWATCH_CONFIG`` if set and not empty, else /etc/vodwatch/config.yaml."""
    value = (os.environ if env is None else env).get("VODWATCH_CONFIG", "")
    return Path(value) if value else DEFAULT_CONFIG_PATH


# FolderSet fields the loader works out; every other one is the folders[] key as written.
RESOLVED_FOLDER_FIELDS = frozenset({"endpoint", "project_id", "label", "asset_defaults"})


def _folder_set(entry: FolderEntry, vod: VodSettings) -> FolderSet:
    """A folders entry with vod's endpoint and project ID where it gives none."""
    as_written = {f.name: getattr(entry, f.name) for f in dataclasses.fields(FolderSet)
                  if f.name not in RESOLVED_FOLDER_FIELDS}
    return FolderSet(**as_written,
                     endpoint=entry.endpoint or vod.endpoint,
                     project_id=entry.project_id or vod.project_id,
                     label=entry.name or default_label(entry.inbox),
                     asset_defaults=entry.asset_defaults or ())


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
        credentials, found = find_credentials(vod["ak_file"], vod["sk_file"], env, source,
                                              vod["ak"], vod["sk"])
        problems.extend(found)
    if problems:
        raise ConfigError(problems)

    if sections["claims"]["instance_id"] is None:
        sections["claims"]["instance_id"] = socket.gethostname()
    vod_settings = _section(VodSettings, vod)
    folder_sets = tuple(_folder_set(_section(FolderEntry, f), vod_settings) for f in folders)
    if any(folder_set.notify for folder_set in folder_sets):
        from ..alerts import register_secrets

        for folder_set in folder_sets:
            for url in folder_set.notify:
                register_secrets(url)  # notification URLs hold tokens
    top["language_map"] = MappingProxyType(dict(top["language_map"]))
    return Config(
        **top, source=source, vod=vod_settings, credentials=credentials,
        upload=_section(UploadSettings, sections["upload"]),
        limits=_section(LimitSettings, sections["limits"]),
        retry=_section(RetrySettings, sections["retry"]),
        claims=_section(ClaimSettings, sections["claims"]),
        metrics=_section(MetricsSettings, sections["metrics"]),
        web=_section(WebSettings, sections["web"]),
        log=_section(LogSettings, sections["log"]),
        folders=folder_sets,
    )
