"""``vodwatch check``: real folders, real config files, the emulator over HTTP."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receiver import Receiver
from vodwatch.check import run_check
from vodwatch.check_local import check_folder_set, inotify_results, other_filesystems
from vodwatch.check_online import judge_remote
from vodwatch.check_result import FAIL, OK, WARN, Result, exit_code
from vodwatch.config import FolderSet
from vodwatch.emulator import DEFAULT_AK, DEFAULT_SK, Emulator
from vodwatch.errors import RemoteError, RemoteFault

PID = "0123456789abcdef0123456789abcdef"
OTHER_PID = "fedcba9876543210fedcba9876543210"
WRONG_SK = "wrong-secret-key-for-the-check-test"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(tmp_path / "emulator") as emu:
        yield emu


def make_setup(tmp_path: Path, endpoint: str = "https://vod.cn-north-4.myhuaweicloud.com",
               extra: str = "", folder_extra: str = "", project_id: str = PID) -> Path:
    """Create drop/{inbox,done,failed} and a config for them; return the config path."""
    drop = tmp_path / "drop"
    for name in ("inbox", "done", "failed"):
        (drop / name).mkdir(parents=True, exist_ok=True)
    text = (f"vod:\n  endpoint: {endpoint}\n  project_id: {project_id}\n{extra}"
            f"state_dir: {tmp_path / 'state'}\n"
            f"folders:\n  - inbox: {drop / 'inbox'}\n    done: {drop / 'done'}\n"
            f"    failed: {drop / 'failed'}\n{folder_extra}")
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def env_with(ak: str | None = DEFAULT_AK, sk: str | None = DEFAULT_SK) -> dict[str, str]:
    """The test's environment without any real credentials, plus the given AK/SK."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HUAWEICLOUD_") and k != "VODWATCH_CONFIG"}
    if ak is not None:
        env["HUAWEICLOUD_SDK_AK"] = ak
    if sk is not None:
        env["HUAWEICLOUD_SDK_SK"] = sk
    return env


def check(config: Path, env: dict[str, str] | None = None,
          online: bool = False) -> tuple[int, str]:
    """run_check in this process; (exit code, output)."""
    out = io.StringIO()
    code = run_check(config, env_with() if env is None else env, online, out)
    return code, out.getvalue()


