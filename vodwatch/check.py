"""``vodwatch check``: a checklist a person can act on, one line per check.

Each line reads ``[ OK ] what was checked``, or ``[FAIL]``/``[WARN]`` with what
is wrong and what to do about it. Exit code: 0 when nothing failed (warnings
allowed), 1 when a local check failed, 2 when the config is invalid, 3 when VOD
cannot be reached or refuses the credentials (``--online``); 3 wins over 1.
``--online`` also sends a test message to every notification target (a target
that refuses it is a failed local check: exit 1).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .alerts import Alerts
from .config import AK_ENV, SK_ENV, Config, Credentials, FolderSet, load_config, load_credentials
from .errors import ConfigError, RemoteError, StateUnavailable, TransportError
from .log import add_secret, redact
from .retry import Action, classify
from .state import (
    DIR_MODE,
    FILE_MODE,
    JOURNAL_NAME,
    is_locked,
    loose_modes,
    open_journal,
    probe_write,
    read_holder,
)
from .vod.api import VodClient
from .vod.http import HttpSettings, make_session
from .watch import NETWORK_FS, choose_mode, filesystem_type

OK, FAIL, WARN = "OK", "FAIL", "WARN"
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_VOD = 0, 1, 2, 3

INOTIFY_DIR = Path("/proc/sys/fs/inotify")
# Below these, a desktop session or an IDE of the same user can exhaust inotify
# and vodwatch falls back to polling; distributions ship 8192+ watches and 128 instances.
MIN_WATCHES = 8192
MIN_INSTANCES = 128
PROBE_ASSET = "0" * 32  # no asset has this ID: asking about it changes nothing
ONLINE_READ_TIMEOUT = 30.0  # a check should not sit for the daemon's 120 s
_COUNT_LIMIT = 100_000  # stop counting sub-folders past this: the answer is "too many" already


@dataclass(frozen=True)
class Result:
    """One line of the checklist; ``vod`` marks trouble with VOD itself (exit 3)."""

    level: str
    text: str
    fix: str = ""
    vod: bool = False

    def line(self) -> str:
        tag = {OK: "[ OK ]", FAIL: "[FAIL]", WARN: "[WARN]"}[self.level]
        return redact(f"{tag} {self.text}" + (f": {self.fix}" if self.fix else ""))


def exit_code(results: Iterable[Result]) -> int:
    """3 if VOD failed, else 1 if a local check failed, else 0."""
    failed = [r for r in results if r.level == FAIL]
    if any(r.vod for r in failed):
        return EXIT_VOD
    return EXIT_FAILED if failed else EXIT_OK


# ---- folders ------------------------------------------------------------------------------


def other_filesystems(devices: Mapping[str, int], reference: str = "inbox") -> list[str]:
    """The names in ``devices`` (name -> st_dev) whose device differs from ``reference``'s."""
    if reference not in devices:
        return []
    return [name for name, dev in devices.items() if dev != devices[reference]]


def probe(folder: Path) -> tuple[str, OSError] | None:
    """Create, rename and delete a hidden file in ``folder``; (failed step, error) or None.

    The name is hidden, so a daemon watching the folder ignores it.
    """
    first = folder / f".vodwatch-check-{os.getpid()}-{secrets.token_hex(4)}"
    second = first.with_name(first.name + ".renamed")
    step = "create"
    try:
        fd = os.open(first, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, b"vodwatch check\n")
        finally:
            os.close(fd)
        step = "rename"
        os.rename(first, second)
        step = "delete"
        os.unlink(second)
    except OSError as exc:
        for leftover in (first, second):
            with contextlib.suppress(OSError):
                leftover.unlink()
        return step, exc
    return None


def _write_fix(path: Path) -> str:
    return (f"give the user vodwatch runs as write access to {path} (e.g. chown vodwatch: "
            f"{path}, or a shared group with chmod g+ws); under systemd, also list it in "
            "ReadWritePaths=")


