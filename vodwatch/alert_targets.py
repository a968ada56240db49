"""Notification targets: which URLs are valid targets, how a URL is shown
(redacted), and which parts of it are registered as secrets for the logs.

A target is an Apprise URL. ``json://`` and ``jsons://`` are built in; every other
scheme needs apprise, the optional extra. Target URLs carry tokens: they are only
ever shown as :func:`redact_url` writes them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from urllib.parse import unquote, urlsplit

from .log import add_secret
from .words import printable

BUILTIN_SCHEMES = ("json", "jsons")
INSTALL_HINT = "pip install 'vodwatch[notify]'"
METHODS = ("POST", "GET", "DELETE", "PUT", "HEAD", "PATCH")  # what Apprise's JSON plugin allows
# Path segments and query values kept out of logs: this long with a digit, or just long.
_TOKEN_LENGTH = 8
_LONG_TOKEN = 20


def url_scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: the URL without credentials, path, query or tokens.

    For json:// the host is shown; for other schemes only when it looks like a host
    name (has a dot), as many services put a token where the host would be.
    """
    scheme = url_scheme(url)
    if not scheme:
        return "(not a URL)"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{printable(scheme)}://…"
    if scheme not in BUILTIN_SCHEMES and "." not in host:
        return f"{printable(scheme)}://…"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    if parts.path.strip("/") or parts.query or parts.fragment:
        shown += "/…"
    return printable(shown)


def register_secrets(url: str) -> None:
    """Make the log redaction catch the URL and the parts of it that may be tokens."""
    add_secret(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        add_secret(unquote(parts.password))
    pieces = [p for p in parts.path.split("/") if p]
    if url_scheme(url) not in BUILTIN_SCHEMES and parts.hostname and "." not in parts.hostname:
        pieces.append(parts.netloc.rpartition("@")[2])  # a token may stand where the host would
    pieces += [pair.partition("=")[2] for pair in parts.query.split("&")]
    pieces.append(parts.fragment)
    for piece in pieces:
        if _looks_like_token(piece):
            add_secret(piece)
            add_secret(unquote(piece))


def _looks_like_token(piece: str) -> bool:
    """Long, or holding digits: a token rather than a word such as ``hooks`` or ``vodwatch``,
    which, registered as a secret, would be blanked out of every log line."""
    return len(piece) >= _LONG_TOKEN or (
        len(piece) >= _TOKEN_LENGTH and any(c.isdigit() for c in piece))


def apprise_module() -> ModuleType | None:
    """The apprise module when the optional extra is installed, else None."""
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


def target_problem(url: object) -> tuple[str, str] | None:
    """What is wrong with ``url`` as a notification target, as (problem, fix); None if fine.

    The problem never quotes the URL beyond :func:`redact_url`: it may hold a token.
    """
    example = "write it like json://hooks.example.com/vodwatch or slack://..."
    if not isinstance(url, str) or not url.strip():
        return "is not a URL", example
    scheme = url_scheme(url.strip())
    if not scheme:
        return "has no scheme (such as json:// or slack://)", example
    shown = redact_url(url)
    if scheme in BUILTIN_SCHEMES:
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a port that is not a number
        except ValueError:
            return f"{shown} has a port that is not a number", "write host:port, e.g. :8080"
        if not parts.hostname:
            return f"{shown} has no host", "write it like json://hooks.example.com/path"
        method = apprise_query(parts.query)[0].get("method", "POST").upper()
        if method not in METHODS:
            return (f"{shown} asks for method {printable(method)!r}",
                    "use one of " + ", ".join(METHODS))
        return None
    apprise = apprise_module()
    if apprise is None:
        return (f"{shown} needs apprise, the optional notifications extra, which is not "
                "installed", f"run {INSTALL_HINT}, or use a json:// webhook")
    try:
        understood = bool(apprise.Apprise().add(url))
    except Exception:  # a plugin that raises on a bad URL is a bad URL
        understood = False
    if not understood:
        return (f"{shown} is not a URL apprise understands",
                "check it against the Apprise wiki page of that service")
    return None



def apprise_query(query: str,
                  ) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """Apprise's query arguments: (general, +headers, -GET params, :payload extras).

    ``+`` is taken literally (Apprise writes headers as ``?+X-Token=...``), not as a space.
    """
    general: dict[str, str] = {}
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    extras: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        key, value = unquote(raw_key), unquote(raw_value)
        if key[:1] == "+" and key[1:]:
            headers[key[1:]] = value
        elif key[:1] == "-" and key[1:]:
            params[key[1:]] = value
        elif key[:1] == ":" and key[1:]:
            extras[key[1:]] = value
        else:
            general[key.lower()] = value
    return general, headers, params, extras
