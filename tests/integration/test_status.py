"""``vodwatch status`` on a real SQLite journal written through the Journal API."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.walk import walk
from vodwatch import journal as J
from vodwatch.config import Config, load_config
from vodwatch.journal import Journal, NewFile
from vodwatch.status import run_status

PID = "0123456789abcdef0123456789abcdef"
A1 = "a1" * 16
A2 = "b2" * 16
A3 = "c3" * 16
A4 = "d4" * 16
T0 = 1_700_000_000.0
SK = "status-test-secret-key-0123456789"


class Clock:
    """A settable wall clock for the journal's timestamps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def write_config(tmp_path: Path, inboxes: tuple[str, ...] = ("inbox",)) -> Path:
    """A config with one folder set per inbox name, its journal under tmp_path/state."""
    lines = ["vod:", "  endpoint: https://vod.cn-north-4.myhuaweicloud.com",
             f"  project_id: {PID}", f"state_dir: {tmp_path / 'state'}", "folders:"]
    for name in inboxes:
        lines += [f"  - inbox: {tmp_path / name}", f"    done: {tmp_path / name}-done",
                  f"    failed: {tmp_path / name}-failed"]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def config_of(tmp_path: Path, inboxes: tuple[str, ...] = ("inbox",)) -> Config:
    return load_config(write_config(tmp_path, inboxes), {}, need_credentials=False)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def journal(tmp_path: Path, clock: Clock) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "state", clock=clock)
    yield j
    j.close()


def new_job(j: Journal, folder: Path, asset: str, name: str, **fields: Any) -> int:
    """A job with one file, moved to the given fields (state, retry_at, ...)."""
    job_id, _ = j.create_job(str(folder), asset, True,
                             [NewFile(name, "video", str(folder / name), str(folder / name))])
    if "state" in fields:
        walk(j, job_id, fields.pop("state"))
    if fields:
        j.set_job(job_id, **fields)
    return job_id


def snapshot(folder: Path, **overrides: Any) -> dict[str, Any]:
    """A snapshot shaped like the daemon's ``_snapshot``."""
    snap: dict[str, Any] = {
        "pid": 4242,
        "folders": {str(folder): {
            "mode": "events", "why": "the inbox is on a local ext4 filesystem",
            "available": True, "paused": None,
            "queue": [{"file": f"{A4}.mp4", "size": 2_000_000, "settled": False,
                       "stable_for_s": 4.0, "waiting_for_s": 9.0}]}},
        "in_flight": [{"file": f"{A3}.mp4", "asset_id": A3, "total": 100_000_000,
                       "sent": 45_000_000, "elapsed_s": 9.0}],
        "waiting": 1,
    }
    snap.update(overrides)
    return snap


def populate(j: Journal, clock: Clock, inbox: Path) -> None:
    """A daemon that finished one file, failed one, waits on one and uploads one."""
    j.daemon_started(4242)
    done = new_job(j, inbox, A1, f"{A1}.mp4", state=J.DONE)
    j.event(str(inbox), "done", job_id=done, asset_id=A1, file=f"{A1}.mp4", detail=f"{A1}.mp4")
    failed = new_job(j, inbox, A2, f"{A2}.cover.jpg", state=J.FAILED, error_code="VOD.10062")
    j.event(str(inbox), "failed", job_id=failed, asset_id=A2, file=f"{A2}.cover.jpg",
            detail="VOD has no media asset with this ID")
    new_job(j, inbox, "e5" * 16, f"{'e5' * 16}.mp4", state=J.UPLOADING,
            attempts=2, retry_at=T0 + 30, wait_reason="network: VOD update_asset: connection "
            "failed (ConnectionRefusedError)")
    # In flight now, with a retry_at left over from an earlier wait: not "waiting".
    new_job(j, inbox, A3, f"{A3}.mp4", state=J.UPLOADING, attempts=1, retry_at=T0 - 100,
            wait_reason="server_error: earlier trouble")
    clock.now = T0 + 5
    j.daemon_heartbeat("running", snapshot(inbox))


