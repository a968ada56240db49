"""Notifications: real json:// posts to a local HTTP receiver, grouping, retries, redaction."""

from __future__ import annotations

import socket
import sys
import time
import types
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from tests.receiver import Receiver
from vodwatch.alert_send import json_request
from vodwatch.alert_targets import redact_url, target_problem
from vodwatch.alerts import Alerts
from vodwatch.log import redact

FOLDER = "vod-drop/inbox"
FAST = {"group_seconds": 0.2, "backoff": 0.05}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def broken() -> Iterator[Receiver]:
    with Receiver(status=500) as r:
        yield r


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_failure_arrives_with_apprises_json_body(receiver: Receiver) -> None:
    """One failure is posted as Apprise's JSON payload, attachments and version included."""
    alerts = Alerts([receiver.url("/hooks/vodwatch")], FOLDER, **FAST)
    alerts.failed("clip.mp4", "The file is not a video VOD can read.")
    (got,) = receiver.wait(1)
    alerts.close()
    assert (got.method, got.path) == ("POST", "/hooks/vodwatch")
    assert got.headers["content-type"] == "application/json"
    assert got.body == {
        "version": "1.0",
        "title": "vodwatch: 1 file failed in vod-drop/inbox",
        "message": "clip.mp4: The file is not a video VOD can read.\n\nEach one is in the failed "
                   "folder, beside a .error.txt file that says what to do.",
        "type": "failure",
        "attachments": [],
    }
    assert alerts.failures == 0 and alerts.last_error is None


def test_failures_within_the_window_arrive_as_one_message(receiver: Receiver) -> None:
    """Three failures inside group_seconds make one message listing all three."""
    alerts = Alerts([receiver.url()], FOLDER, group_seconds=0.5, backoff=0.05)
    for n in range(3):
        alerts.failed(f"clip{n}.mp4", f"Reason {n}.")
    (got,) = receiver.wait(1)
    time.sleep(0.7)  # a second message would have come by now
    alerts.close()
    assert len(receiver.requests) == 1
    assert got.body["title"] == "vodwatch: 3 files failed in vod-drop/inbox"
    assert got.body["message"].splitlines()[:3] == [
        "clip0.mp4: Reason 0.", "clip1.mp4: Reason 1.", "clip2.mp4: Reason 2."]


def test_a_later_failure_opens_a_new_window(receiver: Receiver) -> None:
    """A failure after the window was sent comes in a message of its own."""
    alerts = Alerts([receiver.url()], FOLDER, **FAST)
    alerts.failed("a.mp4", "First.")
    receiver.wait(1)
    alerts.failed("b.mp4", "Second.")
    second = receiver.wait(2)[1]
    alerts.close()
    assert second.body["message"].startswith("b.mp4: Second.")


def test_a_failing_target_is_retried_counted_and_redacted(broken: Receiver) -> None:
    """A target answering 500 gets `attempts` tries; the failure is counted without its token."""
    url = broken.url("/hook/SECRETTOKEN0123456789")
    alerts = Alerts([url], FOLDER, attempts=3, **FAST)
    alerts.paused("VOD refuses the access key")
    broken.wait(3)
    alerts.close()
    assert len(broken.requests) == 3
    assert alerts.failures == 1
    assert alerts.last_error == f"json://127.0.0.1:{broken.port}/…: HTTP 500"
    assert "SECRETTOKEN" not in alerts.last_error


def test_a_closed_port_is_a_counted_failure() -> None:
    """Nothing listening: every attempt fails to connect, and the reason is kept."""
    alerts = Alerts([f"json://127.0.0.1:{closed_port()}/x/TOKEN987654321"], FOLDER,
                    attempts=2, **FAST)
    alerts.unavailable("the share is not mounted")
    alerts.close(timeout=5)
    assert alerts.failures == 1
    assert alerts.last_error is not None
    assert "cannot connect" in alerts.last_error and "TOKEN" not in alerts.last_error


