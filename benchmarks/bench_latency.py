"""Benchmark 4: latency from "file stable" to the first VOD request about it.

"Stable" is the moment the writer closed the file (the writer writes straight into
the inbox); the emulator records when each request arrived. 100 files, one asset
each, a fresh file every 0.3 s, in events mode and in polling mode.
UpdateAsset pacing is lifted so that files arriving faster than 90 a minute do not
queue (queueing under limits is benchmark 3). Anchor: settle_seconds (and the
polling interval), the waits vodwatch promises.
Goal: p95 <= settle + 100 ms (events), <= settle + interval + 100 ms (polling).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import common as C

from vodwatch.emulator import Emulator

SETTLE = 1.0
INTERVAL = 1.0


def first_request(emu: Emulator, aid: str) -> float | None:
    for r in emu.requests:
        if r.operation in ("asset_info", "update_asset") and (
                aid in r.query.get("asset_id", []) or (
                    isinstance(r.body, dict) and r.body.get("asset_id") == aid)):
            return r.time
    return None


def one_mode(emu: Emulator, root: Any, mode: str, count: int, gap: float) -> list[float]:
    site = C.Site(root / mode)
    # Pacing lifted (the emulator enforces no limits here): files arrive faster than
    # the default 90 UpdateAsset a minute, and queueing is benchmark 3's business.
    site.write_config(emu.url, settle_seconds=SETTLE, scan_interval_seconds=INTERVAL,
                      limits={"update_asset_per_minute": 6000},
                      folders=[{"inbox": str(site.inbox), "done": str(site.done),
                                "failed": str(site.failed), "watch": mode}])
    closed: dict[str, float] = {}
    with C.DaemonProc(site, name=f"daemon-{mode}") as daemon:
        daemon.wait_ready()
        time.sleep(1.0)
        payload = os.urandom(256 * 1024)
        for i in range(count):
            aid = C.asset_id(f"latency-{mode}-{i}")
            with open(site.inbox / f"{aid}.mp4", "wb") as fh:
                fh.write(payload[:128 * 1024])
                fh.write(payload[128 * 1024:])
            closed[aid] = time.time()
            time.sleep(gap)
        C.wait_until(lambda: len(list(site.done.glob("*.mp4"))) >= count, timeout=60,
                     interval=0.1)
    out = []
    for aid, t in closed.items():
        seen = first_request(emu, aid)
        if seen is None:
            raise RuntimeError(f"no VOD request for {aid}")
        out.append(seen - t)
    return out


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__ or "")
    p.add_argument("--files", type=int, default=None)
    args = p.parse_args(argv)
    count = args.files or (30 if args.quick else 100)
    gap = 0.3
    res = C.Result(f"Latency, file closed -> first VOD request ({count} files per mode)",
                   C.command_line("bench_latency.py", args.quick))
    started = time.monotonic()
    with C.workdir(args.workdir, args.keep) as root, C.emulator(root / "emulator") as emu:
        lat = {mode: one_mode(emu, root, mode, count, gap) for mode in ("events", "polling")}
    for mode, values in lat.items():
        p50, p95 = C.percentile(values, 50), C.percentile(values, 95)
        limit = SETTLE + (INTERVAL if mode == "polling" else 0.0)
        print(f"{mode:8s} p50 {p50 * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms  max "
              f"{max(values) * 1000:6.0f} ms   (promised wait {limit * 1000:.0f} ms)")
        res.details[mode] = {"p50": p50, "p95": p95, "max": max(values), "min": min(values)}
        anchor = (f"settle {SETTLE:g} s" if mode == "events"
                  else f"settle {SETTLE:g} s + interval {INTERVAL:g} s")
        res.add(f"Latency ({mode}): closed -> first VOD request, p50 / p95", anchor,
                f"p95 <= {limit * 1000 + 100:.0f} ms",
                f"{p50 * 1000:.0f} / {p95 * 1000:.0f} ms", p95 <= limit + 0.1)
    res.seconds = time.monotonic() - started
    return res.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
