"""Logging: structlog to stdout, pretty on a terminal and one JSON object per line otherwise;
under systemd (``$JOURNAL_STREAM`` names stdout) each JSON line starts with its journald
priority, ``<N>`` as sd-daemon(3) says. Fields without a value (None, "") are left out.

Records from the standard library's ``logging`` (requests, urllib3, watchdog, ...)
go through the same processors, so every line has the same fields and format.
Every line is redacted on the way out: registered secrets (the SK) and the
signatures of signed URLs and Authorization headers never reach the output.
``redact`` is the same cleaning for text written elsewhere (status, error files).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from .words import printable

FORMATS = ("auto", "console", "json")
LEVELS = ("debug", "info", "warning", "error")
REDACTED = "REDACTED"

# Chatty at INFO (one line per connection or file event): shown only when debugging.
_NOISY_LOGGERS = ("urllib3.connectionpool", "watchdog")
# Shorter strings would blank out ordinary words wherever they occur.
_MIN_SECRET_LENGTH = 4
_MAX_DEPTH = 20

_SENSITIVE_NAMES = ("Signature", "X-Amz-Signature", "X-Auth-Token", "token", "sig")
_SENSITIVE_KEYS = frozenset(name.lower() for name in _SENSITIVE_NAMES)
_VALUE = r"[^&\s\"'<>#,;]+"
_PATTERNS = (
    # Query parameters of signed URLs: ...?AWSAccessKeyId=..&Expires=..&Signature=...
    re.compile(r"(?i)([?&](?:" + "|".join(map(re.escape, _SENSITIVE_NAMES)) + r")=)" + _VALUE),
    # Authorization headers: "SDK-HMAC-SHA256 Access=AK, SignedHeaders=.., Signature=hex".
    re.compile(r"(?i)((?:^|(?<=[\s,;:\"']))Signature=)" + _VALUE),
    re.compile(r"(?i)(\bX-Auth-Token[\"']?\s*[:=]\s*[\"']?)" + _VALUE),
    re.compile(r"(?i)(\bBearer\s+)" + _VALUE),
    # Object-store error bodies (SignatureDoesNotMatch) echo the signature they got.
    re.compile(r"(<SignatureProvided>)[^<]*"),
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_handler: logging.Handler | None = None


def add_secret(secret: str) -> None:
    """Register a secret (e.g. the SK) so that it never appears in logs or ``redact`` output."""
    if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        _secrets.add(secret)
        _secrets.add(quote(secret, safe=""))  # as it would appear inside a URL


def redact(text: str) -> str:
    """``text`` without registered secrets and without URL or header signatures. Never raises."""
    if not isinstance(text, str):
        text = _to_text(text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(r"\g<1>" + REDACTED, text)
    return text


def _clean(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth > _MAX_DEPTH:
        return "..."  # deeper than any real log value: likely a cycle
    if isinstance(value, str):
        return printable(redact(value))
    if isinstance(value, dict):
        return {_clean_key(key): REDACTED if str(key).lower() in _SENSITIVE_KEYS
                else _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, depth + 1) for item in value]
    # Exceptions, paths and other objects: their text may carry a signed URL.
    return redact(_to_text(value))


def _clean_key(key: object) -> object:
    if key is None or isinstance(key, int | float | bool):
        return key
    # JSON keys must be text or numbers; any other key would make the renderer fail.
    return redact(key if isinstance(key, str) else _to_text(key))


def _to_text(value: object) -> str:
    try:
        if isinstance(value, bytes | bytearray):
            return repr(bytes(value))  # str() of bytes warns under python -b
        return str(value) or (type(value).__name__ if isinstance(value, BaseException) else "")
    except Exception:  # a broken __str__ must not break logging
        return f"<unprintable {type(value).__name__}>"


def redact_processor(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """structlog processor cleaning every value; runs after exceptions are rendered to text."""
    for key in list(event_dict):
        if key == "exc_info":
            continue  # rendered (then cleaned) by format_exc_info in the formatter
        try:
            sensitive = str(key).lower() in _SENSITIVE_KEYS
            if key in ("exception", "stack") and isinstance(event_dict[key], str):
                event_dict[key] = redact(event_dict[key])  # a traceback keeps its lines
            else:
                event_dict[key] = REDACTED if sensitive else _clean(event_dict[key])
        except Exception:  # redaction must never lose the line
            event_dict[key] = f"<unprintable {type(event_dict[key]).__name__}>"
    return event_dict


def drop_empty(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Leave out fields with nothing to say (None or ""), e.g. an asset_id not known yet."""
    for key in [k for k, v in event_dict.items() if (v is None or v == "") and k != "event"]:
        del event_dict[key]
    return event_dict


# sd-daemon(3) priorities, by structlog level.
PRIORITIES = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "warn": 4,
              "info": 6, "debug": 7}


def is_journal(stream: TextIO, env: dict[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal: $JOURNAL_STREAM names its device and inode."""
    found = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    dev, sep, ino = found.partition(":")
    try:
        st = os.fstat(stream.fileno())
        return bool(sep) and (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (AttributeError, ValueError, OSError):
        return False


def with_priority(render: Processor) -> Processor:
    """``render``'s line prefixed with ``<N>``, the journald priority of its level."""
    def prefixed(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        prio = PRIORITIES.get(str(event_dict.get("level", "info")), 6)
        line = render(logger, method, event_dict)
        text = line.decode() if isinstance(line, bytes) else str(line)
        return f"<{prio}>{text}"
    return prefixed


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None,
                      secrets: Iterable[str] = ()) -> None:
    """Send structlog and stdlib logging to ``stream`` (default: stdout) at ``level``.

    ``fmt`` is "console", "json" or "auto" (console when ``stream`` is a terminal).
    ``secrets`` are registered as with ``add_secret``. May be called again (e.g. on
    SIGHUP) to change the format or level. Raises ValueError on an unknown fmt or level.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    for secret in secrets:
        add_secret(secret)
    out = sys.stdout if stream is None else stream
    console = fmt == "console" or (fmt == "auto" and _is_tty(out))
    renderer: Processor
    if console:
        colors = _is_tty(out) and "NO_COLOR" not in os.environ
        renderer = structlog.dev.ConsoleRenderer(colors=colors)
    else:
        renderer = structlog.processors.JSONRenderer()
        if is_journal(out):
            renderer = with_priority(renderer)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            # Cleaned here too, so other handlers (e.g. pytest's) never get raw values.
            redact_processor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Loggers must see a later configure() (reload) and capture_logs() in tests.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Exceptions become text before redaction, so their text is cleaned too.
            structlog.processors.format_exc_info,
            redact_processor,
            drop_empty,
            renderer,
        ],
    )
    global _handler
    root = logging.getLogger()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    _handler = handler
    root.setLevel(level.upper())
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "debug" else logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name``, or after the calling module when None.

    Bind per-job fields with ``.bind(file=..., asset_id=...)`` or, for everything
    logged in a scope, ``structlog.contextvars.bound_contextvars(...)``.
    """
    logger: structlog.stdlib.BoundLogger = (
        structlog.stdlib.get_logger() if name is None else structlog.stdlib.get_logger(name))
    return logger