def status_of(config: Config, now: float, as_json: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = run_status(config, as_json, out, now=now, env={})
    return code, out.getvalue()


def test_no_journal_says_so_and_exits_1(tmp_path: Path) -> None:
    """Without a journal in state_dir, status says vodwatch has not run there and exits 1."""
    code, text = status_of(config_of(tmp_path), T0)
    assert code == 1
    assert text.startswith(f"vodwatch: no journal at {tmp_path / 'state' / 'journal.sqlite3'}")
    assert "vodwatch run" in text


def test_no_journal_json_is_still_one_object(tmp_path: Path) -> None:
    """With --json and no journal, the answer is still one JSON object, unhealthy."""
    code, text = status_of(config_of(tmp_path), T0, as_json=True)
    obj = json.loads(text)
    assert code == 1 and obj["healthy"] is False and "no journal" in obj["problems"][0]


def test_running_daemon_shows_everything_and_exits_0(tmp_path: Path, journal: Journal,
                                                     clock: Clock) -> None:
    """A live, unpaused daemon shows queue, in-flight, waiting, done and failed, exit 0."""
    config = config_of(tmp_path)
    populate(journal, clock, tmp_path / "inbox")
    code, text = status_of(config, T0 + 6)
    assert code == 0, text
    assert text.startswith("vodwatch is running (pid 4242, up 6s, heartbeat 1s ago)")
    assert "watch: events (the inbox is on a local ext4 filesystem)" in text
    assert f"{A4}.mp4  2.0 MB  settling: unchanged for 4s, seen 9s ago" in text
    assert f"{A3}.mp4  [#########-----------]  45%  5.0 MB/s  ETA 11s" in text
    assert f"{'e5' * 16}.mp4  (uploading, attempt 2, retry in 24s): network: VOD" in text
    assert "earlier trouble" not in text  # the in-flight job is not also listed as waiting
    assert f"{A1}.mp4" in text
    assert f"{A2}.cover.jpg [VOD.10062]: VOD has no media asset with this ID" in text
    assert text.rstrip().endswith("healthy")


def test_json_uses_the_journal_words(tmp_path: Path, journal: Journal, clock: Clock) -> None:
    """--json prints one object whose states and events are the journal's own words."""
    config = config_of(tmp_path)
    populate(journal, clock, tmp_path / "inbox")
    code, text = status_of(config, T0 + 6, as_json=True)
    obj = json.loads(text)
    assert code == 0 and obj["healthy"] is True
    assert obj["daemon"]["status"] == "running" and obj["daemon"]["pid"] == 4242
    (f,) = obj["folders"]
    assert f["name"] == str(tmp_path / "inbox")
    assert f["paths"]["done"] == str(tmp_path / "inbox-done")
    assert [w["state"] for w in f["waiting"]] == [J.UPLOADING]
    assert f["waiting"][0]["retry_at"] == T0 + 30
    assert f["in_flight"][0]["asset_id"] == A3 and f["in_flight"][0]["percent"] == 45.0
    assert f["recent_done"][0]["file"] == f"{A1}.mp4"
    assert f["recent_failed"][0]["code"] == "VOD.10062"


def test_stale_heartbeat_is_not_running(tmp_path: Path, journal: Journal, clock: Clock) -> None:
    """A heartbeat a minute old means the daemon is not running: say when it was seen, exit 1."""
    config = config_of(tmp_path)
    populate(journal, clock, tmp_path / "inbox")
    code, text = status_of(config, T0 + 65)
    assert code == 1
    assert text.startswith("vodwatch is not running (last seen 1m00s ago)")
    assert "[####" not in text  # no stale progress bars
    assert f"{A2}.cover.jpg" in text  # the journal's history is still shown


def test_heartbeat_just_inside_the_timeout_is_running(tmp_path: Path, journal: Journal,
                                                       clock: Clock) -> None:
    """A heartbeat 9 s old is still a running daemon; one 11 s old is not."""
    config = config_of(tmp_path)
    populate(journal, clock, tmp_path / "inbox")
    assert status_of(config, T0 + 14)[0] == 0
    assert status_of(config, T0 + 16)[0] == 1


def test_stopped_daemon_exits_1(tmp_path: Path, journal: Journal, clock: Clock) -> None:
    """A daemon that shut down cleanly is reported stopped, exit 1."""
    config = config_of(tmp_path)
    populate(journal, clock, tmp_path / "inbox")
    journal.daemon_heartbeat("stopped", snapshot(tmp_path / "inbox"))
    code, text = status_of(config, T0 + 6)
    assert code == 1 and "vodwatch is stopped" in text


def test_paused_folder_is_degraded(tmp_path: Path, journal: Journal, clock: Clock) -> None:
    """A pause in the journal shows with its reason and detail, and status exits 1."""
    config = config_of(tmp_path)
    inbox = tmp_path / "inbox"
    populate(journal, clock, inbox)
    journal.set_pause(str(inbox), "credentials", "VOD update_asset answered HTTP 401 APIGW.0301")
    snap = snapshot(inbox)
    snap["folders"][str(inbox)]["paused"] = "credentials"
    journal.daemon_heartbeat("degraded", snap)
    code, text = status_of(config, T0 + 65)
    assert code == 1
    assert "PAUSED (credentials) since 1m00s ago: VOD update_asset answered HTTP 401" in text
    obj = json.loads(status_of(config, T0 + 6, as_json=True)[1])
    assert obj["folders"][0]["paused"]["reason"] == "credentials"
    assert obj["daemon"]["status"] == "degraded" and obj["healthy"] is False


def test_unavailable_folder_is_degraded(tmp_path: Path, journal: Journal, clock: Clock) -> None:
    """A folder set the daemon cannot read makes status exit 1 and says so."""
    config = config_of(tmp_path)
    inbox = tmp_path / "inbox"
    populate(journal, clock, inbox)
    snap = snapshot(inbox)
    snap["folders"][str(inbox)]["available"] = False
    journal.daemon_heartbeat("degraded", snap)
    code, text = status_of(config, T0 + 6)
    assert code == 1 and "NOT AVAILABLE" in text and f"{inbox} is not available" in text


def test_in_flight_uploads_go_to_their_folder_set(tmp_path: Path, journal: Journal,
                                                   clock: Clock) -> None:
    """With two folder sets, an upload is listed under the set whose job it belongs to."""
    config = config_of(tmp_path, ("one", "two"))
    one, two = tmp_path / "one", tmp_path / "two"
    journal.daemon_started(4242)
    new_job(journal, two, A3, f"{A3}.mp4", state=J.UPLOADING)
    snap = snapshot(one)
    snap["folders"][str(two)] = dict(snap["folders"][str(one)], queue=[])
    journal.daemon_heartbeat("running", snap)
    obj = json.loads(status_of(config, T0 + 1, as_json=True)[1])
    by_name = {f["name"]: f for f in obj["folders"]}
    assert by_name[str(one)]["in_flight"] == []
    assert [u["asset_id"] for u in by_name[str(two)]["in_flight"]] == [A3]


def test_secrets_and_upload_urls_are_never_printed(tmp_path: Path, journal: Journal,
                                                   clock: Clock) -> None:
    """Neither the SK nor an upload URL stored in the journal reaches the output."""
    (tmp_path / "ak").write_text("AKSTATUSTEST", encoding="utf-8")
    sk_file = tmp_path / "sk"
    sk_file.write_text(SK, encoding="utf-8")
    sk_file.chmod(0o600)
    path = write_config(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "vod:\n", f"vod:\n  ak_file: {tmp_path / 'ak'}\n  sk_file: {sk_file}\n"),
        encoding="utf-8")
    config = load_config(path, {}, need_credentials=False)
    inbox = tmp_path / "inbox"
    url = "https://vod-bucket.obs.example.com/k/x.mp4?AWSAccessKeyId=AK&Expires=9&Signature=s1g"
    populate(journal, clock, inbox)
    job = new_job(journal, inbox, "f6" * 16, "f6.mp4", state=J.REQUESTED, retry_at=T0,
                  wait_reason=f"expired_url: PUT {url} refused; key {SK}")
    for f in journal.files(job):
        journal.set_file(f.id, upload_url=url)
    journal.event(str(inbox), "failed", job_id=job, file="f6.mp4", detail=f"{url} {SK}")
    for as_json in (False, True):
        out = io.StringIO()
        run_status(config, as_json, out, now=T0 + 6, env={})
        text = out.getvalue()
        assert SK not in text and "s1g" not in text and "obs.example.com" not in text
        assert "f6.mp4" in text


