"""What vodwatch tells a person about a file that cannot be sent: one home for the words.

Pure functions from what went wrong (a name, a file's kind, an asset's state, a
service's error) to a :class:`Failure`. The words have two readers (SPEC §6a):

- the editor who dropped the file reads ``sentence`` (what went wrong with this
  file, in plain words) and ``todo`` (one thing to do, never a command). When only
  someone else can fix it, ``todo`` says who: "Ask the VOD administrator to ...".
- the operator reads ``operator`` (settings, console actions, commands), the codes,
  the request id and the asset's state, after the separator of the error file.

``retry.classify`` decides what to do about an error; its ``explain`` and ``advice``
are written for logs and operators, so for the codes below the editor's words come
from here and classify's only fill in for codes this module does not know.
The asset-state rules live here too, because the explanation depends on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from .errors import AssetStateError, BadName, RemoteError, TransportError
from .finish import Failure
from .names import parse_name

# VOD accepts a replacement video only in these states (VOD-API.md §0.1, §10).
UPDATABLE = frozenset({"UPLOAD_FAILED", "CANCELLED", "SERVER_ERROR"})
# The state UpdateAsset puts an asset in while its upload is open.
UPLOADING = frozenset({"CREATING"})
MISSING = frozenset({"UNCREATED", "DELETED", "NO_ASSET", "DELETING"})

# How status says that a failed file cannot be moved to failed/ yet (someone has it open);
# a delivered one is "delivered, waiting to move" (decide.MoveRefused).
FAILED_WAITING_TO_MOVE = "failed, waiting to move to failed/"

AGAIN = "Put the file back in the inbox to send it again"
ASK_OPERATOR = ("Ask the person who runs vodwatch to read the part for the operator "
                "below; the file itself is probably fine")
_CHECK_ID = ("Check the asset ID in the file name against the VOD console, correct it and "
             "put the file back in the inbox")
_PROJECT = ("If the asset ID is right, check that vodwatch uses the asset's project and "
            "region (vod.project_id and vod.endpoint, or the folder's project_id)")
_REPLACE_RULE = ("VOD replaces an asset's video only when its upload or download failed or "
                 "its upload was cancelled (UPLOAD_FAILED, CANCELLED, SERVER_ERROR): cancel "
                 "the asset's upload in the VOD console, or create a new asset and rename "
                 "the file with its ID")
_REPORT = ("If this happens again with a correct file, report it to the vodwatch "
           "maintainers with the request ID")
_CONVERT_WORDS = ("convert ", "upload ")


def uploadable_problem(name: str, path: Path, language_map: Mapping[str, str],
                       asset_id: str, *, create: bool = False) -> Failure | None:
    """Problems that no retry can fix (a bad name, a symbolic link, an empty file), or None."""
    try:
        parse_name(name, language_map, create=create)
    except BadName as exc:
        return bad_name_failure(exc, asset_id, titles=create)
    if path.is_symlink():
        return Failure(f"{name} is a symbolic link (a shortcut to another file), and "
                       "vodwatch uploads only real files.",
                       "Copy the file itself into the inbox",
                       asset_id=asset_id,
                       operator="Links are never followed out of the inbox")
    if not path.is_file():
        return Failure(f"{name} is not a regular file (it may be a folder or a device).",
                       "Put only finished video, thumbnail and subtitle files in the inbox",
                       asset_id=asset_id)
    if path.stat().st_size == 0:
        return Failure(f"{name} is empty (0 bytes), so its copy probably failed.",
                       "Copy the file into the inbox again", asset_id=asset_id)
    return None


def bad_name_failure(exc: BadName, asset_id: str = "", *, titles: bool = False) -> Failure:
    """The failure for a name no rule accepts; the error file then lists accepted names.

    ``titles``: the folder set creates assets, so the list shows title names too.
    """
    message = exc.message
    problem, _, fix = message.partition("; ")
    if fix.lower().startswith(_CONVERT_WORDS):
        sentence = problem
        todo = f"{fix}, give it one of the accepted names below and put it in the inbox"
    elif exc.suggestion:
        sentence = message
        todo = f"Rename the file to {exc.suggestion} and put it back in the inbox"
    else:
        sentence = message
        todo = "Rename the file to one of the accepted names below and put it back in the inbox"
    return Failure(_end(sentence), todo, asset_id=asset_id, bad_name=True, titles=titles)


def state_words(asset_id: str, status: str) -> tuple[str, str]:
    """(what went wrong, what the editor can do) when the asset's state refuses a video."""
    if status in MISSING:
        if status in ("DELETED", "DELETING"):
            return f"Media asset {asset_id} has been deleted in VOD", _CHECK_ID
        return f"Media asset {asset_id} does not exist in VOD", _CHECK_ID
    if status in UPLOADING:
        return (f"Another upload to media asset {asset_id} is still open in VOD; this is not "
                "a problem with the file",
                "Put the file back in the inbox once that upload has finished")
    return (f"VOD does not accept a new video for media asset {asset_id} in its current "
            "state; this is not a problem with the file",
            "Ask the VOD administrator to make the asset accept a new video, then put the "
            "file back in the inbox")


