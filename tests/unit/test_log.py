"""Logging: JSON per line or console, the stdlib bridge, and redaction of secrets."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vodwatch.log import REDACTED, add_secret, configure_logging, get_logger, redact

SIGNED_URL = ("https://vod-bucket-81.obs.cn-north-4.myhuaweicloud.com:443/p/a/b.mp4"
              "?AWSAccessKeyId=AKTEMP&Expires=1560420274&Signature=dGhpcyBpcyBub3Q%3D")
AUTHORIZATION = ("SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=host;x-sdk-date, "
                 "Signature=3b9c3f5e0a1d2c4b6e8f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the process's logging as it was found."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in ("urllib3.connectionpool",
                                                              "watchdog")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_is_one_object_per_line() -> None:
    """fmt=json writes one JSON object per line with event, level, logger and a UTC timestamp."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    log = get_logger("vodwatch.test")
    log.info("job.finished", file="a.mp4", bytes=12)
    log.warning("job.slow")
    first, second = json_lines(out)
    assert first["event"] == "job.finished" and first["file"] == "a.mp4" and first["bytes"] == 12
    assert (first["level"], first["logger"]) == ("info", "vodwatch.test")
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]
    assert second["level"] == "warning"


def test_auto_on_a_pipe_or_file_is_json(tmp_path: Path) -> None:
    """fmt=auto writes JSON when the stream is not a terminal."""
    with (tmp_path / "log.txt").open("w+", encoding="utf-8") as stream:
        configure_logging("auto", "info", stream)
        get_logger("t").info("hello", n=1)
        stream.seek(0)
        assert json.loads(stream.read())["n"] == 1


def test_auto_on_a_terminal_is_console() -> None:
    """fmt=auto writes human-readable lines, not JSON, when the stream is a terminal."""
    master, slave = os.openpty()
    try:
        with open(slave, "w", encoding="utf-8", closefd=True) as stream:
            configure_logging("auto", "info", stream)
            get_logger("t").info("upload.started", file="a.mp4")
            stream.flush()
        text = os.read(master, 65536).decode("utf-8", "replace")
    finally:
        os.close(master)
    assert "upload.started" in text and "a.mp4" in text
    assert not text.lstrip().startswith("{")


def test_console_format() -> None:
    """fmt=console writes key=value lines without colour codes on a non-terminal."""
    out = io.StringIO()
    configure_logging("console", "info", out)
    get_logger("vodwatch.x").info("upload.started", file="a.mp4", asset_id="ab12")
    line = out.getvalue()
    assert "upload.started" in line and "file=a.mp4" in line and "asset_id=ab12" in line
    assert "[info" in line and "\x1b[" not in line


def test_stdlib_records_share_the_format() -> None:
    """A stdlib logger's line (urllib3) comes out as JSON with the same fields as structlog's."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    get_logger("vodwatch.api").warning("vod.retry")
    logging.getLogger("urllib3").warning("Retrying (%s) after %s", "Retry(total=2)", "reset")
    ours, theirs = json_lines(out)
    assert set(ours) == set(theirs) == {"event", "level", "logger", "timestamp"}
    assert theirs["event"] == "Retrying (Retry(total=2)) after reset"
    assert (theirs["level"], theirs["logger"]) == ("warning", "urllib3")


def test_noisy_libraries_are_quiet_unless_debugging() -> None:
    """urllib3's connection pool and watchdog INFO lines show only at level debug."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
    logging.getLogger("watchdog.observers").info("event")
    logging.getLogger("urllib3.connectionpool").warning("Connection pool is full")
    assert [line["event"] for line in json_lines(out)] == ["Connection pool is full"]
    out = io.StringIO()
    configure_logging("json", "debug", out)
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
    assert len(json_lines(out)) == 1


def test_level_filters_both_kinds_of_logger() -> None:
    """Lines below the configured level are dropped, from structlog and stdlib alike."""
    out = io.StringIO()
    configure_logging("json", "warning", out)
    get_logger("t").info("hidden")
    logging.getLogger("other").info("hidden too")
    get_logger("t").error("shown")
    assert [line["event"] for line in json_lines(out)] == ["shown"]


