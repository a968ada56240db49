"""The fourth step of loading a config: the AK/SK, from files, the config or the environment.

Each problem names the key to fix; the SK, once read, is blanked out of every log line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from ..log import add_secret
from .interpolate import Interpolated
from .model import Credentials
from .schema import VodSettings
from .yaml import problem_at

AK_ENV = "HUAWEICLOUD_SDK_AK"
SK_ENV = "HUAWEICLOUD_SDK_SK"


def _read_key(path: Path, key: str, private: bool, source: Path,
              problems: list[str]) -> str | None:
    try:
        with path.open(encoding="utf-8") as handle:
            if private and os.fstat(handle.fileno()).st_mode & 0o044:
                problems.append(problem_at(source, key, f"{path} is readable by other users",
                                           f"run: chmod 600 {path}"))
                return None
            text = handle.read().strip()
    except OSError as exc:
        problems.append(problem_at(source, key, f"cannot read {path}: {exc.strerror}",
                                   "check the path, and that vodwatch's user may read the file"))
        return None
    except UnicodeDecodeError:
        problems.append(problem_at(source, key, f"{path} is not text", "write the key alone in it"))
        return None
    if not text:
        problems.append(problem_at(source, key, f"{path} is empty", "write the key alone in it"))
        return None
    return text


def _private_config(source: Path, problems: list[str]) -> None:
    """A config file that holds the SK itself must be readable by its owner only."""
    try:
        mode = os.stat(source).st_mode
    except OSError:
        return
    if mode & 0o044:
        problems.append(problem_at(source, "vod.sk", f"{source} holds the secret key and is "
                                   "readable by other users", f"run: chmod 600 {source}"))


def find_credentials(ak_file: Path | None, sk_file: Path | None, env: Mapping[str, str],
                     source: Path, ak: str | None = None, sk: str | None = None,
                     ) -> tuple[Credentials | None, list[str]]:
    """The AK/SK from the config, else the key files, else the environment; or the problems."""
    problems: list[str] = []
    missing: list[tuple[str, str, str]] = []
    found: list[str | None] = []
    if sk is not None and not isinstance(sk, Interpolated):
        _private_config(source, problems)
    for inline, path, key, var, what, private in (
            (ak, ak_file, "vod.ak_file", AK_ENV, "access key", False),
            (sk, sk_file, "vod.sk_file", SK_ENV, "secret key", True)):
        if inline is not None:
            found.append(str(inline).strip())
            continue
        if path is not None:
            found.append(_read_key(path, key, private, source, problems))
            continue
        value = env.get(var, "").strip()
        if not value:
            missing.append((what, var, key))
        found.append(value or None)
    if missing:
        whats, variables, keys = (list(column) for column in zip(*missing, strict=True))
        verb = "is" if len(missing) == 1 else "are"
        problems.append(problem_at(
            source, "vod",
            f"no {' or '.join(whats)}: {' and '.join(variables)} {verb} not set "
            f"and {'/'.join(keys)} {verb} not given",
            f"set {AK_ENV} and {SK_ENV}, or vod.ak_file/vod.sk_file"))
    ak, sk = found
    if problems or ak is None or sk is None:
        return None, problems
    add_secret(sk)  # from now on the SK is blanked out of every log line
    return Credentials(ak=ak, sk=sk), []


def load_credentials(vod: VodSettings, env: Mapping[str, str] | None, source: Path) -> Credentials:
    """Read the AK/SK from ``vod.ak_file``/``vod.sk_file``, else from the environment.

    The SK is registered with ``vodwatch.log.add_secret``. Raises ConfigError
    naming the key when a file is missing, unreadable or empty, when the SK file
    is readable by other users, or when nothing provides a key.
    """
    found, problems = find_credentials(vod.ak_file, vod.sk_file,
                                       os.environ if env is None else env, source, vod.ak, vod.sk)
    if found is None:
        raise ConfigError(problems)
    return found
