"""Benchmark 1: one large file from drop to done, loopback, against two anchors.

Anchors, run in the same process run, on the same file, against the same emulator:
(a) the serial limit, ``md5sum FILE`` then ``curl -T FILE`` to the object store
    (the least any uploader that must know the MD5 before sending can do), and
(b) ``rclone copyto`` of the file to the object store as an S3 remote.

vodwatch's time is drop -> done minus ``settle_seconds`` (the settle window is a
policy wait that neither anchor has). Goal: >= 0.9x the serial limit's throughput
and >= 1.0x rclone's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common as C

from vodwatch.emulator import Emulator
from vodwatch.pacing import default_burst

CURL_AUTH = ("Authorization: AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/s3/"
             "aws4_request, SignedHeaders=host, Signature=0")


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr[-2000:]}")
    return took


def forget_objects(emu: Emulator) -> None:
    """Delete what the emulator stored, so the disk does not fill up across rounds."""
    for obj in emu.store.list_objects():
        emu.store.delete(obj.bucket, obj.key)


def vodwatch_round(emu: Emulator, site: C.Site, source: Path, n: int, settle: float
                   ) -> dict[str, float]:
    """Drop ``source`` as a new asset's video; returns the phases in seconds."""
    aid = C.asset_id(f"large-{n}")
    target = site.inbox / f"{aid}.mp4"
    emu.clear_requests()
    dropped = time.time()
    os.rename(source, target)
    done = site.done / target.name
    C.wait_until(done.exists, timeout=900, interval=0.005)
    finished = time.time()
    os.rename(done, source)  # the same bytes (and page cache) for the next run
    reqs = [r for r in emu.requests if r.time >= dropped]
    vod = [r for r in reqs if r.operation in ("asset_info", "update_asset")]
    parts = [r for r in reqs if r.operation == "obs_part"]
    complete = [r for r in reqs if r.operation == "obs_complete"]
    if any(r.status >= 300 for r in reqs):
        bad = [(r.operation, r.status, r.error_code) for r in reqs if r.status >= 300]
        raise RuntimeError(f"vodwatch run saw errors: {bad[:5]}")
    phases = {
        "total": finished - dropped - settle,
        "hash": vod[0].time - dropped - settle,
        "parts": max(r.time + r.duration for r in parts) - min(r.time for r in parts),
        "complete": complete[0].duration,
        "parts_count": float(len(parts)),
    }
    phases["other"] = phases["total"] - phases["hash"] - phases["parts"] - phases["complete"]
    phases["parts_per_s"] = len(parts) / phases["parts"]
    return phases


