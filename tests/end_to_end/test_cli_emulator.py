"""`vodwatch emulator` and `vodwatch once` as separate processes, as a person would use them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from tests.conftest import PID, asset_id, wait_for, write_bytes


def test_emulator_command_serves_a_daemon_in_another_process(tmp_path: Path) -> None:
    """`vodwatch emulator --host --port --data` serves VOD for `vodwatch once` run beside it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VODWATCH_")}
    env.update(HUAWEICLOUD_SDK_AK="AKFORTHISTEST0000001", HUAWEICLOUD_SDK_SK="sk-for-this-test")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "vodwatch", "emulator", "--host", "127.0.0.1", "--port",
         str(port), "--data", str(tmp_path / "emu")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert emulator.stdout is not None
        banner = emulator.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        assert "sk-for-this-test" not in banner
        folders = {name: tmp_path / name for name in ("inbox", "done", "failed")}
        for folder in folders.values():
            folder.mkdir()
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({
            "vod": {"endpoint": f"http://127.0.0.1:{port}", "project_id": PID},
            "state_dir": str(tmp_path / "state"), "settle_seconds": 0.3,
            "scan_interval_seconds": 0.2,
            "folders": [{k: str(v) for k, v in folders.items()}]}))
        aid = asset_id(900)
        data = write_bytes(folders["inbox"] / f"{aid}.mp4", 300_000)
        result = subprocess.run([sys.executable, "-m", "vodwatch", "once", "--config",
                                 str(config)], env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
        assert (folders["done"] / f"{aid}.mp4").read_bytes() == data
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/requests",
                                    timeout=5) as resp:
            seen = json.loads(resp.read())["requests"]
        updates = [r for r in seen if r["operation"] == "update_asset"]
        assert len(updates) == 1 and updates[0]["body"]["asset_id"] == aid
        stored = wait_for(lambda: list((tmp_path / "emu").rglob("*.mp4")), 5,
                          what="the object on disk")
        assert stored[0].read_bytes() == data
    finally:
        emulator.send_signal(signal.SIGTERM)
        assert emulator.wait(timeout=20) == 0
        if emulator.stdout is not None:
            emulator.stdout.close()
