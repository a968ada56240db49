"""The Emulator: wiring of server, VOD API, object store, faults, limits, recording."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from . import control
from .assets import AssetBook
from .faults import KINDS, FaultBook
from .limits import RateLimiter
from .obs import ObsApi, operation_of, split_path
from .replies import apigw_error, obs_error, obs_status_error, vod_error, vod_status_error
from .s3 import S3Buckets, is_s3_request
from .server import Abort, Exchange, ServerThread
from .store import ObjectStore
from .vod import BUCKET, VodApi, VodSettings

DEFAULT_AK = "EMULATORAK00000000000"
DEFAULT_SK = "emulator-secret-key-0000000000000000000"
OBS_AK = "EMULATOROBSTEMPAK0000"
THROTTLE_CODES = ("VOD.10127", "APIGW.0308")
_VOD_ROUTE = re.compile(r"^/(v1\.0|v1\.1)/([^/]+)/asset(/[^?]*)?$")
_VOD_OPERATIONS = {
    ("v1.0", "", "PUT"): "update_asset",
    ("v1.0", "", "POST"): "create_asset",
    ("v1.0", "/status/uploaded", "POST"): "confirm",
    ("v1.1", "/authority", "GET"): "authority",
    ("v1.0", "/info", "GET"): "asset_info",
    ("v1.0", "/details", "GET"): "asset_details",
    ("v1.0", "/list", "GET"): "list_assets",
    ("v1.0", "/duplication", "GET"): "check_md5_duplication",
}
_REDACTED_PARAMS = ("Signature", "X-Amz-Signature", "X-Amz-Credential")


@dataclass(frozen=True)
class Recorded:
    """One request the emulator answered (or dropped: status 0)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any           # parsed JSON of VOD calls, else None
    status: int
    error_code: str     # "VOD.10061", "SignatureDoesNotMatch", "reset", "hang", ""
    time: float
    operation: str      # "update_asset", "obs_part", ... (fault targets)
    request_id: str
    duration: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Emulator:
    """A local VOD + object store. Use as a context manager or start()/stop()."""

    def __init__(self, data_dir: Path, *, ak: str = DEFAULT_AK, sk: str = DEFAULT_SK,
                 project_id: str | None = None, assets: str = "strict",
                 url_ttl_seconds: float = 3600.0,
                 limits: Mapping[str, tuple[int, float]] | None = None,
                 throttle_code: str = "VOD.10127", s3_compat: bool = False,
                 obs_rate_bytes_per_s: float | None = None, obs_latency_ms: float = 0.0,
                 public_url: str | None = None, clock: Callable[[], float] = time.time) -> None:
        if assets not in ("auto", "strict"):
            raise ValueError("assets must be 'auto' or 'strict'")
        if throttle_code not in THROTTLE_CODES:
            raise ValueError(f"throttle_code must be one of {THROTTLE_CODES}")
        self.data_dir = Path(data_dir)
        self.clock = clock
        self.s3_compat = s3_compat
        self.obs_rate_bytes_per_s = obs_rate_bytes_per_s
        self.obs_latency_ms = obs_latency_ms
        self.public_url = public_url.rstrip("/") if public_url else None
        self.throttle_code = throttle_code
        # The URL-signing key is derived from the SK so URLs survive a restart.
        obs_sk = hmac.new(sk.encode(), b"vodwatch-emulator-obs", hashlib.sha256).hexdigest()
        self.store = ObjectStore(self.data_dir)
        self.book = AssetBook(clock)
        self.fault_book = FaultBook()
        self.limiter = RateLimiter(limits, clock)
        settings = VodSettings(ak=ak, sk=sk, obs_ak=OBS_AK, obs_sk=obs_sk,
                               project_id=project_id, assets=assets,
                               url_ttl_seconds=url_ttl_seconds)
        self.vod = VodApi(settings, self.book, self.store, self.fault_book, clock, self.base_url)
        self.obs = ObsApi(self.store, OBS_AK, obs_sk, clock, self.base_url)
        self.s3 = S3Buckets(self.store)
        self._records: list[Recorded] = []
        self._records_lock = threading.Lock()
        self._server: ServerThread | None = None
        self._server_lock = threading.Lock()
        self._stopped = True
        self.host = "127.0.0.1"
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        """Listen on ``host:port`` (0 = any free port); returns self."""
        with self._server_lock:
            if self._server is not None:
                raise RuntimeError("emulator already started")
            self._server = ServerThread(host, port, self)
            self.host, self.port = host, self._server.port
            self._stopped = False
        return self

    def stop(self) -> None:
        """Stop listening and cut every connection (hanging ones too)."""
        with self._server_lock:
            self._stopped = True
        self._close_server()

    def _close_server(self) -> None:
        with self._server_lock:
            server, self._server = self._server, None
        if server is not None:
            server.close()

    def __enter__(self) -> Emulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def online(self) -> bool:
        return self._server is not None

    def go_offline(self) -> None:
        """Refuse connections (stop listening, drop open ones) until go_online()."""
        self._close_server()

    def go_online(self) -> None:
        """Listen again on the same host and port (no-op once stopped)."""
        with self._server_lock:
            if self._server is None and not self._stopped:
                self._server = ServerThread(self.host, self.port, self)

    def base_url(self, ex: Exchange) -> str:
        """Where signed URLs point: public_url, else the Host the client used."""
        if self.public_url:
            return self.public_url
        host = ex.header("Host")
        return f"http://{host}" if host else self.url

    # -- state for tests and the control API -------------------------------------
    def seed_asset(self, asset_id: str, status: str = "UPLOAD_FAILED") -> dict[str, Any] | None:
        """Create an asset or force its status; status "absent" deletes it."""
        asset = self.book.seed(asset_id, status)
        return None if asset is None else asset.to_dict()

    def asset(self, asset_id: str) -> dict[str, Any] | None:
        with self.book.lock:
            asset = self.book.get(asset_id)
            return None if asset is None else asset.to_dict()

    def assets(self) -> list[dict[str, Any]]:
        with self.book.lock:
            return [a.to_dict() for a in self.book.all()]

    def assets_created(self) -> list[dict[str, Any]]:
        """Assets made by CreateAssetByFileUpload, in the order they were created.

        Counts the creations that took effect, including those whose answer was
        lost (a "reset" fault with phase="response").
        """
        with self.book.lock:
            found = (self.book.get(a) for a in self.book.created)
            return [a.to_dict() for a in found if a is not None]

    def add_category(self, category_id: int, name: str) -> None:
        """Make a media asset category known (-1 "Other" always is); others get VOD.10064."""
        with self.book.lock:
            self.book.categories[int(category_id)] = str(name)

    def confirms(self, asset_id: str) -> list[str]:
        """Statuses confirmed for the asset, in order (e.g. ["FAILED", "CREATED"])."""
        with self.book.lock:
            asset = self.book.get(asset_id)
            return [] if asset is None else list(asset.confirms)

    def object_path(self, asset_id: str, kind: str, subtitle_id: int | None = None,
                    ) -> Path | None:
        """File holding the asset's current video/cover/subtitle, None if not uploaded."""
        with self.book.lock:
            asset = self.book.get(asset_id)
            if asset is None:
                return None
            if kind == "video":
                ref = asset.video
            elif kind == "cover":
                ref = asset.cover
            elif kind == "subtitle":
                ref = asset.subtitles.get(subtitle_id or 0)
            else:
                raise ValueError("kind must be video, cover or subtitle")
        if ref is None or self.store.get(BUCKET, ref["key"]) is None:
            return None
        return self.store.object_file(BUCKET, ref["key"])

    def read_object(self, asset_id: str, kind: str, subtitle_id: int | None = None,
                    ) -> bytes | None:
        path = self.object_path(asset_id, kind, subtitle_id)
        return None if path is None else path.read_bytes()

    def objects(self) -> list[dict[str, Any]]:
        return [{"bucket": m.bucket, "key": m.key, "size": m.size, "md5": self.store.md5_hex(m),
                 "etag": m.etag, "content_type": m.content_type} for m in self.store.list_objects()]

    def uploads(self) -> list[dict[str, Any]]:
        """Multipart uploads in progress."""
        return [{"upload_id": u.upload_id, "bucket": u.bucket, "key": u.key,
                 "parts": sorted(u.parts)} for u in self.store.uploads()]

    @property
    def requests(self) -> list[Recorded]:
        with self._records_lock:
            return list(self._records)

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    def add_fault(self, kind: str, target: str, count: int | None = 1, **params: Any) -> int:
        """Script a fault; returns its id. See the package docstring for kinds/params."""
        return self.fault_book.add(kind, target, count, **params).id

    def clear_faults(self) -> None:
        self.fault_book.clear()

    def faults(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.fault_book.pending()]

    def throttled_count(self) -> int:
        return self.limiter.throttled

    def set_limit(self, group: str, count: int, per_seconds: float) -> None:
        self.limiter.set_limit(group, count, per_seconds)

    # -- request routing ---------------------------------------------------------
    def dispatch(self, ex: Exchange) -> None:
        if ex.path.startswith("/_emulator/") or ex.path == "/_emulator":
            control.handle(self, ex)
            return
        ex.recorder = self._record
        try:
            self._route(ex)
        except Abort:
            ex.status, ex.error_code = 0, ex.error_code or "reset"
            raise
        finally:
            ex.record()

    def _route(self, ex: Exchange) -> None:
        match = _VOD_ROUTE.match(ex.path)
        if match or ex.path.startswith(("/v1.0/", "/v1.1/", "/v1/")):
            version, pid, rest = match.groups() if match else ("", "", "")
            op = _VOD_OPERATIONS.get((version, rest or "", ex.method))
            if ex.chunked:
                ex.close_after()
                apigw_error(ex, 411, "APIGW.0201", "chunked bodies are not supported")
            elif op is None:
                ex.operation = "unknown"
                apigw_error(ex, 404, "APIGW.0101")
            else:
                ex.operation = op
                self._vod(ex, op, pid)
            return
        self._obs(ex)

    def _pre_faults(self, ex: Exchange) -> Any:
        fault = self.fault_book.take(ex.operation, kinds=("status", "reset", "slow", "hang"))
        if fault is not None and fault.kind == "reset" and fault.phase == "request":
            ex.read_some(fault.after_bytes)
            raise Abort()
        if fault is not None and fault.kind == "reset":
            ex.abort_instead_of_respond = True
        return fault

    def _vod(self, ex: Exchange, op: str, pid: str) -> None:
        fault = self._pre_faults(ex)
        body = self.vod.read_body(ex)
        if body is None:
            return
        if fault is not None and self._run_fault(ex, fault, vod=True):
            return
        if not self.vod.authenticate(ex, body) or not self.vod.check_project(ex, pid):
            return
        wait = self.limiter.admit(op)
        if wait is not None:
            if self.throttle_code == "APIGW.0308":
                apigw_error(ex, 429, "APIGW.0308", "policy user over ratelimit",
                            {"Retry-After": str(max(1, int(wait + 0.999)))})
            else:
                vod_error(ex, 403, "VOD.10127")
            return
        getattr(self.vod, op)(ex, pid)

    def _run_fault(self, ex: Exchange, fault: Any, *, vod: bool) -> bool:
        """Carry out a status/slow/hang fault; True when the request is finished."""
        if fault.kind == "slow":
            ex.sleep(fault.delay)
            return False
        if fault.kind == "hang":
            ex.discard_body()
            ex.error_code = "hang"
            ex.wait_for_peer_close()
            raise Abort()
        if fault.kind == "status":
            reply = vod_status_error if vod else obs_status_error
            reply(ex, fault.status, fault.code, fault.message, fault.retry_after)
            return True
        return False

    def _obs(self, ex: Exchange) -> None:
        bucket, key = split_path(ex.path)
        s3 = self.s3_compat and is_s3_request(ex)
        ex.operation = operation_of(ex.method, key, ex.has_param)
        ex.rate = self.obs_rate_bytes_per_s
        if ex.method not in ("GET", "PUT", "POST", "DELETE", "HEAD"):
            obs_error(ex, 405, "MethodNotAllowed", "The specified method is not allowed.")
            return
        if ex.chunked:
            ex.close_after()
            obs_error(ex, 411, "MissingContentLength", "You must provide the Content-Length"
                      " HTTP header (chunked transfer is not supported).")
            return
        fault = self._pre_faults(ex)
        ex.sleep(self.obs_latency_ms / 1000)
        if fault is not None and self._run_fault(ex, fault, vod=False):
            return
        if ex.operation == "obs_bucket":
            if s3:
                self.s3.handle(ex, bucket)
            else:
                obs_error(ex, 403, "AccessDenied", "Access Denied: only objects behind"
                          " signed URLs are served (or start with --s3-compat)")
            return
        if self.fault_book.take(ex.operation, kinds=("expired",)) is not None:
            self.obs.expired(ex)
            return
        if not s3 and is_s3_request(ex):
            obs_error(ex, 403, "AccessDenied", "Access Denied: AWS-signed requests are"
                      " accepted only in S3 compatibility mode (--s3-compat)")
            return
        if not s3 and not self.obs.check_signature(ex, bucket, key):
            return
        self.obs.handle(ex, bucket, key, s3=s3)

    def _record(self, ex: Exchange) -> None:
        query = {k: (["REDACTED"] if k in _REDACTED_PARAMS else v)
                 for k, v in ex.query_dict.items()}
        record = Recorded(method=ex.method, path=ex.path, query=query, body=ex.json,
                          status=ex.status, error_code=ex.error_code, time=ex.started,
                          operation=ex.operation, request_id=ex.request_id,
                          duration=time.time() - ex.started)
        with self._records_lock:
            self._records.append(record)


__all__ = ["DEFAULT_AK", "DEFAULT_SK", "KINDS", "Emulator", "Recorded"]