def main(argv: list[str] | None = None) -> int:
    p = C.parser(__doc__ or "")
    p.add_argument("--size-mib", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--store", choices=("memory", "disk"), default="memory",
                   help="where the emulator keeps objects (default: /dev/shm if it has room)")
    args = p.parse_args(argv)
    size = (args.size_mib or (512 if args.quick else 2048)) * C.MiB
    rounds = args.rounds or (2 if args.quick else 3)
    settle = 0.5
    res = C.Result("Large file, loopback", C.command_line("bench_large_file.py", args.quick))
    started = time.monotonic()
    has_rclone = shutil.which("rclone") is not None
    with C.workdir(args.workdir, args.keep) as root:
        C.need_space(root, 4 * size)
        site = C.Site(root / "site")
        source = site.stage / "source.mp4"
        C.make_file(source, size, "large")
        shm = C.memory_dir(2 * size) if args.store == "memory" else None
        store = Path(tempfile.mkdtemp(prefix="vodwatch-bench-emu-", dir=shm or root))
        res.details["emulator_store"] = "memory (/dev/shm)" if shm else "disk"
        with C.emulator(store, s3_compat=True) as emu:
            site.write_config(emu.url, settle_seconds=settle,
                              upload={"workers": 4, "parallel_parts": 4, "part_size_mb": 20})
            with C.DaemonProc(site) as daemon:
                daemon.wait_ready()
                runs: dict[str, list[float]] = {"md5sum": [], "curl": [], "serial": [],
                                                "rclone": [], "vodwatch": []}
                phases: list[dict[str, float]] = []
                subprocess.run(["md5sum", str(source)], capture_output=True, check=True)
                for n in range(rounds):
                    order = ["serial", "rclone", "vodwatch"]
                    order = order[n % 3:] + order[: n % 3]
                    for what in order:
                        C.drop_caches_dirty()
                        if what == "serial":
                            t_md5 = timed(["md5sum", str(source)])
                            t_curl = timed(["curl", "-sS", "-f", "-o", "/dev/null", "-H",
                                            CURL_AUTH, "-T", str(source),
                                            f"{emu.url}/bench/curl.bin"])
                            runs["md5sum"].append(t_md5)
                            runs["curl"].append(t_curl)
                            runs["serial"].append(t_md5 + t_curl)
                        elif what == "rclone" and has_rclone:
                            runs["rclone"].append(timed(
                                ["rclone", "copyto", str(source), "emu:bench/rclone.bin",
                                 "--retries", "1"], C.rclone_env(emu.url)))
                        elif what == "vodwatch":
                            ph = vodwatch_round(emu, site, source, n, settle)
                            phases.append(ph)
                            runs["vodwatch"].append(ph["total"])
                        forget_objects(emu)
                    print(f"round {n + 1}/{rounds}: " + ", ".join(
                        f"{k} {v[-1]:.2f}s" for k, v in runs.items() if v), flush=True)
                res.details["daemon_cpu_s"] = daemon.cpu()
            # The default settle window (10 s): the MD5 is read while the file settles,
            # so stable -> done costs the upload alone whenever the window covers the hash.
            default_settle = 10.0
            site.write_config(emu.url, settle_seconds=default_settle,
                              upload={"workers": 4, "parallel_parts": 4, "part_size_mb": 20})
            with C.DaemonProc(site, name="daemon-settle") as daemon:
                daemon.wait_ready()
                for n in range(rounds):
                    C.drop_caches_dirty()
                    ph = vodwatch_round(emu, site, source, 100 + n, default_settle)
                    runs.setdefault("vodwatch_settle10", []).append(ph["total"])
                    forget_objects(emu)
                    print(f"settle 10 s round {n + 1}/{rounds}: stable -> done "
                          f"{ph['total']:.2f}s", flush=True)
        shutil.rmtree(store, ignore_errors=True)
    med = {k: C.median(v) for k, v in runs.items() if v}
    rate = {k: size / v / 1e6 for k, v in med.items()}
    ph_med = {k: C.median([p[k] for p in phases]) for k in phases[0]}
    res.details.update(size_bytes=size, rounds=rounds, runs=runs, median_s=med,
                       mb_s=rate, vodwatch_phases_median_s=ph_med)
    print(f"\n{size / C.MiB:.0f} MiB file, {rounds} rounds, median seconds and MB/s:")
    for k in ("md5sum", "curl", "serial", "rclone", "vodwatch", "vodwatch_settle10"):
        if k in med:
            print(f"  {k:17s} {med[k]:7.2f} s  {rate[k]:6.0f} MB/s")
    print("  vodwatch phases (median s): " + ", ".join(
        f"{k} {v:.2f}" for k, v in ph_med.items() if k not in ("parts_count", "parts_per_s")))
    # Each part needs a multipart authority call, paced below VOD's 1500/min.
    cap = (1400 - default_burst(1400)) / 60
    print(f"  parts went at {ph_med['parts_per_s']:.1f}/s; the pacing of authority calls "
          f"(limits.upload_calls_per_minute 1400) allows {cap:.1f}/s = "
          f"{cap * 20 * C.MiB / 1e6:.0f} MB/s with 20 MiB parts")
    vs_serial = med["serial"] / med["vodwatch"]
    res.add("Large file: throughput vs serial limit (md5sum + curl -T)",
            f"serial {rate['serial']:.0f} MB/s", ">= 0.9x",
            f"{vs_serial:.2f}x ({rate['vodwatch']:.0f} MB/s, {size / C.MiB:.0f} MiB)",
            vs_serial >= 0.9)
    if "rclone" in med:
        vs_rclone = med["rclone"] / med["vodwatch"]
        res.add("Large file: throughput vs rclone copyto", f"rclone {rate['rclone']:.0f} MB/s",
                ">= 1.0x", f"{vs_rclone:.2f}x", vs_rclone >= 1.0)
    else:
        res.add("Large file: throughput vs rclone copyto", "rclone not installed", ">= 1.0x",
                "not run", None)
    if "vodwatch_settle10" in med:
        overlap = med["serial"] / med["vodwatch_settle10"]
        res.add("Large file, default settle 10 s: stable -> done vs serial limit (hash "
                "overlapped with the settle window)", f"serial {rate['serial']:.0f} MB/s",
                ">= 1.3x", f"{overlap:.2f}x ({rate['vodwatch_settle10']:.0f} MB/s)",
                overlap >= 1.3)
        if "rclone" in med:
            over_rclone = med["rclone"] / med["vodwatch_settle10"]
            res.add("Large file, default settle 10 s: vs rclone copyto",
                    f"rclone {rate['rclone']:.0f} MB/s", ">= 1.8x", f"{over_rclone:.2f}x",
                    over_rclone >= 1.8)
    res.seconds = time.monotonic() - started
    return res.finish(args.json)


if __name__ == "__main__":
    sys.exit(main())
