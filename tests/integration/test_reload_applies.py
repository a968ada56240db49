"""Every key of the config schema is either applied by a reload (SIGHUP) or marked as
needing a restart, in which case a reload keeps its running value everywhere.

The daemon is built in-process from a config file; the file is rewritten with one key
changed and reloaded as SIGHUP does (``Daemon._reload``); the test looks where the
setting is used."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.conftest import Setup
from vodwatch import log as vodwatch_log
from vodwatch.config import RESTART_ONLY, SCHEMA, load_config
from vodwatch.daemon import Daemon
from vodwatch.runtime import FolderSetRuntime
from vodwatch.upload import MiB
from vodwatch.web import web_token

Observe = Callable[[Daemon, FolderSetRuntime], Any]


def rt(daemon: Daemon) -> FolderSetRuntime:
    return next(iter(daemon.sets.values()))


def folder(setup: Setup, **extra: Any) -> dict[str, Any]:
    return {"folders": [{"inbox": str(setup.inbox), "done": str(setup.done),
                         "failed": str(setup.failed), **extra}]}


def vod(setup: Setup, **extra: Any) -> dict[str, Any]:
    return {"vod": {"endpoint": setup.emulator.url, "project_id": "0" * 32, **extra}}


def files(setup: Setup) -> Path:
    """A folder of small files the settings below point at."""
    where = setup.root / "files"
    where.mkdir(exist_ok=True)
    for name, text in (("ak", "AKFROMFILE"), ("sk", "sk-from-file"), ("token", "tok-from-file"),
                       ("ca.pem", "not checked until a connection is made")):
        (where / name).write_text(text)
        (where / name).chmod(0o600)
    for name in ("inbox2", "done2", "failed2"):
        (setup.root / name).mkdir(exist_ok=True)
    return where


def renderer(daemon: Daemon, runtime: FolderSetRuntime) -> str | None:
    """How log lines are written now (None: vodwatch's logging is not set up)."""
    handler = vodwatch_log._handler
    if handler is None:
        return None
    assert isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)
    return type(handler.formatter.processors[-1]).__name__


