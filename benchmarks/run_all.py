"""Run every benchmark (``make bench``), each in its own process, and print one table.

``--quick`` passes on to each benchmark (smaller sizes, shorter runs). The whole
set stays under 15 minutes on a 2-core machine; each benchmark also has a hard
time limit of its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (script, time limit in seconds, its arguments always, and in `make bench` only); the
# whole run also stops at BUDGET_SECONDS. To fit the budget, `make bench` runs the WAN
# matrix (2 links x 1/4/8 parts, with its anchors) on 300 MiB and two large-file rounds;
# the full-size figures in benchmarks/README.md come from the scripts run on their own.
BENCHMARKS: list[tuple[str, int, list[str], list[str]]] = [
    ("bench_large_file.py", 180, [], ["--rounds", "2"]),
    ("bench_wan.py", 150, [], ["--size-mib", "300"]),
    ("bench_burst.py", 130, [], []),
    ("bench_burst.py", 130, ["--daemons", "2"], []),  # two daemons of one tenant
    ("bench_latency.py", 110, [], []),
    ("bench_idle.py", 150, [], ["--seconds", "45"]),
    ("bench_memory.py", 100, [], []),
    ("bench_startup.py", 60, [], []),
]
BUDGET_SECONDS = 15 * 60 - 10


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    p.add_argument("--only", default=None, help="comma-separated names, e.g. burst,idle")
    p.add_argument("--workdir", default=None, help="parent of the scratch folders")
    args = p.parse_args(argv)
    chosen = [(s, t, a, f) for s, t, a, f in BENCHMARKS
              if not args.only or any(n in s for n in args.only.split(","))]
    started = time.monotonic()
    results = []
    failures = []
    with tempfile.TemporaryDirectory(prefix="vodwatch-bench-results-") as tmp:
        for n, (script, limit, always, full) in enumerate(chosen):
            out = Path(tmp) / f"{n}-{script}.json"
            argv_b = [sys.executable, str(HERE / script), "--json", str(out), *always]
            argv_b += ["--quick"] if args.quick else full
            if args.workdir:
                argv_b += ["--workdir", args.workdir]
            left = BUDGET_SECONDS - (time.monotonic() - started)
            label = " ".join([script, *always])
            if left < 10:
                print(f"\n##### {label}: skipped, the 15-minute budget is spent", flush=True)
                failures.append(label)
                continue
            print(f"\n##### {label}", flush=True)
            try:
                done = subprocess.run(argv_b, timeout=min(limit, left), cwd=HERE.parent)
                code = done.returncode
            except subprocess.TimeoutExpired:
                code = -1
                print(f"{script}: stopped at its time limit", flush=True)
            if code == 0 and out.exists():
                results.append(json.loads(out.read_text()))
            else:
                failures.append(label)
    took = time.monotonic() - started
    print(f"\n##### Summary ({took / 60:.1f} min"
          f"{'; ' + results[0]['machine'] if results else ''})\n")
    print("| metric | anchor (same run) | goal | measured | met | command |")
    print("|---|---|---|---|---|---|")
    for res in results:
        for row in res["rows"]:
            met = {True: "yes", False: "**no**", None: "-"}[row["ok"]]
            print(f"| {row['metric']} | {row['anchor']} | {row['goal']} | {row['measured']} "
                  f"| {met} | `{res['command']}` |")
    if failures:
        print(f"\nbenchmarks that did not finish: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
