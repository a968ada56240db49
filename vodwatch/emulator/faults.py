"""Scripted faults: what goes wrong, for which operation, how many times."""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("status", "reset", "slow", "hang", "expired", "lag")
VOD_TARGETS = ("update_asset", "confirm", "authority", "asset_info", "asset_details",
               "create_asset", "list_assets", "check_md5_duplication")
OBS_TARGETS = ("obs_put", "obs_part", "obs_initiate", "obs_complete", "obs_list",
               "obs_abort", "obs_get", "obs_head", "obs_delete", "obs_bucket")
TARGETS = (*VOD_TARGETS, *OBS_TARGETS, "any")
# Operations that hand out signed URLs: an "expired" fault there makes the URL stale.
URL_ISSUERS = frozenset({"update_asset", "authority", "create_asset"})
STATUSES = (403, 429, 500, 502, 503, 504)


@dataclass
class Fault:
    """One scripted fault; ``remaining`` None means until cleared."""

    id: int
    kind: str
    target: str
    remaining: int | None
    status: int = 503
    code: str = ""
    message: str = ""
    retry_after: float | None = None
    after_bytes: int = 0          # reset: body bytes read before the connection drops
    phase: str = "request"        # reset: "request" (before handling) or "response"
    delay: float = 2.0            # slow: seconds before answering; lag: seconds unlisted

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_fault(fault_id: int, kind: str, target: str, count: int | None,
               params: dict[str, Any]) -> Fault:
    """Validate and build a fault; raises ValueError naming the bad argument."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if kind == "expired" and not (target == "any" or target in URL_ISSUERS
                                  or target in OBS_TARGETS):
        raise ValueError(f"an expired fault needs a target that hands out URLs"
                         f" ({', '.join(sorted(URL_ISSUERS))}), an obs_* target or any")
    if kind == "lag" and target != "create_asset":
        raise ValueError("a lag fault needs the target create_asset (the asset it creates "
                         "stays out of ListAssetList for delay seconds)")
    if count is not None and count < 1:
        raise ValueError("count must be >= 1 (or None for until cleared)")
    allowed = {"status", "code", "message", "retry_after", "after_bytes", "phase", "delay"}
    unknown = set(params) - allowed
    if unknown:
        raise ValueError(f"unknown fault parameter(s) {sorted(unknown)}")
    fault = Fault(id=fault_id, kind=kind, target=target, remaining=count, **params)
    if fault.kind == "status" and fault.status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {fault.status}")
    if fault.phase not in ("request", "response"):
        raise ValueError("phase must be 'request' or 'response'")
    if fault.after_bytes < 0 or fault.delay < 0:
        raise ValueError("after_bytes and delay must be >= 0")
    if fault.retry_after is not None and fault.retry_after < 0:
        raise ValueError("retry_after must be >= 0")
    return fault


class FaultBook:
    """Thread-safe list of pending faults, consumed first-added first."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, kind: str, target: str, count: int | None = 1, **params: Any) -> Fault:
        with self._lock:
            fault = make_fault(next(self._ids), kind, target, count, params)
            self._faults.append(fault)
            return fault

    def take(self, operation: str, *, kinds: tuple[str, ...] = KINDS) -> Fault | None:
        """Consume one use of the first fault matching ``operation`` (or "any")."""
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds or fault.target not in (operation, "any"):
                    continue
                if fault.kind == "expired" and not _expiry_applies(fault, operation):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)


def _expiry_applies(fault: Fault, operation: str) -> bool:
    # "any" means the next URL handed out; an obs_* target means that request
    # is refused as expired whatever its Expires says.
    if fault.target == "any":
        return operation in URL_ISSUERS
    return operation in URL_ISSUERS or operation.startswith("obs_")
