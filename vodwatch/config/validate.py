"""The third step of loading a config: check the interpolated YAML against ``SCHEMA``.

Unknown keys, missing required keys, values their check refuses, and what no single
key can say (an inbox given twice, done inside a recursive inbox, a cap below the
first retry delay, ...). ``check_config`` collects every problem rather than
stopping at the first, so one run of ``vodwatch check`` shows all there is to fix.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, NamedTuple

from .checks import STATUS_OFF, Bad
from .model import default_status_file
from .schema import REQUIRED, SCHEMA, FolderEntry
from .yaml import INVALID, join_path, problem_at, show

_FOLDERS = FolderEntry.path
_NAMES: dict[str, list[str]] = {}  # key names by container ("" for the top)
for _key in SCHEMA:
    _NAMES.setdefault(_key.container, []).append(_key.name)
    _top = _key.path.split(".")[0].removesuffix("[]")
    if _top not in _NAMES.setdefault("", []):
        _NAMES[""].append(_top)


def _check_names(raw: dict[Any, Any], container: str, where: str, source: Path,
                 problems: list[str]) -> None:
    known = _NAMES[container]
    for name in raw:
        if name in known:
            continue
        close = difflib.get_close_matches(str(name), known, n=1)
        homes = [c for c, names in _NAMES.items() if name in names and c != container]
        if close:
            fix = f"did you mean '{close[0]}'?"
        elif homes:
            fix = ("it belongs in each entry of folders" if homes[0] == _FOLDERS
                   else f"it belongs under '{homes[0]}'" if homes[0] else "it belongs at the top")
        else:
            fix = "remove it; known keys here: " + ", ".join(known)
        problems.append(problem_at(source, join_path(where, name), "unknown key", fix))


def _check_mapping(raw: Any, container: str, where: str, source: Path, base: Path,
                   problems: list[str]) -> dict[str, Any]:
    """Values of one mapping by key name: converted, default, or INVALID."""
    if raw is None or raw is INVALID:
        raw = {}  # a section whose keys are all commented out
    if not isinstance(raw, dict):
        problems.append(problem_at(source, where, f"must be a mapping of keys, got {show(raw)}",
                                   "indent its keys below it"))
        raw = {}
    _check_names(raw, container, where, source, problems)
    out: dict[str, Any] = {}
    for key in SCHEMA:
        if key.container != container:
            continue
        path = join_path(where, key.name)
        value = raw.get(key.name)
        if value is INVALID:
            pass
        elif value is None:
            if key.default is REQUIRED:
                problems.append(problem_at(source, path, "missing required key",
                                           f"add it: {key.doc}"))
                value = INVALID
            else:
                value = default_of(key, base)
        else:
            try:
                value = key.check(value, base)
            except Bad as bad:
                fix = bad.fix or (f"the default is {show(key.default)}; delete the line to use it"
                                  if key.default is not None else key.doc)
                problems.append(problem_at(source, path, bad.problem, fix))
                value = INVALID
        out[key.name] = value
    return out


def _check_folders(raw: Any, source: Path, base: Path, problems: list[str]) -> list[dict[str, Any]]:
    fix = "add at least one folder set: - inbox: /srv/vod-drop/inbox, with done: and failed:"
    if raw is INVALID:
        return []
    if raw is None:
        problems.append(problem_at(source, "folders", "missing required key", fix))
        return []
    if not isinstance(raw, list) or not raw:
        if isinstance(raw, list):
            problems.append(problem_at(source, "folders", "is empty", fix))
        else:
            problems.append(problem_at(source, "folders", f"must be a list, got {show(raw)}",
                                       "start each folder set with '- ' below folders:"))
        return []
    sets = []
    for index, item in enumerate(raw):
        where = f"folders[{index}]"
        if item is INVALID:
            continue
        if not isinstance(item, dict):
            problems.append(problem_at(source, where, f"must be a mapping, got {show(item)}",
                                       "give it inbox:, done: and failed:"))
            continue
        folder = _check_mapping(item, _FOLDERS, where, source, base, problems)
        folder["index"] = index
        sets.append(folder)
    inboxes: dict[Path, int] = {}
    for folder in sets:
        where = f"folders[{folder['index']}]"
        inbox = folder["inbox"]
        if inbox is INVALID:
            continue
        if inbox in inboxes:
            problems.append(problem_at(source, f"{where}.inbox",
                                       f"is also the inbox of folders[{inboxes[inbox]}]",
                                       "give each inbox to one folder set only"))
        inboxes.setdefault(inbox, folder["index"])
        for name in ("done", "failed"):
            path = folder[name]
            if path is INVALID:
                continue
            if path == inbox:
                problems.append(problem_at(
                    source, f"{where}.{name}", "is the inbox itself",
                    f"use a folder of its own, such as {inbox.parent / name}"))
            elif folder["recursive"] is True and path.is_relative_to(inbox):
                problems.append(problem_at(source, f"{where}.{name}",
                                           "is inside an inbox that is watched recursively",
                                           "move it out of the inbox, or set recursive: false"))
        if folder["done"] is not INVALID and folder["done"] == folder["failed"] != inbox:
            problems.append(problem_at(source, f"{where}.failed", "is the same folder as done",
                                       "keep failed files apart from uploaded ones"))
    names: dict[str, int] = {}
    for folder in sets:
        name = folder["name"]
        if name is None or name is INVALID:
            continue
        if name.lower() in names:
            problems.append(problem_at(
                source, f"folders[{folder['index']}].name",
                f"is also the name of folders[{names[name.lower()]}]",
                "give each folder set a name of its own (names are not case-sensitive)"))
        names.setdefault(name.lower(), folder["index"])
    _check_status_files(sets, source, problems)
    return sets


_ROLES = ("inbox", "done", "failed")


def _real(path: Path) -> Path:
    """``path`` with every symbolic link resolved (as far as the path exists)."""
    return Path(os.path.realpath(path))


def _resolve_status_file(folder: dict[str, Any]) -> None:
    """Turn ``status_file`` into the page's path (None: no page, default: beside the inbox)."""
    inbox, given = folder["inbox"], folder["status_file"]
    if inbox is INVALID or given is INVALID:
        folder["status_file"] = INVALID
    elif given == STATUS_OFF:
        folder["status_file"] = None
    else:
        folder["status_file"] = default_status_file(inbox) if given is None else given


