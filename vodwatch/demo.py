"""``vodwatch demo``: the emulator and the daemon on a scratch folder, for a first try.

Drops a video, a cover and two subtitles of one asset, a video for an asset whose
state does not allow a replacement, and a badly named file; then shows where each
one landed, what the error files say, the status page beside the inbox and the
delivery record in done/.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import textwrap
import time
from pathlib import Path

from .config import load_config
from .emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from .log import configure_logging

GOOD_ASSET = "6c6b2d0e7d3a4f1b9e8c7a6b5d4c3b2a"
PUBLISHED_ASSET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
PROJECT_ID = "0123456789abcdef0123456789abcdef"


NEW_TITLE = "Harbour at dawn"  # create mode: no asset ID in the name


def _sample(path: Path, size: int, seed: str) -> None:
    block = hashlib.sha256(seed.encode()).digest() * 2048
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            fh.write(block[:left])
            left -= len(block)


def run_demo(directory: Path | None = None, settle_seconds: float = 2.0) -> int:
    """Run the demo in ``directory`` (a new temporary folder by default); exit code."""
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="vodwatch-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    inbox, done, failed = root / "inbox", root / "done", root / "failed"
    for d in (inbox, done, failed):
        d.mkdir(exist_ok=True)
    print(f"vodwatch demo in {root}\n")
    with Emulator(root / "emulator", project_id=PROJECT_ID, assets="strict") as emu:
        emu.seed_asset(GOOD_ASSET, "UPLOAD_FAILED")
        emu.seed_asset(PUBLISHED_ASSET, "PUBLISHED")
        config_path = root / "config.yaml"
        config_path.write_text(textwrap.dedent(f"""\
            # Written by `vodwatch demo`: the emulator stands in for VOD.
            vod:
              endpoint: {emu.url}
              project_id: {PROJECT_ID}
            state_dir: {root / "state"}
            settle_seconds: {settle_seconds}
            scan_interval_seconds: 1
            upload:
              multipart_threshold_mb: 20
            log:
              format: console
            folders:
              - inbox: {inbox}
                done: {done}
                failed: {failed}
                create_assets: true   # "Harbour at dawn.mp4" becomes a new asset
            """))
        env = dict(os.environ, HUAWEICLOUD_SDK_AK=DEFAULT_AK, HUAWEICLOUD_SDK_SK=DEFAULT_SK)
        config = load_config(config_path, env)
        configure_logging("console", "info", secrets=[DEFAULT_SK])
        drops = {
            f"{GOOD_ASSET}.mp4": 3 * 1024 * 1024,
            f"{GOOD_ASSET}.cover.jpg": 40 * 1024,
            f"{GOOD_ASSET}.1.en.srt": 2 * 1024,
            f"{GOOD_ASSET}.2.zh.srt": 2 * 1024,
            f"{PUBLISHED_ASSET}.mov": 1024 * 1024,
            "holiday-final-v3.webm": 512 * 1024,
            f"{NEW_TITLE}.mp4": 1024 * 1024,
            f"{NEW_TITLE}.cover.jpg": 30 * 1024,
        }
        print("Dropping into inbox/:")
        for name, size in drops.items():
            _sample(inbox / name, size, name)
            print(f"  {name}  ({size:,} bytes)")
        print(f"\nThe daemon picks each file up once it has not changed for {settle_seconds:g}"
              " s...\n")
        from .daemon import Daemon

        started = time.monotonic()
        code = Daemon(config, once=True, env=env).run()
        took = time.monotonic() - started
        print(f"\nFinished in {took:.1f} s (exit code {code}: 1 means some files failed).\n")
        for folder in (inbox, done, failed):
            names = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")
                           and not p.name.startswith("deliveries "))
            print(f"{folder.name}/: " + ("(empty)" if not names else ""))
            for n in names:
                print(f"  {n}")
        for error_file in sorted(failed.glob("*.error.txt")):
            print(f"\n--- failed/{error_file.name} ---")
            print(error_file.read_text().rstrip())
        page = root / "inbox status.txt"
        if page.exists():
            print(f"\n--- {page.name} (the status page editors read beside the inbox) ---")
            print(page.read_text(encoding="utf-8-sig").rstrip())
        for record in sorted(done.glob("deliveries *.csv")):
            print(f"\n--- done/{record.name} (a record of each delivery) ---")
            print(record.read_text(encoding="utf-8-sig").rstrip())
        confirms = emu.confirms(GOOD_ASSET)
        print(f"\nThe emulator confirmed asset {GOOD_ASSET}: {confirms}")
        stored = emu.read_object(GOOD_ASSET, "video")
        same = stored == (done / f"{GOOD_ASSET}.mp4").read_bytes()
        print(f"The stored video is byte-identical to the file in done/: {same}")
        created = emu.assets_created()
        for asset in created:
            print(f"A new asset was created from a plain file name: {asset['asset_id']} "
                  f"titled {asset['title']!r}, confirmed {emu.confirms(asset['asset_id'])}")
        ok = same and confirms == ["CREATED"] and len(list(failed.glob("*.error.txt"))) == 2
        ok = ok and len(created) == 1
        print(f"\nTry it yourself: VODWATCH_CONFIG={config_path} vodwatch status")
        return 0 if ok else 1
