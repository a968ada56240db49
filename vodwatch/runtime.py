"""A folder set at run time, and the one function that builds it from the config.

``build`` makes everything a folder set needs (its watcher, claims on the share, VOD
and object-store clients, uploader, the news it gives editors). Start and SIGHUP
both call it: at a reload it is given the folder set's previous runtime, keeps what
lives on (claims and leases on the share, the files being settled, the news when
its targets are unchanged) and applies every new setting to new work at once;
uploads in flight carry on with the services they started with.
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .claim import Claims
from .config import RESTART_ONLY, Config, FolderSet
from .folder import FolderWatch
from .journal import FileRow, JobRow, Journal
from .news import News
from .pacing import Pacer
from .partsize import LINK_FILE, load_link
from .pause import AnyEvent, ManualPause, MarkerWatch
from .prehash import Prehasher
from .retry import RetryPolicy
from .runner import Services
from .upload import MiB, RateLimit, Uploader
from .vod.api import VodClient
from .vod.http import HttpSettings, make_session
from .vod.obs import ObsClient


@dataclass
class Shared:
    """What every folder set's runtime shares with the daemon."""

    journal: Journal
    hints: queue.Queue[Path]
    rate: RateLimit
    prehash: Prehasher
    daemon_id: str
    stop: threading.Event  # no new work
    abort: threading.Event  # stop sending at once
    on_outcome: Callable[[JobRow, list[FileRow]], None]
    on_retry: Callable[[str], None]
    part_retry: Callable[[RetryPolicy], Callable[[BaseException, int], float | None]]


@dataclass
class FolderSetRuntime:
    """A folder set's watcher, claims, services and news, and whether it is paused."""

    folder_set: FolderSet
    watch: FolderWatch
    services: Services
    claims: Claims
    news: News
    paused: str | None = None  # the daemon's own pause (credentials, permission)
    recheck_at: float = 0.0
    held: ManualPause | None = None  # paused by someone (pause.py): only they lift it
    hold: threading.Event = field(default_factory=threading.Event)  # set while held
    marker: MarkerWatch = field(default_factory=MarkerWatch)


