"""The session store (real SQLite files in tmp_path) and the default store location."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from imu_core.frames import Segment, Side
from imu_core.types import ImuSample, Marker, Recording, SensorStream
from tracker.analysis import AnalysisResult, Compensation, Hold, Rep
from tracker.errors import StoreError, UnknownSessionError
from tracker.paths import default_store_path, reports_dir
from tracker.store import MIGRATIONS, SCHEMA_VERSION, SessionStore

SENSORS = {"thigh": {"model": "simulated"}, "shin": {"model": "simulated"}}


def make_recording(n: int = 200, seed: int = 1) -> Recording:
    """Thigh with a magnetometer, shin without, a pelvis at other instants; odd markers and meta."""
    rng = np.random.default_rng(seed)

    def stream(t0: float, rate: float, m: int, mag: bool) -> SensorStream:
        return SensorStream(t0 + np.arange(m) / rate + rng.uniform(0, 1e-4, m), rng.normal(0, 3, (m, 3)),
                            rng.normal(0, 1, (m, 3)), rng.normal(0, 40, (m, 3)) if mag else None)

    return Recording(
        side=Side.RIGHT, exercise="seated-ir",
        streams={Segment.THIGH: stream(10.0, 100.0, n, True),
                 Segment.SHIN: stream(10.003, 50.0, n // 2, False),
                 Segment.PELVIS: stream(10.007, 25.0, n // 4, False)},
        markers=[Marker(10.0, "calibration.static"), Marker(12.0, "my.own.label"),
                 Marker(11.0, "exercise.start")],
        sample_rate_hz=100.0,
        sensors_info={"thigh": {"model": "MetaMotionS"}, "shin": {"model": "simulated", "fw": [1, 2]}},
        extra_meta={"operator": "Ana", "nested": {"a": None, "b": 1.5}})


def assert_recordings_equal(a: Recording, b: Recording) -> None:
    assert (a.side, a.exercise, a.sample_rate_hz) == (b.side, b.exercise, b.sample_rate_hz)
    assert a.sensors_info == b.sensors_info and a.extra_meta == b.extra_meta
    assert a.markers == b.markers
    assert set(a.streams) == set(b.streams)
    for seg, sa in a.streams.items():
        sb = b.streams[seg]
        for name in ("t", "acc", "gyr"):
            np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name))
        assert (sa.mag is None) == (sb.mag is None)
        if sa.mag is not None:
            np.testing.assert_array_equal(sa.mag, sb.mag)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.sqlite3"


def analysis(n_reps: int = 2, max_ir: float = 31.5) -> AnalysisResult:
    reps = [Rep(10.0 * i, 10.0 * i + 1, 10.0 * i + 5, 30.0 + i, 3.0) for i in range(1, n_reps + 1)]
    return AnalysisResult(
        exercise="seated-ir", side="right", max_ir_deg=max_ir, reps=reps,
        holds=[Hold(11.5, 14.5, 30.2)],
        compensations=[Compensation("thigh_drift", 12.0, 13.0, 1),
                       Compensation("new_kind", 50.0, 51.0, None)])


def samples(sensor: Segment, t0: float, n: int, mag: bool) -> list[ImuSample]:
    return [ImuSample(t0 + i / 100, sensor, (0.1 * i, 0.0, 9.81), (0.0, 0.01 * i, 0.0),
                      (20.0, 0.0, -40.0) if mag else None) for i in range(n)]


# ------------------------------------------------------------------------------------------ opening


def test_fresh_file_gets_the_schema_wal_and_foreign_keys(db: Path) -> None:
    with SessionStore.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 1
    assert db.is_file()  # parent folder created
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"sessions", "samples", "markers", "reps", "holds", "compensations"} <= tables
    finally:
        conn.close()
    with SessionStore.open(db) as store:
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_reopening_keeps_data(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.store_recording(make_recording(), source="import")
        store.save_analysis(sid, analysis())
    with SessionStore.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert [s.id for s in store.list_sessions()] == [sid]
        assert_recordings_equal(make_recording(), store.load_recording(sid))
        assert store.load_analysis(sid) == analysis()


def test_migrations_run_in_order_and_only_once(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker import store_schema as store_mod

    with SessionStore.open(db) as store:
        sid = store.create_session("seated-ir", Side.LEFT, "demo", 100.0, SENSORS)
    v2 = ("CREATE TABLE notes (session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, "
          "text TEXT NOT NULL)",)
    monkeypatch.setattr(store_mod, "MIGRATIONS", (*store_mod.MIGRATIONS, v2))
    with SessionStore.open(db) as store:
        assert store.schema_version == len(store_mod.MIGRATIONS)
        assert store.get_session(sid).exercise == "seated-ir"
        store._conn.execute("INSERT INTO notes VALUES (?, 'hello')", (sid,))
    with SessionStore.open(db) as store:  # already at v2: nothing re-applied (CREATE TABLE would fail)
        assert store._conn.execute("SELECT text FROM notes").fetchone()[0] == "hello"


def test_failed_migration_keeps_the_old_version(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker import store_schema as store_mod

    with SessionStore.open(db):
        pass
    monkeypatch.setattr(store_mod, "MIGRATIONS",
                        (*store_mod.MIGRATIONS, ("CREATE TABLE ok (x)", "THIS IS NOT SQL")))
    with pytest.raises(StoreError):
        SessionStore.open(db)
    monkeypatch.undo()
    with SessionStore.open(db) as store:
        assert store.schema_version == store_mod.SCHEMA_VERSION
        assert store._conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ok'").fetchone()[0] == 0


def test_a_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database\n" * 100, encoding="utf-8")
    with pytest.raises(StoreError) as info:
        SessionStore.open(path)
    assert "not a hiptrack session store" in str(info.value) and info.value.advice
    assert path.read_text(encoding="utf-8").startswith("this is not")


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a hiptrack session store"):
        SessionStore.open(path)


def test_a_newer_store_is_refused(db: Path) -> None:
    with SessionStore.open(db):
        pass
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer hiptrack"):
        SessionStore.open(db)


def test_unopenable_paths_give_store_errors(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    with pytest.raises(StoreError, match="cannot create the folder"):
        SessionStore.open(tmp_path / "a_file" / "store.sqlite3")
    with pytest.raises(StoreError, match="is a folder"):
        SessionStore.open(tmp_path)


# -------------------------------------------------------------------------------------- recordings


def test_recording_round_trip(db: Path) -> None:
    rec = make_recording()
    with SessionStore.open(db) as store:
        sid = store.store_recording(rec, source="import")
        back = store.load_recording(sid)
    assert_recordings_equal(rec, back)
    assert back.streams[Segment.SHIN].mag is None


def test_store_recording_is_all_or_nothing(db: Path) -> None:
    rec = make_recording()
    rec.markers.append(Marker(20.0, object()))  # type: ignore[arg-type]  # cannot be stored
    with SessionStore.open(db) as store:
        with pytest.raises(StoreError):
            store.store_recording(rec, source="import")
        assert store.list_sessions() == []
        assert store._conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 0


def test_live_session_flow(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.create_session("seated-ir", Side.LEFT, "live", 100.0, SENSORS, {"app": "test"})
        info = store.get_session(sid)
        assert info.status == "recording" and info.n_samples == 0 and info.duration_s == 0.0
        store.add_marker(sid, Marker(0.0, "calibration.static"))
        store.add_samples(sid, samples(Segment.SHIN, 0.005, 100, mag=False))
        store.add_samples(sid, samples(Segment.THIGH, 0.0, 100, mag=True))
        store.commit()
        store.add_samples(sid, samples(Segment.THIGH, 1.0, 50, mag=True))
        store.finish_session(sid)
        info = store.get_session(sid)
        assert info.status == "complete" and info.ended_at is not None
        assert info.n_samples == 250
        assert math.isclose(info.duration_s, 1.49)
        rec = store.load_recording(sid)
    assert rec.side is Side.LEFT and rec.extra_meta == {"app": "test"} and rec.sensors_info == SENSORS
    assert len(rec.streams[Segment.THIGH]) == 150 and rec.streams[Segment.THIGH].mag is not None
    assert np.all(np.diff(rec.streams[Segment.THIGH].t) > 0)
    assert rec.markers == [Marker(0.0, "calibration.static")]


def test_pending_samples_are_kept_when_the_block_fails(db: Path) -> None:
    with pytest.raises(RuntimeError), SessionStore.open(db) as store:
        sid = store.create_session("seated-ir", Side.LEFT, "live", 100.0, SENSORS)
        store.add_samples(sid, samples(Segment.THIGH, 0.0, 10, mag=False))
        raise RuntimeError("bluetooth dropped")
    with SessionStore.open(db) as store:
        assert store.get_session(sid).n_samples == 10
        assert store.get_session(sid).status == "recording"


def test_bad_samples_are_refused_whole(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.create_session("seated-ir", Side.RIGHT, "live", 100.0, SENSORS)
        store.add_samples(sid, samples(Segment.THIGH, 0.0, 3, mag=False))
        bad = samples(Segment.THIGH, 1.0, 3, mag=False)
        bad[1] = ImuSample(1.01, Segment.THIGH, (math.nan, 0.0, 9.8), (0.0, 0.0, 0.0))
        with pytest.raises(ValueError, match="finite"):
            store.add_samples(sid, bad)
        store.commit()
        assert store.get_session(sid).n_samples == 3
        assert len(store.load_recording(sid).streams[Segment.THIGH]) == 3


def test_a_batch_failing_midway_leaves_no_trace(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.create_session("seated-ir", Side.RIGHT, "live", 100.0, SENSORS)
        store.add_samples(sid, samples(Segment.THIGH, 0.0, 3, mag=False))
        # A trigger makes SQLite itself reject the 5th row of the next batch.
        store._conn.execute("CREATE TEMP TRIGGER no_late BEFORE INSERT ON samples WHEN NEW.t > 1.035 "
                            "BEGIN SELECT RAISE(ABORT, 'too late'); END")
        with pytest.raises(StoreError, match="too late"):
            store.add_samples(sid, samples(Segment.THIGH, 1.0, 10, mag=False))
        store.commit()
        info = store.get_session(sid)
        assert info.n_samples == 3 and math.isclose(info.duration_s, 0.02)
        assert len(store.load_recording(sid).streams[Segment.THIGH]) == 3


def test_mixed_magnetometer_samples_load_without_mag(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.create_session("seated-ir", Side.RIGHT, "live", 100.0, SENSORS)
        store.add_samples(sid, samples(Segment.THIGH, 0.0, 3, mag=True)
                          + samples(Segment.THIGH, 1.0, 2, mag=False))
        rec = store.load_recording(sid)
    assert len(rec.streams[Segment.THIGH]) == 5 and rec.streams[Segment.THIGH].mag is None


# ----------------------------------------------------------------------------------- list and get


def test_list_and_get(db: Path) -> None:
    day = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    with SessionStore.open(db) as store:
        later = store.store_recording(make_recording(), "import", created_at=day + timedelta(days=7))
        earlier = store.create_session("prone-ir", Side.LEFT, "demo", 50.0, SENSORS, created_at=day)
        store.save_analysis(later, analysis(n_reps=3, max_ir=38.2))
        sessions = store.list_sessions()
        assert [s.id for s in sessions] == [earlier, later]  # newest last
        info = store.get_session(later)
    assert info == sessions[1]
    assert info.created_at == day + timedelta(days=7) and info.created_at.tzinfo is not None
    assert (info.exercise, info.side, info.source, info.status) == (
        "seated-ir", Side.RIGHT, "import", "complete")
    assert info.n_samples == 350 and info.n_reps == 3 and info.max_ir_deg == 38.2
    rec = make_recording()
    t_all = np.concatenate([s.t for s in rec.streams.values()])
    assert math.isclose(info.duration_s, float(t_all.max() - t_all.min()))
    assert sessions[0].max_ir_deg is None and sessions[0].n_reps == 0


def test_unknown_session_id(db: Path) -> None:
    with SessionStore.open(db) as store:
        for call in (store.get_session, store.load_recording, store.load_analysis, store.finish_session,
                     store.delete_session):
            with pytest.raises(UnknownSessionError) as info:
                call(42)
            assert info.value.session_id == "42"
        with pytest.raises(UnknownSessionError):
            store.add_samples(42, samples(Segment.THIGH, 0.0, 1, mag=False))
        with pytest.raises(UnknownSessionError):
            store.save_analysis(42, analysis())


def test_bad_arguments_are_rejected(db: Path) -> None:
    with SessionStore.open(db) as store:
        with pytest.raises(ValueError, match="source"):
            store.create_session("seated-ir", Side.LEFT, "bluetooth", 100.0, SENSORS)
        sid = store.create_session("seated-ir", Side.LEFT, "live", 100.0, SENSORS)
        with pytest.raises(ValueError, match="status"):
            store.finish_session(sid, "done")
        with pytest.raises(ValueError, match="JSON"):
            store.create_session("seated-ir", Side.LEFT, "live", 100.0, {"thigh": {"x": object()}})


# -------------------------------------------------------------------------------------- analysis


def test_analysis_save_load_replace(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.store_recording(make_recording(), "import")
        assert store.load_analysis(sid) is None
        store.save_analysis(sid, analysis(n_reps=2))
        assert store.load_analysis(sid) == analysis(n_reps=2)
        store.save_analysis(sid, analysis(n_reps=1, max_ir=20.0))
        assert store.load_analysis(sid) == analysis(n_reps=1, max_ir=20.0)
        assert store.get_session(sid).n_reps == 1
        empty = AnalysisResult("seated-ir", "right", float("nan"))
        store.save_analysis(sid, empty)
        loaded = store.load_analysis(sid)
    assert loaded is not None and loaded.reps == [] and math.isnan(loaded.max_ir_deg)


def test_delete_cascades(db: Path) -> None:
    with SessionStore.open(db) as store:
        keep = store.store_recording(make_recording(seed=2), "import")
        gone = store.store_recording(make_recording(), "import")
        store.save_analysis(gone, analysis())
        store.delete_session(gone)
        assert [s.id for s in store.list_sessions()] == [keep]
        for table in ("samples", "markers", "reps", "holds", "compensations"):
            sql = f"SELECT count(*) FROM {table} WHERE session_id = ?"
            n = store._conn.execute(sql, (gone,)).fetchone()[0]
            assert n == 0, table
        assert store.get_session(keep).n_samples == 350


# ------------------------------------------------------------------------------------------ paths


def test_store_path_from_environment(tmp_path: Path) -> None:
    path = default_store_path(environ={"HIPTRACK_STORE": str(tmp_path / "x.sqlite3")})
    assert path == tmp_path / "x.sqlite3"


@pytest.mark.parametrize(("platform", "environ", "expected"), [
    ("linux", {}, "/home/u/.local/share/hiptrack/hiptrack.sqlite3"),
    ("linux", {"XDG_DATA_HOME": "/data"}, "/data/hiptrack/hiptrack.sqlite3"),
    ("linux", {"XDG_DATA_HOME": "relative/is/ignored"}, "/home/u/.local/share/hiptrack/hiptrack.sqlite3"),
    ("darwin", {}, "/home/u/Library/Application Support/hiptrack/hiptrack.sqlite3"),
    ("win32", {"LOCALAPPDATA": "/appdata/local"}, "/appdata/local/hiptrack/hiptrack.sqlite3"),
    ("win32", {}, "/home/u/AppData/Local/hiptrack/hiptrack.sqlite3"),
])
def test_default_store_path_per_platform(platform: str, environ: dict[str, str], expected: str) -> None:
    assert default_store_path(environ=environ, platform=platform, home=Path("/home/u")) == Path(expected)


def test_reports_dir_is_beside_the_store(tmp_path: Path) -> None:
    assert reports_dir(tmp_path / "s" / "hiptrack.sqlite3") == tmp_path / "s" / "reports"


def test_recording_type_is_what_the_store_returns(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.store_recording(make_recording(), "demo")
        assert isinstance(store.load_recording(sid), Recording)
        assert store.get_session(sid).source == "demo"


def _old_store(db: Path, version: int) -> sqlite3.Connection:
    """A store file as hiptrack wrote it at schema `version`, built from that version's own statements."""
    from tracker.store_schema import MIGRATIONS

    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn


def test_a_version_1_store_is_migrated_and_keeps_everything(db: Path) -> None:
    conn = _old_store(db, 1)
    conn.execute("INSERT INTO sessions (id, created_at, ended_at, exercise, side, source, status, sample_rate_hz, "
                 "meta_json, n_samples, t_first, t_last, analyzed_at, max_ir_deg) VALUES "
                 "(7, '2026-01-05T10:00:00+00:00', '2026-01-05T10:01:00+00:00', 'seated-ir', 'left', 'live', "
                 "'complete', 100.0, '{\"sensors\": {}, \"extra\": {}}', 3, 0.0, 0.02, "
                 "'2026-01-05T10:01:00+00:00', 31.5)")
    conn.executemany("INSERT INTO samples VALUES (7, ?, ?, 0, 0, 9.8, 0.1, 0, 0, NULL, NULL, NULL)",
                     [("thigh", 0.0), ("shin", 0.01), ("thigh", 0.02)])
    conn.execute("INSERT INTO markers (session_id, t, label) VALUES (7, 0.01, 'calibration.static')")
    conn.execute("INSERT INTO reps VALUES (7, 1, 1.0, 2.0, 3.0, 31.5, 2.2)")
    conn.execute("INSERT INTO sessions (id, created_at, exercise, side, source, status, sample_rate_hz) VALUES "
                 "(8, '2026-01-06T10:00:00+00:00', 'seated-ir', 'right', 'demo', 'complete', 100.0)")
    conn.close()
    with SessionStore.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION >= 4
        info = store.get_session(7)
        assert (info.n_samples, info.n_reps, info.max_ir_deg, info.person) == (3, 1, 31.5, "me")
        assert store.get_session(8).person == "simulated"
        rec = store.load_recording(7)
        assert len(rec.streams[Segment.THIGH]) == 2 and rec.markers[0].label == "calibration.static"
        result = store.load_analysis(7)
        assert result is not None and result.reps[0].peak_ir_deg == 31.5
        store.add_gap(7, Segment.THIGH, 10.0, 10.5, 49, "disconnect")
        store.add_pain(7, 1, 2)
        store.commit()
        assert store.load_gaps(7) == [("thigh", 10.0, 10.5, 49, "disconnect")] and store.load_pain(7) == {1: 2}
        assert {p.name for p in store.list_people()} == {"me", "simulated"}