def test_a_failing_target_delays_neither_the_caller_nor_other_targets(
        broken: Receiver, receiver: Receiver) -> None:
    """Calls return at once; a good target gets every message while a failing one waits to
    retry and a slow one is still on its first."""
    with Receiver(delay=3.0) as slow:
        alerts = Alerts([broken.url(), slow.url(), receiver.url()], FOLDER,
                        attempts=3, group_seconds=0.2, backoff=5.0)
        longest = 0.0
        for n in range(20):
            for call in (partial(alerts.failed, f"clip{n}.mp4", "Broken."),
                         partial(alerts.paused, "why"), alerts.resumed):
                start = time.perf_counter()
                call()
                longest = max(longest, time.perf_counter() - start)
        assert longest < 0.01, longest
        receiver.wait(41, timeout=2.5)  # 20 pauses, 20 recoveries, one failure group
        assert len(broken.requests) == 1  # its retry is 5 s away
        assert len(slow.requests) == 1  # still answering the first
        start = time.monotonic()
        alerts.close(timeout=0.2)
        assert time.monotonic() - start < 1.0
        assert alerts.failures >= 2  # what neither could take before the deadline


def test_deliveries_are_off_by_default(receiver: Receiver) -> None:
    """delivered() sends nothing unless deliveries=True."""
    quiet = Alerts([receiver.url("/quiet")], FOLDER, **FAST)
    quiet.delivered("clip.mp4", "a" * 32)
    quiet.resumed()
    quiet.close()
    loud = Alerts([receiver.url("/loud")], FOLDER, deliveries=True, **FAST)
    loud.delivered("clip.mp4", "a" * 32)
    loud.close()
    assert [(r.path, r.body["type"]) for r in receiver.requests] == [
        ("/quiet", "success"), ("/loud", "success")]
    assert receiver.requests[0].body["message"].startswith("vod-drop/inbox works again")
    assert receiver.requests[1].body["message"] == (
        f"clip.mp4 delivered to VOD (asset {'a' * 32}).")


def test_pause_outage_and_recovery_speak_plainly(receiver: Receiver) -> None:
    """Pauses and outages are warnings, recovery a success, each naming the folder set."""
    alerts = Alerts([receiver.url()], FOLDER, **FAST)
    alerts.paused("VOD refuses the access key")
    alerts.unavailable("the share is not mounted")
    alerts.resumed()
    alerts.close()
    assert [(b["type"], b["message"]) for b in receiver.bodies()] == [
        ("warning", "Uploads from vod-drop/inbox are paused: VOD refuses the access key"),
        ("warning", "vod-drop/inbox is not available: the share is not mounted"),
        ("success", "vod-drop/inbox works again: files dropped there are uploaded."),
    ]


def test_control_characters_in_names_are_escaped(receiver: Receiver) -> None:
    """A name with a terminal escape or a line break cannot forge lines of the message."""
    alerts = Alerts([receiver.url()], "drop\x1b[2J", **FAST)
    alerts.failed("evil\nname\u202e.mp4", "Bad.")
    alerts.close()
    (body,) = receiver.bodies()
    assert body["title"] == "vodwatch: 1 file failed in drop\\x1b[2J"
    assert body["message"].splitlines()[0] == "evil\\x0aname\\u202e.mp4: Bad."


def test_close_flushes_a_pending_group(receiver: Receiver) -> None:
    """close() sends a failure group at once instead of waiting out its window."""
    alerts = Alerts([receiver.url()], FOLDER, group_seconds=60, backoff=0.05)
    alerts.failed("clip.mp4", "Broken.")
    start = time.monotonic()
    alerts.close(timeout=5)
    assert time.monotonic() - start < 2
    (body,) = receiver.bodies()
    assert body["title"] == "vodwatch: 1 file failed in vod-drop/inbox"
    alerts.failed("late.mp4", "After close.")  # ignored, never raises
    assert len(receiver.requests) == 1


