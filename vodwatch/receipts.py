"""The record of deliveries kept in done/: one CSV a day per daemon, for editors.

SPEC §3: done/ keeps a record of each delivery that an editor can open. Each daemon
writes ``done/deliveries <YYYY-MM-DD> <label>.csv`` (the local day of the delivery)
and no other daemon touches it, so two daemons on one share never race for a file.

The file is always replaced whole (hidden temp file in done/, fsync, rename), never
appended to: an append is not atomic on NFS, and a reader must never see half a
row. Excel locks a CSV it has open on SMB; the rename then fails (EACCES, EBUSY,
EPERM). Such a record is not lost: it stays *pending*, kept in a JSON-lines file in
the daemon's private state_dir (which survives a restart), and a later
:meth:`DeliveryRecords.flush` writes it. A day's file is rebuilt from the rows
already in it plus the pending ones, so a restart keeps the day's earlier rows and
a row is never written twice.

The CSV is made for a double click in Excel: UTF-8 with a BOM, commas, CRLF line
ends, a header row, quoting by the csv module. Text taken from file names or VOD
has its control characters escaped (:func:`vodwatch.words.printable`) and a value
that a spreadsheet would take for a formula gets a leading apostrophe (CSV
injection).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

from .atomic import replace_file
from .words import printable

__all__ = ["HEADER", "Delivery", "DeliveryRecords", "became", "cell", "csv_name"]

HEADER = ("Time", "File", "Asset ID", "Became", "Size", "MD5", "VOD request ID", "Folder")
# Columns that make a row the same delivery: Time, File, Asset ID, MD5.
_KEY_COLUMNS = (0, 1, 2, 5)
_BOM = "\ufeff"
# A label goes into a file name on an SMB/NFS share read from Windows: plain
# characters, no leading dot (hidden), no trailing dot (Windows drops it).
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9_-])?")
# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV
# injection"); tab and CR are already escaped by printable(). The full-width forms
# are normalised to these by some spreadsheet programs.
_FORMULA_START = tuple("=+-@\uff1d\uff0b\uff0d\uff20")
# Temp files older than this, with our label, were left by a crash: removed.
_STALE_TMP_SECONDS = 3600.0


@dataclass(frozen=True)
class Delivery:
    """One file delivered to VOD, as the record in done/ shows it."""

    at: float  # epoch seconds
    file: str  # the name it has in done/
    original: str  # the name it was dropped under
    asset_id: str
    became: str  # e.g. "video", "cover", "subtitle 1 (EN)"
    size: int
    md5_hex: str
    request_id: str
    folder: str


def became(kind: str, subtitle_id: int | None, language: str | None) -> str:
    """What the file became in its asset: ``video``, ``cover``, ``subtitle 1 (EN)``."""
    text = str(kind)
    if subtitle_id is not None:
        text += f" {subtitle_id}"
    if language:
        text += f" ({language})"
    return text


def cell(value: str) -> str:
    """``value`` safe for a spreadsheet cell: controls escaped, no formula."""
    shown = printable(value)
    if shown.lstrip(" ").startswith(_FORMULA_START):
        return "'" + shown
    return shown


def csv_name(day: date, label: str) -> str:
    """The name of the day's record for the daemon ``label``."""
    return f"deliveries {day.isoformat()} {label}.csv"


def _tmp_prefix(label: str) -> str:
    # "~" is never in a label: one daemon's prefix is not the start of another's.
    return f".deliveries-{label}~"