def test_status_reads_while_the_journal_is_held_open_by_a_writer(
        tmp_path: Path, journal: Journal, clock: Clock) -> None:
    """Status opens the journal read-only: the writer keeps writing before and after."""
    config = config_of(tmp_path)
    populate(journal, clock, tmp_path / "inbox")
    assert status_of(config, T0 + 6)[0] == 0
    journal.event(str(tmp_path / "inbox"), "done", file="later.mp4")
    assert "later.mp4" in status_of(config, T0 + 6)[1]


def test_a_file_that_is_not_a_journal_is_reported_plainly(tmp_path: Path) -> None:
    """A state_dir whose journal file is not SQLite gives a plain message and exit 1."""
    config = config_of(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "journal.sqlite3").write_bytes(b"not a database at all" * 100)
    code, text = status_of(config, T0)
    assert code == 1
    assert text.startswith("vodwatch: cannot ")
    assert "Traceback" not in text


def test_cli_status_exit_codes(tmp_path: Path) -> None:
    """``vodwatch status`` as a process exits 0 for a live daemon and 1 once it stopped."""
    path = write_config(tmp_path)
    live = Journal.open(tmp_path / "state")
    try:
        live.daemon_started(os.getpid())
        live.daemon_heartbeat("running", snapshot(tmp_path / "inbox"))
        cmd = [sys.executable, "-m", "vodwatch", "status", "--config", str(path), "--json"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUAWEICLOUD_")}
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60,
                             check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        assert json.loads(run.stdout)["daemon"]["status"] == "running"
        live.daemon_heartbeat("stopped", snapshot(tmp_path / "inbox"))
        run = subprocess.run(cmd[:-1], capture_output=True, text=True, env=env, timeout=60,
                             check=False)
        assert run.returncode == 1
        assert "vodwatch is stopped" in run.stdout
    finally:
        live.close()