def check_folder_set(fs: FolderSet, rescan_seconds: float,
                     mounts: str = "/proc/self/mounts") -> list[Result]:
    """Folders exist, share a filesystem, are writable; the watch mode and why."""
    results = []
    devices: dict[str, int] = {}
    folders = {"inbox": fs.inbox, "done": fs.done, "failed": fs.failed}
    for role, path in folders.items():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            results.append(Result(FAIL, f"{role} {path} does not exist",
                                  f"create it (mkdir -p {path}), or mount the share it is on"))
            continue
        except OSError as exc:
            results.append(Result(FAIL, f"{role} {path} cannot be looked at: {exc.strerror}",
                                  "check the permissions of the folders above it"))
            continue
        if not stat.S_ISDIR(st.st_mode):
            results.append(Result(FAIL, f"{role} {path} is not a folder",
                                  f"move that file away and create a folder (mkdir {path})"))
            continue
        devices[role] = st.st_dev
        results.append(Result(OK, f"{role} {path} is a folder"))
    apart = other_filesystems(devices)
    for role in apart:
        results.append(Result(
            FAIL, f"{role} {folders[role]} is not on the same filesystem as the inbox "
            f"{fs.inbox}", "files leave the inbox by an atomic rename, which works only "
            "within one filesystem: put done/ and failed/ beside the inbox on its disk or share"))
    if not apart and "inbox" in devices and len(devices) > 1:
        results.append(Result(OK, f"inbox, done and failed of {fs.inbox} are on one filesystem"))
    for role in devices:
        path = folders[role]
        trouble = probe(path)
        if trouble is None:
            results.append(Result(OK, f"vodwatch can create, rename and delete files in {role} "
                                  f"{path}"))
        else:
            step, error = trouble
            results.append(Result(FAIL, f"cannot {step} a file in {role} {path}: "
                                  f"{error.strerror or error}", _write_fix(path)))
    if "inbox" in devices:
        mode, why = choose_mode(fs.watch, fs.inbox, mounts)
        fstype = filesystem_type(fs.inbox, mounts)
        if mode == "events" and (fstype in NETWORK_FS or fstype.startswith("fuse")):
            results.append(Result(
                WARN, f"{fs.inbox} is watched with change events ({why}), but it is on a "
                f"{fstype} share", "files written by other machines are only found by the "
                f"rescan every {rescan_seconds:g} s: set watch: auto or polling"))
        else:
            results.append(Result(OK, f"{fs.inbox} will be watched by {mode}: {why}"))
    return results


# ---- inotify ------------------------------------------------------------------------------


def read_int(path: Path) -> int | None:
    """The integer in a /proc file, or None when it cannot be read."""
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def count_dirs(top: Path, recursive: bool) -> int:
    """How many inotify watches an inbox needs: 1, or one per folder when recursive."""
    if not recursive:
        return 1
    count = 0
    for _, dirs, _ in os.walk(top):
        count += 1
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if count >= _COUNT_LIMIT:
            break
    return count


def inotify_results(watches: int | None, instances: int | None, needed_watches: int,
                    needed_instances: int) -> list[Result]:
    """Judge the inotify limits against what the folder sets watched by events need."""
    sysctl = ("raise it in /etc/sysctl.d/60-vodwatch.conf (fs.inotify.max_user_watches = 524288,"
              " fs.inotify.max_user_instances = 512), then run sysctl --system; or set watch: "
              "polling")
    if needed_instances == 0:
        return [Result(OK, "inotify is not needed: every folder set is polled")]
    if watches is None or instances is None:
        return [Result(WARN, f"cannot read the inotify limits in {INOTIFY_DIR}",
                       "if change events fail, vodwatch polls instead; set watch: polling to "
                       "choose that now")]
    results = []
    need = f"vodwatch needs about {needed_watches}"
    if watches < MIN_WATCHES or watches < 2 * needed_watches:
        results.append(Result(WARN, f"fs.inotify.max_user_watches is {watches}; {need}, "
                              "and other programs of the same user use them too", sysctl))
    if instances < MIN_INSTANCES or instances < needed_instances + MIN_INSTANCES // 2:
        results.append(Result(WARN, f"fs.inotify.max_user_instances is {instances}; vodwatch "
                              f"needs {needed_instances}, and other programs of the same user "
                              "use them too", sysctl))
    if not results:
        results.append(Result(OK, f"inotify headroom: max_user_watches {watches}, "
                              f"max_user_instances {instances} ({need} watch(es) and "
                              f"{needed_instances} instance(s))"))
    return results


def check_inotify(folders: Sequence[FolderSet], proc: Path = INOTIFY_DIR,
                  mounts: str = "/proc/self/mounts") -> list[Result]:
    """inotify limits, counted for the folder sets that will use change events."""
    evented = [fs for fs in folders
               if fs.inbox.is_dir() and choose_mode(fs.watch, fs.inbox, mounts)[0] == "events"]
    watches = sum(count_dirs(fs.inbox, fs.recursive) for fs in evented)
    return inotify_results(read_int(proc / "max_user_watches"),
                           read_int(proc / "max_user_instances"), watches, len(evented))


# ---- state, credentials ---------------------------------------------------------------------