def _moment(at: float, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(at, UTC).astimezone(tz)  # tz None: local time (TZ)


def _local_time(moment: datetime) -> str:
    zone = moment.strftime("%Z") or moment.strftime("%z")
    return f"{moment.strftime('%Y-%m-%d %H:%M:%S')} {zone}".rstrip()


def _row(delivery: Delivery, tz: tzinfo | None) -> list[str]:
    return [
        _local_time(_moment(delivery.at, tz)),
        cell(delivery.file),
        cell(delivery.asset_id),
        cell(delivery.became),
        str(int(delivery.size)),
        cell(delivery.md5_hex.lower()),
        cell(delivery.request_id),
        cell(delivery.folder),
    ]


def _key(row: list[str]) -> tuple[str, ...]:
    return tuple(row[i] for i in _KEY_COLUMNS)


def _render(rows: Iterable[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, dialect="excel", lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    # surrogateescape: a row someone else put in the file, in another encoding,
    # goes back byte for byte.
    return (_BOM + out.getvalue()).encode("utf-8", "surrogateescape")


def _parse(data: bytes) -> list[list[str]]:
    """The rows of a day's file, header left out; rows we do not know are kept as is."""
    text = data.decode("utf-8", "surrogateescape").removeprefix(_BOM)
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    if rows and tuple(rows[0]) == HEADER:
        rows = rows[1:]
    return rows


def _describe(exc: OSError, path: Path) -> str:
    reason = exc.strerror or exc.__class__.__name__
    return f"cannot write the delivery record {printable(path.name)!r}: {reason}"


def _write_atomically(path: Path, data: bytes, *, prefix: str, mode: int) -> None:
    """Replace ``path`` with ``data`` atomically, the folder flushed too (vodwatch.atomic)."""
    del prefix  # the temporary name is unique without it
    replace_file(path, data, mode=mode, sync_folder=True)


def _to_json(delivery: Delivery) -> str:
    return json.dumps(asdict(delivery), ensure_ascii=True)  # lone surrogates survive


def _from_json(line: str) -> Delivery | None:
    try:
        data: Any = json.loads(line)
        values = {f.name: data[f.name] for f in fields(Delivery)}
        values["at"] = float(values["at"])
        _moment(values["at"], UTC)  # a time that has no date is refused here
        values["size"] = int(values["size"])
        for name in ("file", "original", "asset_id", "became", "md5_hex", "request_id",
                     "folder"):
            if not isinstance(values[name], str):
                return None
        return Delivery(**values)
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        return None


class DeliveryRecords:
    """This daemon's delivery records in one done/ folder, with those not yet written.

    Thread-safe. :meth:`record` and :meth:`flush` never raise :class:`OSError` and
    never retry: what cannot be written now stays pending (also on disk, in
    ``pending_file``) until a later :meth:`flush`. ``last_error`` says why, in one
    sentence, or is None when the last attempt worked.
    """

    def __init__(self, done: Path, label: str, pending_file: Path, *,
                 tz: tzinfo | None = None) -> None:
        """Records in ``done`` for the daemon ``label``; ``tz`` (default: local) sets the days.

        pending_file lives in the daemon's private state_dir: deliveries not yet
        written survive a restart. Raises ValueError for a label unfit for a file name.
        """
        if not _LABEL.fullmatch(label):
            raise ValueError(f"a delivery record label is 1 to 64 letters, digits, '.', "
                             f"'_' or '-', not starting or ending with '.': {label!r}")
        self.done = done
        self.label = label
        self.pending_file = pending_file
        self.tz = tz
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._pending: list[Delivery] = []
        self._loaded = False  # pending_file read (or absent); never overwritten before
        self._pending_saved = True  # pending_file matches self._pending
        self._on_disk = True  # pending_file may hold deliveries
        self._swept = False
        with self._lock:
            self.last_error = self._load()

    @property
    def pending(self) -> int:
        """How many deliveries are not on the share yet."""
        # No lock: a status page asking must not wait behind a write to a hung share.
        return len(self._pending)

    def path_for(self, at: float) -> Path:
        """The day's file in done/ that holds a delivery made at ``at``."""
        return self.done / csv_name(_moment(at, self.tz).date(), self.label)

    def record(self, delivery: Delivery, *, write_now: bool = True) -> bool:
        """Add a delivery; try to write the day's file now (unless ``write_now`` is False:
        the next flush writes it with the others). True if it is on the share now.

        Never raises OSError and never blocks long (no retry loop inside): a record
        that cannot be written stays pending (persisted in pending_file as JSON lines,
        atomically rewritten) and is written by a later flush(). A delivery whose time
        has no date raises ValueError at once rather than stay pending for ever.
        """
        try:
            self.path_for(delivery.at)
        except (ValueError, OverflowError, OSError) as exc:
            raise ValueError(f"a delivery at {delivery.at!r} has no date") from exc
        with self._lock:
            self._pending.append(delivery)
            self._pending_saved = False
            if write_now:
                self._attempt()
            else:  # kept in state_dir at once: a crash before the next flush loses nothing
                self.last_error = (None if self._loaded else self._load()) or self._save()
            return not any(d is delivery for d in self._pending)

    def flush(self) -> bool:
        """Try to write every pending record; True when nothing is pending.

        The daemon calls this every few seconds; with nothing pending it does no I/O.
        """
        with self._lock:
            self._attempt()
            return not self._pending and self._loaded

    # -- inside the lock ---------------------------------------------------------

    def _attempt(self) -> None:
        """Read pending_file if not yet done, write the pending rows, keep the rest."""
        errors = [
            None if self._loaded else self._load(),
            self._write_pending_rows() if self._pending else None,
            self._save(),
        ]
        self.last_error = "; ".join(e for e in errors if e) or None

    def _load(self) -> str | None:
        """Add the deliveries kept in pending_file to those pending in memory; or why not."""
        try:
            text = self.pending_file.read_text("utf-8", "replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            return (f"cannot read the pending delivery records "
                    f"{str(self.pending_file)!r}: {exc.strerror or exc}")
        stored = [d for d in map(_from_json, text.splitlines()) if d is not None]
        self._on_disk = bool(text)
        fresh = [d for d in self._pending if d not in stored]
        self._pending = stored + fresh
        self._pending_saved = not fresh
        self._loaded = True
        return None

    def _save(self) -> str | None:
        """Make pending_file hold what is pending, when it does not already; or why not."""
        if self._pending_saved or not self._loaded:  # never drop records not read yet
            return None
        try:
            if self._pending:
                self._on_disk = True
                data = "".join(_to_json(d) + "\n" for d in self._pending).encode("ascii")
                _write_atomically(self.pending_file, data,
                                  prefix=f".{self.pending_file.name}-", mode=0o600)
            elif self._on_disk:
                with contextlib.suppress(FileNotFoundError):
                    self.pending_file.unlink()
                self._on_disk = False
        except OSError as exc:
            return (f"cannot keep the pending delivery records in "
                    f"{str(self.pending_file)!r}: {exc.strerror or exc}")
        self._pending_saved = True
        return None

    def _write_pending_rows(self) -> str | None:
        """Write each day that has pending deliveries, which then leave the list; or why not."""
        days: dict[Path, list[Delivery]] = {}
        for delivery in self._pending:
            days.setdefault(self.path_for(delivery.at), []).append(delivery)
        error: str | None = None
        for path, deliveries in days.items():
            try:
                self._write_day(path, deliveries)
            except OSError as exc:
                error = _describe(exc, path)
                continue
            written = set(map(id, deliveries))
            self._pending = [d for d in self._pending if id(d) not in written]
            self._pending_saved = False
        if error is None:
            self._sweep()
        return error

    def _write_day(self, path: Path, deliveries: list[Delivery]) -> None:
        try:
            rows = _parse(path.read_bytes())
        except FileNotFoundError:
            if not self.done.is_dir():  # share not mounted, folder gone: wait
                raise
            rows = []
        seen = {_key(row) for row in rows if len(row) == len(HEADER)}
        added = False
        for delivery in deliveries:
            row = _row(delivery, self.tz)
            key = _key(row)
            if key in seen:
                continue
            seen.add(key)
            rows.append(row)
            added = True
        if added:
            _write_atomically(path, _render(rows), prefix=_tmp_prefix(self.label),
                              mode=0o644)  # editors on the share read it

    def _sweep(self) -> None:
        """Once, remove our own temp files that a crash left in done/ (best effort)."""
        if self._swept:
            return
        self._swept = True
        prefix = _tmp_prefix(self.label)
        now = time.time()
        with contextlib.suppress(OSError), os.scandir(self.done) as entries:
            for entry in entries:
                if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > _STALE_TMP_SECONDS:
                        os.unlink(entry.path)
