"""``vodwatch status`` rendering: pure functions from a status dict to text and JSON."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from vodwatch import status_collect, status_text
from vodwatch.log import add_secret

NOW = 1_700_000_000.0
ASSET = "0123456789abcdef0123456789abcdef"


def folder(name: str = "/srv/vod-drop/inbox", **overrides: Any) -> dict[str, Any]:
    """A folder-set entry shaped like ``status_collect.collect`` makes them."""
    base: dict[str, Any] = {
        "name": name,
        "paths": {"inbox": name, "done": "/srv/vod-drop/done", "failed": "/srv/vod-drop/failed"},
        "mode": "events", "why": "the inbox is on a local ext4 filesystem", "available": True,
        "paused": None, "queue": [], "in_flight": [], "waiting": [], "recent_done": [],
        "recent_failed": [],
    }
    base.update(overrides)
    return base


def data(*folders: dict[str, Any], state: str = "running", age: float = 1.0) -> dict[str, Any]:
    """A whole status dict, with ``problems`` and ``healthy`` filled in as collect does."""
    d: dict[str, Any] = {
        "journal": "/var/lib/vodwatch/journal.sqlite3", "now": NOW,
        "daemon": status_collect.daemon_summary({"pid": 4242, "started_at": NOW - 3700,
                                                 "heartbeat": NOW - age, "state": state,
                                                 "snapshot": {}}, NOW),
        "folders": list(folders) or [folder()], "in_flight_elsewhere": [],
    }
    d["problems"] = status_collect.problems(d)
    d["healthy"] = not d["problems"]
    return d


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (12.4, "12s"), (59.6, "1m00s"), (200, "3m20s"), (7500, "2h05m"),
    (3 * 86400 + 4 * 3600, "3d04h"), (-5, "0s"), (None, "--"),
])
def test_duration(seconds: float | None, text: str) -> None:
    """Durations read as the largest two units, and an unknown one as ``--``."""
    assert status_text.duration(seconds) == text


@pytest.mark.parametrize(("n", "text"), [
    (0, "0 B"), (999, "999 B"), (12_345_678, "12.3 MB"), (1_200_000_000, "1.2 GB"),
    (5_000_000_000_000_000, "5000.0 TB"),
])
def test_size(n: int, text: str) -> None:
    """Sizes use decimal units with one decimal, matching the MB/s of rates."""
    assert status_text.size(n) == text


def test_progress_bar_at_45_percent() -> None:
    """A 45 % upload fills 9 of 20 cells and shows the percentage right-aligned."""
    assert status_text.progress_bar(45, 100) == "[#########-----------]  45%"


def test_progress_bar_never_claims_100_percent_early_and_handles_empty_files() -> None:
    """99.9 % shows as 99 %, a zero-byte file as full, and overshoot is capped."""
    assert status_text.progress_bar(999, 1000).endswith(" 99%")
    assert status_text.progress_bar(0, 0) == "[####################] 100%"
    assert status_text.progress_bar(150, 100) == "[####################] 100%"


def test_upload_progress_computes_rate_and_eta_from_sent_and_elapsed() -> None:
    """Rate is bytes sent over seconds elapsed, and ETA the bytes left at that rate."""
    u = status_collect.upload_progress({"file": f"{ASSET}.mp4", "asset_id": ASSET,
                                        "total": 4_920_000_000, "sent": 2_460_000_000,
                                        "elapsed_s": 200.0})
    assert u["percent"] == 50.0
    assert u["rate_bytes_per_s"] == 12_300_000.0
    assert u["eta_s"] == 200.0


def test_upload_progress_without_bytes_sent_has_no_rate_or_eta() -> None:
    """An upload that has sent nothing yet has no rate and no ETA (not zero, not infinite)."""
    u = status_collect.upload_progress({"file": "x.mp4", "asset_id": ASSET, "total": 10,
                                        "sent": 0, "elapsed_s": 0.0})
    assert u["rate_bytes_per_s"] is None
    assert u["eta_s"] is None


def test_render_in_flight_line_has_bar_rate_and_eta() -> None:
    """An in-flight upload shows a bar, its rate in MB/s and the ETA on one line."""
    u = status_collect.upload_progress({"file": f"{ASSET}.mp4", "asset_id": ASSET,
                                        "total": 1_000_000_000, "sent": 450_000_000,
                                        "elapsed_s": 450 / 12.3})
    text = status_text.render(data(folder(in_flight=[u])))
    line = next(x for x in text.splitlines() if f"{ASSET}.mp4" in x)
    assert "[#########-----------]  45%  12.3 MB/s  ETA 45s" in line
    assert "450.0 MB of 1.0 GB" in line


def test_render_healthy_running_daemon() -> None:
    """A running daemon with a fresh heartbeat renders as running and healthy, exit 0."""
    d = data()
    text = status_text.render(d)
    assert text.startswith("vodwatch is running (pid 4242, up 1h01m, heartbeat 1s ago)")
    assert "watch: events (the inbox is on a local ext4 filesystem)" in text
    assert "queue: empty" in text and "in flight: none" in text
    assert text.rstrip().endswith("healthy")
    assert status_collect.exit_code(d) == 0


def test_render_stale_heartbeat_is_not_running() -> None:
    """A heartbeat older than the timeout reads as not running with the time last seen."""
    d = data(age=300)
    text = status_text.render(d)
    assert text.startswith("vodwatch is not running (last seen 5m00s ago)")
    assert "watch: unknown while the daemon is not running" in text
    assert "queue" not in text  # the snapshot's queue is stale, so it is not shown
    assert status_collect.exit_code(d) == 1


def test_render_stopped_daemon() -> None:
    """A daemon that wrote "stopped" is not running even with a recent heartbeat."""
    d = data(state="stopped", age=2)
    assert status_text.render(d).startswith("vodwatch is stopped (last seen 2s ago)")
    assert status_collect.exit_code(d) == 1


def test_render_paused_folder_is_degraded() -> None:
    """A paused folder set shows PAUSED with reason, age and detail, and makes exit 1."""
    paused = {"reason": "credentials", "detail": "VOD update_asset answered HTTP 401 APIGW.0301",
              "since": NOW - 120}
    d = data(folder(paused=paused), state="degraded")
    text = status_text.render(d)
    assert "  PAUSED (credentials) since 2m00s ago: VOD update_asset answered HTTP 401 " \
           "APIGW.0301" in text
    assert "NOT HEALTHY: uploads from /srv/vod-drop/inbox are paused: credentials" in text
    assert status_collect.exit_code(d) == 1


def test_render_unavailable_folder_is_degraded() -> None:
    """An unavailable inbox is called out with its reason and makes the status unhealthy."""
    why = "the share is full (/srv/vod-drop/inbox/.vodwatch): free some space"
    d = data(folder(available=False, unavailable=why), state="degraded")
    assert f"NOT AVAILABLE: {why}" in status_text.render(d)
    assert d["problems"] == [f"/srv/vod-drop/inbox is not available: {why}"]


def test_render_queue_waiting_and_outcomes() -> None:
    """Queued, waiting, done and failed files appear with sizes, reasons and times."""
    f = folder(
        queue=[{"file": "a.mp4", "size": 1_500_000, "settled": False, "stable_for_s": 3.0,
                "waiting_for_s": 12.0},
               {"file": "b.mp4", "size": 10, "settled": True, "stable_for_s": 11.0,
                "waiting_for_s": 40.0}],
        waiting=[{"job_id": 7, "asset_id": ASSET, "state": "uploading", "attempts": 3,
                  "reason": "network: VOD update_asset: connection failed", "retry_at": NOW + 40,
                  "retry_in_s": 40.0, "files": [f"{ASSET}.mp4"]}],
        recent_done=[{"at": NOW - 65, "file": "c.mp4", "asset_id": ASSET, "job_id": 5,
                      "detail": "c-1.mp4", "code": None}],
        recent_failed=[{"at": NOW - 7200, "file": "d.mp4", "asset_id": ASSET, "job_id": 6,
                        "detail": "VOD has no media asset with this ID", "code": "VOD.10062"}])
    text = status_text.render(data(f))
    assert "    a.mp4  1.5 MB  settling: unchanged for 3s, seen 12s ago" in text
    assert "    b.mp4  10 B  settled 11s ago, waiting for its turn, seen 40s ago" in text
    assert (f"    {ASSET}.mp4  (uploading, attempt 3, retry in 40s): network: VOD update_asset: "
            "connection failed") in text
    assert "    1m05s ago  c.mp4 -> c-1.mp4" in text
    assert "    2h00m ago  d.mp4 [VOD.10062]: VOD has no media asset with this ID" in text


def test_render_overdue_retry_says_due_now() -> None:
    """A waiting job whose retry time has passed says the retry is due, not a negative time."""
    w = {"job_id": 7, "asset_id": ASSET, "state": "ready", "attempts": 1, "reason": "x",
         "retry_at": NOW - 5, "retry_in_s": 0.0, "files": []}
    assert f"asset {ASSET}  (ready, attempt 1, retry due now): x" in status_text.render(
        data(folder(waiting=[w])))


def test_render_never_started() -> None:
    """A journal without a daemon row says vodwatch never ran with it."""
    d = data()
    d["daemon"] = status_collect.daemon_summary(None, NOW)
    d["problems"] = status_collect.problems(d)
    assert status_text.render(d).startswith("vodwatch has never run with the journal ")
    assert status_collect.exit_code(d) == 1


def test_render_long_reason_is_shortened_in_text_only() -> None:
    """A very long wait reason is cut in the text but kept whole in the JSON."""
    reason = "network: " + "x" * 500
    w = {"job_id": 1, "asset_id": ASSET, "state": "ready", "attempts": 1, "reason": reason,
         "retry_at": NOW + 1, "retry_in_s": 1.0, "files": ["f.mp4"]}
    d = data(folder(waiting=[w]))
    assert "x" * 500 not in status_text.render(d)
    assert json.loads(status_text.render_json(d))["folders"][0]["waiting"][0]["reason"] == reason


def test_render_json_is_one_object_with_stable_keys() -> None:
    """The JSON form is one line holding one object with the documented top-level keys."""
    text = status_text.render_json(data())
    assert text.count("\n") == 1
    obj = json.loads(text)
    assert set(obj) == {"journal", "now", "daemon", "folders", "in_flight_elsewhere", "problems",
                        "healthy"}
    assert obj["daemon"]["status"] == "running"
    assert set(obj["folders"][0]) == {"name", "paths", "mode", "why", "available", "paused",
                                      "queue", "in_flight", "waiting", "recent_done",
                                      "recent_failed"}


def test_clean_removes_signed_urls_and_registered_secrets() -> None:
    """Text shown by status never carries a signed URL or a registered secret."""
    secret = "sk-" + secrets.token_hex(16)
    add_secret(secret)
    text = status_collect.clean(f"PUT https://bucket.obs.example.com/k/v.mp4?AWSAccessKeyId=AK&"
                        f"Expires=1&Signature=abc%2F failed with {secret}")
    assert "Signature" not in text and "abc%2F" not in text and "bucket.obs" not in text
    assert secret not in text
    assert text.startswith("PUT <url> failed with ")
