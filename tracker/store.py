"""The session store: every session's samples, markers and analysis in one SQLite file.

Usage::

    with SessionStore.open(path) as store:
        sid = store.create_session("seated-ir", Side.LEFT, "live", 100.0, sensors_info)
        store.add_samples(sid, batch); store.commit()
        ...
        store.finish_session(sid)

The file runs in WAL mode (a report or `hiptrack sessions` can read while a live session writes) with
foreign keys on. Its schema version is `PRAGMA user_version`; `MIGRATIONS[i]` takes a file from
version i to i + 1 and opening a file applies whatever it still lacks, each step in one transaction.
`PRAGMA application_id` marks the file as a hiptrack store, so another program's database is refused.

Transactions: `add_samples` and `add_marker` leave their rows in an open transaction that `commit()`
(or leaving the `with` block, even through an exception) makes durable, so a live session can commit
once a second. Every other writing method commits its own work atomically (and first commits what
was pending).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np

from imu_core.frames import Segment, Side
from imu_core.types import ImuSample, Marker, Recording, SensorStream
from tracker.analysis import AnalysisResult, Compensation, Hold, Rep
from tracker.errors import StoreError, UnknownSessionError
from tracker.paths import default_store_path

APPLICATION_ID = 0x48495054  # "HIPT"
SOURCES = ("demo", "import", "live")
STATUSES = ("recording", "complete", "interrupted")

_V1 = (
    f"PRAGMA application_id = {APPLICATION_ID}",
    """CREATE TABLE sessions (
        id             INTEGER PRIMARY KEY,
        created_at     TEXT NOT NULL,                -- ISO 8601, UTC
        ended_at       TEXT,                         -- ISO 8601, UTC; NULL while recording
        exercise       TEXT NOT NULL,
        side           TEXT NOT NULL CHECK (side IN ('left', 'right')),
        source         TEXT NOT NULL CHECK (source IN ('demo', 'import', 'live')),
        status         TEXT NOT NULL CHECK (status IN ('recording', 'complete', 'interrupted')),
        sample_rate_hz REAL NOT NULL,
        meta_json      TEXT NOT NULL DEFAULT '{}',   -- {"sensors": {...}, "extra": {...}}
        n_samples      INTEGER NOT NULL DEFAULT 0,   -- kept up to date by add_samples
        t_first        REAL,                         -- earliest sample time, s
        t_last         REAL,                         -- latest sample time, s
        analyzed_at    TEXT,                         -- NULL until save_analysis
        max_ir_deg     REAL
    )""",
    """CREATE TABLE samples (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        sensor     TEXT NOT NULL CHECK (sensor IN ('thigh', 'shin', 'pelvis')),
        t  REAL NOT NULL,
        ax REAL NOT NULL, ay REAL NOT NULL, az REAL NOT NULL,
        gx REAL NOT NULL, gy REAL NOT NULL, gz REAL NOT NULL,
        mx REAL, my REAL, mz REAL
    )""",
    "CREATE INDEX samples_by_session ON samples(session_id, sensor, t)",
    """CREATE TABLE markers (
        id         INTEGER PRIMARY KEY,              -- keeps the order markers were added in
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t          REAL NOT NULL,
        label      TEXT NOT NULL
    )""",
    "CREATE INDEX markers_by_session ON markers(session_id)",
    """CREATE TABLE reps (
        session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        rep_no      INTEGER NOT NULL,                -- 1-based
        t_start     REAL NOT NULL,
        t_peak      REAL NOT NULL,
        t_end       REAL NOT NULL,
        peak_ir_deg REAL,
        hold_s      REAL NOT NULL,
        PRIMARY KEY (session_id, rep_no)
    )""",
    """CREATE TABLE holds (
        session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        hold_no     INTEGER NOT NULL,                -- 1-based, time order
        t_start     REAL NOT NULL,
        t_end       REAL NOT NULL,
        mean_ir_deg REAL,
        PRIMARY KEY (session_id, hold_no)
    )""",
    """CREATE TABLE compensations (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        comp_no    INTEGER NOT NULL,                 -- 1-based, order of the analysis result
        kind       TEXT NOT NULL,
        t_start    REAL NOT NULL,
        t_end      REAL NOT NULL,
        rep_no     INTEGER,                          -- the rep it belongs to, NULL if none
        PRIMARY KEY (session_id, comp_no)
    )""",
)

_V2 = (
    """CREATE TABLE gaps (
        session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        sensor       TEXT NOT NULL CHECK (sensor IN ('thigh', 'shin', 'pelvis')),
        t_start      REAL NOT NULL,   -- host time of the last sample before the gap, s
        t_end        REAL NOT NULL,   -- host time of the first sample after it, s
        samples_lost INTEGER NOT NULL,
        reason       TEXT NOT NULL    -- packet_loss | disconnect
    )""",
    "CREATE INDEX gaps_by_session ON gaps (session_id, t_start)",
)
"""Version 2: samples a sensor did not deliver, marked rather than interpolated."""

_V3 = (
    """CREATE TABLE pain_ratings (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        set_no     INTEGER NOT NULL,                 -- 1-based
        pain       INTEGER NOT NULL CHECK (pain BETWEEN 0 AND 10),  -- as the person reported it
        t          REAL,                             -- session time when it was given, s
        PRIMARY KEY (session_id, set_no)
    )""",
    "ALTER TABLE sessions ADD COLUMN details_json TEXT",  # the exercise engine's details (sets, tempo...)
)
"""Version 3: pain after each set, and the analysis details the interchange format leaves out."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
"""MIGRATIONS[i] holds the statements that take a store from schema version i to i + 1."""
SCHEMA_VERSION = len(MIGRATIONS)