def build(config: Config, folder_set: FolderSet, shared: Shared, pacer: Pacer | Any,
          previous: FolderSetRuntime | None = None) -> FolderSetRuntime:
    """Everything ``folder_set`` needs, from ``config``; at a reload, ``previous`` lives on."""
    assert config.credentials is not None
    hold = previous.hold if previous is not None else threading.Event()
    stop = AnyEvent(shared.stop, hold)  # held: in-flight uploads stop after their part
    policy = RetryPolicy.from_settings(config.retry)
    http = HttpSettings(config.vod.connect_timeout_seconds, config.vod.read_timeout_seconds,
                        config.vod.verify_tls, config.vod.ca_bundle,
                        pool_size=config.upload.workers * config.upload.parallel_parts + 4)
    session = make_session(http)
    vod = VodClient(folder_set.endpoint, folder_set.project_id, config.credentials.ak,
                    config.credentials.sk,
                    session=session, timeout=http.timeout, pacer=pacer, stop=shared.abort)
    uploader = Uploader(vod, ObsClient(session, http.timeout), shared.journal,
                        part_size=(config.upload.part_size_mb or 20) * MiB,
                        adaptive=config.upload.part_size_mb is None,
                        calls_per_minute=config.limits.upload_calls_per_minute,
                        parallel_parts=config.upload.parallel_parts, rate=shared.rate,
                        stop=stop, abort=shared.abort,
                        retry_part=shared.part_retry(policy),
                        sleep=functools.partial(_wait, shared.abort),
                        link_file=config.state_dir / LINK_FILE, endpoint=folder_set.endpoint)
    if previous is not None and previous.folder_set.endpoint == folder_set.endpoint:
        uploader.link = previous.services.uploader.link  # a reload keeps what was seen
        uploader.settled = previous.services.uploader.settled
    else:
        uploader.link = load_link(config.state_dir / LINK_FILE, folder_set.endpoint)
    if previous is None:
        claims = Claims(folder_set.inbox, shared.daemon_id, config.claims.lease_seconds)
        watch = FolderWatch(folder_set, shared.journal, claims, config.settle_seconds,
                            config.max_writing_hours * 3600, config.scan_interval_seconds,
                            config.rescan_seconds, config.language_map, shared.hints)
    else:
        claims, watch = previous.claims, previous.watch
        claims.lease_seconds = config.claims.lease_seconds
        watch.reconfigure(folder_set, config.settle_seconds, config.max_writing_hours * 3600,
                          config.scan_interval_seconds, config.rescan_seconds,
                          config.language_map)
    services = Services(folder_set.name, folder_set.done, folder_set.failed, shared.journal, vod,
                        uploader, claims, policy,
                   config.language_map, config.upload.multipart_threshold_mb * MiB,
                   config.retry.credentials_recheck_seconds, stop=stop,
                   on_outcome=shared.on_outcome, on_retry=shared.on_retry)
    services.ticket = watch.ticket
    services.create_assets = folder_set.create_assets
    services.asset_defaults = dict(folder_set.asset_defaults)
    uploader.on_started = functools.partial(_write_ticket, claims, watch)
    watch.prehash = services.prehash = shared.prehash
    watch.part_plan = functools.partial(_part_plan, uploader, services.multipart_threshold)
    news = _news(config, folder_set, shared, previous)
    runtime = FolderSetRuntime(folder_set, watch, services, claims, news, hold=hold)
    if previous is not None:
        runtime.paused, runtime.recheck_at = previous.paused, previous.recheck_at
        runtime.held, runtime.marker = previous.held, previous.marker
    return runtime


def _part_plan(uploader: Uploader, threshold: int, size: int) -> int:
    """The part size a file of ``size`` bytes would go up in, to hash its parts while it
    settles; 0 if it goes up in one piece or the size is not known yet."""
    return uploader.planned_part_size(size) if size > threshold else 0


def _news(config: Config, folder_set: FolderSet, shared: Shared,
          previous: FolderSetRuntime | None) -> News:
    """The folder set's news: kept at a reload unless what it tells or where changed."""
    if previous is not None:
        old = previous.folder_set
        if (old.notify, old.notify_deliveries, old.status_file, old.label, old.done) == (
                folder_set.notify, folder_set.notify_deliveries, folder_set.status_file,
                folder_set.label, folder_set.done):
            return previous.news
        previous.news.stopped(share_ok=False)  # its notification threads end here
    return News(folder_set, shared.daemon_id, config.state_dir, config.language_map)


def _wait(event: threading.Event, seconds: float) -> None:
    event.wait(seconds)  # a sleep that the second SIGTERM cuts short


def _write_ticket(claims: Claims, watch: FolderWatch, job_id: int) -> None:
    claims.write_ticket(job_id, watch.ticket(job_id))


def _get(config: Config, path: str) -> object:
    value: object = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _with(settings: Any, parts: list[str], value: object) -> Any:
    inner = value if len(parts) == 1 else _with(getattr(settings, parts[0]), parts[1:], value)
    return dataclasses.replace(settings, **{parts[0]: inner})


def needs_restart(old: Config, new: Config) -> list[str]:
    """The settings changed in ``new`` that a reload cannot apply (schema: ``restart``)."""
    return [path for path in RESTART_ONLY if _get(old, path) != _get(new, path)]


def keep_running(old: Config, new: Config) -> Config:
    """``new`` with the running values of the settings a reload cannot apply: until a
    restart, everything (the journal, the link file, the news, the web page) goes on
    using the same state folder, workers, instance and metrics address."""
    for path in RESTART_ONLY:
        new = _with(new, path.split("."), _get(old, path))
    return new
