"""Benchmark 2: emulated WAN. The object store holds each connection to a rate, and the
object store and the VOD API both add the link's round trip to every request; one
large file goes up with 1, 4, 8 parallel parts, on two links: 40 ms and a long-haul
200 ms, both 25 MB/s per connection.

Anchors, in the same run, on the same emulated link: the cap, parallel parts x the
per-connection rate; that rate as one ``curl -T`` gets it (round trip included); and
``rclone copyto`` of the same file with the same parallelism
(``--s3-upload-concurrency``) and the part size vodwatch chose (``--s3-chunk-size``).
Measured for both uploaders from the emulator's request log: bytes of the file /
(first part request -> last part answered). Goals: >= 0.97x the cap at 40 ms,
>= 0.95x at 200 ms, ahead of rclone on both.

The daemon runs with adaptive part sizes: ``upload.part_size_mb: auto``, the default.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common as C

from vodwatch.emulator import Emulator
from vodwatch.emulator.faults import VOD_TARGETS

RATE = 25e6  # bytes/s per connection
PROFILES = {"40ms": 40.0, "200ms": 200.0}  # round trip of every request
GOALS = {"40ms": 0.97, "200ms": 0.95}
CURL_AUTH = ("Authorization: AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/s3/"
             "aws4_request, SignedHeaders=host, Signature=0")
def set_link(emu: Emulator, rtt_ms: float) -> None:
    """Every request, to the store and to the VOD API, waits ``rtt_ms`` before it is
    handled (VOD calls through a standing "slow" fault on each VOD operation)."""
    emu.obs_latency_ms = rtt_ms
    emu.clear_faults()
    for target in VOD_TARGETS:
        emu.add_fault("slow", target, count=None, delay=rtt_ms / 1000)


def curl_rate(emu: Emulator, path: Path) -> float:
    """Bytes/s that one ``curl -T`` gets from the rate-limited store (delay included)."""
    started = time.perf_counter()
    subprocess.run(["curl", "-sS", "-f", "-o", "/dev/null", "-H", CURL_AUTH, "-T", str(path),
                    f"{emu.url}/bench/probe.bin"], check=True, capture_output=True,
                   timeout=300)
    took = time.perf_counter() - started
    emu.store.delete("bench", "probe.bin")
    return path.stat().st_size / took


def forget_objects(emu: Emulator) -> None:
    for obj in emu.store.list_objects():
        emu.store.delete(obj.bucket, obj.key)


def parts_phase(emu: Emulator, since: float, size: int) -> dict[str, float]:
    """From the request log: first part request -> last part answered, and the rate."""
    reqs = [r for r in emu.requests if r.time >= since]
    # rclone looks the object up before it sends it: a 404 there is expected.
    bad = [(r.operation, r.status, r.error_code) for r in reqs if r.status >= 300
           and not (r.status == 404 and r.operation in ("obs_head", "obs_get"))]
    if bad:
        raise RuntimeError(f"errors during the run: {bad[:5]}")
    parts = [r for r in reqs if r.operation == "obs_part"]
    first = min(r.time for r in parts)
    last = max(r.time + r.duration for r in parts)
    out: dict[str, Any] = {"parts_s": last - first, "rate": size / (last - first),
                           "parts": float(len(parts))}
    # When each part and each authority call started and ended, from the first part on.
    out["timeline"] = [(r.operation, r.query.get("partNumber", r.query.get("part_number",
                                                                           [""]))[0],
                        round(r.time - first, 3), round(r.time + r.duration - first, 3))
                       for r in reqs if r.operation in ("obs_part", "authority")]
    initiate = [r for r in reqs if r.operation == "obs_initiate"]
    complete = [r for r in reqs if r.operation == "obs_complete"]
    if initiate and complete:
        out["upload_s"] = complete[-1].time + complete[-1].duration - initiate[0].time
    return out


def chosen_part(log_path: Path) -> tuple[int, str]:
    """The part size the daemon logged for its upload, and why."""
    for line in log_path.read_text(errors="replace").splitlines():
        if '"upload.multipart_started"' in line:
            event = json.loads(line)
            return int(event["part_size"]), str(event.get("why", ""))
    raise RuntimeError("the daemon logged no multipart start")


def vodwatch_run(emu: Emulator, site: C.Site, source: Path, parallel: int, tag: str
                 ) -> dict[str, Any]:
    """Restart the daemon with ``parallel`` parts, drop the file, time its parts."""
    site.write_config(emu.url, settle_seconds=0.5,
                      upload={"workers": 1, "parallel_parts": parallel})
    with C.DaemonProc(site, name=f"daemon-{tag}") as daemon:
        daemon.wait_ready()
        aid = C.asset_id(f"wan-{tag}")
        target = site.inbox / f"{aid}.mp4"
        emu.clear_requests()
        dropped = time.time()
        os.rename(source, target)
        done = site.done / target.name
        C.wait_until(done.exists, timeout=900, interval=0.01)
        os.rename(done, source)
        part, why = chosen_part(daemon.log_path)
        rss = daemon.peak_rss()
    result: dict[str, Any] = parts_phase(emu, dropped, source.stat().st_size)
    result.update(part_size=part, why=why, peak_rss_mib=rss)
    forget_objects(emu)
    return result


def rclone_argv(source: Path, parallel: int, chunk_mib: int) -> list[str]:
    return ["rclone", "copyto", str(source), "emu:bench/rclone.bin", "--retries", "1",
            "--s3-upload-concurrency", str(parallel), "--s3-chunk-size", f"{chunk_mib}M"]


def rclone_run(emu: Emulator, source: Path, parallel: int, chunk_mib: int
               ) -> dict[str, Any]:
    """``rclone copyto`` with the same parallelism and part size; timed like vodwatch."""
    emu.clear_requests()
    started = time.time()
    done = subprocess.run(rclone_argv(source, parallel, chunk_mib), env=C.rclone_env(emu.url),
                          capture_output=True, text=True, timeout=900)
    wall = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"rclone failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = parts_phase(emu, started, source.stat().st_size)
    result["wall_s"] = wall
    forget_objects(emu)
    return result


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__ or "")
    p.add_argument("--size-mib", type=int, default=None)
    p.add_argument("--parallel", default=None, help="comma-separated settings, e.g. 1,4,8")
    p.add_argument("--profiles", default=",".join(PROFILES),
                   help=f"comma-separated links among {', '.join(PROFILES)}")
    args = p.parse_args(argv)
    size = (args.size_mib or (320 if args.quick else 1000)) * C.MiB
    settings = [int(x) for x in (args.parallel or ("1,4" if args.quick else "1,4,8")
                                 ).split(",")]
    profiles = [x for x in args.profiles.split(",") if x]
    has_rclone = shutil.which("rclone") is not None
    res = C.Result(f"Emulated WAN ({RATE / 1e6:.0f} MB/s per connection, "
                   f"{' and '.join(profiles)} round trip)",
                   C.command_line("bench_wan.py", args.quick))
    started = time.monotonic()
    table: dict[str, dict[int, dict[str, Any]]] = {}
    singles: dict[str, float] = {}
    with C.workdir(args.workdir, args.keep) as root:
        C.need_space(root, 3 * size)
        site = C.Site(root / "site")
        source = site.stage / "source.mp4"
        C.make_file(source, size, "wan")
        probe = site.stage / "probe.bin"
        C.make_file(probe, 64 * C.MiB, "probe")
        shm = C.memory_dir(2 * size)
        store = Path(tempfile.mkdtemp(prefix="vodwatch-bench-emu-", dir=shm or root))
        res.details["emulator_store"] = "memory (/dev/shm)" if shm else "disk"
        try:
            with C.emulator(store, s3_compat=True, obs_rate_bytes_per_s=RATE) as emu:
                for profile in profiles:
                    set_link(emu, PROFILES[profile])
                    singles[profile] = curl_rate(emu, probe)
                    print(f"[{profile}] one connection (curl -T, 64 MiB): "
                          f"{singles[profile] / 1e6:.1f} MB/s", flush=True)
                    table[profile] = {}
                    for parallel in settings:
                        C.drop_caches_dirty()
                        v = vodwatch_run(emu, site, source, parallel, f"{profile}-{parallel}")
                        row: dict[str, Any] = {"vodwatch": v}
                        chunk_mib = -(-int(v["part_size"]) // C.MiB)
                        if has_rclone:
                            C.drop_caches_dirty()
                            row["rclone"] = rclone_run(emu, source, parallel, chunk_mib)
                        row["rclone_command"] = " ".join(rclone_argv(Path("FILE"), parallel,
                                                                     chunk_mib))
                        table[profile][parallel] = row
                        cap = parallel * RATE
                        line = (f"[{profile}] parallel_parts={parallel}: vodwatch "
                                f"{v['rate'] / 1e6:.1f} MB/s = {v['rate'] / cap:.3f}x cap, "
                                f"{v['parts']:.0f} parts of {v['part_size'] / C.MiB:.1f} MiB, "
                                f"peak RSS {v['peak_rss_mib']:.0f} MiB")
                        if "rclone" in row:
                            line += (f"; rclone {row['rclone']['rate'] / 1e6:.1f} MB/s = "
                                     f"{row['rclone']['rate'] / cap:.3f}x")
                        print(line, flush=True)
                    set_link(emu, 0.0)
        finally:
            shutil.rmtree(store, ignore_errors=True)
    res.details.update(size_bytes=size, single_connection_b_s=singles, results=table)
    print(f"\n{size / C.MiB:.0f} MiB file; cap = parts x {RATE / 1e6:.0f} MB/s; "
          "rate = file / (first part request -> last part answered)")
    print("  link   parallel  part MiB  vodwatch MB/s  x cap   rclone MB/s  x cap  "
          "vodwatch/rclone  upload s (initiate->complete) vodwatch / rclone")
    for profile, rows in table.items():
        for parallel, row in rows.items():
            v, r = row["vodwatch"], row.get("rclone")
            cap = parallel * RATE
            print(f"  {profile:6s} {parallel:8d}  {v['part_size'] / C.MiB:8.1f}  "
                  f"{v['rate'] / 1e6:13.1f}  {v['rate'] / cap:5.3f}  "
                  + (f"{r['rate'] / 1e6:11.1f}  {r['rate'] / cap:5.3f}  "
                     f"{v['rate'] / r['rate']:15.2f}  {v.get('upload_s', 0):.2f} / "
                     f"{r.get('upload_s', 0):.2f}" if r else "rclone not run"))
            ratio = v["rate"] / cap
            res.add(f"WAN {profile}: {parallel} parallel parts",
                    f"cap {parallel} x {RATE / 1e6:.0f} MB/s (curl -T gets "
                    f"{singles[profile] / 1e6:.1f} MB/s on one connection)",
                    f">= {GOALS[profile]}x cap",
                    f"{ratio:.3f}x ({v['rate'] / 1e6:.1f} MB/s, {v['parts']:.0f} parts of "
                    f"{v['part_size'] / C.MiB:.1f} MiB)", ratio >= GOALS[profile])
            if r:
                res.add(f"WAN {profile}: {parallel} parallel parts vs rclone",
                        f"rclone {r['rate'] / 1e6:.1f} MB/s ({row['rclone_command']})",
                        "> 1.0x", f"{v['rate'] / r['rate']:.2f}x", v["rate"] > r["rate"])
    res.seconds = time.monotonic() - started
    return res.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