def cli(config: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """``vodwatch check`` as a separate process."""
    return subprocess.run([sys.executable, "-m", "vodwatch", "check", "--config", str(config),
                           *extra], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def fails(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[FAIL]")]


def test_good_setup_passes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """A valid config with writable folders passes, creates state_dir, leaves no probe files."""
    code, text = check(make_setup(tmp_path))
    assert code == 0, text
    assert not fails(text)
    assert "[ OK ] inbox, done and failed of " in text
    assert f"[ OK ] {tmp_path / 'drop' / 'inbox'} will be watched by events: the inbox is on " \
           "a local" in text
    assert f"[ OK ] state_dir {tmp_path / 'state'} is writable (created it)" in text
    assert "[ OK ] credentials: AK EMUL... from $HUAWEICLOUD_SDK_AK" in text
    assert text.rstrip().splitlines()[-1].startswith("all checks passed")
    assert (tmp_path / "state").is_dir()
    for folder in ("inbox", "done", "failed"):
        assert list((tmp_path / "drop" / folder).iterdir()) == []
    assert list((tmp_path / "state").iterdir()) == []


def test_good_setup_online_against_the_emulator(tmp_path: Path, emulator: Emulator) -> None:
    """With --online, a signed call to the emulator proves endpoint, project and AK/SK: exit 0."""
    run = cli(make_setup(tmp_path, emulator.url), env_with(), "--online")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"[ OK ] VOD at {emulator.url} accepts the credentials for project {PID}" in run.stdout
    (probe,) = [r for r in emulator.requests if r.operation == "asset_info"]
    assert probe.query == {"asset_id": ["0" * 32]}


def test_one_probe_per_distinct_endpoint_and_project(tmp_path: Path,
                                                      emulator: Emulator) -> None:
    """Two folder sets on the same endpoint and project make one VOD call, not two."""
    config = make_setup(tmp_path, emulator.url)
    second = tmp_path / "drop2"
    for name in ("inbox", "done", "failed"):
        (second / name).mkdir(parents=True)
    with config.open("a", encoding="utf-8") as fh:
        fh.write(f"  - inbox: {second / 'inbox'}\n    done: {second / 'done'}\n"
                 f"    failed: {second / 'failed'}\n")
    code, text = check(config, online=True)
    assert code == 0, text
    assert sum(r.operation == "asset_info" for r in emulator.requests) == 1


def test_invalid_config_exits_2_and_names_the_key(tmp_path: Path) -> None:
    """Config problems make check exit 2, listing every one with the key and the fix."""
    config = make_setup(tmp_path, extra="setle_seconds: 5\n")
    config.write_text(config.read_text(encoding="utf-8").replace(PID, "not-hex"),
                      encoding="utf-8")
    run = cli(config, env_with())
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"[FAIL] config {config} is not valid (2 problem(s)):" in run.stdout
    assert "at 'setle_seconds': unknown key (did you mean 'settle_seconds'?)" in run.stdout
    assert "at 'vod.project_id': must be 32 hexadecimal characters" in run.stdout


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    """A config path that does not exist is an invalid config: exit 2 with what to do."""
    code, text = check(tmp_path / "nope.yaml")
    assert code == 2
    assert "cannot read the config file" in text


def test_missing_folder_fails_with_the_command_to_fix_it(tmp_path: Path) -> None:
    """A done/ folder that does not exist fails the check, saying how to create it; exit 1."""
    config = make_setup(tmp_path)
    done = tmp_path / "drop" / "done"
    done.rmdir()
    code, text = check(config)
    assert code == 1
    assert fails(text) == [f"[FAIL] done {done} does not exist: create it (mkdir -p {done}), "
                           "or mount the share it is on"]


def test_folder_that_is_a_file_fails(tmp_path: Path) -> None:
    """A failed/ path that is a regular file is reported as not a folder; exit 1."""
    config = make_setup(tmp_path)
    failed = tmp_path / "drop" / "failed"
    failed.rmdir()
    failed.write_text("oops", encoding="utf-8")
    code, text = check(config)
    assert code == 1
    assert f"[FAIL] failed {failed} is not a folder" in text


def test_unwritable_folder_fails(tmp_path: Path) -> None:
    """An inbox vodwatch cannot create files in fails with what to change; exit 1."""
    config = make_setup(tmp_path)
    inbox = tmp_path / "drop" / "inbox"
    if os.geteuid() != 0:
        inbox.chmod(0o500)
        undo = ["chmod", "700", str(inbox)]
    else:
        # Root ignores mode bits; the immutable attribute stops even root.
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(inbox)], capture_output=True,
                                            check=False).returncode != 0:
            pytest.skip("running as root and cannot set the immutable attribute (chattr +i), "
                        "so no folder here is unwritable")
        undo = [chattr, "-i", str(inbox)]
    try:
        code, text = check(config)
    finally:
        subprocess.run(undo, check=True)
    assert code == 1
    (line,) = fails(text)
    assert line.startswith(f"[FAIL] cannot create a file in inbox {inbox}: ")
    assert "ReadWritePaths=" in line
    assert list(inbox.iterdir()) == []


def test_done_on_another_filesystem_fails(tmp_path: Path) -> None:
    """A done/ folder on another filesystem than the inbox fails: moves must be renames."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) distinct from the test folder")
    config = make_setup(tmp_path)
    other = Path(tempfile.mkdtemp(dir=shm))
    try:
        config.write_text(config.read_text(encoding="utf-8").replace(
            str(tmp_path / "drop" / "done"), str(other)), encoding="utf-8")
        code, text = check(config)
    finally:
        shutil.rmtree(other)
    assert code == 1
    (line,) = fails(text)
    assert line.startswith(f"[FAIL] done {other} is not on the same filesystem as the inbox ")


def test_state_dir_that_cannot_be_made_fails(tmp_path: Path) -> None:
    """A state_dir that is a file (or under one) fails with how to create it; exit 1."""
    config = make_setup(tmp_path)
    (tmp_path / "state").write_text("not a folder", encoding="utf-8")
    code, text = check(config)
    assert code == 1
    (line,) = fails(text)
    assert line.startswith(f"[FAIL] state_dir {tmp_path / 'state'} ")
    assert "install -d -o vodwatch -g vodwatch" in line


def test_other_filesystems_compares_devices_with_the_inbox() -> None:
    """Only the folders whose st_dev differs from the inbox's are named."""
    assert other_filesystems({"inbox": 1, "done": 1, "failed": 1}) == []
    assert other_filesystems({"inbox": 1, "done": 2, "failed": 1}) == ["done"]
    assert other_filesystems({"inbox": 1, "done": 2, "failed": 3}) == ["done", "failed"]
    assert other_filesystems({"done": 2, "failed": 3}) == []  # no inbox: nothing to compare


def test_polling_setting_is_reported_with_its_reason(tmp_path: Path) -> None:
    """watch: polling in the config shows as the mode used, with that reason."""
    code, text = check(make_setup(tmp_path, folder_extra="    watch: polling\n"))
    assert code == 0, text
    assert "will be watched by polling: watch: polling in the config" in text
    assert "[ OK ] inotify is not needed: every folder set is polled" in text


def test_events_on_a_network_share_warns(tmp_path: Path) -> None:
    """Forcing change events on an NFS inbox warns that other machines' writes are missed."""
    drop = tmp_path / "drop"
    for name in ("inbox", "done", "failed"):
        (drop / name).mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vda / ext4 rw 0 0\nnas:/vod {drop} nfs4 rw 0 0\n", encoding="utf-8")
    folder_set = FolderSet(drop / "inbox", drop / "done", drop / "failed", "https://x", PID,
                           "events",
                   False)
    results = check_folder_set(folder_set, 60.0, mounts=str(mounts))
    (warn,) = [r for r in results if r.level == WARN]
    assert "on a nfs4 share" in warn.text and "set watch: auto or polling" in warn.fix
    auto = check_folder_set(dataclasses.replace(folder_set, watch="auto"), 60.0, mounts=str(mounts))
    assert any(r.level == OK and "watched by polling" in r.text for r in auto)


def test_inotify_limits_are_judged() -> None:
    """Low inotify limits warn with the sysctl to raise them; ample ones pass."""
    (ok,) = inotify_results(524288, 512, 1, 1)
    assert ok.level == OK and "max_user_watches 524288" in ok.text
    low = inotify_results(1024, 8, 1, 1)
    assert [r.level for r in low] == [WARN, WARN]
    assert "fs.inotify.max_user_watches = 524288" in low[0].fix
    crowded = inotify_results(10000, 512, 6000, 1)
    assert [r.level for r in crowded] == [WARN]
    (unknown,) = inotify_results(None, None, 1, 1)
    assert unknown.level == WARN and "polls instead" in unknown.fix
    (none,) = inotify_results(None, None, 0, 0)
    assert none.level == OK


def test_sk_file_readable_by_others_fails(tmp_path: Path) -> None:
    """An SK file with mode 644 fails the check with the chmod that fixes it; exit 1."""
    (tmp_path / "ak").write_text(DEFAULT_AK, encoding="utf-8")
    sk = tmp_path / "sk"
    sk.write_text(DEFAULT_SK, encoding="utf-8")
    sk.chmod(0o644)
    config = make_setup(tmp_path, extra=f"  ak_file: {tmp_path / 'ak'}\n  sk_file: {sk}\n")
    code, text = check(config, env_with(None, None))
    assert code == 1
    (line,) = fails(text)
    assert f"{sk} is readable by other users (run: chmod 600 {sk})" in line
    assert DEFAULT_SK not in text
    sk.chmod(0o600)
    code, text = check(config, env_with(None, None))
    assert code == 0, text
    assert f"SK from vod.sk_file {sk} (mode 0600, not readable by others)" in text


def test_missing_credentials_fail_and_skip_the_online_check(tmp_path: Path) -> None:
    """Without AK/SK the credentials check fails and --online is skipped: exit 1, not 3."""
    code, text = check(make_setup(tmp_path), env_with(None, None), online=True)
    assert code == 1
    lines = fails(text)
    assert "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK are not set" in lines[0]
    assert lines[1] == ("[FAIL] the online check against VOD was skipped: fix the credentials "
                        "above first")


def test_wrong_sk_online_exits_3(tmp_path: Path, emulator: Emulator) -> None:
    """A wrong SK makes VOD refuse the signed call: exit 3, saying which credentials to check."""
    run = cli(make_setup(tmp_path, emulator.url), env_with(sk=WRONG_SK), "--online")
    assert run.returncode == 3, run.stdout + run.stderr
    assert (f"[FAIL] VOD at {emulator.url} rejected the credentials (APIGW.0301): check "
            "HUAWEICLOUD_SDK_AK/SK") in run.stdout
    assert WRONG_SK not in run.stdout + run.stderr


def test_emulator_stopped_online_exits_3(tmp_path: Path) -> None:
    """When nothing answers at the endpoint, --online exits 3 saying VOD cannot be reached."""
    with Emulator(tmp_path / "emulator") as emu:
        url = emu.url
    run = cli(make_setup(tmp_path, url), env_with(), "--online")
    assert run.returncode == 3, run.stdout + run.stderr
    assert f"[FAIL] cannot reach VOD at {url}: VOD asset_info: connection failed" in run.stdout


def test_wrong_project_online_exits_3(tmp_path: Path) -> None:
    """A project ID the service does not accept is reported as such: exit 3."""
    with Emulator(tmp_path / "emulator", project_id=OTHER_PID) as emu:
        code, text = check(make_setup(tmp_path, emu.url), online=True)
    assert code == 3
    assert f"did not accept project {PID} (VOD.10057)" in text


def test_vod_server_error_online_exits_3(tmp_path: Path, emulator: Emulator) -> None:
    """A 5xx from VOD during the probe is reported as a server error: exit 3."""
    emulator.add_fault("status", "asset_info", status=503)
    code, text = check(make_setup(tmp_path, emulator.url), online=True)
    assert code == 3
    assert "answered with a server error (APIGW.0201)" in text


def test_vod_throttling_online_only_warns(tmp_path: Path, emulator: Emulator) -> None:
    """Throttling during the probe proves nothing either way: a warning, exit 0."""
    emulator.add_fault("status", "asset_info", status=429)
    code, text = check(make_setup(tmp_path, emulator.url), online=True)
    assert code == 0, text
    assert "asked vodwatch to slow down (APIGW.0308)" in text


def test_vod_business_answer_counts_as_access() -> None:
    """A VOD error about the made-up asset shows the call got past authentication."""
    fault = RemoteFault("vod", "asset_info", 403, "VOD.10062", "asset not found")
    result = judge_remote(RemoteError(fault), "https://vod.example", PID, "HUAWEICLOUD_SDK_AK/SK")
    assert result.level == OK


def test_non_vod_answer_means_wrong_endpoint() -> None:
    """A 404 without a VOD error code means the endpoint is not VOD: fail with exit 3."""
    fault = RemoteFault("vod", "asset_info", 404, "", "Not Found")
    result = judge_remote(RemoteError(fault), "https://www.example", PID, "x")
    assert result.level == FAIL and result.vod and "check vod.endpoint" in result.fix
    assert exit_code([result, Result(FAIL, "local")]) == 3


def test_exit_code_rules() -> None:
    """Warnings never fail the check; a local failure is 1; a VOD failure is 3."""
    assert exit_code([Result(OK, "a"), Result(WARN, "b")]) == 0
    assert exit_code([Result(FAIL, "a")]) == 1
    assert exit_code([Result(FAIL, "a", vod=True)]) == 3


def test_online_sends_a_test_message_to_each_notification_target(tmp_path: Path,
                                                                 emulator: Emulator) -> None:
    """--online posts a test message to every notify URL and reports each, tokens hidden."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with Receiver() as receiver:
        good = receiver.url("/hook/TOKEN-GOOD-123456")
        bad = f"json://127.0.0.1:{closed}/hook/TOKEN-BAD-123456"
        config = make_setup(tmp_path, emulator.url,
                            folder_extra=f"    name: news\n    notify: [{good}, {bad}]\n")
        code, text = check(config, online=True)
        assert code == 1, text
        assert (f"[ OK ] notifications of news: json://127.0.0.1:{receiver.port}/… took a test "
                "message") in text
        assert (f"[FAIL] notifications of news: json://127.0.0.1:{closed}/… did not take a test "
                "message: cannot connect: Connection refused: check the URL in notify") in text
        assert "TOKEN" not in text
        (got,) = receiver.requests
        assert got.path == "/hook/TOKEN-GOOD-123456"
        assert got.body["type"] == "info"
        assert got.body["title"] == "vodwatch: test message for news"


def test_notifications_are_tested_only_online(tmp_path: Path) -> None:
    """Without --online no message is sent; with a good target the online check passes."""
    with Receiver() as receiver:
        config = make_setup(tmp_path, folder_extra=f"    notify: [{receiver.url()}]\n")
        code, text = check(config)
        assert code == 0, text
        assert receiver.requests == [] and "notifications of" not in text


def test_credentials_source_and_the_example_project_id_are_reported(tmp_path: Path) -> None:
    """AK/SK written in the config file are said to come from it; the example's project
    ID against a real endpoint is flagged (the emulator's own project is that one)."""
    config = make_setup(tmp_path, extra="  ak: INLINEAK123\n  sk: INLINESKSECRET\n")
    os.chmod(config, 0o600)
    code, text = check(config, env={k: v for k, v in env_with().items()
                                    if not k.startswith("HUAWEICLOUD_SDK_")})
    assert code == 0, text
    assert f"from vod.ak in the config file {config}, SK from vod.sk in the config file" in text
    assert f"[WARN] project_id {PID} is the example's, not your project's" in text
    other = make_setup(tmp_path / "other", project_id="fedcba9876543210fedcba9876543210")
    assert "is the example's" not in check(other)[1]