def _page_inside(folder: dict[str, Any], sets: list[dict[str, Any]]) -> str | None:
    """Why the page of ``folder`` would land in some folder set's inbox, done or failed.

    The page's folder is resolved through symbolic links, and so is each editor folder: a
    page reaching into an inbox through a link is inside it all the same. Every folder set
    counts: a page in another set's inbox is taken for an editor's file there.
    """
    path: Path = folder["status_file"]
    real = _real(path.parent) / path.name
    for other in sets:
        of_other = "" if other is folder else f" of folders[{other['index']}]"
        for role in _ROLES:
            place = other[role]
            if place is INVALID:
                continue
            if path.is_relative_to(place):
                return f"{role} {place}{of_other}"
            if real.is_relative_to(_real(place)):
                return (f"{role} {place}{of_other} (its folder {path.parent} leads there "
                        "through a symbolic link)")
    return None


def _check_status_files(sets: list[dict[str, Any]], source: Path, problems: list[str]) -> None:
    """Resolve each ``status_file`` and keep it out of every folder set's inbox, done and
    failed; two folder sets never share one page (each would overwrite the other's news)."""
    givens = [folder["status_file"] for folder in sets]
    for folder in sets:
        _resolve_status_file(folder)
    pages: dict[Path, int] = {}
    inboxes: set[Path] = set()
    for folder, given in zip(sets, givens, strict=True):
        path = folder["status_file"]
        if path is None or path is INVALID or folder["inbox"] in inboxes:
            continue  # an inbox given twice is a problem of its own already
        inboxes.add(folder["inbox"])
        key = f"folders[{folder['index']}].status_file"
        beside = default_status_file(folder["inbox"])
        inside = _page_inside(folder, sets)
        if inside is not None:
            if given is None:
                problem = f"is not given, and its default {path} would be inside {inside}"
                fix = "set status_file to a path outside inbox, done and failed, or \"\" for none"
            else:
                problem = f"is inside {inside}, where editors' files go"
                fix = f"put it beside the inbox, e.g. {beside}, or write \"\" for none"
            problems.append(problem_at(source, key, problem, fix))
            folder["status_file"] = INVALID
            continue
        real = _real(path.parent) / path.name
        if real in pages:
            fix = (f"give each folder set a page of its own, e.g. {beside}, or write \"\" "
                   "for none")
            problems.append(problem_at(
                source, key, f"is also the status_file of folders[{pages[real]}]: each folder "
                "set would overwrite the other's page", fix))
            folder["status_file"] = INVALID
            continue
        pages[real] = folder["index"]


class Checked(NamedTuple):
    """Checked values by key name (converted, default, or INVALID), section by section."""

    top: dict[str, Any]
    sections: dict[str, dict[str, Any]]  # vod, upload, limits, ...
    folders: list[dict[str, Any]]  # one per folder set, with its "index" in the file


def check_config(data: dict[Any, Any], source: Path, base: Path,
                 problems: list[str]) -> Checked:
    """Check the whole document, adding every problem found to ``problems``.

    ``base`` is the config file's folder: relative paths are taken from there.
    """
    top = _check_mapping(data, "", "", source, base, problems)
    sections = {name: _check_mapping(data.get(name), name, name, source, base, problems)
                for name in _NAMES if name and name != _FOLDERS}
    folders = _check_folders(data.get("folders"), source, base, problems)
    retry = sections["retry"]
    if INVALID not in (retry["base_seconds"], retry["cap_seconds"]) and (
            retry["cap_seconds"] < retry["base_seconds"]):
        problems.append(problem_at(source, "retry.cap_seconds",
                                   "is smaller than retry.base_seconds",
                                   "make the cap at least as long as the first delay"))
    return Checked(top, sections, folders)


def default_of(key: Any, base: Path) -> Any:
    """A key's value when the file does not give it: its default, or what its check makes
    of a default word such as ``auto``."""
    if isinstance(key.default, str) and key.default == "auto":
        return key.check(key.default, base)
    return key.default
