"""The HTTP plumbing shared by the VOD and object-store clients.

One ``requests.Session`` per folder set with a keep-alive pool sized to the
parallelism; every request has a connect and a read timeout; network failures
become :class:`TransportError` whose text never carries a signed URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ..errors import TransportError


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, TLS verification and pool size for one session."""

    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    verify_tls: bool = True
    ca_bundle: Path | None = None
    pool_size: int = 8

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    @property
    def verify(self) -> bool | str:
        if not self.verify_tls:
            return False
        return str(self.ca_bundle) if self.ca_bundle else True


def make_session(settings: HttpSettings) -> requests.Session:
    """A session with keep-alive pools sized for ``pool_size`` parallel requests.

    No automatic retries here: whether a call may be repeated is decided by the
    caller, which knows whether it is idempotent.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, settings.pool_size),
                          max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = settings.verify
    session.headers["User-Agent"] = "vodwatch"
    return session


def transport_error(operation: str, exc: requests.RequestException) -> TransportError:
    """Describe a network failure without echoing the URL (it may be signed)."""
    if isinstance(exc, requests.Timeout):
        kind = "connecting timed out" if isinstance(exc, requests.ConnectTimeout) else (
            "the answer did not come in time")
        return TransportError(f"{operation}: {kind}", timeout=True)
    if isinstance(exc, requests.exceptions.SSLError):
        return TransportError(f"{operation}: TLS certificate check failed",
                              "check the clock and vod.ca_bundle")
    if isinstance(exc, requests.ConnectionError):
        root: BaseException = exc
        while root.__context__ is not None and root.__context__ is not root:
            root = root.__context__
        return TransportError(f"{operation}: connection failed ({type(root).__name__})")
    return TransportError(f"{operation}: {type(exc).__name__}")


def retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (delta or HTTP date), or None."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
