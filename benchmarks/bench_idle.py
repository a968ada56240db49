"""Benchmark 5: idle cost. 10,000 files in done/, 10,000 in failed/ and 10,000 ignored
temporary files in the inbox; CPU of the daemon over 60 s, events and polling (5 s).

The daemon's CPU time is read from /proc/PID/stat (utime + stime). Anchor, in the
same run: what one polling pass costs at the very least here (``os.scandir`` of the
inbox with one ``stat`` per entry, in this process), once per interval.
Goal: <= 1 % of a core (events), <= 3 % (polling every 5 s).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import common as C

INTERVAL = 5.0


def populate(site: C.Site, count: int) -> None:
    for i in range(count):
        aid = C.asset_id(f"idle-{i}")
        (site.done / f"{aid}.mp4").write_bytes(b"x")
        (site.failed / f"{aid}.mp4").write_bytes(b"x")
        (site.failed / f"{aid}.mp4.error.txt").write_bytes(b"x")
        (site.inbox / f"{aid}.mp4.part").write_bytes(b"x")


def scan_floor(inbox: Path, passes: int = 5) -> float:
    """CPU seconds of one bare scandir + stat pass over the inbox (best of a few)."""
    best = float("inf")
    for _ in range(passes):
        t0 = time.process_time()
        with os.scandir(inbox) as it:
            for entry in it:
                entry.stat(follow_symlinks=False)
        best = min(best, time.process_time() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__ or "")
    p.add_argument("--seconds", type=float, default=None)
    args = p.parse_args(argv)
    seconds = args.seconds or (20.0 if args.quick else 60.0)
    count = 10_000
    res = C.Result(f"Idle cost over {seconds:.0f} s ({count} files each in done/, failed/ and "
                   "inbox temp files)", C.command_line("bench_idle.py", args.quick))
    started = time.monotonic()
    with C.workdir(args.workdir, args.keep) as root, C.emulator(root / "emulator") as emu:
        results = {}
        for mode in ("events", "polling"):
            site = C.Site(root / mode)
            populate(site, count)
            site.write_config(emu.url, scan_interval_seconds=INTERVAL, settle_seconds=10,
                              folders=[{"inbox": str(site.inbox), "done": str(site.done),
                                        "failed": str(site.failed), "watch": mode}])
            with C.DaemonProc(site, name=f"daemon-{mode}") as daemon:
                daemon.wait_ready()
                time.sleep(3.0)  # start-up is benchmark 7's business
                cpu0, t0 = daemon.cpu(), time.monotonic()
                time.sleep(seconds)
                cpu1, t1 = daemon.cpu(), time.monotonic()
            floor = scan_floor(site.inbox)
            results[mode] = {"cpu_s": cpu1 - cpu0, "wall_s": t1 - t0,
                             "percent": 100 * (cpu1 - cpu0) / (t1 - t0),
                             "scan_floor_s": floor, "floor_percent": 100 * floor / INTERVAL}
            r = results[mode]
            print(f"{mode:8s} daemon CPU {r['cpu_s']:.2f} s over {r['wall_s']:.0f} s = "
                  f"{r['percent']:.2f} % of a core; bare scandir+stat of the inbox "
                  f"{floor * 1000:.1f} ms = {r['floor_percent']:.2f} % at one pass per "
                  f"{INTERVAL:g} s", flush=True)
        if emu.requests:
            print(f"(the daemons made {len(emu.requests)} VOD requests while idle)")
    res.details.update(results)
    for mode, goal in (("events", 1.0), ("polling", 3.0)):
        r = results[mode]
        anchor = (f"polling floor {r['floor_percent']:.2f} % (scandir+stat every "
                  f"{INTERVAL:g} s)")
        res.add(f"Idle CPU ({mode}{', 5 s' if mode == 'polling' else ''})", anchor,
                f"<= {goal:g} % of a core", f"{r['percent']:.2f} %", r["percent"] <= goal)
    res.seconds = time.monotonic() - started
    return res.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
