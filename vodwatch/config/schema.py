"""The config schema: every key of the file, written once, in one table.

Each section of the file is a class below and each key one field of it, declared
with ``key(check, default, doc)``: its Python type, the check of its value
(``checks``), its default and what it is for. From this table come

- the check of a config file (``validate``): known keys, required keys, defaults;
- the frozen settings: the classes here are frozen dataclasses, used as they are
  (``VodSettings``, ``UploadSettings``, ...), or taken over (``model.Config`` is a
  ``GeneralSettings``) or resolved (``model.FolderSet`` from a ``FolderEntry``);
- ``config.example.yaml``, rendered by ``example`` from the intros, docs and
  defaults here: ``python -m vodwatch.config.example > config.example.yaml``.

``doc`` is short, as problems quote it ("add it: <doc>"); ``details`` only
adds to the example's comment. In both, a line starting with a space is shown as
it is, others are wrapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, dataclass_transform

from ..names import DEFAULT_LANGUAGE_MAP
from ..timetable import Timetable
from . import checks
from .checks import Check
from .yaml import join_path

REQUIRED: Any = object()  # the default of a key that must be given
_SPEC = "vodwatch.config.key"


@dataclass(frozen=True)
class Key:
    """One config key: dotted path (``folders[].x`` for each folder set), check, default, doc."""

    path: str
    check: Check
    default: Any
    doc: str
    details: str = ""
    example: Any = None  # shown in config.example.yaml instead of the default
    restart: bool = False  # a change takes effect at a restart, not at a reload (SIGHUP)

    @property
    def container(self) -> str:
        return self.path.rpartition(".")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]

    @property
    def shown(self) -> Any:
        """The value config.example.yaml gives the key."""
        return self.default if self.example is None else self.example


def key(check: Check, default: Any, doc: str, *, details: str = "", example: Any = None,
        secret: bool = False, restart: bool = False) -> Any:
    """Declare a key as a field of a section; ``secret`` keeps its value out of ``repr``;
    ``restart``: a reload keeps the running value and says a restart is needed."""
    if default is REQUIRED and example is None:
        raise TypeError(f"a required key needs an example value: {doc}")
    return field(repr=not secret,
                 metadata={_SPEC: (check, default, doc, details, example, restart)})


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(key,))
class Section:
    """A section of the config file; subclasses are frozen dataclasses of its keys.

    ``path`` is where the section is in the file: ``"upload"``, ``""`` for keys at
    the top, ``"folders[]"`` for each entry of a list. ``intro`` heads it in
    config.example.yaml. A subclass without ``path`` is not a section of its own
    but builds on its base's keys (``model.Config``).
    """

    path: ClassVar[str] = ""
    intro: ClassVar[str] = ""
    keys: ClassVar[tuple[Key, ...]] = ()

    def __init_subclass__(cls, *, path: str | None = None, intro: str = "",
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True, kw_only=True)(cls)
        if path is None:
            return
        cls.path, cls.intro = path, intro
        cls.keys = tuple(Key(join_path(path, f.name), *f.metadata[_SPEC])
                         for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                         if _SPEC in f.metadata)


INTRO = """\
vodwatch configuration: every key, with its default value where it has one.

Copy to /etc/vodwatch/config.yaml (or point $VODWATCH_CONFIG or --config at it),
set vod.endpoint, vod.project_id and the folders, then run: vodwatch check

