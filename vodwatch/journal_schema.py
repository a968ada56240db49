"""The journal's tables (SQLite). Read with vodwatch.journal, the one place that runs SQL."""

from __future__ import annotations

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    folder TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    state TEXT NOT NULL,
    has_video INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL,
    wait_reason TEXT,
    error_code TEXT,
    error_msg TEXT,
    outcome_reason TEXT,
    outcome TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    inbox_path TEXT NOT NULL,
    marker TEXT NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    ctime_ns INTEGER,
    ino INTEGER,
    md5 TEXT,
    upload_url TEXT,
    url_expires REAL,
    bucket TEXT,
    object_key TEXT,
    upload_id TEXT,
    part_size INTEGER,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    upload_started_at REAL,
    progress_at REAL,
    state TEXT NOT NULL DEFAULT 'pending',
    final_path TEXT,
    error TEXT,
    request_id TEXT,
    slot TEXT
);
CREATE INDEX IF NOT EXISTS files_job ON files(job_id);
CREATE TABLE IF NOT EXISTS parts (
    file_id INTEGER NOT NULL REFERENCES files(id),
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (file_id, part_number)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    folder TEXT NOT NULL,
    job_id INTEGER,
    asset_id TEXT,
    file TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
CREATE TABLE IF NOT EXISTS pauses (
    folder TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS daemon (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    state TEXT NOT NULL,
    snapshot TEXT NOT NULL DEFAULT '{}'
);
"""
