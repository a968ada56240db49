"""The journal's record of moments, pauses, the daemon's heartbeat and small facts:
SQL like the rest of the journal (vodwatch.journal), kept apart from jobs and files."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any


class EventsMixin:
    """Events, pauses, the daemon row and the meta table; the Journal provides
    ``_tx``, ``_query`` and ``_clock``."""

    _clock: Callable[[], float]

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    # ---- share identity and other small facts -----------------------------------------

    def get_meta(self, key: str) -> Any:
        """A value stored with ``set_meta`` (decoded JSON), or None."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        """Remember a small fact (JSON) across restarts."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # ---- events, pauses, daemon ------------------------------------------------------

    def event(self, folder: str, event: str, *, job_id: int | None = None,
              asset_id: str | None = None, file: str | None = None, detail: str = "") -> None:
        """Append an event (outcomes and notable moments) for ``status``."""
        with self._tx() as db:
            db.execute("INSERT INTO events (at, folder, job_id, asset_id, file, event, detail)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (self._clock(), folder, job_id, asset_id, file, event, detail))

    def recent_events(self, events: Sequence[str], limit: int = 10,
                      folder: str | None = None) -> list[dict[str, Any]]:
        """The latest events of the given kinds, newest first."""
        marks = ",".join("?" * len(events))
        sql = f"SELECT * FROM events WHERE event IN ({marks})"
        args: list[Any] = list(events)
        if folder is not None:
            sql += " AND folder = ?"
            args.append(folder)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [dict(r) for r in self._query(sql, args)]

    def count_events(self, event: str, since: float = 0.0) -> int:
        """How many events of a kind happened since a time."""
        rows = self._query("SELECT COUNT(*) FROM events WHERE event = ? AND at >= ?",
                           (event, since))
        return int(rows[0][0])

    def set_pause(self, folder: str, reason: str, detail: str) -> None:
        """Mark a folder set paused (credentials, permission...)."""
        with self._tx() as db:
            db.execute("INSERT INTO pauses VALUES (?, ?, ?, ?) ON CONFLICT(folder) DO UPDATE"
                       " SET reason = excluded.reason, detail = excluded.detail",
                       (folder, reason, detail, self._clock()))

    def clear_pause(self, folder: str) -> None:
        """Lift a folder set's pause."""
        with self._tx() as db:
            db.execute("DELETE FROM pauses WHERE folder = ?", (folder,))

    def pauses(self) -> dict[str, dict[str, Any]]:
        """Paused folder sets: folder -> {reason, detail, since}."""
        return {r["folder"]: dict(r) for r in self._query("SELECT * FROM pauses")}

    def daemon_started(self, pid: int) -> None:
        """Record that a daemon owns this journal now."""
        now = self._clock()
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO daemon (id, pid, started_at, heartbeat, state)"
                       " VALUES (1, ?, ?, ?, 'starting')", (pid, now, now))

    def daemon_heartbeat(self, state: str, snapshot: dict[str, Any]) -> None:
        """Refresh the daemon's liveness and its in-memory view (queue) for ``status``."""
        with self._tx() as db:
            db.execute("UPDATE daemon SET heartbeat = ?, state = ?, snapshot = ? WHERE id = 1",
                       (self._clock(), state, json.dumps(snapshot)))

    def daemon_info(self) -> dict[str, Any] | None:
        """The daemon row, with ``snapshot`` decoded, or None if no daemon ever ran."""
        rows = self._query("SELECT * FROM daemon WHERE id = 1")
        if not rows:
            return None
        info = dict(rows[0])
        info["snapshot"] = json.loads(info["snapshot"] or "{}")
        return info