- ${NAME} in any value is replaced by the environment variable NAME; an unset
  variable is an error. Write $${ for a literal "${".
- Unknown keys and keys given twice are errors, so a typo cannot go unnoticed.
- Relative paths (except the folders, which must be absolute) are taken
  relative to the folder holding this file.
- Only true and false are booleans: yes/no/on/off are plain words."""

_SECONDS = checks.number(above=True)
_PER_MINUTE = checks.number(above=True)


class VodSettings(Section, path="vod"):
    endpoint: str = key(
        checks.url, REQUIRED, "VOD endpoint of your region, or the emulator's URL",
        details='Write https://vod.<region>.myhuaweicloud.com; "vodwatch emulator" prints '
                "the URL of an emulator, to try things without a cloud account.",
        example="https://vod.cn-north-4.myhuaweicloud.com")
    project_id: str = key(
        checks.project_id, REQUIRED, "project ID of that region: 32 hex characters",
        details='From "My Credentials" in the console.',
        example="0123456789abcdef0123456789abcdef")
    ak_file: Path | None = key(
        checks.path(), None, "file holding the access key ID; else $HUAWEICLOUD_SDK_AK",
        details="Each key file holds the key alone. With systemd credentials "
                "(LoadCredential=ak:... and LoadCredential=sk:... in the unit), write:\n"
                "  ak_file: ${CREDENTIALS_DIRECTORY}/ak\n"
                "  sk_file: ${CREDENTIALS_DIRECTORY}/sk")
    sk_file: Path | None = key(
        checks.path(), None,
        "file holding the secret access key, mode 600; else $HUAWEICLOUD_SDK_SK",
        details="vodwatch refuses an SK file that other users can read "
                "(fix: chmod 600 FILE).")
    ak: str | None = key(
        checks.key_text, None, "the access key ID itself; prefer ak_file or the environment",
        details="It wins over ak_file and the environment.")
    sk: str | None = key(
        checks.key_text, None,
        "the secret access key itself; the config file must then be private (mode 600)",
        details="It wins over sk_file and the environment.",
        secret=True)
    ca_bundle: Path | None = key(
        checks.path(existing=True), None,
        "PEM bundle of certificate authorities to trust instead of the system's",
        details="For example behind a TLS-inspecting proxy. null: the system's CAs.")
    verify_tls: bool = key(checks.boolean, True, "check the server's TLS certificate",
                           details="Turn off only for a test server.")
    connect_timeout_seconds: float = key(
        _SECONDS, 10.0, "seconds allowed to connect to VOD or the object store")
    read_timeout_seconds: float = key(
        _SECONDS, 120.0, "seconds allowed to wait for the next bytes of an answer")


class GeneralSettings(Section, path=""):
    state_dir: Path = key(
        checks.path(), Path("/var/lib/vodwatch"),
        "where the journal (an SQLite database of every job's progress) is kept",
        restart=True)
    settle_seconds: float = key(
        checks.number(), 10.0,
        "a file is handled once its size and modification time have stayed unchanged "
        "for this many seconds (as observed by vodwatch)")
    scan_interval_seconds: float = key(
        _SECONDS, 5.0, "seconds between two looks at a polled inbox; also how often files "
        "that are still being written are checked again")
    rescan_seconds: float = key(
        _SECONDS, 60.0, "with change events (watch: events), each inbox is still scanned in "
        "full this often, in seconds: events only make vodwatch look sooner")
    max_writing_hours: float = key(
        _SECONDS, 24.0, "a file still changing after this many hours is sent to failed/")
    language_map: Mapping[str, str] = key(
        checks.language_map, DEFAULT_LANGUAGE_MAP,
        "language code in subtitle file names (<asset_id>.<n>.<lang>.srt) -> VOD language code",
        details="Merged over these defaults; other codes are upper-cased.")
    shutdown_grace_seconds: float = key(
        checks.number(), 30.0,
        "on SIGTERM, seconds allowed for uploads in flight to finish or checkpoint")


class UploadSettings(Section, path="upload"):
    workers: int = key(checks.number(whole=True, least=1), 4, "assets handled in parallel",
                       restart=True)
    parallel_parts: int = key(checks.number(whole=True, least=1), 4,
                              "parts of one large file sent in parallel")
    part_size_mb: int | None = key(
        checks.auto_or(checks.number(whole=True, least=1, most=5120)), "auto",
        "multipart part size in MB (1 to 5120), or auto",
        details="auto chooses each file's part size from its size, parallel_parts and what "
                "the link has shown (throughput and round trip of earlier parts), within the "
                "store's rules (at most 10000 parts) and the VOD authority rate; the choice "
                "and why are logged once per file (upload.multipart_started). A number is "
                "an explicit part size; it grows by itself so that no file needs more than "
                "10000 parts.")
    multipart_threshold_mb: int = key(
        checks.number(whole=True, least=1, most=20), 20,
        "files above this many MB are sent in parts; VOD takes at most 20 MB in one PUT")
    bandwidth_limit_mbps: float | Timetable = key(
        checks.bandwidth, 0.0,
        "megabits per second for all uploads together; 0 means unlimited; or a timetable",
        details="A timetable changes the limit by time of day (local time), applied at once, "
                "without a restart: entries [day-]HH:MM,limit separated by spaces, each "
                "in force until the next; the limit is megabits per second or off; a day "
                "(Mon to Sun) makes the entry weekly. Examples:\n"
                '  bandwidth_limit_mbps: "08:00,40 19:00,off"\n'
                '  bandwidth_limit_mbps: "Mon-08:00,40 Sat-00:00,off"')
    progress_log_seconds: float = key(
        _SECONDS, 10.0, "a long upload logs its progress every this many seconds")


class LimitSettings(Section, path="limits", intro="""\
Calls per minute vodwatch allows itself, a little below VOD's per-tenant limits,
shared by all folder sets of this daemon. Lower them when several daemons
use the same account."""):
    update_asset_per_minute: float = key(
        _PER_MINUTE, 90.0, "UpdateAsset; VOD allows 100 per minute")
    upload_calls_per_minute: float = key(
        _PER_MINUTE, 1400.0,
        "upload authority and confirm calls together; VOD allows 1500 per minute")
    asset_query_per_minute: float = key(
        _PER_MINUTE, 1400.0,
        "asset detail queries (checking an asset's state before a large upload)")


class RetrySettings(Section, path="retry", intro="""\
Network errors, timeouts, HTTP 5xx and 429 are retried for as long as it takes,
with a delay that doubles each time."""):
    base_seconds: float = key(_SECONDS, 2.0, "first delay in seconds")
    cap_seconds: float = key(_SECONDS, 300.0, "longest delay in seconds")
    jitter: float = key(
        checks.number(most=1), 0.5,
        "fraction of each delay that is random (0 to 1), so that daemons don't retry in step")
    credentials_recheck_seconds: float = key(
        _SECONDS, 60.0, "while VOD rejects the credentials, uploads are paused and the "
        "credentials are tried again this often, in seconds (or at once on SIGHUP)")


class ClaimSettings(Section, path="claims", intro="""\
Several daemons may watch the same share: each file is claimed by one of them."""):
    instance_id: str = key(  # None in the file: the loader gives the host name
        checks.instance_id, None,
        "this daemon's name among the daemons on a share; they must differ",
        details="null: the host name.", restart=True)
    lease_seconds: float = key(
        _SECONDS, 120.0, "a claim not renewed for this many seconds belongs to a dead daemon "
        "and is taken over")


class MetricsSettings(Section, path="metrics"):
    address: str | None = key(
        checks.host_port, None,
        "where Prometheus metrics (/metrics) and a health check (/healthz) are served",
        details="host:port, for example 127.0.0.1:9464. null: not served.", restart=True)
    heartbeat_url: str | None = key(
        checks.url, None, "URL pinged every heartbeat_seconds while healthy (healthchecks.io "
        "style); <url>/fail with the reason while not",
        details="For example https://hc-ping.com/<uuid>. It holds a token: it never appears "
                "in logs; keep it in the environment, e.g. ${HEARTBEAT_URL}. null: no pings.",
        secret=True)
    heartbeat_seconds: float = key(_SECONDS, 60.0, "seconds between two heartbeat pings")


class WebSettings(Section, path="web", intro="""\
The web page at / on metrics.address: read-only for anyone who can reach it; its
actions (retry a failed file, pause and resume a folder set) need this token."""):
    token: str | None = key(
        checks.key_text, None,
        "the token the web page's actions need (sent in the X-Vodwatch-Token header)",
        details="null: the page is read-only. Keep it out of the file, e.g. ${VODWATCH_TOKEN}, "
                "or use token_file.", secret=True)
    token_file: Path | None = key(
        checks.path(existing=True), None,
        "a file holding the token (e.g. ${CREDENTIALS_DIRECTORY}/web-token)",
        details="Read at start and at each reload; token wins over it.")


class LogSettings(Section, path="log"):
    format: str = key(
        checks.choice("auto", "console", "json"), "auto", "how log lines are written",
        details="auto: human-readable on a terminal, one JSON object per line otherwise "
                "(e.g. under systemd, for journald). Or: console, json.")
    level: str = key(checks.choice("debug", "info", "warning", "error"), "info",
                     "lowest level logged: debug, info, warning or error")


class FolderEntry(Section, path="folders[]", intro="""\
One or more folder sets. inbox, done and failed are required absolute paths;
done and failed must be on the inbox's filesystem (files are moved by rename)."""):
    """One entry of ``folders`` as written; ``model.FolderSet`` is what the daemon uses."""

    inbox: Path = key(checks.path(absolute=True), REQUIRED, "where files are dropped",
                      example="/srv/vod-drop/inbox")
    done: Path = key(checks.path(absolute=True), REQUIRED, "where uploaded files go",
                     example="/srv/vod-drop/done")
    failed: Path = key(checks.path(absolute=True), REQUIRED,
                       "where failed files go, each with an .error.txt",
                       details="It says what went wrong.",
                       example="/srv/vod-drop/failed")
    project_id: str | None = key(checks.project_id, None, "project ID for this folder set's assets",
                                 details="null: vod.project_id.")
    endpoint: str | None = key(checks.url, None, "VOD endpoint for this folder set",
                               details="null: vod.endpoint.")
    watch: str = key(
        checks.choice("auto", "events", "polling"), "auto", "how the inbox is watched",
        details="auto: polling on network filesystems (SMB/NFS), change events elsewhere.\n"
                "events: change events plus a full rescan every rescan_seconds.\n"
                "polling: look every scan_interval_seconds.")
    recursive: bool = key(checks.boolean, False, "also handle files in sub-folders of the inbox")
    name: str | None = key(
        checks.name, None,
        "how messages and the status page call this folder set",
        details="null: from the inbox path (/srv/vod-drop/inbox is shown as vod-drop/inbox).")
    status_file: Path | None = key(  # the loader resolves None (beside the inbox) and "" (off)
        checks.status_file, None,
        "status page for editors, a plain-text file replaced as things change",
        details="It shows the folder set's state, every file in the inbox and the latest "
                "outcomes, and must not be inside inbox, done or failed. null: \"<inbox name> "
                "status.txt\" beside the inbox (here /srv/vod-drop/inbox status.txt). \"\" "
                "turns it off.")
    notify: tuple[str, ...] = key(
        checks.notify, (),
        "where to tell people about failed files, paused uploads and an unavailable share: "
        "a list of Apprise URLs",
        details="Failed files are grouped: at most one message a minute. json://host/path "
                "and jsons://host/path (https) post Apprise's JSON body; every other service "
                "(slack://, mailto://, ntfy://, msteams://, matrix://, ...) needs: pip install "
                "'vodwatch[notify]'. URLs hold tokens: keep them in the environment, e.g. "
                "[json://hooks.example.com/${HOOK_TOKEN}]. \"vodwatch check --online\" sends "
                "each one a test message.")
    notify_deliveries: bool = key(checks.boolean, False,
                                  "also send a message for each file delivered to VOD")
    create_assets: bool = key(
        checks.boolean, False, "create mode: a file named without an asset ID creates a new asset",
        details="true: <title>.mp4 (or another video or audio type VOD takes), with "
                "<title>.cover.jpg, <title>.<n>.<lang>.srt and a <title>.yaml of metadata "
                "beside it, becomes one new asset titled <title>, exactly once; later files "
                "of that title update it. Names with an asset ID are updates as always.")
    asset_defaults: tuple[tuple[str, Any], ...] | None = key(
        checks.asset_defaults, None, "create mode: metadata for every new asset of this folder set",
        details="Keys: description, category_id, tags, auto_publish, template_group_name; a "
                "<title>.yaml beside the video gives its own (and title), which win. e.g. "
                "{category_id: 12345, tags: [news], auto_publish: false}")
    follow_titles: bool = key(
        checks.boolean, True, "create mode: later files of a created title update that asset",
        details="true: a later <title>.cover.jpg or <title>.<n>.<lang>.srt updates the asset "
                "<title> became (the share's title map, shown by status). false: such a file "
                "fails and its error file says to name it with the asset ID, and a later "
                "<title>.mp4 creates another asset once the first one has its video.")


# The sections in the order config.example.yaml shows them.
SECTIONS: tuple[type[Section], ...] = (
    VodSettings, GeneralSettings, UploadSettings, LimitSettings, RetrySettings, ClaimSettings,
    MetricsSettings, WebSettings, LogSettings, FolderEntry)
SCHEMA: tuple[Key, ...] = tuple(k for section in SECTIONS for k in section.keys)
# The keys a reload cannot apply: it keeps their running values until a restart.
RESTART_ONLY: tuple[str, ...] = tuple(k.path for k in SCHEMA if k.restart)
