"""Retry decisions (SPEC §3, VOD-API.md §6): classify by error code first, back off with jitter."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodwatch.errors import (
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
from vodwatch.retry import RETRY_AFTER_CAP, Action, Decision, RetryPolicy, classify

R, RA, P, S, F = Action.RETRY, Action.REAUTHORIZE, Action.PAUSE, Action.STATE, Action.FAIL


def remote(status: int, code: str = "", msg: str = "", service: str = "vod",
           retry_after: float | None = None) -> RemoteError:
    return RemoteError(RemoteFault(service, "update_asset", status, code, msg,
                                   retry_after=retry_after))


CODE_TABLE = [
    # (service, status, code, action, reason, throttled)
    ("vod", 403, "VOD.10127", R, "throttled", True),
    ("vod", 429, "APIGW.0308", R, "throttled", True),
    ("obs", 503, "SlowDown", R, "throttled", True),
    ("vod", 500, "VOD.10051", R, "server_error", False),
    ("vod", 403, "VOD.10051", R, "server_error", False),
    ("vod", 403, "VOD.10052", R, "server_error", False),
    ("vod", 400, "VST.10002", R, "server_error", False),
    ("vod", 403, "VOD.10136", R, "service_unavailable", False),
    ("obs", 500, "InternalError", R, "server_error", False),
    ("obs", 503, "ServiceUnavailable", R, "server_error", False),
    ("obs", 400, "RequestTimeout", R, "timeout", False),
    ("vod", 401, "APIGW.0301", P, "credentials", False),
    ("vod", 401, "APIGW.0303", P, "credentials", False),
    ("vod", 403, "VOD.10054", P, "credentials", False),
    ("vod", 400, "VST.10004", P, "credentials", False),
    ("vod", 403, "VOD.10074", P, "permission", False),
    ("vod", 403, "VOD.10111", P, "permission", False),
    ("vod", 403, "VOD.10133", P, "permission", False),
    ("vod", 403, "VOD.10138", P, "permission", False),
    ("vod", 403, "APIGW.0302", P, "permission", False),
    ("vod", 403, "VOD.10055", P, "account", False),
    ("vod", 403, "VOD.10056", P, "account", False),
    ("vod", 403, "VOD.10120", P, "account", False),
    ("vod", 403, "VOD.10132", P, "account", False),
    ("vod", 403, "VOD.10057", P, "config", False),
    ("vod", 404, "APIGW.0101", P, "config", False),
    ("obs", 403, "RequestTimeTooSkewed", RA, "expired_url", False),
    ("obs", 403, "InvalidAccessKeyId", RA, "expired_url", False),
    ("obs", 404, "NoSuchUpload", RA, "upload_gone", False),
    ("vod", 403, "VOD.10061", S, "asset_state", False),
    ("vod", 403, "VOD.10083", S, "asset_state", False),
    ("vod", 403, "VOD.10126", S, "asset_state", False),
    ("vod", 403, "VOD.10135", S, "asset_state", False),
    ("vod", 403, "VOD.10062", F, "not_found", False),
    ("vod", 403, "VOD.10129", F, "not_found", False),
    ("vod", 400, "VOD.10053", F, "invalid_request", False),
    ("vod", 400, "VOD.10081", F, "invalid_request", False),
    ("vod", 403, "VOD.10081", F, "invalid_request", False),
    ("vod", 400, "VST.10001", F, "invalid_request", False),
    ("vod", 403, "VOD.10064", F, "invalid_request", False),
    ("vod", 403, "VOD.10058", F, "invalid_request", False),
    ("vod", 403, "VOD.10059", F, "invalid_request", False),
    ("vod", 403, "VOD.10063", F, "unsupported_type", False),
    ("obs", 400, "BadDigest", F, "bad_digest", False),
    ("obs", 400, "InvalidPart", F, "invalid_part", False),
    ("obs", 400, "InvalidPartOrder", F, "invalid_part", False),
    ("obs", 400, "EntityTooSmall", F, "bad_size", False),
    ("obs", 400, "EntityTooLarge", F, "bad_size", False),
    ("obs", 404, "NoSuchBucket", F, "not_found", False),
    ("obs", 403, "SignatureDoesNotMatch", F, "signature_mismatch", False),
    ("obs", 403, "AccessDenied", P, "permission", False),
    # no known code: the HTTP status decides
    ("vod", 429, "", R, "throttled", True),
    ("vod", 500, "", R, "server_error", False),
    ("vod", 502, "APIGW.0201", R, "server_error", False),
    ("vod", 504, "APIGW.0201", R, "server_error", False),
    ("vod", 599, "VOD.99999", R, "server_error", False),
    ("vod", 408, "", R, "timeout", False),
    ("vod", 401, "", P, "credentials", False),
    ("vod", 403, "VOD.99999", F, "rejected", False),
    ("vod", 400, "", F, "rejected", False),
    ("vod", 413, "APIGW.0201", F, "rejected", False),
    ("vod", 302, "", R, "unexpected_response", False),
]


@pytest.mark.parametrize(("service", "status", "code", "action", "reason", "throttled"),
                         CODE_TABLE)
def test_remote_errors_are_classified_by_code_then_status(
        service: str, status: int, code: str, action: Action, reason: str,
        throttled: bool) -> None:
    """Each documented code (and each status without one) maps to its action and reason."""
    decision = classify(remote(status, code, service=service))
    assert (decision.action, decision.reason, decision.throttled) == (action, reason, throttled)
    assert decision.explain and decision.advice


def test_code_wins_over_status() -> None:
    """A 403 is not a failure by itself: VOD.10127 throttles, VOD.10051 is a server error."""
    assert classify(remote(403, "VOD.10127")).action is Action.RETRY
    assert classify(remote(403, "VOD.10051")).action is Action.RETRY
    assert classify(remote(500, "VOD.10062")).action is Action.FAIL


@pytest.mark.parametrize("msg", ["Request has expired", "Request has EXPIRED at 2026-01-01"])
def test_expired_url_message_means_reauthorize(msg: str) -> None:
    """An object-store 403 saying the request expired asks for a fresh upload URL."""
    decision = classify(remote(403, "AccessDenied", msg, service="obs"))
    assert (decision.action, decision.reason) == (Action.REAUTHORIZE, "expired_url")


@pytest.mark.parametrize("code", ["AccessDenied", "SignatureDoesNotMatch"])
def test_any_object_store_403_after_expiry_means_reauthorize(code: str) -> None:
    """When the caller knows the URL's Expires passed, a 403 means "get a fresh URL"."""
    decision = classify(remote(403, code, "denied", service="obs"), url_expired=True)
    assert (decision.action, decision.reason) == (Action.REAUTHORIZE, "expired_url")