def test_a_version_3_store_gains_its_sets_rep_results_and_rom_tests_as_rows(db: Path) -> None:
    conn = _old_store(db, 3)
    details = {"sets": [{"number": 1, "start": 1.0, "end": 9.0, "reps": 2, "clean_reps": 1, "partial_reps": 0,
                         "max_ir_deg": 40.0}],
               "reps": [{"number": 1, "set": 1, "clean": True, "tempo": "1.0-2.0-1.0"},
                        {"number": 2, "set": 1, "clean": False, "tempo": "0.4-1.0-1.0"}],
               "rom_test": {"max_ir_deg": 38.0, "uncertainty_deg": 2.0, "spread_deg": 2.0,
                            "excursions_deg": [38.0, 40.0]}}
    conn.execute("INSERT INTO sessions (id, created_at, exercise, side, source, status, sample_rate_hz, "
                 "analyzed_at, max_ir_deg, details_json) VALUES (3, '2026-02-01T09:00:00+00:00', 'prone-ir-test', "
                 "'left', 'live', 'complete', 100.0, '2026-02-01T09:01:00+00:00', 38.0, ?)", (json.dumps(details),))
    conn.executemany("INSERT INTO reps VALUES (3, ?, ?, ?, ?, ?, 0.0)", [(1, 1.0, 2.0, 3.0, 38.0), (2, 5, 6, 7, 40.0)])
    conn.close()
    with SessionStore.open(db) as store:
        rows = store._conn.execute("SELECT set_no, reps, clean_reps, max_ir_deg FROM sets").fetchall()
        reps = store._conn.execute("SELECT rep_no, set_no, clean, tempo FROM reps ORDER BY rep_no").fetchall()
        rom = store._conn.execute("SELECT max_ir_deg, uncertainty_deg, excursions FROM rom_tests").fetchall()
        assert store.load_details(3) == details
    assert rows == [(1, 2, 1, 40.0)]
    assert reps == [(1, 1, 1, "1.0-2.0-1.0"), (2, 1, 0, "0.4-1.0-1.0")]
    assert rom == [(38.0, 2.0, 2)]


