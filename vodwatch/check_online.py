"""``vodwatch check``, reaching out: the AK/SK can be read, VOD accepts them for
each endpoint and project (``--online``), and every notification target takes a
test message."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from .alerts import Alerts
from .check_result import FAIL, OK, WARN, Result
from .config import AK_ENV, SK_ENV, Config, Credentials, FolderSet, load_credentials
from .errors import ConfigError, RemoteError, TransportError
from .log import add_secret
from .retry import Action, classify
from .vod.api import VodClient
from .vod.http import HttpSettings, make_session

PROBE_ASSET = "0" * 32  # no asset has this ID: asking about it changes nothing
ONLINE_READ_TIMEOUT = 30.0  # a check should not sit for the daemon's 120 s


def _masked(ak: str) -> str:
    return ak[:4] + "..." if len(ak) > 8 else "..."


EXAMPLE_PROJECT_ID = "0123456789abcdef0123456789abcdef"  # config.example.yaml's


def check_credentials(config: Config, env: Mapping[str, str]
                      ) -> tuple[Credentials | None, list[Result]]:
    """The AK/SK can be read, and an SK file is private."""
    try:
        creds = load_credentials(config.vod, env, config.source)
    except ConfigError as exc:
        return None, [Result(FAIL, problem) for problem in exc.problems]
    add_secret(creds.sk)
    vod = config.vod
    # The order find_credentials uses: the config file, then a key file, then the environment.
    if vod.ak is not None:
        ak_from = f"vod.ak in the config file {config.source}"
    else:
        ak_from = f"vod.ak_file {vod.ak_file}" if vod.ak_file else f"${AK_ENV}"
    if vod.sk is not None:
        sk_from = f"vod.sk in the config file {config.source}"
    elif vod.sk_file is not None:
        mode = stat.S_IMODE(os.stat(vod.sk_file).st_mode)
        sk_from = f"vod.sk_file {vod.sk_file} (mode {mode:04o}, not readable by others)"
    else:
        sk_from = f"${SK_ENV}"
    found = [Result(OK, f"credentials: AK {_masked(creds.ak)} from {ak_from}, SK from "
                    f"{sk_from}")]
    # The emulator's own project is the example's: only a real endpoint makes it a mistake.
    if any(folder_set.project_id == EXAMPLE_PROJECT_ID and not _loopback(folder_set.endpoint)
           for folder_set in config.folders):
        found.append(Result(WARN, f"project_id {EXAMPLE_PROJECT_ID} is the example's, not "
                            "your project's", "copy the project ID of your region from My "
                            "Credentials in the console into vod.project_id"))
    return creds, found


def _loopback(endpoint: str) -> bool:
    host = (urlsplit(endpoint).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


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
    pairs = sorted({(folder_set.endpoint, folder_set.project_id) for folder_set in config.folders})
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
    for folder_set in folders:
        if not folder_set.notify:
            continue
        alerts = Alerts(folder_set.notify, folder_set.label)
        try:
            sent = alerts.send_test()
        finally:
            alerts.close(timeout=0)
        for shown, error in sent:
            if error is None:
                results.append(Result(OK,
                                      f"notifications of {folder_set.label}: {shown} took a test "
                                      "message"))
            else:
                results.append(Result(FAIL,
                                      f"notifications of {folder_set.label}: {shown} did not take "
                                      f"a test message: {error}", "check the URL in notify, and "
                                      "that this machine can reach the service (proxy, firewall)"))
    return results