def check_state_dir(state_dir: Path) -> list[Result]:
    """state_dir exists (created private if missing), is private and writable, its journal
    is sound, and whether a vodwatch uses it now; takes no lock and changes no mode."""
    fix = (f"create it for the user vodwatch runs as (install -d -o vodwatch -g vodwatch "
           f"-m 700 {state_dir}); under systemd, StateDirectory= does this")
    created = not state_dir.exists()
    try:
        state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if created:
            os.chmod(state_dir, DIR_MODE)
    except OSError as exc:
        return [Result(FAIL, f"state_dir {state_dir} cannot be created: {exc.strerror}", fix)]
    if not state_dir.is_dir():
        return [Result(FAIL, f"state_dir {state_dir} is not a folder", fix)]
    results = []
    for path, mode in loose_modes(state_dir):
        private = DIR_MODE if path == state_dir else FILE_MODE
        what = "state_dir" if path == state_dir else "journal file"
        results.append(Result(
            WARN, f"{what} {path} can be read by others (mode {mode:04o})",
            f"vodwatch run and once make it private ({private:04o}) when they start; "
            f"chmod {private:o} {path} does it now"))
    try:
        probe_write(state_dir)
    except StateUnavailable as exc:
        return [*results, Result(FAIL, exc.message, exc.hint)]
    results.append(Result(OK, f"state_dir {state_dir} is writable" + (
        " (created it)" if created else "")))
    results += check_journal(state_dir)
    if is_locked(state_dir):
        holder = read_holder(state_dir)
        who = f"another vodwatch ({holder.describe()})" if holder else "another vodwatch"
        results.append(Result(OK, f"state_dir {state_dir} is in use by {who}; a second run "
                              "or once on it is refused until that one stops"))
    return results


def check_journal(state_dir: Path) -> list[Result]:
    """The journal, if there is one, opens read-only and passes SQLite's quick check."""
    path = state_dir / JOURNAL_NAME
    if not path.exists():
        return []
    try:
        open_journal(state_dir, readonly=True).close()
    except StateUnavailable as exc:
        return [Result(FAIL, exc.message, exc.hint)]
    return [Result(OK, f"the journal {path} is sound (SQLite quick check)")]


def _masked(ak: str) -> str:
    return ak[:4] + "..." if len(ak) > 8 else "..."


def check_credentials(config: Config, env: Mapping[str, str]
                      ) -> tuple[Credentials | None, list[Result]]:
    """The AK/SK can be read, and an SK file is private."""
    try:
        creds = load_credentials(config.vod, env, config.source)
    except ConfigError as exc:
        return None, [Result(FAIL, problem) for problem in exc.problems]
    add_secret(creds.sk)
    vod = config.vod
    ak_from = f"vod.ak_file {vod.ak_file}" if vod.ak_file else f"${AK_ENV}"
    if vod.sk_file is not None:
        mode = stat.S_IMODE(os.stat(vod.sk_file).st_mode)
        sk_from = f"vod.sk_file {vod.sk_file} (mode {mode:04o}, not readable by others)"
    else:
        sk_from = f"${SK_ENV}"
    return creds, [Result(OK, f"credentials: AK {_masked(creds.ak)} from {ak_from}, SK from "
                          f"{sk_from}")]


def _sources(config: Config) -> str:
    ak = "vod.ak_file" if config.vod.ak_file else AK_ENV
    sk = "vod.sk_file" if config.vod.sk_file else SK_ENV
    if ak == AK_ENV and sk == SK_ENV:
        return "HUAWEICLOUD_SDK_AK/SK"
    return f"{ak} and {sk}"


# ---- VOD ------------------------------------------------------------------------------------


def judge_remote(exc: RemoteError, endpoint: str, project_id: str, sources: str) -> Result:
    """What a refused probe call says about endpoint, project and credentials."""
    decision = classify(exc)
    code = exc.code or f"HTTP {exc.status}"
    where = f"VOD at {endpoint}"
    if decision.action is Action.PAUSE:
        if exc.code == "APIGW.0303":
            return Result(FAIL, f"{where} rejected the request's signature ({code})",
                          f"check {sources}, and that this machine's clock is right (NTP)",
                          vod=True)
        if decision.reason == "credentials":
            return Result(FAIL, f"{where} rejected the credentials ({code})",
                          f"check {sources}", vod=True)
        if decision.reason == "config":
            return Result(FAIL, f"{where} did not accept project {project_id} ({code})",
                          "set vod.project_id (or the folder set's project_id) to the project "
                          "ID of this region, and vod.endpoint to the region's VOD endpoint",
                          vod=True)
        if decision.reason == "permission":
            return Result(FAIL, f"{where} refused the access key ({code})",
                          "grant the IAM user VOD permissions (e.g. the VOD FullAccess policy)",
                          vod=True)
        return Result(FAIL, f"{where}: {decision.explain} ({code})",
                      "resolve it in the Huawei Cloud console", vod=True)
    if decision.throttled:
        return Result(WARN, f"{where} asked vodwatch to slow down ({code}), so the "
                      "credentials are not proven", "run the check again in a minute")
    if decision.action is Action.RETRY:
        return Result(FAIL, f"{where} answered with a server error ({code})",
                      "try again later; if it lasts, check the endpoint and the service's "
                      "health in the console", vod=True)
    if exc.code.startswith("VOD."):
        # A business answer about the made-up asset: the call got past authentication.
        return Result(OK, f"{where} accepts the credentials for project {project_id} "
                      f"(it answered {code} about a made-up asset, as expected)")
    return Result(FAIL, f"{endpoint} did not answer like VOD ({code})",
                  "check vod.endpoint, e.g. https://vod.cn-north-4.myhuaweicloud.com",
                  vod=True)


