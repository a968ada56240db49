"""Large files: resumable parallel multipart, files that change, crashes at any moment."""

from __future__ import annotations

import itertools
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import Setup, asset_id, wait_for, write_bytes
from tests.end_to_end.attack_helpers import file_md5, make_big, ops
from vodwatch.upload import part_size_for

MB = 1024 * 1024


@pytest.mark.parametrize(("size_mb", "part_mb"), [(45, 5), (300, 20)])
def test_multipart_upload_with_parallel_parts(setup: Setup, size_mb: int, part_mb: int) -> None:
    """A file above 20 MB goes up in parallel parts; the stored object is byte-identical."""
    aid = asset_id(100 + size_mb)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": part_mb, "parallel_parts": 4})
    digest = make_big(setup.inbox / f"{aid}.mp4", size_mb * MB + 12345)
    result = setup.cli("once", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(aid) == ["CREATED"]
    parts = ops(setup, "obs_part")
    size = size_mb * MB + 12345
    expected = -(-size // part_size_for(size, part_mb * MB, 4))
    assert len([p for p in parts if p.status == 200]) == expected
    assert len(ops(setup, "obs_complete")) == 1
    assert not ops(setup, "obs_put")
    # Parts really went in parallel: some part started before another one ended.
    spans = sorted((p.time - p.duration, p.time) for p in parts)
    assert any(b_start < a_end for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_file_changed_during_upload_is_sent_again_once_stable(setup: Setup,
                                                             daemon_factory) -> None:
    """A file modified mid-upload: the upload is aborted, redone when stable, and matches."""
    aid = asset_id(200)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(settle_seconds=1, upload={"part_size_mb": 2, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=6, delay=0.5)
    path = setup.inbox / f"{aid}.mp4"
    make_big(path, 30 * MB)
    daemon = daemon_factory()
    wait_for(lambda: ops(setup, "obs_part"), 30, what="the first part")
    assert path.exists(), "the file stays in the inbox while it is sent"
    with open(path, "ab") as fh:  # the editor is still writing
        fh.write(b"more frames" * 1000)
    wait_for(lambda: (setup.done / path.name).exists(), 120, what="the file in done/")
    assert daemon.stop() == 0
    final = setup.done / path.name
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == file_md5(final)
    assert ops(setup, "obs_abort"), "the half-done upload must be aborted"
    assert setup.emulator.confirms(aid).count("CREATED") == 1


def test_crash_after_update_asset_before_its_answer_was_journaled(setup: Setup,
                                                                 daemon_factory) -> None:
    """UpdateAsset took effect but its answer was lost, then kill -9: the restart finishes it.

    The open upload is confirmed CANCELLED and UpdateAsset is sent again (documented choice).
    """
    aid = asset_id(201)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(retry={"base_seconds": 60, "cap_seconds": 60, "jitter": 0})
    setup.emulator.add_fault("reset", "update_asset", phase="response")
    data = write_bytes(setup.inbox / f"{aid}.mp4", 200_000)
    daemon = daemon_factory()
    wait_for(lambda: (setup.emulator.asset(aid) or {}).get("status") == "CREATING", 30,
             what="UpdateAsset to take effect")
    wait_for(lambda: "job.waiting" in daemon.output(), 30, what="the lost answer")
    daemon.kill()
    daemon = daemon_factory(name="restarted")
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 30, what="done after restart")
    assert daemon.stop() == 0
    assert setup.emulator.read_object(aid, "video") == data
    assert setup.emulator.confirms(aid) == ["CANCELLED", "CREATED"]
    assert len(ops(setup, "update_asset")) == 2


def test_sigterm_during_multipart_then_restart_resumes(setup: Setup, daemon_factory) -> None:
    """SIGTERM mid-upload exits 0 after in-flight parts; the restart sends only the rest."""
    aid = asset_id(202)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"part_size_mb": 1, "parallel_parts": 2})
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.2)
    digest = make_big(setup.inbox / f"{aid}.mp4", 40 * MB)
    daemon = daemon_factory()
    wait_for(lambda: len([p for p in ops(setup, "obs_part") if p.status == 200]) >= 6, 60,
             what="some parts")
    assert daemon.stop() == 0
    sent_before = {int(p.query["partNumber"][0]) for p in ops(setup, "obs_part")
                   if p.status == 200}
    setup.emulator.clear_faults()
    setup.emulator.clear_requests()
    daemon = daemon_factory(name="restarted")
    wait_for(lambda: (setup.done / f"{aid}.mp4").exists(), 120, what="done after restart")
    assert daemon.stop() == 0
    sent_after = {int(p.query["partNumber"][0]) for p in ops(setup, "obs_part")
                  if p.status == 200}
    assert not sent_before & sent_after, "finished parts must not be sent again"
    assert len(sent_before | sent_after) == 40
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    assert setup.emulator.confirms(aid) == ["CREATED"]
    assert not ops(setup, "obs_initiate"), "the restart must reuse the upload ID"