def test_close_gives_up_on_retries_at_its_deadline(broken: Receiver) -> None:
    """What is still unsent when close() times out is counted as failed."""
    alerts = Alerts([broken.url()], FOLDER, attempts=5, group_seconds=0.2, backoff=10)
    alerts.paused("why")
    broken.wait(1)
    start = time.monotonic()
    alerts.close(timeout=0.3)
    assert time.monotonic() - start < 1.5
    assert alerts.failures == 1
    assert alerts.last_error is not None and "not sent before vodwatch stopped" in alerts.last_error


def test_send_test_reports_each_target(receiver: Receiver, broken: Receiver) -> None:
    """send_test() sends now, once per target, and says which worked, URLs redacted."""
    alerts = Alerts([receiver.url("/ok/TOKENAAAAAAAA"), broken.url("/bad/TOKENBBBBBBBB")], FOLDER)
    results = alerts.send_test()
    alerts.close()
    assert results == [(f"json://127.0.0.1:{receiver.port}/…", None),
                       (f"json://127.0.0.1:{broken.port}/…", "HTTP 500")]
    (body,) = receiver.bodies()
    assert body["type"] == "info"
    assert body["title"] == "vodwatch: test message for vod-drop/inbox"
    assert len(broken.requests) == 1


def test_no_targets_is_silent_and_starts_nothing() -> None:
    """Without targets every call is a no-op and no thread is started."""
    alerts = Alerts([], FOLDER)
    alerts.failed("clip.mp4", "Broken.")
    assert alerts.send_test() == []
    alerts.close()
    assert alerts.failures == 0


def test_target_tokens_are_registered_with_the_log_redaction(receiver: Receiver) -> None:
    """The URL, its password and its path tokens are blanked out of any log text."""
    url = receiver.url("/hook/LEAKYTOKEN4242").replace("//", "//bob:PASSWORD77@", 1)
    Alerts([url], FOLDER).close()
    leaked = f"POST http://127.0.0.1:{receiver.port}/hook/LEAKYTOKEN4242 failed; {url}"
    cleaned = redact(leaked)
    assert "LEAKYTOKEN4242" not in cleaned and "PASSWORD77" not in cleaned
    Alerts([receiver.url("/hooks/vodwatch-notices")], FOLDER).close()
    assert redact("vodwatch-notices from vodwatch") == "vodwatch-notices from vodwatch"


@pytest.mark.parametrize(("url", "shown"), [
    ("json://bob:secret@hooks.example.com:8080/hook/TOKEN", "json://hooks.example.com:8080/…"),
    ("jsons://hooks.example.com", "jsons://hooks.example.com"),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general", "slack://…"),
    ("mailto://user:pass@gmail.com?to=ops@example.com", "mailto://gmail.com/…"),
    ("ntfy://ntfy.sh/vodwatch-topic", "ntfy://ntfy.sh/…"),
    ("no scheme here", "(not a URL)"),
])
def test_redacted_urls_keep_only_scheme_and_host(url: str, shown: str) -> None:
    """Credentials, paths, queries and token-like hosts never show."""
    assert redact_url(url) == shown


def test_apprise_json_url_options_are_honoured(receiver: Receiver) -> None:
    """Basic auth, +headers, -query params, :payload extras and method= work as in Apprise."""
    url = receiver.url("/hook?method=PUT&+X-Token=abc&-channel=ops&:type=level&:attachments="
                       "&:source=vodwatch").replace("//", "//bob:pw@", 1)
    alerts = Alerts([url], FOLDER, **FAST)
    alerts.resumed()
    (got,) = receiver.wait(1)
    alerts.close()
    assert (got.method, got.path) == ("PUT", "/hook?channel=ops")
    assert got.headers["x-token"] == "abc"
    assert got.headers["authorization"] == "Basic Ym9iOnB3"
    assert got.body == {"version": "1.0", "title": "vodwatch: vod-drop/inbox works again",
                        "message": "vod-drop/inbox works again: files dropped there are uploaded.",
                        "level": "success", "source": "vodwatch"}
    assert json_request("jsons://h.example/p", "t", "b", "info")["url"] == "https://h.example/p"