def test_vod_403_is_not_an_expired_url_even_after_expiry() -> None:
    """url_expired only concerns the object store; VOD's own 403s keep their meaning."""
    assert classify(remote(403, "VOD.10062"), url_expired=True).action is Action.FAIL


def test_retry_after_is_carried_in_the_decision() -> None:
    """A server's Retry-After reaches the caller with the decision."""
    assert classify(remote(429, "APIGW.0308", retry_after=7.0)).retry_after == 7.0
    assert classify(remote(429, "APIGW.0308")).retry_after is None


@dataclass
class Case:
    err: BaseException
    action: Action
    reason: str


LOCAL_CASES = [
    Case(TransportError("connection reset"), R, "network"),
    Case(TransportError("read timed out", timeout=True), R, "timeout"),
    Case(FileChanged("size changed"), R, "file_changed"),
    Case(FileVanished("gone"), F, "file_vanished"),
    Case(AssetStateError(32 * "a", "PUBLISHED", "asset is published", "unpublish it"), S,
         "asset_state"),
    Case(BadName("x.mp4", "no ID", "accepted names are ..."), F, "bad_name"),
    Case(ConfigError(["config.yaml: at 'vod': missing"]), P, "config"),
    Case(FolderUnavailable("inbox is gone", "mount the share"), P, "folder"),
    Case(VodwatchError("something", "do this"), F, "error"),
    Case(PermissionError(13, "Permission denied"), R, "local_io"),
    Case(KeyError("bug"), F, "internal"),
]