def run_chaos(setup: Setup, daemon_factory, *, files: int, seconds: float, kills: int,
              seed: int = 7) -> int:
    """Drop ``files`` videos (a quarter with covers), SIGKILL the daemon at random moments
    ``kills`` times, then let it finish; check every invariant. Returns the kill count."""
    rnd = random.Random(seed)
    setup.write_config(settle_seconds=0.3, upload={"part_size_mb": 1, "parallel_parts": 3,
                                                   "workers": 3},
                       limits={"update_asset_per_minute": 6000})
    expected: dict[str, str] = {}
    assets = []
    for i in range(files):
        aid = asset_id(1000 + i)
        assets.append(aid)
        setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
        size = rnd.choice([50_000, 400_000, 2 * MB, 22 * MB, 26 * MB])
        name = f"{aid}.mp4"
        expected[name] = make_big(setup.inbox / name, size)
        if i % 4 == 0:
            cover = f"{aid}.cover.jpg"
            write_bytes(setup.inbox / cover, 30_000)
            expected[cover] = file_md5(setup.inbox / cover)
    deadline = time.monotonic() + seconds
    done = 0
    while True:
        daemon = daemon_factory(name=f"run{done}")
        finished = len(setup.names(setup.done)) == len(expected)
        if finished or done >= kills or time.monotonic() > deadline:
            wait_for(lambda: len(setup.names(setup.done)) == len(expected), 300,
                     what="everything in done/")
            # Not a SIGTERM while the interpreter itself starts (before vodwatch runs).
            wait_for(lambda d=daemon: "daemon.ready" in d.output(), 60, what="the daemon")
            assert daemon.stop() == 0
            break
        time.sleep(rnd.uniform(0.3, 2.0))
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        done += 1
    assert sorted(setup.names(setup.done)) == sorted(expected)
    assert setup.names(setup.failed) == []
    for name, digest in expected.items():
        assert file_md5(setup.done / name) == digest
    for aid in assets:
        stored = setup.emulator.object_path(aid, "video")
        assert stored is not None and file_md5(stored) == expected[f"{aid}.mp4"], aid
        assert setup.emulator.confirms(aid).count("CREATED") == 1, aid
    claims = setup.inbox / ".vodwatch" / "claims"
    left = [p for p in claims.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert left == []
    assert setup.names(setup.inbox) == []
    return done


def test_chaos_kill_9_at_random_moments(setup: Setup, daemon_factory) -> None:
    """30+ uploads, SIGKILL at random moments and restarts: every file done once, intact."""
    kills = run_chaos(setup, daemon_factory, files=32, seconds=150, kills=12)
    assert kills >= 10


@pytest.mark.slow
def test_soak_chaos_many_files_many_kills(setup: Setup, daemon_factory) -> None:
    """Soak: 150 uploads and 60 random SIGKILLs over up to 20 minutes end as they should."""
    kills = run_chaos(setup, daemon_factory, files=150, seconds=1200, kills=60, seed=11)
    assert kills >= 30


def test_two_daemons_share_one_inbox(setup: Setup, daemon_factory, tmp_path: Path) -> None:
    """Two daemons on one inbox: files are uploaded once; a killed one's claims are taken over."""
    n = 200
    for i in range(n):
        aid = asset_id(5000 + i)
        setup.emulator.seed_asset(aid, "PUBLISHED")
        write_bytes(setup.inbox / f"{aid}.cover.jpg", 20_000)
    setup.emulator.add_fault("slow", "obs_put", count=None, delay=0.05)
    configs = []
    for who in ("alpha", "beta"):
        path = setup.root / f"{who}.yaml"
        setup.write_config(state_dir=str(tmp_path / f"state-{who}"),
                           claims={"instance_id": who, "lease_seconds": 2},
                           limits={"update_asset_per_minute": 6000})
        os.replace(setup.config_path, path)
        configs.append(path)
    alpha = daemon_factory(name="alpha", config=configs[0])
    beta = daemon_factory(name="beta", config=configs[1])
    wait_for(lambda: len(setup.names(setup.done)) >= 40, 60, what="some progress")
    alpha.kill()
    wait_for(lambda: len(setup.names(setup.done)) == n, 120, what="beta to finish everything")
    assert beta.stop() == 0
    puts: dict[str, int] = {}
    for r in ops(setup, "obs_put"):
        if r.status == 200:
            puts[r.path] = puts.get(r.path, 0) + 1
    assert len(puts) == n
    # A PUT in flight when alpha died may have reached the store without alpha
    # hearing back; the store cannot be asked, so beta sends those again. Only
    # those: at most one per alpha worker, every other file exactly once.
    twice = [p for p, k in puts.items() if k > 1]
    assert len(twice) <= 4, f"{len(twice)} files were sent twice"
    assert max(puts.values()) <= 2
    assert setup.names(setup.failed) == []
    claims = setup.inbox / ".vodwatch" / "claims"
    assert [p for p in claims.rglob("*") if p.is_file() and not p.name.startswith(".")] == []
    assert "claim.taken_over" in beta.output() or "recover.adopted" in beta.output()


def test_kill_9_with_an_adapted_part_size_resumes_from_the_last_part(
        setup: Setup, daemon_factory) -> None:
    """With part_size_mb: auto, a kill -9 mid upload: the restart keeps the part size it
    chose, sends no finished part again, and the stored video is the file."""
    from tests.end_to_end.attack_helpers import parts_sent

    aid = asset_id(260)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"parallel_parts": 1})  # part_size_mb: auto (the default)
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.2)
    path = setup.inbox / f"{aid}.mp4"
    digest = make_big(path, 160 * MB)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 2, 60, what="some parts")
    daemon.kill()
    assert not (setup.done / path.name).exists(), "killed in the middle of the upload"
    first = parts_sent(setup)
    chosen = [line for line in daemon.output().splitlines() if "multipart_started" in line]
    assert chosen, "the part size and why are logged once per file"
    output = _restart_resumes(setup, daemon_factory, path, aid, digest, first)
    assert "multipart_started" not in output, "the restart keeps the chosen size"