def test_pain_after_each_set_and_details_kept(db: Path) -> None:
    with SessionStore.open(db) as store:
        sid = store.store_recording(make_recording(), "demo")
        store.add_pain(sid, 1, 3, t=40.0)
        store.add_pain(sid, 2, 5)
        store.add_pain(sid, 2, 4)  # the person corrected the answer
        with pytest.raises(StoreError, match="0 to 10"):
            store.add_pain(sid, 3, 11)
        store.save_details(sid, {"sets": [{"number": 1, "reps": 8}]})
        store.commit()
    with SessionStore.open(db) as store:
        assert store.load_pain(sid) == {1: 3, 2: 4}
        assert store.load_details(sid) == {"sets": [{"number": 1, "reps": 8}]}


def test_a_recording_session_is_interrupted_once_its_writer_is_gone(db: Path) -> None:
    import subprocess
    import sys
    from datetime import timedelta as td

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(gone.stdout)
    now = datetime.now(UTC)
    with SessionStore.open(db) as store:
        ids = [store.create_session("seated-ir", Side.LEFT, "live", 100.0, {}) for _ in range(5)]
        cases = {  # (pid, host, last write): interrupted?
            ids[0]: (None, None, now, True),                        # before schema 4 / unknown writer
            ids[1]: (dead_pid, None, now, True),                    # this machine, process gone
            ids[2]: ("self", None, now - td(minutes=30), False),    # alive, sensors silent for a while
            ids[3]: (12345, "another-host", now - td(minutes=5), True),   # another machine, silent
            ids[4]: (12345, "another-host", now - td(seconds=5), False),  # another machine, writing
        }
        import os
        import socket

        for sid, (pid, host, beat, _) in cases.items():
            store._conn.execute("UPDATE sessions SET writer_pid = ?, writer_host = ?, heartbeat_at = ? WHERE id = ?",
                                (os.getpid() if pid == "self" else pid, host or socket.gethostname(),
                                 beat.isoformat(), sid))
        store.commit()
        got = {s.id: (s.needs_recovery, s.status) for s in store.list_sessions()}
    for sid, (_, _, _, interrupted) in cases.items():
        assert got[sid] == ((True, "interrupted") if interrupted else (False, "recording")), sid


