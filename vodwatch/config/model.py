"""The frozen settings the daemon runs with, as ``load`` assembles them.

Most of them are the schema's sections as they are (``VodSettings``,
``UploadSettings``, ...: frozen dataclasses declared in ``schema``). Here are
the ones put together from more than one place: ``Config`` (the top-level keys
plus the sections, the folder sets and the credentials), ``FolderSet`` (a
``folders`` entry with the vod defaults and the status page resolved) and
``Credentials``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import (
    ClaimSettings,
    GeneralSettings,
    LimitSettings,
    LogSettings,
    MetricsSettings,
    RetrySettings,
    UploadSettings,
    VodSettings,
    WebSettings,
)

_PLAIN_NAMES = frozenset({"inbox", "in", "drop", "incoming", "upload", "uploads"})


@dataclass(frozen=True)
class Credentials:
    """AK/SK pair; the SK never shows in ``repr`` or ``str``."""

    ak: str
    sk: str = field(repr=False)


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
    create_assets: bool = False  # names without an asset ID create assets (vodwatch.titles)
    asset_defaults: tuple[tuple[str, Any], ...] = ()  # vodwatch.asset_meta keys
    follow_titles: bool = True  # later files of a created title update it (vodwatch.titles)

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", default_label(self.inbox))

    @property
    def name(self) -> str:
        return str(self.inbox)


class Config(GeneralSettings):
    """Everything loaded from one config file; the top-level keys come from ``GeneralSettings``."""

    source: Path
    vod: VodSettings
    credentials: Credentials | None
    upload: UploadSettings
    limits: LimitSettings
    retry: RetrySettings
    claims: ClaimSettings
    metrics: MetricsSettings
    web: WebSettings
    log: LogSettings
    folders: tuple[FolderSet, ...]


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
