"""One exception hierarchy with one root.

Every error a person may see carries a plain ``message`` (what is wrong) and a
``hint`` (what to do about it); ``str(error)`` gives ``"message (hint)"``.
"""

from __future__ import annotations

from dataclasses import dataclass


class VodwatchError(Exception):
    """Root of every error vodwatch raises on purpose."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(VodwatchError):
    """The configuration is invalid; ``problems`` lists every problem found.

    Each problem reads ``FILE: at 'key.path': problem (fix)``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "invalid configuration"
        more = f" and {len(self.problems) - 1} more problem(s)" if len(self.problems) > 1 else ""
        super().__init__(first + more)

    def __str__(self) -> str:
        return "\n".join(self.problems)


class BadName(VodwatchError):
    """A file name that no naming rule accepts.

    ``suggestion`` is a corrected name when one can be guessed, else ``None``.
    """

    def __init__(self, name: str, message: str, hint: str, suggestion: str | None = None) -> None:
        super().__init__(message, hint)
        self.name = name
        self.suggestion = suggestion


class TransportError(VodwatchError):
    """The network failed: connection refused or reset, DNS, timeout. Always transient."""

    def __init__(self, message: str, hint: str = "vodwatch retries by itself", *,
                 timeout: bool = False) -> None:
        super().__init__(message, hint)
        self.timeout = timeout


@dataclass(frozen=True)
class RemoteFault:
    """What a remote service said when it refused a request."""

    service: str  # "vod" or "obs"
    operation: str  # e.g. "update_asset", "upload_part"
    status: int
    code: str  # "VOD.10061", "APIGW.0301", "SignatureDoesNotMatch", "" if none
    error_msg: str
    request_id: str = ""
    retry_after: float | None = None


class RemoteError(VodwatchError):
    """VOD, its API gateway or the object store refused a request."""

    def __init__(self, fault: RemoteFault, message: str | None = None, hint: str = "") -> None:
        text = message or (
            f"{fault.service.upper()} {fault.operation} answered HTTP {fault.status}"
            + (f" {fault.code}" if fault.code else "")
            + (f": {fault.error_msg}" if fault.error_msg else "")
        )
        super().__init__(text, hint)
        self.fault = fault

    @property
    def status(self) -> int:
        return self.fault.status

    @property
    def code(self) -> str:
        return self.fault.code


class FileChanged(VodwatchError):
    """The file changed (size, mtime or content) while vodwatch was sending it."""


class MetadataChanged(FileChanged):
    """Only the file's change time or inode moved (size and mtime are as they were).

    A Finder tag, an SMB ChangeTime, a FUSE or ``noserverino`` inode number, or an
    in-place write that put the mtime back: the attributes cannot tell which. Treated
    as FileChanged unless the caller hashes the file again and finds it byte-identical.
    """


class FileVanished(VodwatchError):
    """The file disappeared while vodwatch was working on it."""


class AssetStateError(VodwatchError):
    """The asset's state does not allow the update (not the editor's fault)."""

    def __init__(self, asset_id: str, state: str, message: str, hint: str,
                 fault: RemoteFault | None = None) -> None:
        super().__init__(message, hint)
        self.asset_id = asset_id
        self.state = state
        self.fault = fault


class FolderUnavailable(VodwatchError):
    """A watched folder (inbox, done, failed) is missing or not writable."""


class StateUnavailable(VodwatchError):
    """state_dir cannot be created, written or read, or the journal in it is damaged.

    ``passing``: a condition of the disk that clears without a change of setup (full,
    remounted read-only, an I/O error), which ``vodwatch run`` waits out at start.
    """

    passing = False


class JournalDamaged(StateUnavailable):
    """The journal file is not a SQLite database, or SQLite found it corrupt."""


class StateBusy(VodwatchError):
    """Another vodwatch process holds the state_dir's lock: one state_dir, one process."""


class Interrupted(VodwatchError):
    """Shutdown asked the upload to stop; the journal holds the checkpoint."""


class ExpiredUrl(VodwatchError):
    """The stored signed URL has expired or is about to."""
