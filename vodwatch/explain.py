"""What vodwatch tells a person about a file that cannot be sent: one home for the words.

Pure functions from what went wrong (a name, a file's kind, an asset's state, a
service's error) to a :class:`Failure`: one plain sentence, what to do, and the
service's code and message when there is one. The asset-state rules live here
too, because the explanation depends on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .errors import AssetStateError, BadName, RemoteError, TransportError
from .finish import Failure
from .names import parse_name

# VOD accepts a replacement video only in these states (VOD-API.md §0.1, §10).
UPDATABLE = frozenset({"UPLOAD_FAILED", "CANCELLED", "SERVER_ERROR"})
# The state UpdateAsset puts an asset in while its upload is open.
UPLOADING = frozenset({"CREATING"})
MISSING = frozenset({"UNCREATED", "DELETED", "NO_ASSET", "DELETING"})


def uploadable_problem(name: str, path: Path, language_map: Mapping[str, str],
                       asset_id: str) -> Failure | None:
    """Problems that no retry can fix (a bad name, a symbolic link, an empty file), or None."""
    try:
        parse_name(name, language_map)
    except BadName as exc:
        sentence = exc.message.rstrip(".") + "."
        todo = exc.hint
        if exc.suggestion:
            todo = f"rename it to {exc.suggestion} and drop it in the inbox again ({todo})"
        return Failure(sentence, todo, asset_id=asset_id)
    if path.is_symlink():
        return Failure(f"{name} is a symbolic link, and vodwatch uploads only real files "
                       "(links are never followed out of the inbox).",
                       "copy the file itself into the inbox", asset_id=asset_id)
    if not path.is_file():
        return Failure(f"{name} is not a regular file.",
                       "drop only finished video, cover and subtitle files", asset_id=asset_id)
    if path.stat().st_size == 0:
        return Failure(f"{name} is empty (0 bytes).",
                       "the copy probably failed: copy the file again", asset_id=asset_id)
    return None


def state_words(asset_id: str, status: str) -> tuple[str, str]:
    if status in MISSING:
        return (f"VOD has no media asset with ID {asset_id} (its state is {status})",
                "check the asset ID in the file name, or create the asset in VOD first, "
                "then move the file back into the inbox")
    return (f"VOD accepts a replacement video only for an asset whose upload failed or was "
            f"cancelled, and asset {asset_id} is in state {status}",
            "this is not a problem with the file: if this asset should get this video, an "
            "operator can cancel the asset's upload or create a new asset in the VOD "
            "console, then move the file back into the inbox (or run vodwatch retry)")


def state_failure(exc: AssetStateError) -> Failure:
    code = exc.fault.code if exc.fault else ""
    msg = exc.fault.error_msg if exc.fault else ""
    return Failure(exc.message + ".", exc.hint, code, msg, exc.asset_id)


def remote_failure(asset_id: str, exc: RemoteError | TransportError, explain: str,
                   advice: str = "") -> Failure:
    fault = getattr(exc, "fault", None)
    sentence = explain or str(exc)
    if not sentence.endswith("."):
        sentence += "."
    hint = exc.hint or HINTS.get(fault.code if fault else "") or advice or (
        "check the file and the asset in the VOD console, then move the file back into "
        "the inbox")
    return Failure(sentence, hint, fault.code if fault else "",
                   fault.error_msg if fault else "", asset_id)


HINTS = {
    "VOD.10062": "check the asset ID in the file name, or create the asset in VOD first",
    "VOD.10053": "check the file's name and type; VOD refused the request's parameters",
    "VOD.10063": "convert the file to a type VOD accepts (see the accepted names)",
    "BadDigest": "the file may be damaged; copy it again and drop it in the inbox",
}