def _state_operator(status: str) -> str:
    if status in MISSING:
        return _PROJECT
    if status in UPLOADING:
        return ("The asset's upload is open (CREATING); if no other uploader is at work, "
                "cancel the upload in the VOD console")
    return _REPLACE_RULE


def state_failure(exc: AssetStateError) -> Failure:
    """The failure for an asset whose state refuses the update (message from state_words)."""
    fault = exc.fault
    return Failure(_end(exc.message), exc.hint, fault.code if fault else "",
                   fault.error_msg if fault else "", exc.asset_id,
                   request_id=fault.request_id if fault else "", state=exc.state,
                   operator=_state_operator(exc.state))


def closed_failure(exc: AssetStateError) -> Failure:
    """The failure for an upload closed in VOD (cancelled) once asking again is spent.

    The asset's state would take a new video; what refuses it is whoever keeps closing the
    upload, so the words name that instead of the state.
    """
    fault = exc.fault
    return Failure(
        _end(f"The upload to media asset {exc.asset_id} was cancelled in VOD while the file "
             "was being sent, after vodwatch had already asked for it again as often as it "
             "may; this is not a problem with the file"),
        "Put the file back in the inbox once nobody cancels this asset's upload",
        fault.code if fault else "", fault.error_msg if fault else "", exc.asset_id,
        request_id=fault.request_id if fault else "", state=exc.state,
        operator="Someone or something (the VOD console, a script, another uploader) "
                 "cancels this asset's upload while vodwatch sends it: stop that first")


def remote_failure(asset_id: str, exc: RemoteError | TransportError, explain: str,
                   advice: str = "") -> Failure:
    """The failure for a service's permanent refusal; ``explain``/``advice`` from classify."""
    fault = getattr(exc, "fault", None)
    code = fault.code if fault else ""
    known = BY_CODE.get(code)
    if known is not None:
        sentence, todo, operator = known
        sentence = sentence.format(asset_id=asset_id or "named in the file name")
    else:
        sentence = explain or exc.message
        todo = ASK_OPERATOR
        operator = advice or exc.hint or _REPORT
    return Failure(_end(sentence), todo, code, fault.error_msg if fault else "", asset_id,
                   request_id=fault.request_id if fault else "", operator=operator)


# ---- failures decided elsewhere, worded here ------------------------------------------

def still_writing_failure(name: str, hours: float) -> Failure:
    """The file never stopped changing within ``max_writing_hours``."""
    return Failure(f"{name} was still being written after {hours:g} hours.",
                   "Make sure the copy has finished, then put the file in the inbox again",
                   operator="Raise max_writing_hours if such long writes are normal")


def superseded_failure(asset_id: str) -> Failure:
    """A newer file with the same name arrived while this one was being sent."""
    return Failure("A newer file with the same name arrived while this one was being sent, "
                   "so this older version was not uploaded.",
                   "Nothing, unless this older version was the one wanted: then put it back "
                   "in the inbox", asset_id=asset_id)


