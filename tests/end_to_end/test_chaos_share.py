"""Chaos over a mixed drop: kill -9 combined with share faults (the inbox or failed/
removed, done/ made read-only, the disk full), kills also in the middle of a fault. At
the end every file is in done/ exactly once with VOD holding the same bytes, or in
failed/ with its error file; none was hidden at any moment (a lister samples the share
throughout), and the daemon was alive whenever it was not killed."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import Sampler, bind, file_md5, make_big
from tests.mounts import fill, tmpfs

MB = 1024 * 1024


def test_kill_9_and_share_faults_lose_nothing_and_hide_nothing(setup: Setup, daemon_factory,
                                                              tmp_path: Path) -> None:
    """Mixed drop on a small tmpfs share; kills and faults at random (seeded) moments."""
    rng = random.Random(20261130)
    share = tmp_path / "share"
    with tmpfs(share, "96m"):
        inbox, done, failed = share / "inbox", share / "done", share / "failed"
        for d in (inbox, done, failed):
            d.mkdir()
        setup.write_config(folders=[{"inbox": str(inbox), "done": str(done),
                                     "failed": str(failed)}],
                           upload={"part_size_mb": 5, "parallel_parts": 2},
                           claims={"instance_id": "chaos", "lease_seconds": 3})
        for operation in ("obs_part", "obs_put"):
            setup.emulator.add_fault("slow", operation, count=None, delay=1.5)
        expected: dict[str, str] = {}
        for n in range(6):
            aid = asset_id(3000 + n)
            setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
            expected[f"{aid}.mp4"] = make_big(inbox / f"{aid}.mp4", (3 + 5 * n) * MB)
            write_bytes(inbox / f"{aid}.cover.jpg", 2000, seed=str(n))
            expected[f"{aid}.cover.jpg"] = file_md5(inbox / f"{aid}.cover.jpg")
        (inbox / "not-a-name.doc").write_text("a file vodwatch cannot place")
        dropped = set(expected) | {"not-a-name.doc"}

        deadline = time.monotonic() + 60
        daemon = daemon_factory(name="chaos-0")
        round_no = 0
        faults: list[str] = []

        def restart() -> None:
            nonlocal daemon, round_no
            daemon.kill()
            round_no += 1
            daemon = daemon_factory(name=f"chaos-{round_no}")

        def delivered() -> list[str]:
            return sorted(p.name for p in done.iterdir()
                          if not p.name.startswith((".", "deliveries ")))

        with Sampler(inbox, [done, failed], sorted(dropped)) as sampler:
            while time.monotonic() < deadline and len(delivered()) < len(expected):
                time.sleep(rng.uniform(0.5, 2.0))
                fault = rng.choice(["kill", "readonly", "full", "failed gone", "inbox gone"])
                kill_inside = fault != "kill" and rng.random() < 0.4
                faults.append(fault + (" + kill" if kill_inside else ""))
                if fault == "kill":
                    restart()
                    continue
                # A folder renamed away hides its files on purpose: not counted as hidden.
                away = {"failed gone": failed, "inbox gone": inbox}.get(fault)
                if away is not None:
                    sampler.paused.set()
                    os.rename(away, share / "away")
                    if kill_inside:
                        restart()
                    time.sleep(rng.uniform(0.5, 1.5))
                    assert daemon.proc.poll() is None, "the daemon lives through " + fault
                    os.rename(share / "away", away)
                    sampler.paused.clear()
                elif fault == "readonly":
                    with bind(done, done, read_only=True):
                        if kill_inside:
                            restart()
                        time.sleep(rng.uniform(0.5, 1.5))
                        assert daemon.proc.poll() is None, "the daemon lives through " + fault
                else:
                    filler = share / "filler"
                    fill(filler)
                    if kill_inside:
                        restart()
                    time.sleep(rng.uniform(0.5, 1.5))
                    assert daemon.proc.poll() is None, "the daemon lives through " + fault
                    filler.unlink()
                assert daemon.proc.poll() is None, "the daemon lives through every share fault"
        assert sampler.samples > 100
        assert sampler.missing == [], sampler.missing[:5]

        assert len(faults) >= 4 and any("kill" in f for f in faults), faults
        wait_for(lambda: all((done / n).exists() for n in expected), 180,
                 what="every file in done/ after the chaos")
        wait_for(lambda: (failed / "not-a-name.doc.error.txt").exists(), 30,
                 what="the bad name in failed/ with its error file")
        assert daemon.stop() == 0
        assert delivered() == sorted(expected), "each file in done/ exactly once"
        for name, digest in expected.items():
            kind = "video" if name.endswith(".mp4") else "cover"
            stored = setup.emulator.object_path(name.split(".")[0], kind)
            assert stored is not None and file_md5(stored) == digest, name
            assert file_md5(done / name) == digest
        assert [n for n in os.listdir(inbox) if not n.startswith(".")] == []
        shutil.rmtree(share / "inbox" / ".vodwatch", ignore_errors=True)
