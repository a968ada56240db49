"""Benchmark 7: start-up with a backlog. 10,000 ready videos (100 kB each, one asset
each) are in the inbox when the daemon starts; time from process start to the
first object upload.

Anchor, in the same run: the same daemon starting with one file in the inbox.
Times are given net of settle_seconds (vodwatch must itself see a file unchanged
for that long before it touches it). Goal: < 2 s, no up-front hashing of everything.
"""

from __future__ import annotations

import sys
import time

import common as C

from vodwatch.emulator import Emulator

SETTLE = 0.5


def first_upload(emu: Emulator, count: int, size: int, site: C.Site) -> dict[str, float]:
    for i in range(count):
        C.make_file(site.inbox / f"{C.asset_id(f'start-{count}-{i}')}.mp4", size, str(i))
    site.write_config(emu.url, settle_seconds=SETTLE)
    emu.clear_requests()
    with C.DaemonProc(site) as daemon:
        t0 = daemon.started
        C.wait_until(lambda: any(r.operation == "obs_put" for r in emu.requests)
                     or not daemon.alive(), timeout=300, interval=0.01)
        ready = daemon.wait_ready()
        reqs = emu.requests
    put = min(r.time for r in reqs if r.operation == "obs_put")
    vod = min(r.time for r in reqs if r.operation in ("asset_info", "update_asset"))
    return {"ready": ready, "first_vod": vod - t0, "first_upload": put - t0,
            "net": put - t0 - SETTLE}


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__ or "")
    p.add_argument("--files", type=int, default=10_000)
    args = p.parse_args(argv)
    count = args.files if not args.quick else min(args.files, 3000)
    res = C.Result(f"Start-up with {count} ready files",
                   C.command_line("bench_startup.py", args.quick))
    started = time.monotonic()
    with C.workdir(args.workdir, args.keep) as root, C.emulator(root / "emulator") as emu:
        one = first_upload(emu, 1, 100_000, C.Site(root / "one"))
        many = first_upload(emu, count, 100_000, C.Site(root / "many"))
    for label, r in (("1 file", one), (f"{count} files", many)):
        print(f"{label:12s} ready {r['ready']:.2f} s, first VOD request {r['first_vod']:.2f} s,"
              f" first upload {r['first_upload']:.2f} s ({r['net']:.2f} s net of settle "
              f"{SETTLE:g} s)")
    res.details.update(one=one, many=many, files=count)
    res.add(f"Start-up: process start -> first upload, {count} ready files (net of settle)",
            f"1 file: {one['net']:.2f} s", "< 2 s",
            f"{many['net']:.2f} s ({many['first_upload']:.2f} s raw)", many["net"] < 2.0)
    res.seconds = time.monotonic() - started
    return res.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