_OPEN_ADVICE = ("Check the path and its permissions, or choose another store with --store or the "
                "HIPTRACK_STORE environment variable.")


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One line of the session list."""

    id: int
    created_at: datetime
    """UTC, timezone-aware."""
    exercise: str
    side: Side
    source: str
    """demo | import | live"""
    status: str
    """recording | complete | interrupted"""
    n_samples: int
    """All sensors together."""
    duration_s: float
    """Latest minus earliest sample time (0 without samples)."""
    n_reps: int
    max_ir_deg: float | None
    """From the saved analysis; None before one is saved or when it had no value."""
    ended_at: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime | None) -> str:
    dt = _now() if dt is None else dt
    if dt.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _float_or_nan(x: Any) -> float:
    return math.nan if x is None else float(x)


class SessionStore:
    """A connection to one store file. Open it with `SessionStore.open(path)`, use it with `with`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._closed = False
        self.path = path

    # ----------------------------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, path: Path | str | None = None) -> SessionStore:
        """Open (or create) the store at `path` (default: `default_store_path()`), migrating it."""
        p = default_store_path() if path is None else Path(path).expanduser()
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder {p.parent} for the session store "
                             f"({e.strerror or e}).", _OPEN_ADVICE) from e
        if p.is_dir():
            raise StoreError(f"the session store path {p} is a folder, not a file.", _OPEN_ADVICE)
        try:
            conn = sqlite3.connect(p, isolation_level=None, timeout=10.0)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the session store {p} ({e}).", _OPEN_ADVICE) from e
        try:
            _prepare(conn, p)
        except BaseException:
            conn.close()
            raise
        return cls(conn, p)

    def close(self) -> None:
        """Commit what is pending and close the file (a second call does nothing)."""
        if self._closed:
            return
        try:
            self.commit()
        finally:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Pending samples are kept even when the block fails: a crashed live session keeps its data.
        self.close()

    def commit(self) -> None:
        """Make the rows added by `add_samples`/`add_marker` durable."""
        with self._errors("committing"):
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # ------------------------------------------------------------------------------------ writing

    def create_session(self, exercise: str, side: Side, source: str, sample_rate_hz: float,
                       sensors_info: dict[str, Any], extra_meta: dict[str, Any] | None = None, *,
                       created_at: datetime | None = None) -> int:
        """A new session in status 'recording'; returns its id (committed at once)."""
        with self._atomic("creating a session"):
            return self._insert_session(exercise, side, source, "recording", sample_rate_hz,
                                        sensors_info, extra_meta or {}, created_at, None)

    def add_samples(self, session_id: int, samples: Sequence[ImuSample]) -> None:
        """Append samples (any sensors, any order). Call `commit()` to make them durable."""
        if not samples:
            return
        rows = [(session_id, Segment(s.sensor).value, s.t, *s.acc, *s.gyr,
                 *(s.mag if s.mag is not None else (None, None, None))) for s in samples]
        if not all(math.isfinite(v) for row in rows for v in row[2:] if v is not None):
            raise ValueError("samples must hold finite numbers (drop a bad sample instead)")
        times = [s.t for s in samples]
        with self._errors("saving samples"):
            self._require_session(session_id)
            self._begin_if_needed()
            with self._savepoint():
                self._insert_sample_rows(session_id, rows, min(times), max(times), len(rows))

    def add_marker(self, session_id: int, marker: Marker) -> None:
        """Append a marker. Call `commit()` to make it durable."""
        with self._errors("saving a marker"):
            self._require_session(session_id)
            self._begin_if_needed()
            self._conn.execute("INSERT INTO markers (session_id, t, label) VALUES (?, ?, ?)",
                               (session_id, float(marker.t), str(marker.label)))

    def add_gap(self, session_id: int, sensor: Segment, t_start: float, t_end: float, samples_lost: int,
                reason: str) -> None:
        """Mark samples a sensor did not deliver. Call `commit()` to make it durable."""
        with self._errors("saving a gap"):
            self._require_session(session_id)
            self._begin_if_needed()
            self._conn.execute(
                "INSERT INTO gaps (session_id, sensor, t_start, t_end, samples_lost, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, Segment(sensor).value, float(t_start), float(t_end), int(samples_lost), str(reason)))

    def load_gaps(self, session_id: int) -> list[tuple[str, float, float, int, str]]:
        """(sensor, t_start, t_end, samples_lost, reason) of every marked gap, in time order."""
        with self._errors("reading gaps"):
            self._require_session(session_id)
            rows = self._conn.execute(
                "SELECT sensor, t_start, t_end, samples_lost, reason FROM gaps WHERE session_id = ? ORDER BY t_start",
                (session_id,)).fetchall()
        return [(str(r[0]), float(r[1]), float(r[2]), int(r[3]), str(r[4])) for r in rows]

    def finish_session(self, session_id: int, status: str = "complete") -> None:
        """Close a session as 'complete' or 'interrupted' (commits)."""
        if status not in ("complete", "interrupted"):
            raise ValueError(f"status must be 'complete' or 'interrupted', not {status!r}")
        with self._atomic("finishing the session"):
            self._require_session(session_id)
            self._conn.execute("UPDATE sessions SET status = ?, ended_at = ? WHERE id = ?",
                               (status, _iso(None), session_id))

    def save_analysis(self, session_id: int, result: AnalysisResult) -> None:
        """Store an analysis, replacing the session's earlier one (commits)."""
        with self._atomic("saving the analysis"):
            self._require_session(session_id)
            c = self._conn
            for table in ("reps", "holds", "compensations"):
                c.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            c.executemany(
                "INSERT INTO reps VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(session_id, i, r.start, r.peak, r.end, r.peak_ir_deg, r.hold_s)
                 for i, r in enumerate(result.reps, start=1)])
            c.executemany(
                "INSERT INTO holds VALUES (?, ?, ?, ?, ?)",
                [(session_id, i, h.start, h.end, h.mean_ir_deg) for i, h in enumerate(result.holds, start=1)])
            c.executemany(
                "INSERT INTO compensations VALUES (?, ?, ?, ?, ?, ?)",
                [(session_id, i, x.kind, x.start, x.end, x.rep)
                 for i, x in enumerate(result.compensations, start=1)])
            mx = float(result.max_ir_deg)
            c.execute("UPDATE sessions SET max_ir_deg = ?, analyzed_at = ? WHERE id = ?",
                      (mx if math.isfinite(mx) else None, _iso(None), session_id))

    def add_pain(self, session_id: int, set_no: int, pain: int, t: float | None = None) -> None:
        """Record the pain the person reported after a set (0-10), replacing an earlier answer."""
        if not 0 <= int(pain) <= 10:
            raise StoreError(f"a pain rating is 0 to 10, not {pain}.", "Ask again for a number from 0 to 10.")
        with self._errors("recording a pain rating"):
            self._require_session(session_id)
            self._begin_if_needed()
            self._conn.execute("INSERT OR REPLACE INTO pain_ratings VALUES (?, ?, ?, ?)",
                               (session_id, int(set_no), int(pain), t))

    def load_pain(self, session_id: int) -> dict[int, int]:
        """Set number -> reported pain."""
        with self._errors("reading pain ratings"):
            rows = self._conn.execute("SELECT set_no, pain FROM pain_ratings WHERE session_id = ? ORDER BY set_no",
                                      (session_id,)).fetchall()
        return {int(a): int(b) for a, b in rows}

    def save_details(self, session_id: int, details: dict[str, Any]) -> None:
        """Keep the exercise engine's details (tracker.engine.ExerciseEngine.details) with the session."""
        with self._errors("saving the analysis details"):
            self._require_session(session_id)
            self._begin_if_needed()
            self._conn.execute("UPDATE sessions SET details_json = ? WHERE id = ?",
                               (json.dumps(details), session_id))

    def load_details(self, session_id: int) -> dict[str, Any] | None:
        with self._errors("reading the analysis details"):
            self._require_session(session_id)
            row = self._conn.execute("SELECT details_json FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        out: dict[str, Any] = json.loads(row[0])
        return out

    def store_recording(self, rec: Recording, source: str, *, created_at: datetime | None = None) -> int:
        """Store a whole recording as a 'complete' session in one transaction; returns its id."""
        streams = []
        for seg, s in rec.streams.items():
            n = len(s)
            if np.shape(s.acc) != (n, 3) or np.shape(s.gyr) != (n, 3) or \
                    (s.mag is not None and np.shape(s.mag) != (n, 3)):
                raise ValueError(f"the {seg} stream's arrays do not have N, (N,3), (N,3) shapes")
            arrays = [s.t, s.acc, s.gyr] + ([] if s.mag is None else [s.mag])
            if not all(bool(np.isfinite(a).all()) for a in arrays):
                raise ValueError(f"the {seg} stream holds nan or inf values")
            streams.append((Segment(seg).value, s))
        with self._atomic("storing the recording"):
            now = _now()
            sid = self._insert_session(rec.exercise, rec.side, source, "complete", rec.sample_rate_hz,
                                       rec.sensors_info, rec.extra_meta, created_at or now, _iso(now))
            for name, s in streams:
                if len(s) == 0:
                    continue
                mag: Iterator[Sequence[float | None]] = (
                    iter(np.asarray(s.mag, dtype=np.float64).tolist()) if s.mag is not None
                    else iter([(None, None, None)] * len(s)))
                t = np.asarray(s.t, dtype=np.float64)
                rows = ((sid, name, ti, *a, *g, *m) for ti, a, g, m in zip(
                    t.tolist(), np.asarray(s.acc, dtype=np.float64).tolist(),
                    np.asarray(s.gyr, dtype=np.float64).tolist(), mag, strict=True))
                self._insert_sample_rows(sid, rows, float(t.min()), float(t.max()), len(s))
            self._conn.executemany("INSERT INTO markers (session_id, t, label) VALUES (?, ?, ?)",
                                   [(sid, float(m.t), m.label) for m in rec.markers])
            return sid

    def delete_session(self, session_id: int) -> None:
        """Remove a session and everything recorded for it (commits)."""
        with self._atomic("deleting the session"):
            self._require_session(session_id)
            self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    # ------------------------------------------------------------------------------------ reading

    def list_sessions(self) -> list[SessionInfo]:
        """Every session, oldest first (newest last)."""
        with self._errors("listing sessions"):
            rows = self._conn.execute(_INFO_SQL + " ORDER BY s.created_at, s.id").fetchall()
        return [_info(r) for r in rows]

    def get_session(self, session_id: int) -> SessionInfo:
        """One session's summary; `UnknownSessionError` if there is no such id."""
        with self._errors("reading the session"):
            row = self._conn.execute(_INFO_SQL + " WHERE s.id = ?", (session_id,)).fetchone()
        if row is None:
            raise UnknownSessionError(str(session_id))
        return _info(row)

    def load_recording(self, session_id: int) -> Recording:
        """The session's samples (per sensor, time order), markers and metadata as a `Recording`.

        A sensor whose samples do not all carry magnetometer values gets `mag=None`.
        """
        with self._errors("loading the session"):
            head = self._conn.execute(
                "SELECT exercise, side, sample_rate_hz, meta_json FROM sessions WHERE id = ?",
                (session_id,)).fetchone()
            if head is None:
                raise UnknownSessionError(str(session_id))
            streams: dict[Segment, SensorStream] = {}
            for seg in Segment:
                rows = self._conn.execute(
                    "SELECT t, ax, ay, az, gx, gy, gz, mx, my, mz FROM samples "
                    "WHERE session_id = ? AND sensor = ? ORDER BY t, rowid", (session_id, seg.value)
                ).fetchall()
                if rows:
                    a = np.array(rows, dtype=np.float64)
                    mag = a[:, 7:10]
                    streams[seg] = SensorStream(
                        a[:, 0].copy(), a[:, 1:4].copy(), a[:, 4:7].copy(),
                        mag.copy() if bool(np.isfinite(mag).all()) else None)
            markers = [Marker(float(t), str(label)) for t, label in self._conn.execute(
                "SELECT t, label FROM markers WHERE session_id = ? ORDER BY id", (session_id,))]
        exercise, side, rate, meta_json = head
        meta = json.loads(meta_json)
        return Recording(side=Side(side), exercise=str(exercise), streams=streams, markers=markers,
                         sample_rate_hz=float(rate), sensors_info=dict(meta.get("sensors", {})),
                         extra_meta=dict(meta.get("extra", {})))

    def load_analysis(self, session_id: int) -> AnalysisResult | None:
        """The saved analysis, or None if none was saved."""
        with self._errors("loading the analysis"):
            head = self._conn.execute(
                "SELECT exercise, side, analyzed_at, max_ir_deg FROM sessions WHERE id = ?",
                (session_id,)).fetchone()
            if head is None:
                raise UnknownSessionError(str(session_id))
            exercise, side, analyzed_at, max_ir = head
            if analyzed_at is None:
                return None
            c = self._conn
            reps = [Rep(*(_float_or_nan(v) for v in r)) for r in c.execute(
                "SELECT t_start, t_peak, t_end, peak_ir_deg, hold_s FROM reps WHERE session_id = ? "
                "ORDER BY rep_no", (session_id,))]
            holds = [Hold(*(_float_or_nan(v) for v in r)) for r in c.execute(
                "SELECT t_start, t_end, mean_ir_deg FROM holds WHERE session_id = ? ORDER BY hold_no",
                (session_id,))]
            comps = [Compensation(str(k), float(a), float(b), None if rep is None else int(rep))
                     for k, a, b, rep in c.execute(
                         "SELECT kind, t_start, t_end, rep_no FROM compensations WHERE session_id = ? "
                         "ORDER BY comp_no", (session_id,))]
        return AnalysisResult(exercise=str(exercise), side=str(side), max_ir_deg=_float_or_nan(max_ir),
                              reps=reps, holds=holds, compensations=comps)

    # ---------------------------------------------------------------------------------- internals

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn sqlite3 errors into StoreError."""
        try:
            yield
        except sqlite3.Error as e:
            raise StoreError(f"the session store {self.path} failed while {doing} ({e}).",
                             "If another hiptrack is using the store, wait for it and retry; if the "
                             "disk is full or the file is damaged, free space or restore a backup."
                             ) from e

    @contextmanager
    def _atomic(self, doing: str) -> Iterator[None]:
        """Commit what is pending, then run the block in one transaction (all or nothing)."""
        self.commit()
        with self._errors(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """Inside an open transaction: the block's changes all stay or all go."""
        self._conn.execute("SAVEPOINT hiptrack_step")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO hiptrack_step")
            raise
        finally:
            self._conn.execute("RELEASE hiptrack_step")

    def _begin_if_needed(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN")

    def _require_session(self, session_id: int) -> None:
        if self._conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
            raise UnknownSessionError(str(session_id))

    def _insert_session(self, exercise: str, side: Side, source: str, status: str, sample_rate_hz: float,
                        sensors_info: dict[str, Any], extra_meta: dict[str, Any],
                        created_at: datetime | None, ended_at: str | None) -> int:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        try:
            meta_json = json.dumps({"sensors": sensors_info, "extra": extra_meta}, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"sensors_info and extra_meta must be plain JSON data ({e})") from e
        cur = self._conn.execute(
            "INSERT INTO sessions (created_at, ended_at, exercise, side, source, status, sample_rate_hz, "
            "meta_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_iso(created_at), ended_at, str(exercise), Side(side).value, source, status,
             float(sample_rate_hz), meta_json))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _insert_sample_rows(self, session_id: int, rows: Iterable[Sequence[Any]], t_min: float,
                            t_max: float, count: int) -> None:
        self._conn.executemany(
            "INSERT INTO samples (session_id, sensor, t, ax, ay, az, gx, gy, gz, mx, my, mz) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self._conn.execute(
            "UPDATE sessions SET n_samples = n_samples + ?, t_first = min(coalesce(t_first, ?), ?), "
            "t_last = max(coalesce(t_last, ?), ?) WHERE id = ?",
            (count, t_min, t_min, t_max, t_max, session_id))


_INFO_SQL = (
    "SELECT s.id, s.created_at, s.exercise, s.side, s.source, s.status, s.n_samples, s.t_first, "
    "s.t_last, (SELECT count(*) FROM reps r WHERE r.session_id = s.id), s.max_ir_deg, s.ended_at "
    "FROM sessions s"
)


def _info(row: tuple[Any, ...]) -> SessionInfo:
    sid, created, exercise, side, source, status, n, t0, t1, n_reps, max_ir, ended = row
    return SessionInfo(
        id=int(sid), created_at=datetime.fromisoformat(created), exercise=str(exercise), side=Side(side),
        source=str(source), status=str(status), n_samples=int(n),
        duration_s=0.0 if t0 is None or t1 is None else float(t1) - float(t0), n_reps=int(n_reps),
        max_ir_deg=None if max_ir is None else float(max_ir),
        ended_at=None if ended is None else datetime.fromisoformat(ended))


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Check the file is a hiptrack store (or empty), set the pragmas, apply missing migrations."""
    not_ours = StoreError(
        f"{path} is not a hiptrack session store.",
        "Point --store or HIPTRACK_STORE at a hiptrack store, or at a new file name to start a new one.")
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        n_objects = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.DatabaseError as e:
        if "not a database" in str(e) or "malformed" in str(e):
            raise not_ours from e
        raise StoreError(f"cannot open the session store {path} ({e}).", _OPEN_ADVICE) from e
    if app_id != APPLICATION_ID and (app_id != 0 or version != 0 or n_objects != 0):
        raise not_ours
    latest = len(MIGRATIONS)
    if version > latest:
        raise StoreError(
            f"{path} was written by a newer hiptrack (store schema {version}, this one knows "
            f"up to {latest}).", "Update hiptrack to open it.")
    try:
        mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if mode.lower() != "wal":
            raise StoreError(f"cannot switch {path} to WAL mode (got {mode!r}).", _OPEN_ADVICE)
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn)
    except sqlite3.Error as e:
        raise StoreError(f"cannot prepare the session store {path} ({e}).", _OPEN_ADVICE) from e


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations a store still lacks, each in its own transaction."""
    while True:
        conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: another process may migrate too
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version >= len(MIGRATIONS):
                conn.execute("COMMIT")
                return
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