def test_a_store_opens_for_reading_while_a_session_holds_its_write_lock(db: Path) -> None:
    with SessionStore.open(db) as writer:
        sid = writer.create_session("seated-ir", Side.LEFT, "live", 100.0, {})
        writer.add_samples(sid, [ImuSample(0.0, Segment.THIGH, (0.0, 0.0, 9.8), (0.0, 0.0, 0.0))])
        # the live session's transaction is open (it commits once a second); a report opens the store now
        started = datetime.now(UTC)
        with SessionStore.open(db) as reader:
            assert [s.id for s in reader.list_sessions()] == [sid]
        assert (datetime.now(UTC) - started).total_seconds() < 0.5  # no wait for the writer's lock
        writer.commit()


def test_an_analysis_and_its_details_are_saved_together_or_not_at_all(db: Path) -> None:
    """save_results writes both in one transaction: when the details cannot be written, the earlier
    analysis and details are still there, not a new analysis with old details."""
    with SessionStore.open(db) as store:
        sid = store.store_recording(make_recording(), "demo")
        store.save_results(sid, analysis(n_reps=2), {"sets": [{"number": 1, "reps": 2}]})
    with SessionStore.open(db) as store, pytest.raises(KeyError):  # a set without its number
        store.save_results(sid, analysis(n_reps=1, max_ir=20.0), {"sets": [{"reps": 1}]})
    with SessionStore.open(db) as store:
        kept = store.load_analysis(sid)
        assert kept is not None and len(kept.reps) == 2
        assert store.load_details(sid) == {"sets": [{"number": 1, "reps": 2}]}
        store.save_results(sid, analysis(n_reps=1, max_ir=20.0), {"sets": [{"number": 1, "reps": 1}]})
    with SessionStore.open(db) as store:
        now = store.load_analysis(sid)
        assert now is not None and len(now.reps) == 1 and now.max_ir_deg == pytest.approx(20.0)
        assert store.load_details(sid) == {"sets": [{"number": 1, "reps": 1}]}
