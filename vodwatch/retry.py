"""What to do about an error, and how long to wait before trying again. Pure.

``classify`` reads the error code first (VOD answers most business errors with
HTTP 403, VOD-API.md §6), then the HTTP status. Its answer is an ``Action``:

- RETRY: transient (network, 5xx, throttling); wait ``RetryPolicy.delay`` and redo.
- REAUTHORIZE: the signed URL expired or the multipart upload is gone; get fresh
  upload authorisation (and restart the multipart upload for "upload_gone").
- PAUSE: credentials, permission, account or configuration trouble; not the file's
  fault, so the folder set pauses and no file is moved to failed/.
- STATE: the asset's state refuses the call; query the asset, then decide.
- FAIL: permanent for this file; move it to failed/ with ``explain`` and ``advice``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from .errors import (
    AssetStateError,
    BadName,
    ConfigError,
    FileChanged,
    FileVanished,
    FolderUnavailable,
    RemoteError,
    RemoteFault,
    TransportError,
    VodwatchError,
)

RETRY_AFTER_CAP = 3600.0  # a Retry-After beyond an hour is not believed
# A share or state folder that failed, or a job's turn that could not be journaled, is
# looked at again after this many seconds (no backoff: it is cheap to look).
LOOK_AGAIN_SECONDS = 2.0


class Action(StrEnum):
    """What the caller does next."""

    RETRY = "retry"
    REAUTHORIZE = "reauthorize"
    PAUSE = "pause"
    STATE = "state"
    FAIL = "fail"


@dataclass(frozen=True)
class Decision:
    """The verdict on one error, with plain words for logs, status and error files."""

    action: Action
    reason: str  # a stable word for logs and metrics: "throttled", "credentials", ...
    explain: str = ""  # what went wrong, one plain sentence
    advice: str = ""  # what a person can do about it
    throttled: bool = False  # the whole pacing group should slow down
    retry_after: float | None = None  # seconds the server asked for, if any


_NOTHING = "nothing to do: vodwatch tries again by itself"
_RESUME = "uploads resume by themselves once this is fixed"
_MOVE_BACK = "move the file back into the inbox (or run 'vodwatch retry') to send it again"
_REPORT = "if the name and the file are right, report this to the vodwatch maintainers"


def _d(action: Action, reason: str, explain: str, advice: str,
       throttled: bool = False) -> Decision:
    return Decision(action, reason, explain, advice, throttled)


_THROTTLED = _d(Action.RETRY, "throttled", "VOD asked vodwatch to slow down (too many requests)",
                "nothing to do: vodwatch waits and goes on more slowly", throttled=True)
_SERVER = _d(Action.RETRY, "server_error",
             "VOD or its object store had an internal error", _NOTHING)
_CREDENTIALS = _d(Action.PAUSE, "credentials", "VOD rejected vodwatch's access key (AK/SK)",
                  f"check the AK/SK given to vodwatch; {_RESUME}")
_PERMISSION = _d(Action.PAUSE, "permission",
                 "The access key is not allowed to update or upload VOD media assets",
                 "grant the IAM user the VOD permissions vod:asset:update and vod:asset:upload "
                 f"(for example the VOD FullAccess policy); {_RESUME}")
_EXPIRED = _d(Action.REAUTHORIZE, "expired_url",
              "The upload URL expired or was refused before the upload finished",
              "nothing to do: vodwatch asks VOD for a fresh upload URL")
_INVALID = _d(Action.FAIL, "invalid_request", "VOD refused the request as invalid", _REPORT)


def _account(what: str) -> Decision:
    return _d(Action.PAUSE, "account", f"The Huawei Cloud account {what}",
              f"resolve it in the Huawei Cloud console; {_RESUME}")


def _state(what: str) -> Decision:
    return _d(Action.STATE, "asset_state", what,
              "check the asset in the VOD console; VOD replaces a video only when the asset's "
              f"upload or download failed or its upload was cancelled; then {_MOVE_BACK}")


_BY_CODE: dict[str, Decision] = {
    # throttling
    "VOD.10127": _THROTTLED,
    "APIGW.0308": _THROTTLED,
    "SlowDown": _THROTTLED,
    # transient
    "VOD.10051": _SERVER,
    "VOD.10052": _SERVER,
    "VST.10002": _SERVER,
    "InternalError": _SERVER,
    "ServiceUnavailable": _SERVER,
    "VOD.10136": _d(Action.RETRY, "service_unavailable",
                    "The VOD feature is temporarily offline", _NOTHING),
    "RequestTimeout": _d(Action.RETRY, "timeout",
                         "The object store timed out waiting for the upload's data", _NOTHING),
    # credentials
    "APIGW.0301": _CREDENTIALS,
    "VOD.10054": _CREDENTIALS,
    "VST.10004": _CREDENTIALS,
    "APIGW.0303": _d(Action.PAUSE, "credentials",
                     "VOD rejected the request's signature; often this machine's clock is more "
                     "than 15 minutes off",
                     f"check the AK/SK and that the system clock is synchronised (NTP); {_RESUME}"),
    # permission
    "VOD.10074": _PERMISSION,
    "VOD.10111": _PERMISSION,
    "VOD.10133": _PERMISSION,
    "APIGW.0302": _PERMISSION,
    "VOD.10138": _d(Action.PAUSE, "permission",
                    "VOD has no permission to use the storage bucket",
                    f"authorise the bucket for VOD in the VOD console; {_RESUME}"),
    # account
    "VOD.10055": _account("has not completed real-name verification"),
    "VOD.10056": _account("is in an abnormal state"),
    "VOD.10120": _account("is in arrears"),
    "VOD.10132": _account("is frozen or cancelled"),
    # configuration
    "VOD.10057": _d(Action.PAUSE, "config", "VOD did not accept the project ID",
                    "set vod.project_id (or the folder's project_id) to the project ID of the "
                    f"VOD region in use; {_RESUME}"),
    "APIGW.0101": _d(Action.PAUSE, "config",
                     "The endpoint does not serve the VOD API that vodwatch called",
                     f"check vod.endpoint (e.g. https://vod.cn-north-4.myhuaweicloud.com); "
                     f"{_RESUME}"),
    # object store: authorisation again
    "RequestTimeTooSkewed": _EXPIRED,
    "InvalidAccessKeyId": _EXPIRED,
    "NoSuchUpload": _d(Action.REAUTHORIZE, "upload_gone",
                       "The object store no longer knows the multipart upload",
                       "nothing to do: vodwatch starts the upload again"),
    # asset state
    "VOD.10061": _state("The asset's current state does not allow replacing its video"),
    "VOD.10083": _state("The asset's current state does not support this operation"),
    "VOD.10126": _state("The asset's current state does not allow confirming the upload"),
    "VOD.10135": _state("The asset is not being uploaded, so VOD gives no upload "
                        "authorisation"),
    # permanent
    "VOD.10062": _d(Action.FAIL, "not_found", "VOD has no media asset with this ID",
                    "check the asset ID in the file name against the VOD console, and that "
                    f"vodwatch uses the asset's project and region; then {_MOVE_BACK}"),
    "VOD.10129": _d(Action.FAIL, "not_found", "VOD could not find the subtitle file",
                    _MOVE_BACK),
    "VOD.10053": _INVALID,
    "VOD.10081": _INVALID,
    "VST.10001": _INVALID,
    "VOD.10064": _INVALID,
    "VOD.10058": _d(Action.FAIL, "invalid_request",
                    "VOD refused the request's method", _REPORT),
    "VOD.10059": _d(Action.FAIL, "invalid_request",
                    "VOD refused the request's content type", _REPORT),
    "VOD.10063": _d(Action.FAIL, "unsupported_type", "VOD does not support this media type",
                    f"convert the file to a supported format; then {_MOVE_BACK}"),
    "BadDigest": _d(Action.FAIL, "bad_digest",
                    "The bytes the object store received do not match the file's MD5; the "
                    "file may have changed while it was sent", _MOVE_BACK),
    "InvalidPart": _d(Action.FAIL, "invalid_part",
                      "The object store refused the parts of the multipart upload", _MOVE_BACK),
    "InvalidPartOrder": _d(Action.FAIL, "invalid_part",
                           "The object store refused the order of the upload's parts",
                           _MOVE_BACK),
    "EntityTooSmall": _d(Action.FAIL, "bad_size",
                         "The object store refused a part as too small", _REPORT),
    "EntityTooLarge": _d(Action.FAIL, "bad_size",
                         "The object store refused the file or a part as too large", _REPORT),
    "NoSuchBucket": _d(Action.FAIL, "not_found",
                       "The storage bucket named in the upload URL does not exist", _REPORT),
    "SignatureDoesNotMatch": _d(Action.FAIL, "signature_mismatch",
                                "The object store refused the upload URL's signature", _REPORT),
}


def _with(decision: Decision, fault: RemoteFault) -> Decision:
    if fault.retry_after is None:
        return decision
    return Decision(decision.action, decision.reason, decision.explain, decision.advice,
                    decision.throttled, fault.retry_after)


def _classify_fault(fault: RemoteFault, url_expired: bool) -> Decision:
    if fault.service == "obs" and fault.status == 403 and (
            url_expired or "expire" in fault.error_msg.lower()):
        return _with(_EXPIRED, fault)
    known = _BY_CODE.get(fault.code)
    if known is not None:
        return _with(known, fault)
    if fault.code == "AccessDenied":
        return _with(_d(Action.PAUSE, "permission", "The object store refused the upload",
                        f"check VOD's bucket authorisation in the VOD console; {_RESUME}"), fault)
    status = fault.status
    if status == 429:
        decision = _THROTTLED
    elif status == 408:
        decision = _d(Action.RETRY, "timeout", "The server timed out waiting for vodwatch",
                      _NOTHING)
    elif status == 401:
        decision = _CREDENTIALS
    elif status >= 500:
        decision = _SERVER
    elif status >= 400:
        decision = _d(Action.FAIL, "rejected", f"VOD refused the request (HTTP {status})",
                      _REPORT)
    else:  # a redirect or success page where an error was expected: a proxy in the way
        decision = _d(Action.RETRY, "unexpected_response",
                      f"The server gave an unexpected answer (HTTP {status})", _NOTHING)
    return _with(decision, fault)


def classify(err: BaseException, *, url_expired: bool = False) -> Decision:
    """Decide what to do about ``err``.

    ``url_expired``: the caller knows the signed URL's ``Expires`` has passed, so any
    object-store 403 (AccessDenied, SignatureDoesNotMatch) means "get a fresh URL".
    """
    if isinstance(err, RemoteError):
        return _classify_fault(err.fault, url_expired)
    if isinstance(err, TransportError):
        if err.timeout:
            return _d(Action.RETRY, "timeout", "The connection to VOD timed out", _NOTHING)
        return _d(Action.RETRY, "network", "vodwatch could not reach VOD or its object store",
                  _NOTHING)
    if isinstance(err, FileChanged):
        return _d(Action.RETRY, "file_changed", "The file changed while vodwatch was sending it",
                  "nothing to do: vodwatch sends it again once it has stopped changing")
    if isinstance(err, FileVanished):
        return _d(Action.FAIL, "file_vanished",
                  "The file disappeared from the inbox while vodwatch was working on it",
                  "drop the file into the inbox again if it should still be sent")
    if isinstance(err, AssetStateError):
        return Decision(Action.STATE, "asset_state", err.message, err.hint)
    if isinstance(err, BadName):
        return Decision(Action.FAIL, "bad_name", err.message, err.hint)
    if isinstance(err, ConfigError):
        return Decision(Action.PAUSE, "config", err.message, err.hint or _RESUME)
    if isinstance(err, FolderUnavailable):
        return Decision(Action.PAUSE, "folder", err.message, err.hint or _RESUME)
    if isinstance(err, VodwatchError):
        return Decision(Action.FAIL, "error", err.message, err.hint or _MOVE_BACK)
    if isinstance(err, OSError):
        return _d(Action.RETRY, "local_io",
                  f"vodwatch could not read or move the file: {err.strerror or err}",
                  "check the file's permissions and the disk; vodwatch tries again by itself")
    return _d(Action.FAIL, "internal",
              f"vodwatch hit an unexpected error ({type(err).__name__}: {err})",
              f"{_MOVE_BACK}; report it to the vodwatch maintainers if it happens again")


class RetrySettingsLike(Protocol):
    """The retry part of the configuration (config.RetrySettings fits)."""

    @property
    def base_seconds(self) -> float: ...
    @property
    def cap_seconds(self) -> float: ...
    @property
    def jitter(self) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; an immutable value.

    ``delay(attempt)`` for attempt 1, 2, 3... is ``base * 2**(attempt-1)`` capped at
    ``cap``, of which the fraction ``jitter`` is randomised: 0 gives exact delays,
    1 gives "full jitter" (uniform between 0 and the delay). A server's
    ``Retry-After`` is a floor, believed up to ``RETRY_AFTER_CAP``.
    """

    base: float = 2.0
    cap: float = 300.0
    jitter: float = 0.5
    max_attempts: int | None = None  # None: retry for as long as it takes
    # Budgets of the quick, in-place retries; beyond them a job waits with its backoff.
    part_attempts: int = 8  # one object-store call (a part, a complete) retried in place
    reauthorize_attempts: int = 5  # a fresh signed URL for the same call
    rerequests: int = 5  # UpdateAsset asked again for one job (an upload closed under us)
    unreachable_after: int = 5  # `once` gives up on VOD after this many waits of a job
    look_again: float = LOOK_AGAIN_SECONDS  # an unavailable share is looked at again

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base:
            raise ValueError("retry needs base > 0 and cap >= base")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("retry jitter must be between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("retry max_attempts must be at least 1")

    @classmethod
    def from_settings(cls, settings: RetrySettingsLike,
                      max_attempts: int | None = None) -> RetryPolicy:
        """Build from the configuration's ``retry`` section."""
        return cls(settings.base_seconds, settings.cap_seconds, settings.jitter, max_attempts)

    def backoff(self, attempt: int) -> float:
        """The delay before jitter for retry number ``attempt`` (1 = first retry)."""
        exponent = min(max(attempt, 1) - 1, 64)  # 2**64 * base is past any cap
        return float(min(self.cap, self.base * 2.0 ** exponent))

    def delay(self, attempt: int, retry_after: float | None = None,
              rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = first retry)."""
        draw = rand()
        ceiling = self.backoff(attempt)
        wait = ceiling * (1.0 - self.jitter + self.jitter * min(max(draw, 0.0), 1.0))
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, RETRY_AFTER_CAP))
        return wait

    def exhausted(self, attempt: int) -> bool:
        """True once ``attempt`` attempts have been made and no more are allowed."""
        return self.max_attempts is not None and attempt >= self.max_attempts