def check_online(config: Config, creds: Credentials) -> list[Result]:
    """One harmless signed call (asset info of a made-up asset) per endpoint and project."""
    vod = config.vod
    http = HttpSettings(vod.connect_timeout_seconds,
                        min(vod.read_timeout_seconds, ONLINE_READ_TIMEOUT), vod.verify_tls,
                        vod.ca_bundle)
    pairs = sorted({(fs.endpoint, fs.project_id) for fs in config.folders})
    results = []
    session = make_session(http)
    try:
        for endpoint, project_id in pairs:
            client = VodClient(endpoint, project_id, creds.ak, creds.sk, session=session,
                               timeout=http.timeout)
            try:
                client.asset_info([PROBE_ASSET])
            except TransportError as exc:
                hint = exc.hint if exc.hint and "by itself" not in exc.hint else (
                    "check the network, DNS, any proxy (HTTPS_PROXY) and vod.endpoint")
                results.append(Result(FAIL, f"cannot reach VOD at {endpoint}: {exc.message}",
                                      hint, vod=True))
            except RemoteError as exc:
                results.append(judge_remote(exc, endpoint, project_id, _sources(config)))
            else:
                results.append(Result(OK, f"VOD at {endpoint} accepts the credentials for "
                                      f"project {project_id}"))
    finally:
        session.close()
    return results


# ---- notifications --------------------------------------------------------------------------


def check_notifications(folders: Sequence[FolderSet]) -> list[Result]:
    """A test message to every notification target, once each; the URLs shown redacted."""
    results = []
    for fs in folders:
        if not fs.notify:
            continue
        alerts = Alerts(fs.notify, fs.label)
        try:
            sent = alerts.send_test()
        finally:
            alerts.close(timeout=0)
        for shown, error in sent:
            if error is None:
                results.append(Result(OK, f"notifications of {fs.label}: {shown} took a test "
                                      "message"))
            else:
                results.append(Result(FAIL, f"notifications of {fs.label}: {shown} did not take "
                                      f"a test message: {error}", "check the URL in notify, and "
                                      "that this machine can reach the service (proxy, firewall)"))
    return results


# ---- the command ----------------------------------------------------------------------------


def run_check(config_path: Path, env: dict[str, str], online: bool, out: TextIO) -> int:
    """Run every check, print one line each and a summary; return the exit code."""
    results: list[Result] = []

    def report(found: Iterable[Result]) -> None:
        for result in found:
            results.append(result)
            out.write(result.line() + "\n")
        out.flush()

    try:
        config = load_config(config_path, env, need_credentials=False)
    except ConfigError as exc:
        out.write(redact(f"[FAIL] config {config_path} is not valid "
                         f"({len(exc.problems)} problem(s)):") + "\n")
        for problem in exc.problems:
            out.write(redact(f"       {problem}") + "\n")
        return EXIT_CONFIG
    report([Result(OK, f"config {config_path} is valid ({len(config.folders)} folder set(s))")])
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        report([Result(WARN, "checking as root proves what root may do, not the daemon's user",
                       "run the check as that user too, e.g. sudo -u vodwatch vodwatch check")])
    for fs in config.folders:
        report(check_folder_set(fs, config.rescan_seconds))
    report(check_inotify(config.folders))
    report(check_state_dir(config.state_dir))
    creds, found = check_credentials(config, env)
    report(found)
    if online:
        if creds is None:
            report([Result(FAIL, "the online check against VOD was skipped",
                           "fix the credentials above first")])
        else:
            report(check_online(config, creds))
        report(check_notifications(config.folders))
    code = exit_code(results)
    failed = sum(r.level == FAIL for r in results)
    warned = sum(r.level == WARN for r in results)
    if failed:
        out.write(f"{failed} check(s) failed, {warned} warning(s): fix the [FAIL] lines and "
                  "run vodwatch check again\n")
    else:
        done = "all checks passed" + ("" if online else " (add --online to try VOD too)")
        out.write(f"{done}, {warned} warning(s)\n" if warned else f"{done}\n")
    return code