# key -> (the config's change, given the setup; where the reloaded daemon uses it; the value
# seen there after the reload). Each must differ from what the base config gives.
APPLIED: dict[str, tuple[Callable[[Setup], dict[str, Any]], Observe, Any]] = {
    "vod.endpoint": (lambda s: {"vod": {"endpoint": "http://127.0.0.1:9"}},
                     lambda d, r: r.services.vod.origin, "http://127.0.0.1:9"),
    "vod.project_id": (lambda s: vod(s, project_id="f" * 32),
                       lambda d, r: r.services.vod.project_id, "f" * 32),
    "vod.ak_file": (lambda s: vod(s, ak_file=str(files(s) / "ak")),
                    lambda d, r: r.services.vod._ak, "AKFROMFILE"),
    "vod.sk_file": (lambda s: vod(s, sk_file=str(files(s) / "sk")),
                    lambda d, r: r.services.vod._sk, "sk-from-file"),
    "vod.ak": (lambda s: vod(s, ak="AKINLINE"), lambda d, r: r.services.vod._ak, "AKINLINE"),
    "vod.sk": (lambda s: vod(s, sk="sk-inline"), lambda d, r: r.services.vod._sk, "sk-inline"),
    "vod.ca_bundle": (lambda s: vod(s, ca_bundle=str(files(s) / "ca.pem")),
                      lambda d, r: str(r.services.vod._session.verify), "ca.pem"),
    "vod.verify_tls": (lambda s: vod(s, verify_tls=False),
                       lambda d, r: r.services.vod._session.verify, False),
    "vod.connect_timeout_seconds": (lambda s: vod(s, connect_timeout_seconds=3),
                                    lambda d, r: r.services.vod._timeout[0], 3),
    "vod.read_timeout_seconds": (lambda s: vod(s, read_timeout_seconds=11),
                                 lambda d, r: r.services.vod._timeout[1], 11),
    "settle_seconds": (lambda s: {"settle_seconds": 7},
                       lambda d, r: r.watch.settler.settle_seconds, 7),
    "scan_interval_seconds": (lambda s: {"scan_interval_seconds": 0.3},
                              lambda d, r: r.watch.scan_interval, 0.3),
    "rescan_seconds": (lambda s: {"rescan_seconds": 9}, lambda d, r: r.watch.rescan_seconds, 9),
    "max_writing_hours": (lambda s: {"max_writing_hours": 2},
                          lambda d, r: r.watch.settler.max_writing_seconds, 7200),
    "language_map": (lambda s: {"language_map": {"xx": "YY"}},
                     lambda d, r: r.watch.language_map.get("xx"), "YY"),
    "shutdown_grace_seconds": (lambda s: {"shutdown_grace_seconds": 7},  # read at the stop
                               lambda d, r: d.config.shutdown_grace_seconds, 7),
    "upload.parallel_parts": (lambda s: {"upload": {"parallel_parts": 2}},
                              lambda d, r: r.services.uploader.parallel_parts, 2),
    "upload.part_size_mb": (lambda s: {"upload": {"part_size_mb": 5}},
                            lambda d, r: (r.services.uploader.part_size,
                                          r.services.uploader.adaptive), (5 * MiB, False)),
    "upload.multipart_threshold_mb": (lambda s: {"upload": {"multipart_threshold_mb": 10}},
                                      lambda d, r: r.services.multipart_threshold, 10 * MiB),
    "upload.bandwidth_limit_mbps": (lambda s: {"upload": {"bandwidth_limit_mbps": 8}},
                                    lambda d, r: d.rate.rate, 1_000_000),
    "upload.progress_log_seconds": (lambda s: {"upload": {"progress_log_seconds": 3}},
                                    lambda d, r: d.config.upload.progress_log_seconds, 3),
    "limits.update_asset_per_minute": (lambda s: {"limits": {"update_asset_per_minute": 50}},
                                       lambda d, r: d.tenant.pacer["update_asset"].limit, 50),
    "limits.upload_calls_per_minute": (lambda s: {"limits": {"upload_calls_per_minute": 600}},
                                       lambda d, r: (d.tenant.pacer["upload"].limit,
                                                     r.services.uploader.calls_per_minute),
                                       (600, 600)),
    "limits.asset_query_per_minute": (lambda s: {"limits": {"asset_query_per_minute": 60}},
                                      lambda d, r: d.tenant.pacer["query"].limit, 60),
    "retry.base_seconds": (lambda s: {"retry": {"base_seconds": 0.2}},
                           lambda d, r: r.services.policy.base, 0.2),
    "retry.cap_seconds": (lambda s: {"retry": {"cap_seconds": 4}},
                          lambda d, r: r.services.policy.cap, 4),
    "retry.jitter": (lambda s: {"retry": {"jitter": 0.7}},
                     lambda d, r: r.services.policy.jitter, 0.7),
    "retry.credentials_recheck_seconds": (
        lambda s: {"retry": {"credentials_recheck_seconds": 9}},
        lambda d, r: r.services.credentials_recheck, 9),
    "claims.lease_seconds": (lambda s: {"claims": {"lease_seconds": 33}},
                             lambda d, r: r.claims.lease_seconds, 33),
    "metrics.heartbeat_url": (lambda s: {"metrics": {"heartbeat_url": "http://127.0.0.1:9/b"}},
                              lambda d, r: getattr(d.reporter.heartbeat, "url", None),
                              "http://127.0.0.1:9/b"),
    "metrics.heartbeat_seconds": (
        lambda s: {"metrics": {"heartbeat_url": "http://127.0.0.1:9/a", "heartbeat_seconds": 5}},
        lambda d, r: getattr(d.reporter.heartbeat, "interval", None), 5),
    "web.token": (lambda s: {"web": {"token": "tok-inline-1"}},  # read at each request
                  lambda d, r: web_token(d.config), "tok-inline-1"),
    "web.token_file": (lambda s: {"web": {"token_file": str(files(s) / "token")}},
                       lambda d, r: web_token(d.config), "tok-from-file"),
    "log.format": (lambda s: {"log": {"format": "console", "level": "info"}}, renderer,
                   "ConsoleRenderer"),
    "log.level": (lambda s: {"log": {"format": "json", "level": "debug"}},
                  lambda d, r: logging.getLogger().level, logging.DEBUG),
    "folders[].inbox": (lambda s: {"folders": [{
        "inbox": str(files(s).parent / "inbox2"), "done": str(s.root / "done2"),
        "failed": str(s.root / "failed2")}]},
        lambda d, r: sorted(d.sets), ["SETUP/inbox2"]),
    "folders[].done": (lambda s: folder(s, done=str(files(s).parent / "done2")),
                       lambda d, r: r.services.done_dir.name, "done2"),
    "folders[].failed": (lambda s: folder(s, failed=str(files(s).parent / "failed2")),
                         lambda d, r: r.services.failed_dir.name, "failed2"),
    "folders[].project_id": (lambda s: folder(s, project_id="e" * 32),
                             lambda d, r: r.services.vod.project_id, "e" * 32),
    "folders[].endpoint": (lambda s: folder(s, endpoint="http://127.0.0.1:8"),
                           lambda d, r: r.services.vod.origin, "http://127.0.0.1:8"),
    "folders[].watch": (lambda s: folder(s, watch="events"), lambda d, r: r.watch.mode,
                        "events"),
    "folders[].recursive": (lambda s: folder(s, watch="events", recursive=True),
                            lambda d, r: getattr(r.watch._watcher, "recursive", None), True),
    "folders[].name": (lambda s: folder(s, name="Studio A"),
                       lambda d, r: r.news.folder_set.label, "Studio A"),
    "folders[].status_file": (lambda s: folder(s, status_file=str(s.root / "page.txt")),
                              lambda d, r: r.news.folder_set.status_file.name, "page.txt"),
    "folders[].notify": (lambda s: folder(s, notify=["json://127.0.0.1:9/hook"]),
                         lambda d, r: len(r.news.alerts.targets), 1),
    "folders[].notify_deliveries": (lambda s: folder(s, notify_deliveries=True),
                                    lambda d, r: r.news.alerts.deliveries, True),
    "folders[].create_assets": (lambda s: folder(s, create_assets=True),
                                lambda d, r: r.services.create_assets, True),
    "folders[].follow_titles": (lambda s: folder(s, follow_titles=False),
                                lambda d, r: r.watch.folder_set.follow_titles, False),
    "folders[].asset_defaults": (lambda s: folder(s, asset_defaults={"tags": ["news"]}),
                                 lambda d, r: d.config.folders[0].asset_defaults
                                 == tuple(r.services.asset_defaults.items())
                                 and bool(r.services.asset_defaults), True),
}