def test_kill_9_with_parts_hashed_while_settling_resumes_from_the_last_part(
        setup: Setup, daemon_factory) -> None:
    """A daemon that remembers a slow link (state_dir/link.json) cuts the file into parts
    of <= 30 s at that rate and hashes them while the file settles; killed with -9 mid
    upload, the restart (which has no settle-time hashes) sends only the missing parts."""
    import json as _json

    from tests.end_to_end.attack_helpers import parts_sent

    aid = asset_id(261)
    setup.emulator.seed_asset(aid, "UPLOAD_FAILED")
    setup.write_config(upload={"parallel_parts": 1})  # part_size_mb: auto (the default)
    setup.state.mkdir(parents=True, exist_ok=True)
    (setup.state / "link.json").write_text(_json.dumps({setup.emulator.url: {
        "rate": 1e6, "rtt": 0.01, "hash_rate": None, "at": time.time()}}))
    setup.emulator.add_fault("slow", "obs_part", count=None, delay=0.2)
    path = setup.inbox / f"{aid}.mp4"
    digest = make_big(path, 160 * MB)
    daemon = daemon_factory()
    wait_for(lambda: len(parts_sent(setup)) >= 2, 60, what="some parts")
    daemon.kill()
    assert not (setup.done / path.name).exists(), "killed in the middle of the upload"
    first = parts_sent(setup)
    started = [_json.loads(line) for line in daemon.output().splitlines()
               if '"upload.multipart_started"' in line]
    assert len(started) == 1 and "while the file settled" in started[0]["why"]
    assert started[0]["part_size"] <= 30 * 1e6
    _restart_resumes(setup, daemon_factory, path, aid, digest, first)


def _restart_resumes(setup: Setup, daemon_factory, path: Path, aid: str, digest: str,
                     first: list) -> str:
    """Restart after a kill -9 mid upload: the same multipart upload carries on, no
    finished part is sent again, the stored object is the file. Returns the log."""
    from tests.end_to_end.attack_helpers import parts_sent

    setup.emulator.clear_faults()
    again = daemon_factory(name="again")
    wait_for(lambda: (setup.done / path.name).exists(), 120, what="done after the restart")
    assert again.stop() == 0
    sent = parts_sent(setup)
    numbers = [n for _, n in sent]
    assert len({u for u, _ in sent}) == 1, "the same multipart upload carried on"
    assert len(numbers) == len(set(numbers)), "no finished part was sent again"
    assert len(numbers) > len(first) >= 2
    stored = setup.emulator.object_path(aid, "video")
    assert stored is not None and file_md5(stored) == digest
    return again.output()