def test_target_problems_without_apprise(monkeypatch: pytest.MonkeyPatch) -> None:
    """json:// is always fine; other schemes need the extra and say how to install it."""
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if not installed
    assert target_problem("json://hooks.example.com/x") is None
    assert target_problem("jsons://hooks.example.com:8443") is None
    problem = target_problem("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    assert problem is not None
    assert "apprise" in problem[0] and "TIiaj" not in problem[0]
    assert "pip install 'vodwatch[notify]'" in problem[1]
    assert target_problem("hooks.example.com/x") is not None
    assert target_problem("json:///no-host") is not None
    assert target_problem("json://h.example:port/x") is not None
    assert target_problem("json://h.example/x?method=FETCH") is not None
    assert target_problem(42) is not None


class FakeApprise:
    """Stands in for apprise.Apprise: accepts slack:// URLs and records what it sends."""

    sent: list[dict[str, Any]] = []  # noqa: RUF012
    answer = True

    def __init__(self) -> None:
        self.urls: list[str] = []

    def add(self, url: str) -> bool:
        self.urls.append(url)
        return url.startswith("slack://")

    def notify(self, **kwargs: Any) -> bool:
        FakeApprise.sent.append({"urls": self.urls, **kwargs})
        return FakeApprise.answer


@pytest.fixture
def fake_apprise(monkeypatch: pytest.MonkeyPatch) -> type[FakeApprise]:
    module = types.ModuleType("apprise")
    module.Apprise = FakeApprise  # type: ignore[attr-defined]
    module.NotifyType = types.SimpleNamespace(INFO="info", SUCCESS="success",  # type: ignore[attr-defined]
                                              WARNING="warning", FAILURE="failure")
    monkeypatch.setitem(sys.modules, "apprise", module)
    FakeApprise.sent = []
    FakeApprise.answer = True
    return FakeApprise


def test_other_schemes_go_through_apprise(fake_apprise: type[FakeApprise]) -> None:
    """With apprise installed, a slack:// target is added to an Apprise and notified."""
    url = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    assert target_problem(url) is None
    assert target_problem("nosuch://x") == (
        "nosuch://… is not a URL apprise understands",
        "check it against the Apprise wiki page of that service")
    alerts = Alerts([url], FOLDER, **FAST)
    alerts.paused("why")
    alerts.close()
    assert fake_apprise.sent == [{"urls": [url], "title": "vodwatch: uploads from vod-drop/inbox "
                                  "are paused", "body": "Uploads from vod-drop/inbox are paused: "
                                  "why", "notify_type": "warning"}]
    fake_apprise.answer = False
    assert Alerts([url], FOLDER).send_test() == [
        ("slack://…", "the service did not accept the message (apprise logs why)")]


def test_json_targets_stay_built_in_when_apprise_is_installed(
        fake_apprise: type[FakeApprise], receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Installing the extra never changes what a json:// target means: the receiver gets the
    built-in body, and apprise (here one that would take any URL) sends nothing."""
    monkeypatch.setattr(FakeApprise, "add", lambda self, url: self.urls.append(url) or True)
    url = receiver.url("/hook")
    assert target_problem(url) is None
    alerts = Alerts([url], FOLDER, **FAST)
    alerts.paused("the keys were refused")
    (got,) = receiver.wait(1)
    assert Alerts([url], FOLDER).send_test() == [(redact_url(url), None)]
    alerts.close()
    assert got.body == {"version": "1.0", "title": "vodwatch: uploads from vod-drop/inbox are "
                        "paused", "message": "Uploads from vod-drop/inbox are paused: the keys "
                        "were refused", "type": "warning", "attachments": []}
    assert got.headers["user-agent"] == "vodwatch"
    assert fake_apprise.sent == []