# The running value, seen where the setting is used, after a reload that changes it.
RESTARTED: dict[str, tuple[Callable[[Setup], dict[str, Any]], Observe]] = {
    "state_dir": (lambda s: {"state_dir": str(s.root / "state2")},
                  lambda d, r: (d.config.state_dir, r.services.uploader.link_file)),
    "upload.workers": (lambda s: {"upload": {"workers": 9}},
                       lambda d, r: d.config.upload.workers),
    "claims.instance_id": (lambda s: {"claims": {"instance_id": "other-host"}},
                           lambda d, r: d.config.claims.instance_id),
    "metrics.address": (lambda s: {"metrics": {"address": "127.0.0.1:1"}},
                        lambda d, r: d.config.metrics.address),
}


def test_every_key_is_applied_at_a_reload_or_needs_a_restart() -> None:
    every = {k.path for k in SCHEMA}
    assert set(APPLIED) | set(RESTART_ONLY) == every
    assert not set(APPLIED) & set(RESTART_ONLY)
    assert set(RESTARTED) == set(RESTART_ONLY)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), structlog.get_config(), vodwatch_log._handler)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    structlog.configure(**saved[2])
    vodwatch_log._handler = saved[3]


def built(setup: Setup) -> Daemon:
    for where in (setup.inbox, setup.done, setup.failed):
        where.mkdir(exist_ok=True)
    setup.write_config(**folder(setup, watch="polling"))
    setup.config_path.chmod(0o600)
    daemon = Daemon(load_config(setup.config_path, setup.env()), env=setup.env())
    daemon._build(daemon.config)
    for runtime in daemon.sets.values():
        runtime.watch.start()
    daemon._ready = True
    return daemon


def reload(daemon: Daemon, setup: Setup, change: dict[str, Any]) -> None:
    change = dict(change)
    if "folders" not in change:
        change.update(folder(setup, watch="polling"))
    setup.write_config(**change)
    setup.config_path.chmod(0o600)
    daemon._reload()


def stop(daemon: Daemon) -> None:
    daemon.reporter.stop()
    for runtime in daemon.sets.values():
        runtime.watch.stop()
    daemon.pool.shutdown(wait=False)
    daemon.journal.close()


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("key", sorted(APPLIED))
def test_a_reload_applies_the_key(setup: Setup, key: str) -> None:
    change, observe, expected = APPLIED[key]
    if key == "folders[].inbox":
        expected = [str(setup.root / "inbox2")]
    daemon = built(setup)
    if key == "metrics.heartbeat_seconds":  # a heartbeat that pings at another pace
        reload(daemon, setup, {"metrics": {"heartbeat_url": "http://127.0.0.1:9/a"}})
    try:
        before = observe(daemon, rt(daemon))
        assert before != expected and not (isinstance(before, str) and before.endswith(
            str(expected))), f"{key}: the base config already gives {expected!r}"
        reload(daemon, setup, change(setup))
        after = observe(daemon, rt(daemon))
        if isinstance(expected, str) and isinstance(after, str):
            assert after.endswith(expected), key
        else:
            assert after == expected, key
    finally:
        stop(daemon)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("key", sorted(RESTARTED))
def test_a_reload_keeps_the_running_value_of_a_restart_only_key(setup: Setup,
                                                               key: str) -> None:
    change, observe = RESTARTED[key]
    daemon = built(setup)
    try:
        before = observe(daemon, rt(daemon))
        reload(daemon, setup, change(setup))
        assert observe(daemon, rt(daemon)) == before
        assert load_config(setup.config_path, setup.env()) != daemon.config
    finally:
        stop(daemon)
