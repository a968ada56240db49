"""``vodwatch emulator`` / ``python -m vodwatch.emulator``: run the emulator until signalled."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from .core import DEFAULT_AK, DEFAULT_SK, THROTTLE_CODES, Emulator
from .limits import parse_limit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vodwatch emulator",
        description="Local Huawei Cloud VOD + object store for trying and testing vodwatch."
                    " AK/SK come from HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK, else the"
                    f" defaults AK={DEFAULT_AK} and SK={DEFAULT_SK}.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 = any)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder for uploaded objects (default: a temporary folder)")
    parser.add_argument("--assets", choices=("auto", "strict"), default="auto",
                        help="auto: unknown asset IDs spring into being as UPLOAD_FAILED;"
                             " strict: unknown IDs get VOD.10062 (default auto)")
    parser.add_argument("--project-id", default=None,
                        help="accept only this project ID in paths (default: any)")
    parser.add_argument("--s3-compat", action="store_true",
                        help="also accept AWS-signed S3 requests (e.g. rclone), unchecked")
    parser.add_argument("--url-ttl", type=float, default=3600.0, metavar="SECONDS",
                        help="validity of signed upload URLs (default 3600)")
    parser.add_argument("--limit", action="append", default=[], metavar="GROUP=COUNT/SECONDS",
                        help="rate limit a group (update_asset, upload, query, upload_other);"
                             " repeatable,"
                             " e.g. --limit update_asset=100/60 (default: no limits)")
    parser.add_argument("--throttle-code", choices=THROTTLE_CODES, default="VOD.10127",
                        help="answer to throttled calls: 403 VOD.10127 or 429 APIGW.0308")
    parser.add_argument("--rate", type=float, default=None, metavar="BYTES_PER_S",
                        help="limit each object-store transfer to this many bytes/s")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every object-store request (default 0)")
    parser.add_argument("--public-url", default=None,
                        help="base of the signed URLs (default: the Host the client used)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    limits = {}
    for text in args.limit:
        try:
            group, value = parse_limit(text)
        except ValueError as err:
            parser.error(str(err))
        limits[group] = value
    if args.url_ttl <= 0 or (args.rate is not None and args.rate <= 0) or args.latency_ms < 0:
        parser.error("--url-ttl and --rate must be > 0, --latency-ms >= 0")
    ak = os.environ.get("HUAWEICLOUD_SDK_AK") or DEFAULT_AK
    sk = os.environ.get("HUAWEICLOUD_SDK_SK") or DEFAULT_SK
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    with tempfile.TemporaryDirectory(prefix="vodwatch-emulator-") as scratch:
        data = args.data if args.data is not None else Path(scratch)
        data.mkdir(parents=True, exist_ok=True)
        emu = Emulator(data, ak=ak, sk=sk, project_id=args.project_id, assets=args.assets,
                       url_ttl_seconds=args.url_ttl, limits=limits,
                       throttle_code=args.throttle_code, s3_compat=args.s3_compat,
                       obs_rate_bytes_per_s=args.rate, obs_latency_ms=args.latency_ms,
                       public_url=args.public_url)
        try:
            emu.start(args.host, args.port)
        except OSError as err:
            print(f"vodwatch: cannot listen on {args.host}:{args.port}: {err.strerror}"
                  " (choose another --port)", file=sys.stderr)
            return 1
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM,
                                                                   signal.SIGINT)}
        try:
            print(f"vodwatch emulator listening on {emu.url} (AK {ak}, data {data},"
                  f" assets {args.assets}{', s3-compat' if args.s3_compat else ''})",
                  flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            emu.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0
