"""The session store's schema, its migrations, and opening a file: checks and pragmas.

The schema version is `PRAGMA user_version`; `MIGRATIONS[i]` takes a file from version i to i + 1, and
opening a file applies whatever it still lacks, each step in one transaction, keeping the data.
`PRAGMA application_id` marks the file as a hiptrack store, so another program's database is refused.
Durability: WAL with synchronous=NORMAL. A committed transaction survives the process being killed;
after a power cut the last commits before it may be lost, never the file's consistency.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tracker.errors import StoreError

APPLICATION_ID = 0x48495054  # "HIPT"
SOURCES = ("demo", "import", "live")
STATUSES = ("recording", "complete", "interrupted")
DEFAULT_PERSON = "me"
"""Whom sessions belong to unless a person is named."""
DEMO_PERSON = "simulated"
"""Whom the demo's simulated sessions belong to."""

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

_V4 = (
    """CREATE TABLE people (
        id                INTEGER PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,      -- as the user chose it; never leaves this machine
        created_at        TEXT NOT NULL,             -- ISO 8601, UTC
        profile_json      TEXT NOT NULL DEFAULT '{}',  -- {"sides": "left" | "right" | "both", "notes": ...}
        prescription_json TEXT NOT NULL DEFAULT '{}'   -- {exercise id: {sets, reps, hold_s, ...}}
    )""",
    f"INSERT INTO people (name, created_at) VALUES ('{DEFAULT_PERSON}', strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
    f"INSERT INTO people (name, created_at) VALUES ('{DEMO_PERSON}', strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
    "ALTER TABLE sessions ADD COLUMN person_id INTEGER REFERENCES people(id)",
    f"UPDATE sessions SET person_id = (SELECT id FROM people WHERE name = "
    f"CASE WHEN sessions.source = 'demo' THEN '{DEMO_PERSON}' ELSE '{DEFAULT_PERSON}' END)",
    "CREATE INDEX sessions_by_person ON sessions (person_id, exercise, created_at)",
    "ALTER TABLE sessions ADD COLUMN writer_pid INTEGER",  # the process recording it
    "ALTER TABLE sessions ADD COLUMN writer_host TEXT",
    "ALTER TABLE sessions ADD COLUMN heartbeat_at TEXT",  # ISO 8601, UTC: when it last wrote samples
    """CREATE TABLE sensors (
        address    TEXT PRIMARY KEY,                 -- Bluetooth address or platform device id
        family     TEXT,                             -- metamotion | nano33 | simulated | ...
        model      TEXT,
        name       TEXT,
        first_seen TEXT NOT NULL,
        last_seen  TEXT NOT NULL
    )""",
    """CREATE TABLE session_sensors (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        segment    TEXT NOT NULL CHECK (segment IN ('thigh', 'shin', 'pelvis')),
        address    TEXT REFERENCES sensors(address),
        PRIMARY KEY (session_id, segment)
    )""",
    """CREATE TABLE calibrations (
        session_id  INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
        t           REAL,                            -- session time it was made, s
        score       REAL,                            -- 0..1
        params_json TEXT NOT NULL DEFAULT '{}'       -- the fitted axes and alignment
    )""",
    """CREATE TABLE sets (
        session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        set_no       INTEGER NOT NULL,               -- 1-based
        t_start      REAL,
        t_end        REAL,
        reps         INTEGER NOT NULL,
        clean_reps   INTEGER NOT NULL,
        partial_reps INTEGER NOT NULL DEFAULT 0,
        max_ir_deg   REAL,
        time_at_target_s REAL,                       -- stretches
        PRIMARY KEY (session_id, set_no)
    )""",
    "ALTER TABLE reps ADD COLUMN set_no INTEGER",
    "ALTER TABLE reps ADD COLUMN clean INTEGER",  # 1 clean, 0 with a compensation, NULL unknown
    "ALTER TABLE reps ADD COLUMN tempo TEXT",  # rise-hold-return, s
    """CREATE TABLE rom_tests (
        session_id      INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
        max_ir_deg      REAL,                        -- the largest clean excursion
        uncertainty_deg REAL NOT NULL,
        spread_deg      REAL,
        excursions      INTEGER NOT NULL
    )""",
    # what the details of earlier sessions already say, kept
    """INSERT INTO sets (session_id, set_no, t_start, t_end, reps, clean_reps, partial_reps, max_ir_deg,
                         time_at_target_s)
       SELECT s.id, json_extract(j.value, '$.number'), json_extract(j.value, '$.start'),
              json_extract(j.value, '$.end'), json_extract(j.value, '$.reps'), json_extract(j.value, '$.clean_reps'),
              coalesce(json_extract(j.value, '$.partial_reps'), 0), json_extract(j.value, '$.max_ir_deg'),
              json_extract(j.value, '$.time_at_target_s')
       FROM sessions s, json_each(s.details_json, '$.sets') j WHERE s.details_json IS NOT NULL""",
    """UPDATE reps SET
         set_no = (SELECT json_extract(j.value, '$.set') FROM sessions s, json_each(s.details_json, '$.reps') j
                   WHERE s.id = reps.session_id AND json_extract(j.value, '$.number') = reps.rep_no),
         clean = (SELECT json_extract(j.value, '$.clean') FROM sessions s, json_each(s.details_json, '$.reps') j
                  WHERE s.id = reps.session_id AND json_extract(j.value, '$.number') = reps.rep_no),
         tempo = (SELECT json_extract(j.value, '$.tempo') FROM sessions s, json_each(s.details_json, '$.reps') j
                  WHERE s.id = reps.session_id AND json_extract(j.value, '$.number') = reps.rep_no)""",
    """INSERT INTO rom_tests (session_id, max_ir_deg, uncertainty_deg, spread_deg, excursions)
       SELECT id, json_extract(details_json, '$.rom_test.max_ir_deg'),
              json_extract(details_json, '$.rom_test.uncertainty_deg'),
              json_extract(details_json, '$.rom_test.spread_deg'),
              json_array_length(details_json, '$.rom_test.excursions_deg')
       FROM sessions WHERE json_extract(details_json, '$.rom_test') IS NOT NULL""",
)
"""Version 4: people (profile, prescription) owning sessions; the sensors used; calibrations; sets, each
rep's set and result, ROM tests as rows; which process records a session and when it last wrote, so a
session whose process died is seen as interrupted."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4)
"""MIGRATIONS[i] holds the statements that take a store from schema version i to i + 1."""
SCHEMA_VERSION = len(MIGRATIONS)

_OPEN_ADVICE = ("Check the path and its permissions, or choose another store with --store or the "
                "HIPTRACK_STORE environment variable.")


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
        raise storage_error(path, "opening it", e) from e
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
        raise storage_error(path, "opening it", e) from e


def storage_error(path: Path, doing: str, e: sqlite3.Error) -> StoreError:
    """A store error that says what went wrong in the user's terms: a full disk, a read-only file,
    another program holding the lock, or else the database's own words."""
    code = getattr(e, "sqlite_errorname", "") or ""
    text = str(e)
    if code.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreError(f"the disk holding the session store {path} is full (while {doing}).",
                          "Free some space, or choose a store on another disk with --store. Everything "
                          "committed before this is kept; 'hiptrack recover' closes an interrupted session.")
    if code.startswith("SQLITE_READONLY") or "readonly" in text:
        return StoreError(f"the session store {path} is read-only (while {doing}).",
                          "Make the file and its folder writable (or use a disk that is not read-only), "
                          "or choose another store with --store.")
    if code.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return StoreError(f"the session store {path} could not be written to its disk (while {doing}): the disk "
                          "is full or failing.",
                          "Free some space or check the disk, or choose a store on another disk with --store. "
                          "Everything committed before this is kept; 'hiptrack recover' closes an interrupted "
                          "session.")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreError(f"another program is writing the session store {path} (while {doing}).",
                          "Wait for the other hiptrack to finish and retry.")
    return StoreError(f"the session store {path} failed while {doing} ({text}).",
                      "If the file is damaged, restore a backup; " + _OPEN_ADVICE[0].lower() + _OPEN_ADVICE[1:])


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations a store still lacks, each in its own transaction. An up-to-date store is not
    locked at all, so opening it while a live session writes (a report, the history page) never waits."""
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= len(MIGRATIONS):
        return
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
