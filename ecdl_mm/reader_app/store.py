# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The reads of one study in one SQLite file (WAL mode).

Every answer is one transaction, committed before the reader sees the next
lesion; ``UNIQUE(reader_id, session, lesion_id, phase)`` makes a repeated
submit (double click, resent form, retry after a timeout) a no-op that keeps
the first answer. ``synchronous=FULL``: a committed read survives the server
being killed (and, with WAL, a power cut).
"""
import contextlib
import csv
import io
import os
import os.path as osp
import queue
import secrets
import sqlite3
import time
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

from .study import Study, StudyError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reads (
    reader_id TEXT NOT NULL, session TEXT NOT NULL, lesion_id TEXT NOT NULL,
    phase TEXT NOT NULL, diagnosis TEXT NOT NULL, confidence INTEGER NOT NULL,
    shown_at REAL, answered_at REAL NOT NULL, time_spent_s REAL,
    UNIQUE (reader_id, session, lesion_id, phase));
CREATE TABLE IF NOT EXISTS views (
    reader_id TEXT NOT NULL, session TEXT NOT NULL, lesion_id TEXT NOT NULL,
    phase TEXT NOT NULL, first_shown REAL NOT NULL,
    UNIQUE (reader_id, session, lesion_id, phase));
CREATE TABLE IF NOT EXISTS washout_overrides (
    reader_id TEXT NOT NULL, session TEXT NOT NULL, at REAL NOT NULL,
    reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    at REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
"""

#: Columns of the exported ``readers.csv`` (``reader_study.load_readers``).
EXPORT_COLUMNS = ('reader_id', 'group', 'session', 'lesion_id', 'diagnosis',
                  'confidence')


