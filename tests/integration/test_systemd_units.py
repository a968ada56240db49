"""The systemd files: units that systemd accepts, a commented hardening block, and
sysusers/tmpfiles snippets that the real tools apply to a scratch root."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vodwatch.config import SCHEMA, load_config

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNITS = ("vodwatch.service", "vodwatch@.service")
HARDENING_START = "# ---- hardening"
HARDENING_END = "# ---- end of hardening"
PID = "0123456789abcdef0123456789abcdef"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed on this machine (it comes with systemd)")
    return path


def directives(text: str) -> list[tuple[int, str, str]]:
    """(line number, key, value) of every directive line, in order."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            found.append((number, key.strip(), value.strip()))
    return found


def settings(text: str) -> dict[str, list[str]]:
    """Directive name -> every value it is given."""
    out: dict[str, list[str]] = {}
    for _, key, value in directives(text):
        out.setdefault(key, []).append(value)
    return out


def comment_above(lines: list[str], index: int) -> str:
    """The comment lines right above ``lines[index]``, joined."""
    above = []
    i = index - 1
    while i >= 0 and lines[i].startswith("#"):
        above.append(lines[i].lstrip("# "))
        i -= 1
    return " ".join(reversed(above))


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("systemd-analyze"), "verify", str(unit)], capture_output=True,
                          text=True, timeout=120, check=False)