def test_reconfiguring_replaces_the_handler() -> None:
    """Calling configure_logging again (SIGHUP) does not duplicate lines."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", first)
    configure_logging("json", "info", second)
    get_logger("t").info("once")
    assert first.getvalue() == "" and len(json_lines(second)) == 1


def test_context_variables_are_merged() -> None:
    """Fields bound with structlog's contextvars appear on every line of that scope."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    with structlog.contextvars.bound_contextvars(file="a.mp4", asset_id="ab12"):
        get_logger("t").info("upload.part_done", part=3)
        logging.getLogger("urllib3").warning("reset")
    get_logger("t").info("after")
    inside, bridged, after = json_lines(out)
    assert (inside["file"], inside["asset_id"], inside["part"]) == ("a.mp4", "ab12", 3)
    assert bridged["asset_id"] == "ab12"
    assert "asset_id" not in after


def test_get_logger_without_a_name_uses_the_calling_module() -> None:
    """get_logger() names its lines after the module that logs."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    get_logger().info("hello")
    assert json_lines(out)[0]["logger"] == __name__


def test_capture_logs_works_with_the_configuration() -> None:
    """structlog.testing.capture_logs sees events logged through get_logger."""
    configure_logging("json", "info", io.StringIO())
    with structlog.testing.capture_logs() as logs:
        get_logger("t").info("job.finished", file="a.mp4")
    assert logs == [{"event": "job.finished", "file": "a.mp4", "log_level": "info"}]


def test_unknown_format_or_level_is_refused() -> None:
    """configure_logging raises ValueError for a format or level it does not know."""
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml", "info", io.StringIO())
    with pytest.raises(ValueError, match="log level"):
        configure_logging("json", "loud", io.StringIO())


def test_registered_secrets_never_reach_the_output() -> None:
    """The SK, given at configure time or later, is replaced in events, values and nested values."""
    out = io.StringIO()
    configure_logging("json", "info", out, secrets=["sk-configured-0a9f7c"])
    add_secret("sk-added-later-51c2e8")
    log = get_logger("t")
    log.info("using sk-configured-0a9f7c", nested={"a": ["x sk-added-later-51c2e8 y"]},
             pair=("sk-added-later-51c2e8",))
    logging.getLogger("requests").warning("key=%s", "sk-configured-0a9f7c")
    text = out.getvalue()
    assert "sk-configured-0a9f7c" not in text and "sk-added-later-51c2e8" not in text
    first, second = json_lines(out)
    assert first["event"] == f"using {REDACTED}"
    assert first["nested"] == {"a": [f"x {REDACTED} y"]} and first["pair"] == [REDACTED]
    assert second["event"] == f"key={REDACTED}"


def test_signed_url_signatures_are_redacted() -> None:
    """Signature values in URL query strings are replaced; the rest of the URL stays readable."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    get_logger("t").info("upload.put", url=SIGNED_URL)
    logging.getLogger("urllib3.connectionpool").warning("PUT %s failed", SIGNED_URL)
    for line in json_lines(out):
        text = json.dumps(line)
        assert "dGhpcyBpcyBub3Q" not in text
        assert f"Expires=1560420274&Signature={REDACTED}" in text
        assert "AWSAccessKeyId=AKTEMP" in text


def test_authorization_header_signature_is_redacted() -> None:
    """The Signature= part of an AK/SK Authorization header is replaced, in text and in dicts."""
    out = io.StringIO()
    configure_logging("console", "info", out)
    get_logger("t").info("vod.request", headers={"Authorization": AUTHORIZATION},
                         line=f"Authorization: {AUTHORIZATION}")
    text = out.getvalue()
    assert "3b9c3f5e0a1d" not in text
    assert f"SignedHeaders=host;x-sdk-date, Signature={REDACTED}" in text


