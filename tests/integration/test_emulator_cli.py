"""The emulator as a program: ``python -m vodwatch.emulator`` and ``main(argv)``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import vodwatch
from vodwatch.emulator import DEFAULT_SK, main
from vodwatch.emulator.testing import VodCaller

REPO = Path(vodwatch.__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("HUAWEICLOUD_SDK_AK", None)
    env.pop("HUAWEICLOUD_SDK_SK", None)
    env.update(extra)
    return env


class _Running:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vodwatch.emulator", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline()
        found = re.search(r"http://[\d.]+:\d+", self.line)
        assert found, (self.line, self.proc.stderr.read() if self.proc.stderr else "")
        self.url = found.group(0)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture
def running(tmp_path: Path) -> Iterator[_Running]:
    run = _Running(["--data", str(tmp_path / "data")], _env())
    try:
        yield run
    finally:
        if run.proc.poll() is None:
            run.stop()


def test_module_starts_prints_its_url_answers_and_exits_0_on_sigterm(
        running: _Running, tmp_path: Path) -> None:
    """``python -m vodwatch.emulator`` prints one line with the URL, serves, exits 0 on SIGTERM."""
    assert "vodwatch emulator listening on http://127.0.0.1:" in running.line
    assert DEFAULT_SK not in running.line
    with VodCaller(running.url) as vod:
        info = vod.info("c3" * 16).json()["asset_info_array"][0]
        assert info["status"] == "UPLOAD_FAILED"  # the CLI defaults to assets=auto
        reply = vod.update_asset({"asset_id": "c3" * 16, "cover_type": "PNG"})
        put = vod.obs("PUT", reply.json()["cover_upload_url"], b"png",
                      {"Content-Type": "image/png"})
        assert put.status_code == 200
    assert list((tmp_path / "data" / "objects").rglob("Cover0.png"))
    code, err = running.stop()
    assert code == 0, err


def test_credentials_come_from_the_environment(tmp_path: Path) -> None:
    """HUAWEICLOUD_SDK_AK/SK replace the default credentials, and are not printed."""
    run = _Running(["--assets", "strict", "--limit", "query=1/60"],
                   _env(HUAWEICLOUD_SDK_AK="MYAK", HUAWEICLOUD_SDK_SK="my-secret"))
    try:
        assert "my-secret" not in run.line and "MYAK" in run.line
        with VodCaller(run.url, ak="MYAK", sk="my-secret") as vod:
            assert vod.info("d4" * 16).json()["asset_info_array"][0]["status"] == "UNCREATED"
            assert vod.info("d4" * 16).json()["error_code"] == "VOD.10127"
        with VodCaller(run.url) as default:
            assert default.info("d4" * 16).status_code == 401
        stats = requests.get(f"{run.url}/_emulator/stats", timeout=5).json()
        assert stats["throttled"] == 1
    finally:
        assert run.stop()[0] == 0


@pytest.mark.parametrize("argv", [["--limit", "nonsense"], ["--limit", "uploads=1/60"],
                                  ["--assets", "lax"], ["--url-ttl", "0"]])
def test_bad_arguments_exit_with_usage_error(argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Bad options stop main() with exit status 2 and a message."""
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed")
def test_rclone_copyto_works_in_s3_compat_mode(tmp_path: Path) -> None:
    """``rclone copyto`` (S3, provider Other) uploads a multipart file to --s3-compat."""
    run = _Running(["--data", str(tmp_path / "data"), "--s3-compat"], _env())
    try:
        source = tmp_path / "big.bin"
        source.write_bytes(os.urandom(3 * 1024 * 1024) * 4)  # 12 MiB, several parts
        env = _env(RCLONE_CONFIG_EMU_TYPE="s3", RCLONE_CONFIG_EMU_PROVIDER="Other",
                   RCLONE_CONFIG_EMU_ACCESS_KEY_ID="ak", RCLONE_CONFIG_EMU_SECRET_ACCESS_KEY="sk",
                   RCLONE_CONFIG_EMU_ENDPOINT=run.url, RCLONE_CONFIG="/dev/null")
        # The AWS SDK inside rclone fails on a CA bundle setting for a plain-HTTP endpoint.
        env.pop("AWS_CA_BUNDLE", None)
        done = subprocess.run(
            ["rclone", "copyto", str(source), "emu:bucket/dir/big.bin", "--s3-upload-cutoff",
             "5M", "--s3-chunk-size", "5M", "--retries", "1", "--low-level-retries", "1"],
            env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        stored = tmp_path / "data" / "objects" / "bucket" / "dir" / "big.bin"
        assert stored.read_bytes() == source.read_bytes()
        check = subprocess.run(["rclone", "check", str(source.parent), "emu:bucket/dir",
                                "--include", "/big.bin"], env=env, capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stderr
    finally:
        assert run.stop()[0] == 0