class ReadStore:
    """The reads database of a study.

    Args:
        study (Study): The study; its ``db_path`` is created when absent.
            An existing database made for other lesions, readers or design
            is refused (its reads would no longer mean the same).
    """

    def __init__(self, study: Study):
        self.study = study
        self.path = study.db_path
        self._pool = queue.LifoQueue()
        os.makedirs(osp.dirname(self.path) or '.', exist_ok=True)
        with self._connect() as conn:
            conn.execute('PRAGMA journal_mode=WAL')
            conn.executescript(SCHEMA)
        fp = study.fingerprint()
        self._meta_default('fingerprint', fp)
        if self.meta('fingerprint') != fp:
            raise StudyError(
                f'{self.path} holds the reads of another study (other '
                f'lesions or design than {study.path}); give the '
                'study a new db file instead of changing it under its reads')
        self.salt = self._meta_default('salt', secrets.token_hex(32))
        self.app_key = self._meta_default('app_key', secrets.token_hex(32))
        self._meta_default('created', repr(time.time()))

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=30,
            isolation_level=None,
            check_same_thread=False)
        conn.execute('PRAGMA synchronous=FULL')
        conn.execute('PRAGMA busy_timeout=30000')
        return conn

    @contextlib.contextmanager
    def _conn(self):
        """A pooled connection (the server runs each request in a new
        thread; a connection is used by one thread at a time)."""
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        else:
            self._pool.put(conn)

    def _query(self, sql: str, args: tuple = ()) -> List[tuple]:
        with self._conn() as conn:
            return conn.execute(sql, args).fetchall()

    def _write(self, sql: str, args: tuple = ()) -> int:
        """One statement in one committed transaction; the rows changed."""
        with self._conn() as conn:
            conn.execute('BEGIN IMMEDIATE')
            try:
                n = conn.execute(sql, args).rowcount
            except BaseException:
                conn.execute('ROLLBACK')
                raise
            conn.execute('COMMIT')
            return n

    def _meta_default(self, key: str, value: str) -> str:
        self._write('INSERT OR IGNORE INTO meta VALUES (?, ?)', (key, value))
        return self.meta(key)

    def meta(self, key: str) -> Optional[str]:
        rows = self._query('SELECT value FROM meta WHERE key = ?', (key, ))
        return rows[0][0] if rows else None

    # ---------------------------------------------------------------- reads
    def record(self, reader_id: str, session: str, lesion_id: str, phase: str,
               diagnosis: str, confidence: int) -> bool:
        """Commit one answer; False when that read already exists (the
        first answer is kept)."""
        now = time.time()
        shown = self._query(
            'SELECT first_shown FROM views WHERE reader_id = ? AND '
            'session = ? AND lesion_id = ? AND phase = ?',
            (reader_id, session, lesion_id, phase))
        shown_at = shown[0][0] if shown else None
        spent = None if shown_at is None else max(0.0, now - shown_at)
        return self._write(
            'INSERT OR IGNORE INTO reads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
            (reader_id, session, lesion_id, phase, diagnosis, int(confidence),
             shown_at, now, spent)) == 1

    def shown(self, reader_id: str, session: str, lesion_id: str, phase: str):
        """Note when a lesion was first shown (the time spent counts from
        there, across reloads, zooms and a stop and resume)."""
        key = (reader_id, session, lesion_id, phase)
        if not self._query(
                'SELECT 1 FROM views WHERE reader_id = ? AND session = ? '
                'AND lesion_id = ? AND phase = ?', key):
            self._write('INSERT OR IGNORE INTO views VALUES (?, ?, ?, ?, ?)',
                        key + (time.time(), ))

    def answers(self, reader_id: str,
                session: str) -> Dict[Tuple[str, str], Tuple[str, int]]:
        """``(lesion_id, phase) -> (diagnosis, confidence)``."""
        rows = self._query(
            'SELECT lesion_id, phase, diagnosis, confidence FROM reads '
            'WHERE reader_id = ? AND session = ?', (reader_id, session))
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def last_answer_time(self, reader_id: str,
                         session: str) -> Optional[float]:
        rows = self._query(
            'SELECT MAX(answered_at) FROM reads WHERE reader_id = ? AND '
            'session = ?', (reader_id, session))
        return rows[0][0]

    def all_reads(self) -> List[tuple]:
        """Every read: ``(reader_id, session, lesion_id, phase, diagnosis,
        confidence, shown_at, answered_at, time_spent_s)``."""
        return self._query('SELECT * FROM reads')

    def count_reads(self, reader_id: str, session: str) -> int:
        """Lesions with a complete read (the final phase) in ``session``."""
        return self._query(
            "SELECT COUNT(*) FROM reads WHERE reader_id = ? AND session = ? "
            "AND phase = 'final'", (reader_id, session))[0][0]

    # ------------------------------------------------------------- wash-out
    def override(self, reader_id: str, session: str, reason: str):
        self._write('INSERT INTO washout_overrides VALUES (?, ?, ?, ?)',
                    (reader_id, session, time.time(), reason))

    def overrides(self) -> List[tuple]:
        return self._query('SELECT * FROM washout_overrides ORDER BY at')

    def has_override(self, reader_id: str, session: str) -> bool:
        return bool(
            self._query(
                'SELECT 1 FROM washout_overrides WHERE reader_id = ? AND '
                'session = ?', (reader_id, session)))

    # --------------------------------------------------------------- events
    def event(self, kind: str, detail: str):
        self._write('INSERT INTO events VALUES (?, ?, ?)',
                    (time.time(), kind, detail))

    def events(self) -> List[tuple]:
        return self._query('SELECT * FROM events ORDER BY rowid')

    # --------------------------------------------------------------- export
    def export_rows(self) -> List[dict]:
        """The reads as ``readers.csv`` rows: readers in study order, then
        sessions, then lesions in the study's (the model file's) order."""
        study = self.study
        by_key = {(r[0], r[1], r[2], r[3]): r for r in self.all_reads()}
        rows = []
        for reader in study.readers:
            for session in study.sessions:
                for phase in study.phases(session):
                    for les in study.lesions:
                        r = by_key.get(
                            (reader.reader_id, session, les.lesion_id, phase))
                        if r is None:
                            continue
                        rows.append(
                            dict(
                                reader_id=reader.reader_id,
                                group=reader.group,
                                session=study.export_session(session, phase),
                                lesion_id=les.lesion_id,
                                diagnosis=r[4],
                                confidence=r[5],
                                time_spent_s=r[8],
                                answered_at=r[7]))
        return rows

    def export_csv(self, path: Optional[str] = None) -> str:
        """``readers.csv`` text (the columns of :data:`EXPORT_COLUMNS`),
        written to ``path`` when given; the reading times go beside it in
        ``<stem>_times.csv`` and the wash-out overrides (UTC time, reason)
        in ``<stem>_washout_overrides.csv``."""
        rows = self.export_rows()
        text = _csv(rows, EXPORT_COLUMNS)
        if path:
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w', newline='', encoding='utf-8') as f:
                f.write(text)
            times = osp.splitext(path)[0] + '_times.csv'
            with open(times, 'w', newline='', encoding='utf-8') as f:
                f.write(
                    _csv(rows, ('reader_id', 'session', 'lesion_id',
                                'time_spent_s', 'answered_at')))
            overrides = [
                dict(
                    reader_id=o[0],
                    session=o[1],
                    at_utc=datetime.fromtimestamp(o[2],
                                                  timezone.utc).isoformat(),
                    reason=o[3]) for o in self.overrides()
            ]
            with open(
                    osp.splitext(path)[0] + '_washout_overrides.csv',
                    'w',
                    newline='',
                    encoding='utf-8') as f:
                f.write(
                    _csv(overrides,
                         ('reader_id', 'session', 'at_utc', 'reason')))
        return text


def _csv(rows: List[dict], columns) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf,
        fieldnames=list(columns),
        extrasaction='ignore',
        lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