@pytest.mark.parametrize("case", LOCAL_CASES, ids=lambda c: type(c.err).__name__)
def test_local_errors_are_classified(case: Case) -> None:
    """Network trouble and changed files are retried; vanished files and bugs are not."""
    decision = classify(case.err)
    assert (decision.action, decision.reason) == (case.action, case.reason)
    assert decision.explain and decision.advice


def test_asset_state_error_keeps_its_own_words() -> None:
    """An AssetStateError's message and hint become the explanation and advice."""
    decision = classify(AssetStateError(32 * "a", "PUBLISHED", "The asset is published",
                                        "unpublish it first"))
    assert decision == Decision(Action.STATE, "asset_state", "The asset is published",
                                "unpublish it first")


# ------------------------------------------------------------------ backoff

def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    """With jitter 0 the delays are base, 2*base, 4*base... capped."""
    policy = RetryPolicy(base=2, cap=30, jitter=0)
    assert [policy.delay(n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30


def test_full_jitter_spans_zero_to_the_backoff() -> None:
    """jitter 1 is full jitter: the random draw scales the whole delay."""
    policy = RetryPolicy(base=2, cap=300, jitter=1.0)
    assert policy.delay(3, rand=lambda: 0.0) == 0.0
    assert policy.delay(3, rand=lambda: 0.5) == 4.0
    assert policy.delay(3, rand=lambda: 1.0) == 8.0


def test_proportional_jitter_keeps_the_fixed_part() -> None:
    """jitter 0.5 randomises half of the delay: between 50% and 100% of it."""
    policy = RetryPolicy(base=2, cap=300, jitter=0.5)
    assert policy.delay(4, rand=lambda: 0.0) == 8.0
    assert policy.delay(4, rand=lambda: 1.0) == 16.0


def test_retry_after_is_a_floor_capped_at_an_hour() -> None:
    """Never retry sooner than Retry-After, but never believe more than an hour."""
    policy = RetryPolicy(base=2, cap=300, jitter=0)
    assert policy.delay(1, retry_after=45) == 45
    assert policy.delay(9, retry_after=45) == 300
    assert policy.delay(1, retry_after=86_400) == RETRY_AFTER_CAP
    assert policy.delay(1, retry_after=0) == 2


@given(st.integers(min_value=-5, max_value=10**6), st.floats(0, 1),
       st.one_of(st.none(), st.floats(min_value=-10, max_value=1e9, allow_nan=False)))
def test_delay_is_always_within_bounds(attempt: int, draw: float,
                                       retry_after: float | None) -> None:
    """Any attempt number, draw and Retry-After give a finite delay in [0, max(cap, 1 h)]."""
    policy = RetryPolicy(base=2, cap=300, jitter=0.5)
    delay = policy.delay(attempt, retry_after, rand=lambda: draw)
    assert math.isfinite(delay) and 0 <= delay <= max(300, RETRY_AFTER_CAP)
    if retry_after is not None and retry_after > 0:
        assert delay >= min(retry_after, RETRY_AFTER_CAP)


def test_exhausted_only_with_a_budget() -> None:
    """Without max_attempts retries go on forever; with one they stop at the budget."""
    assert not RetryPolicy().exhausted(10**9)
    limited = RetryPolicy(max_attempts=3)
    assert [limited.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


def test_policy_is_built_from_settings_and_validated() -> None:
    """The config's retry section builds a policy; nonsense values are refused."""
    @dataclass(frozen=True)
    class Settings:
        base_seconds: float = 1.0
        cap_seconds: float = 60.0
        jitter: float = 0.25
        credentials_recheck_seconds: float = 60.0

    assert RetryPolicy.from_settings(Settings()) == RetryPolicy(1.0, 60.0, 0.25)
    bad: list[dict[str, Any]] = [{"base": 0}, {"cap": 1, "base": 2}, {"jitter": 1.5},
                                 {"max_attempts": 0}]
    for kwargs in bad:
        with pytest.raises(ValueError):
            RetryPolicy(**kwargs)