@pytest.mark.parametrize(("text", "expected"), [
    (f"GET {SIGNED_URL} 403", f"GET {SIGNED_URL.rsplit('=', 1)[0]}={REDACTED} 403"),
    ("https://h/o?X-Amz-Signature=abc&X-Amz-Date=1", f"https://h/o?X-Amz-Signature={REDACTED}"
                                                      "&X-Amz-Date=1"),
    ("https://h/o?a=1&token=abc.def", f"https://h/o?a=1&token={REDACTED}"),
    ("https://h/o?sig=abc", f"https://h/o?sig={REDACTED}"),
    ("https://h/o?X-Auth-Token=MIIabc&x=2", f"https://h/o?X-Auth-Token={REDACTED}&x=2"),
    ("X-Auth-Token: MIIabc", f"X-Auth-Token: {REDACTED}"),
    (AUTHORIZATION, AUTHORIZATION.rsplit("=", 1)[0] + f"={REDACTED}"),
    ("Authorization: Bearer abc.def", f"Authorization: Bearer {REDACTED}"),
    ("https://h/o?signed=1&design=2", "https://h/o?signed=1&design=2"),
    ("<Code>SignatureDoesNotMatch</Code><SignatureProvided>dGhp=</SignatureProvided>",
     f"<Code>SignatureDoesNotMatch</Code><SignatureProvided>{REDACTED}</SignatureProvided>"),
    ("no secrets here", "no secrets here"),
])
def test_redact_text(text: str, expected: str) -> None:
    """redact() replaces signature and token values and leaves other text alone."""
    assert redact(text) == expected


def test_exceptions_in_logs_are_redacted() -> None:
    """Tracebacks from log.exception and stdlib exc_info, and exception values, are cleaned."""
    out = io.StringIO()
    configure_logging("json", "info", out, secrets=["sk-in-exception-77aa1"])
    try:
        raise ConnectionError(f"reset by peer for {SIGNED_URL} sk-in-exception-77aa1")
    except ConnectionError as exc:
        get_logger("t").exception("upload.failed")
        logging.getLogger("urllib3").warning("failed", exc_info=True)
        get_logger("t").warning("upload.retry", error=exc)
    text = out.getvalue()
    assert "dGhpcyBpcyBub3Q" not in text and "sk-in-exception-77aa1" not in text
    first, second, third = json_lines(out)
    assert "ConnectionError: reset by peer" in first["exception"]
    assert "Traceback" in second["exception"]
    assert third["error"].startswith("reset by peer for https://")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def test_redaction_never_raises_on_odd_values() -> None:
    """Unprintable objects, cycles, bytes, sets and non-string keys are logged, not raised."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    cycle: list[Any] = []
    cycle.append(cycle)
    get_logger("t").info(
        "odd", obj=Unprintable(), cycle=cycle, data=b"\x00\xffSignature=x",
        numbers={1: 2.5, None: True}, keys={(1, 2): "tuple"}, path=Path("/srv/vod-drop/inbox"),
        items={"a"}, empty=Exception())
    (line,) = json_lines(out)
    assert line["obj"] == "<unprintable Unprintable>"
    assert line["path"] == "/srv/vod-drop/inbox"
    assert line["numbers"] == {"1": 2.5, "null": True} and line["keys"] == {"(1, 2)": "tuple"}
    assert line["empty"] == "Exception" and line["items"] == ["a"]
    assert redact(Unprintable()) == "<unprintable Unprintable>"  # type: ignore[arg-type]


def test_short_secrets_are_ignored() -> None:
    """Secrets too short to be real keys are not registered, so ordinary words survive."""
    add_secret("")
    add_secret("ab")
    assert redact("ab cd") == "ab cd"


SAFE_ALPHABET = "bfghjklmnopqsuvwxyz0123456789"  # no letters of the replacement word
# The autouse fixture only restores global logging state after the test; sharing it
# between examples is intended.
SHARED_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@SHARED_FIXTURE
@given(prefix=st.text(), suffix=st.text(),
       secret=st.text(alphabet=SAFE_ALPHABET, min_size=12, max_size=40))
def test_redact_removes_any_registered_secret(prefix: str, suffix: str, secret: str) -> None:
    """For any surrounding text, a registered secret is gone after redact()."""
    add_secret("skq" + secret)
    assert "skq" + secret not in redact(prefix + "skq" + secret + suffix)


LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
KEYS = st.text() | st.integers() | st.tuples(st.integers())


@SHARED_FIXTURE
@given(st.recursive(LEAVES, lambda inner: st.lists(inner) | st.dictionaries(KEYS, inner)
                    | st.tuples(inner, inner), max_leaves=20))
def test_logging_any_value_never_raises(value: Any) -> None:
    """Any nesting of plain values is logged as one JSON line."""
    out = io.StringIO()
    configure_logging("json", "info", out)
    get_logger("t").info("value", value=value)
    assert len(json_lines(out)) == 1
