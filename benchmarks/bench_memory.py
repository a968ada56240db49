"""Benchmark 6: peak memory (VmHWM of the daemon process) while uploading one file of
100 MB, 1 GiB and 4 GiB with 4 parallel parts; a fresh daemon for each size.

Anchor, in the same run: the peak of the same daemon idle, before its file is
dropped. Goal: flat across sizes and <= 150 MB.
"""

from __future__ import annotations

import os
import sys
import time

import common as C


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__ or "")
    p.add_argument("--sizes-mib", default=None, help="comma-separated, e.g. 100,1024,4096")
    args = p.parse_args(argv)
    sizes = [int(x) for x in (args.sizes_mib or ("100,512" if args.quick else "100,1024,4096")
                              ).split(",")]
    res = C.Result("Peak memory of the daemon (4 parallel parts)",
                   C.command_line("bench_memory.py", args.quick))
    started = time.monotonic()
    results = {}
    with C.workdir(args.workdir, args.keep) as root:
        C.need_space(root, 3 * max(sizes) * C.MiB)
        with C.emulator(root / "emulator") as emu:
            for size_mib in sizes:
                site = C.Site(root / f"site-{size_mib}")
                source = site.stage / "source.mp4"
                size = size_mib * C.MiB if size_mib != 100 else 100 * 1000 * 1000
                C.make_file(source, size, f"mem-{size_mib}")
                site.write_config(emu.url, upload={"parallel_parts": 4, "workers": 4})
                with C.DaemonProc(site) as daemon:
                    daemon.wait_ready()
                    time.sleep(1.0)
                    idle = daemon.peak_rss()
                    aid = C.asset_id(f"mem-{size_mib}")
                    t0 = time.monotonic()
                    os.rename(source, site.inbox / f"{aid}.mp4")
                    C.wait_until((site.done / f"{aid}.mp4").exists, timeout=900, interval=0.05)
                    took = time.monotonic() - t0
                    peak = daemon.peak_rss()
                (site.done / f"{aid}.mp4").unlink()
                for obj in emu.store.list_objects():
                    emu.store.delete(obj.bucket, obj.key)
                C.drop_caches_dirty()
                results[size_mib] = {"idle_mib": idle, "peak_mib": peak, "seconds": took}
                print(f"{size / 1e6:7.0f} MB file: peak RSS {peak:.1f} MiB (idle {idle:.1f} MiB)"
                      f", uploaded in {took:.1f} s", flush=True)
    peaks = [r["peak_mib"] for r in results.values()]
    idle = min(r["idle_mib"] for r in results.values())
    flat = max(peaks) - min(peaks)
    res.details.update(results=results)
    res.add("Peak RSS by file size (" + ", ".join(f"{s} MiB" if s != 100 else "100 MB"
                                                 for s in results) + ")",
            f"idle daemon {idle:.0f} MiB", "flat, <= 150 MB",
            " / ".join(f"{r['peak_mib']:.0f}" for r in results.values()) +
            f" MiB (spread {flat:.0f} MiB)",
            max(peaks) * 1.048576 <= 150 and flat <= 10)
    res.seconds = time.monotonic() - started
    return res.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
