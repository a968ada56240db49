"""Configuration: the schema of the config file, and loading it into frozen settings.

One step a module:

- ``yaml``: read the file; duplicate keys are problems;
- ``interpolate``: fill in ``${VAR}`` from the environment;
- ``schema``: the table of every key (type, check, default, doc), one class a section;
- ``checks``: the checks the schema names;
- ``validate``: check the document against the schema, reporting every problem at once;
- ``credentials``: the AK/SK from files, the config or the environment;
- ``model``: the frozen settings put together from several sections;
- ``load``: those steps in order (``load_config``);
- ``example``: config.example.yaml rendered from the schema
  (``python -m vodwatch.config.example > config.example.yaml``).

The names below are what the rest of vodwatch uses.
"""

from __future__ import annotations

from ..names import DEFAULT_LANGUAGE_MAP
from .checks import Check
from .credentials import AK_ENV, SK_ENV, load_credentials
from .load import DEFAULT_CONFIG_PATH, default_config_path, load_config
from .model import (
    Config,
    Credentials,
    FolderSet,
    default_label,
    default_status_file,
)
from .schema import (
    REQUIRED,
    RESTART_ONLY,
    SCHEMA,
    ClaimSettings,
    Key,
    LimitSettings,
    LogSettings,
    MetricsSettings,
    RetrySettings,
    UploadSettings,
    VodSettings,
    WebSettings,
)

__all__ = [
    "AK_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_LANGUAGE_MAP",
    "REQUIRED",
    "RESTART_ONLY",
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
    "WebSettings",
    "default_config_path",
    "default_label",
    "default_status_file",
    "load_config",
    "load_credentials",
]