def incomplete_answer_failure(asset_id: str, detail: str) -> Failure:
    """VOD's answer to the update request lacked what vodwatch needs to upload."""
    return Failure("VOD's answer to the upload request was incomplete, so the file was not "
                   "sent.", ASK_OPERATOR, asset_id=asset_id,
                   operator=f"VOD's answer: {detail}. {_REPORT}")


def unknown_failure(asset_id: str = "") -> Failure:
    """The fallback when the reason for a failure was not recorded."""
    return Failure("The upload failed for a reason vodwatch did not record.", ASK_OPERATOR,
                   asset_id=asset_id, operator="Look at the daemon's log for this file")


# Editor words (sentence, todo) and operator words per permanent error code
# (retry.classify's FAIL and STATE codes). ``{asset_id}`` is filled in.
_BY_CODE: dict[str, tuple[str, str, str]] = {
    "VOD.10062": ("Media asset {asset_id} does not exist in VOD", _CHECK_ID, _PROJECT),
    "VOD.10129": ("VOD could not find the subtitle after it was uploaded", AGAIN, _REPORT),
    "VOD.10063": ("VOD does not support this file's media format",
                  "Convert the file to MP4 (or another accepted format), give it an "
                  "accepted name and put it in the inbox", ""),
    "VOD.10061": ("VOD does not accept a new video for media asset {asset_id} in its current "
                  "state; this is not a problem with the file",
                  "Ask the VOD administrator to make the asset accept a new video, then put "
                  "the file back in the inbox", _REPLACE_RULE),
    "VOD.10083": ("VOD does not allow this change to media asset {asset_id} in its current "
                  "state; this is not a problem with the file",
                  "Ask the VOD administrator to check the asset, then put the file back in "
                  "the inbox", _REPLACE_RULE),
    "VOD.10126": ("VOD did not let vodwatch finish the upload to media asset {asset_id} in "
                  "its current state; this is not a problem with the file",
                  "Ask the VOD administrator to check the asset, then put the file back in "
                  "the inbox", _REPLACE_RULE),
    "VOD.10135": ("VOD stopped taking the upload to media asset {asset_id} before it was "
                  "complete; this is not a problem with the file",
                  "Ask the VOD administrator to check the asset, then put the file back in "
                  "the inbox", _REPLACE_RULE),
    "BadDigest": ("The file arrived damaged in VOD's storage; it may have changed while it "
                  "was being sent",
                  "Make sure the file is complete and no longer being written, then put it "
                  "back in the inbox", ""),
    "InvalidPart": ("VOD's storage refused the pieces of this upload", AGAIN, _REPORT),
    "InvalidPartOrder": ("VOD's storage refused the order of this upload's pieces", AGAIN,
                         _REPORT),
}
for _code in ("VOD.10053", "VOD.10081", "VST.10001", "VOD.10064", "VOD.10058", "VOD.10059"):
    _BY_CODE[_code] = ("VOD refused the request to update the asset with this file",
                      ASK_OPERATOR,
                      "VOD called the request invalid; check vodwatch's version and "
                      f"configuration. {_REPORT}")
for _code in ("EntityTooSmall", "EntityTooLarge"):
    _BY_CODE[_code] = ("VOD's storage refused the size of this file or of a piece of it",
                      ASK_OPERATOR, f"Check upload.part_size_mb. {_REPORT}")
for _code in ("NoSuchBucket", "SignatureDoesNotMatch"):
    _BY_CODE[_code] = ("VOD's storage refused the upload",
                      ASK_OPERATOR, "The upload URL VOD issued was refused by its object "
                      f"store; check the bucket authorisation in the VOD console. {_REPORT}")
BY_CODE: Mapping[str, tuple[str, str, str]] = MappingProxyType(_BY_CODE)
# Kept for callers of the former name: the editor's instruction per code.
HINTS: Mapping[str, str] = MappingProxyType({code: words[1] for code, words in BY_CODE.items()})


def _end(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