def runnable_copy(name: str, tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at an executable that exists here.

    ``systemd-analyze verify`` refuses a unit whose program is missing, and
    /usr/bin/vodwatch exists only once the package is installed system-wide.
    """
    text = (SYSTEMD / name).read_text(encoding="utf-8")
    assert "ExecStart=/usr/bin/vodwatch run " in text
    text = text.replace("ExecStart=/usr/bin/vodwatch ", f"ExecStart={sys.executable} -m vodwatch ")
    copy = tmp_path / name
    copy.write_text(text, encoding="utf-8")
    return copy


def complaints(run: subprocess.CompletedProcess[str]) -> list[str]:
    """What verify said about our unit (not about units installed on this machine)."""
    return [line for line in (run.stdout + run.stderr).splitlines() if "vodwatch" in line]


@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_accepts_the_unit(name: str, tmp_path: Path) -> None:
    """systemd-analyze verify loads the unit without an error or a warning about it."""
    run = verify(runnable_copy(name, tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert complaints(run) == []


def test_verify_would_notice_a_bad_line(tmp_path: Path) -> None:
    """The verify test can fail: an inline comment on a directive line is reported."""
    copy = runnable_copy("vodwatch.service", tmp_path)
    copy.write_text(copy.read_text(encoding="utf-8").replace(
        "ProtectHome=yes", "ProtectHome=yes  # inline comments are not comments"),
        encoding="utf-8")
    assert any("protect home" in line.lower() for line in complaints(verify(copy)))


@pytest.mark.parametrize("name", UNITS)
def test_every_hardening_directive_says_what_it_does_and_when_to_relax_it(name: str) -> None:
    """Each directive line in the hardening block sits under a comment that mentions relaxing."""
    lines = (SYSTEMD / name).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HARDENING_START))
    end = next(i for i, line in enumerate(lines) if line.startswith(HARDENING_END))
    block = [i for i in range(start + 1, end) if lines[i] and not lines[i].startswith("#")]
    assert len(block) >= 25
    for i in block:
        comment = comment_above(lines, i)
        assert comment, f"{name}:{i + 1}: {lines[i]} has no comment"
        assert "relax" in comment.lower(), f"{name}:{i + 1}: {lines[i]}: say when to relax it"


@pytest.mark.parametrize("name", UNITS)
def test_every_directive_has_a_comment(name: str) -> None:
    """Outside the hardening block too, every directive is explained by a comment above it."""
    text = (SYSTEMD / name).read_text(encoding="utf-8")
    lines = text.splitlines()
    for number, key, _ in directives(text):
        assert comment_above(lines, number - 1), f"{name}:{number}: {key} has no comment"


@pytest.mark.parametrize("name", UNITS)
def test_unit_has_the_promised_settings(name: str) -> None:
    """The unit is a notify service with watchdog, restart, reload, credentials and hardening."""
    s = settings((SYSTEMD / name).read_text(encoding="utf-8"))
    expected = {
        "Type": ["notify"], "NotifyAccess": ["main"], "WatchdogSec": ["60"],
        "Restart": ["on-failure"], "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "User": ["vodwatch"], "Group": ["vodwatch"], "ProtectSystem": ["strict"],
        "ReadWritePaths": ["/srv/vod-drop"], "NoNewPrivileges": ["yes"], "PrivateTmp": ["yes"],
        "ProtectHome": ["yes"], "PrivateDevices": ["yes"], "ProtectKernelTunables": ["yes"],
        "ProtectKernelModules": ["yes"], "ProtectKernelLogs": ["yes"],
        "ProtectControlGroups": ["yes"], "ProtectClock": ["yes"], "ProtectHostname": ["yes"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"], "RestrictNamespaces": ["yes"],
        "LockPersonality": ["yes"], "MemoryDenyWriteExecute": ["yes"],
        "RestrictRealtime": ["yes"], "RestrictSUIDSGID": ["yes"],
        "SystemCallArchitectures": ["native"], "SystemCallFilter": ["@system-service"],
        "CapabilityBoundingSet": [""], "UMask": ["0027"],
    }
    for key, value in expected.items():
        assert s.get(key) == value, key
    assert s["RestartSec"]
    # Stopping must leave time for the grace period vodwatch gives in-flight parts.
    grace = next(k.default for k in SCHEMA if k.path == "shutdown_grace_seconds")
    stop = re.fullmatch(r"(\d+)s?", s["TimeoutStopSec"][0])
    assert stop is not None and int(stop.group(1)) > grace


def test_single_unit_paths() -> None:
    """vodwatch.service runs /etc/vodwatch/config.yaml with keys from /etc/vodwatch."""
    s = settings((SYSTEMD / "vodwatch.service").read_text(encoding="utf-8"))
    assert s["ExecStart"] == ["/usr/bin/vodwatch run --config /etc/vodwatch/config.yaml"]
    assert s["LoadCredential"] == ["ak:/etc/vodwatch/ak", "sk:/etc/vodwatch/sk"]
    assert s["StateDirectory"] == ["vodwatch"]


def test_template_unit_paths_follow_the_instance_name() -> None:
    """vodwatch@NAME.service runs /etc/vodwatch/NAME.yaml with its own keys and journal."""
    s = settings((SYSTEMD / "vodwatch@.service").read_text(encoding="utf-8"))
    assert s["ExecStart"] == ["/usr/bin/vodwatch run --config /etc/vodwatch/%i.yaml"]
    assert s["LoadCredential"] == ["ak:/etc/vodwatch/%i/ak", "sk:/etc/vodwatch/%i/sk"]
    assert s["StateDirectory"] == ["vodwatch/%i"]


def test_config_as_the_unit_documents_it_reads_systemd_credentials(tmp_path: Path) -> None:
    """A config using ${CREDENTIALS_DIRECTORY}/ak and /sk gets its keys from that folder."""
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "ak").write_text("AKFROMSYSTEMD\n", encoding="utf-8")
    (creds / "sk").write_text("sk-from-systemd\n", encoding="utf-8")
    (creds / "sk").chmod(0o400)  # as systemd hands credentials over
    config = tmp_path / "config.yaml"
    config.write_text(
        "vod:\n  endpoint: https://vod.cn-north-4.myhuaweicloud.com\n"
        f"  project_id: {PID}\n  ak_file: ${{CREDENTIALS_DIRECTORY}}/ak\n"
        "  sk_file: ${CREDENTIALS_DIRECTORY}/sk\n"
        "folders:\n  - inbox: /srv/vod-drop/inbox\n    done: /srv/vod-drop/done\n"
        "    failed: /srv/vod-drop/failed\n", encoding="utf-8")
    loaded = load_config(config, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert loaded.credentials is not None
    assert (loaded.credentials.ak, loaded.credentials.sk) == ("AKFROMSYSTEMD", "sk-from-systemd")
    units = "".join((SYSTEMD / name).read_text(encoding="utf-8") for name in UNITS)
    assert units.count("ak_file: ${CREDENTIALS_DIRECTORY}/ak") == 2


def test_sysusers_and_tmpfiles_create_the_user_and_folders(tmp_path: Path) -> None:
    """systemd-sysusers and systemd-tmpfiles apply the snippets to a scratch root."""
    sysusers, tmpfiles = tool("systemd-sysusers"), tool("systemd-tmpfiles")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    run = subprocess.run([sysusers, f"--root={root}", str(SYSTEMD / "vodwatch.sysusers.conf")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    (entry,) = [line for line in (root / "etc" / "passwd").read_text(encoding="utf-8")
                .splitlines() if line.startswith("vodwatch:")]
    _, _, uid, gid, gecos, home, _ = entry.split(":")
    assert (gecos, home) == ("vodwatch uploader", "/var/lib/vodwatch")
    run = subprocess.run([tmpfiles, f"--root={root}", "--create",
                          str(SYSTEMD / "vodwatch.tmpfiles.conf")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    for folder in ("inbox", "done", "failed"):
        st = (root / "srv" / "vod-drop" / folder).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (int(uid), int(gid), 0o2775)
    etc = (root / "etc" / "vodwatch").stat()
    assert (etc.st_uid, etc.st_gid, etc.st_mode & 0o7777) == (0, int(gid), 0o750)
