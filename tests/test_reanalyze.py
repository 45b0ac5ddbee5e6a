"""`hiptrack reanalyze` through the real command line, on real store files: unchanged settings change
nothing, an edited custom exercise gives what a direct analysis with the new settings gives, --dry-run
writes nothing, a session that cannot be analysed is reported while the others go on, --jobs 2 stores
what --jobs 1 stores, the selection filters; and `load_recording` returns exactly what the plain
fetchall reading returned."""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firmware_bridge.simulator import simulate_session
from imu_core.frames import Segment, Side
from imu_core.types import ImuSample, Marker, Recording, SensorStream
from tracker.analysis import AnalysisResult, Rep
from tracker.cli import main as hiptrack
from tracker.offline import analyse_recording_in_detail
from tracker.store import SessionStore

CUSTOM = "my-ir"
FIRST_SETTINGS = ('id = "my-ir"\nname = "My seated IR"\nbased_on = "seated-ir"\n\n'
                  "[prescription]\ntarget_deg = 30\n\n[thresholds]\nthigh_drift_deg = 4\nmin_rise_s = 0.35\n")
EDITED_SETTINGS = FIRST_SETTINGS.replace("target_deg = 30", "target_deg = 10").replace(
    "thigh_drift_deg = 4", "thigh_drift_deg = 0.5").replace("min_rise_s = 0.35", "min_rise_s = 2")
"""Strict thresholds: every rep is now compensated (too fast, the thigh drifting)."""

ANALYSIS_TABLES = ("reps", "holds", "compensations", "sets", "rom_tests")
UNTOUCHED_TABLES = ("pain_ratings", "calibrations", "people", "sensors", "session_sensors", "gaps", "markers",
                    "samples")


@dataclass(frozen=True)
class Base:
    """A store (not to be changed: tests work on copies) and its custom exercise folder."""

    db: Path
    exercises: Path
    ids: dict[str, int]
    """alice-jan, alice-mar, bob-feb (my-ir); bob-seated (seated-ir); no-swing (my-ir, cannot be analysed);
    live (being recorded by this process); cut-short (its writer is gone, not recovered)."""


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(hour=9, tzinfo=UTC)


def simulated(seed: int, side: Side, exercise: str) -> Recording:
    return replace(simulate_session(seed=seed, side=side, reps=3).recording, exercise=exercise)


def store_analysed(store: SessionStore, rec: Recording, person: str, created: str) -> int:
    """As `hiptrack import` stores a recording: analysed, then stored with its analysis."""
    result, _, _, details = analyse_recording_in_detail(rec)
    sid = store.store_recording(rec, "import", created_at=day(created), person=person)
    store.save_analysis(sid, result)
    store.save_details(sid, details)
    store.commit()
    return sid


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("reanalyze")
    exercises = root / "exercises"
    exercises.mkdir()
    (exercises / "mine.toml").write_text(FIRST_SETTINGS, encoding="utf-8")
    db = root / "store.sqlite3"
    ids: dict[str, int] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HIPTRACK_EXERCISES", str(exercises))
        with SessionStore.open(db) as store:
            ids["alice-jan"] = store_analysed(store, simulated(1, Side.LEFT, CUSTOM), "alice", "2024-01-10")
            ids["bob-feb"] = store_analysed(store, simulated(2, Side.RIGHT, CUSTOM), "bob", "2024-02-01")
            ids["bob-seated"] = store_analysed(store, simulated(3, Side.RIGHT, "seated-ir"), "bob", "2024-03-01")
            ids["alice-mar"] = store_analysed(store, simulated(4, Side.LEFT, CUSTOM), "alice", "2024-03-05")
            store.add_pain(ids["alice-jan"], 1, 3)
            store.save_calibration(ids["alice-jan"], 3.5, 0.9, {"axis": [0.0, 0.0, 1.0]})
            store.commit()
            # its swing was never recorded (e.g. stored by an older version): cannot be calibrated
            rec = simulated(5, Side.LEFT, CUSTOM)
            no_swing = replace(rec, markers=[m for m in rec.markers if m.label != "calibration.swing"])
            ids["no-swing"] = store.store_recording(no_swing, "import", created_at=day("2024-03-10"), person="alice")
            store.save_analysis(ids["no-swing"], AnalysisResult(CUSTOM, "left", 12.5, [Rep(1.0, 2.0, 3.0, 12.5, 1.0)]))
            # being recorded by this (live) process, and one whose process is gone
            for name in ("live", "cut-short"):
                ids[name] = store.create_session("seated-ir", Side.LEFT, "live", 100.0, {}, person="bob")
                store.add_samples(ids[name], [ImuSample(0.01 * i, Segment.THIGH, (0.0, 0.0, 9.8), (0.0, 0.0, 0.0))
                                              for i in range(100)])
                store.commit()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sessions SET writer_pid = NULL WHERE id = ?", (ids["cut-short"],))
    conn.close()
    return Base(db, exercises, ids)


@pytest.fixture
def db(base: Base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the base store, its custom exercise as first written."""
    exercises = tmp_path / "exercises"
    shutil.copytree(base.exercises, exercises)
    monkeypatch.setenv("HIPTRACK_EXERCISES", str(exercises))
    copy = tmp_path / "store.sqlite3"
    shutil.copyfile(base.db, copy)
    return copy


def edit_custom_exercise(db: Path) -> None:
    (db.parent / "exercises" / "mine.toml").write_text(EDITED_SETTINGS, encoding="utf-8")


def reanalyze(db: Path, *args: str) -> tuple[int, str]:
    with redirect_stdout(io.StringIO()) as out:
        code = hiptrack(["--store", str(db), "reanalyze", *args])
    return code, out.getvalue()


def dump(db: Path, tables: tuple[str, ...], *, without: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of these tables (in a fixed order), without the named columns."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for table in tables:
            cur = conn.execute(f"SELECT * FROM {table}")
            keep = [i for i, d in enumerate(cur.description) if d[0] not in without]
            out[table] = sorted((tuple(row[i] for i in keep) for row in cur), key=repr)
        return out
    finally:
        conn.close()


def analysed_at(db: Path) -> dict[int, str | None]:
    conn = sqlite3.connect(db)
    try:
        return {int(i): a for i, a in conn.execute("SELECT id, analyzed_at FROM sessions")}
    finally:
        conn.close()


def table_ids(out: str) -> list[int]:
    """The session ids of the printed table's rows."""
    return [int(m[1]) for m in re.finditer(r"^(\d+) +\d{4}-\d\d-\d\d ", out, re.MULTILINE)]


def summary(out: str) -> str:
    (line,) = [x for x in out.splitlines() if "re-analysed in" in x]
    return line


# ----------------------------------------------------------------------------------------- tests


def test_unchanged_settings_change_nothing(base: Base, db: Path) -> None:
    before = dump(db, ("sessions", *ANALYSIS_TABLES, *UNTOUCHED_TABLES))
    code, out = reanalyze(db, "--jobs", "1")
    assert code == 0
    assert summary(out).startswith("4 sessions (0 h 2 min of recordings) re-analysed in ")
    assert summary(out).endswith("; 0 changed; 1 could not be analysed")
    assert dump(db, ("sessions", *ANALYSIS_TABLES, *UNTOUCHED_TABLES)) == before  # not even analyzed_at
    assert f"Skipped session {base.ids['live']} " in out and "still being recorded" in out
    assert f"Skipped session {base.ids['cut-short']} " in out and "'hiptrack recover'" in out


def test_an_edited_custom_exercise_is_stored_as_a_direct_analysis_gives_it(base: Base, db: Path) -> None:
    untouched = dump(db, UNTOUCHED_TABLES)
    edit_custom_exercise(db)
    code, out = reanalyze(db, "--jobs", "1")
    assert code == 0
    assert summary(out).endswith("; 3 changed; 1 could not be analysed")
    with SessionStore.open(db) as store:
        for name in ("alice-jan", "bob-feb", "alice-mar"):
            sid = base.ids[name]
            direct, _, _, details = analyse_recording_in_detail(store.load_recording(sid))
            stored = store.load_analysis(sid)
            assert stored is not None
            assert direct.compensations and all(c.kind in ("too_fast", "thigh_drift") for c in direct.compensations)
            assert (stored.reps, stored.holds, stored.compensations, stored.max_ir_deg) == \
                   (direct.reps, direct.holds, direct.compensations, direct.max_ir_deg)
            assert json.dumps(store.load_details(sid)) == json.dumps(details)
        assert store.load_pain(base.ids["alice-jan"]) == {1: 3}
    assert dump(db, UNTOUCHED_TABLES) == untouched
    # and again: nothing more to change
    code, out = reanalyze(db, "--jobs", "1")
    assert code == 0 and summary(out).endswith("; 0 changed; 1 could not be analysed")


def test_dry_run_writes_nothing(db: Path) -> None:
    edit_custom_exercise(db)
    before = dump(db, ("sessions", *ANALYSIS_TABLES, *UNTOUCHED_TABLES))
    code, out = reanalyze(db, "--dry-run", "--jobs", "1")
    assert code == 0
    assert "; 3 would change; 1 could not be analysed (dry run: nothing was written)" in summary(out)
    assert dump(db, ("sessions", *ANALYSIS_TABLES, *UNTOUCHED_TABLES)) == before


def test_a_session_that_cannot_be_analysed_is_reported_and_keeps_its_analysis(base: Base, db: Path) -> None:
    edit_custom_exercise(db)
    bad = base.ids["no-swing"]
    code, out = reanalyze(db, "--jobs", "1")
    assert code == 0  # the others were re-analysed
    (line,) = [x for x in out.splitlines() if x.startswith(f"Session {bad} ")]
    # without the swing's marker the still phase runs on into the swings: the calibration says so
    assert "was not re-analysed: the shin sensor moved during the still phase" in line
    assert line.endswith("Its stored analysis is kept.")
    assert bad in table_ids(out)  # its row says 'not analysed'
    with SessionStore.open(db) as store:
        kept, other = store.load_analysis(bad), store.load_analysis(base.ids["alice-mar"])
        assert kept is not None and kept.max_ir_deg == 12.5 and len(kept.reps) == 1
        assert other is not None and other.compensations  # re-analysed with the edited exercise
    # when it is the only one tried, nothing could be analysed: exit code 1
    code, out = reanalyze(db, "--session", str(bad), "--jobs", "1")
    assert code == 1 and "0 sessions" in summary(out)


def test_two_jobs_store_what_one_job_stores(base: Base, db: Path, tmp_path: Path) -> None:
    edit_custom_exercise(db)
    other = tmp_path / "other.sqlite3"
    shutil.copyfile(db, other)
    code1, out1 = reanalyze(db, "--jobs", "1")
    code2, out2 = reanalyze(other, "--jobs", "2")
    assert code1 == code2 == 0
    assert "in 2 worker processes" in out2
    tables = ("sessions", *ANALYSIS_TABLES, *UNTOUCHED_TABLES)
    assert dump(db, tables, without=("analyzed_at",)) == dump(other, tables, without=("analyzed_at",))
    timings = ("Re-analysing ", " re-analysed in ", "Time spent ")
    assert [x for x in out1.splitlines() if not any(t in x for t in timings)] == \
           [x for x in out2.splitlines() if not any(t in x for t in timings)]  # the same table and notes


@pytest.mark.parametrize(("args", "selected"), [
    (["--person", "bob"], ["bob-feb", "bob-seated"]),  # not bob's session being recorded, nor the cut-short one
    (["--exercise", CUSTOM, "--since", "2024-02-01"], ["bob-feb", "alice-mar", "no-swing"]),
    (["--session", "1", "3"], ["alice-jan", "bob-seated"]),  # ids of alice-jan and bob-seated: see base
    (["--person", "alice", "--exercise", "seated-ir"], []),
])
def test_selection(base: Base, db: Path, args: list[str], selected: list[str]) -> None:
    assert (base.ids["alice-jan"], base.ids["bob-seated"]) == (1, 3)
    edit_custom_exercise(db)
    before = analysed_at(db)
    code, out = reanalyze(db, *args)
    assert code == 0
    assert table_ids(out) == [base.ids[name] for name in selected]
    after = analysed_at(db)
    rewritten = {name for name, sid in base.ids.items() if after[sid] != before[sid]}
    # bob-seated is re-analysed, but not changed by the edit: not written; no-swing cannot be analysed
    assert rewritten == set(selected) - {"bob-seated", "no-swing"}
    if not selected:
        assert "No stored session to re-analyse matches." in out


def test_unknown_session_and_bad_arguments_are_refused(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = analysed_at(db)
    assert hiptrack(["--store", str(db), "reanalyze", "--session", "99"]) == 1
    assert "no session '99'" in capsys.readouterr().err
    for bad in (["--since", "10/03/2024"], ["--jobs", "0"], ["--session", "x"]):
        with pytest.raises(SystemExit) as exit_:
            hiptrack(["--store", str(db), "reanalyze", *bad])
        assert exit_.value.code == 2
    assert analysed_at(db) == before


# ------------------------------------------------------------------------------ load_recording


def reference_load(db: Path, session_id: int) -> dict[Segment, tuple[np.ndarray, ...]]:
    """What load_recording returned before it was made faster: fetchall per sensor, np.array."""
    conn = sqlite3.connect(db)
    try:
        out = {}
        for seg in Segment:
            rows = conn.execute("SELECT t, ax, ay, az, gx, gy, gz, mx, my, mz FROM samples "
                                "WHERE session_id = ? AND sensor = ? ORDER BY t, rowid", (session_id, seg.value)
                                ).fetchall()
            if rows:
                a = np.array(rows, dtype=np.float64)
                mag = a[:, 7:10]
                out[seg] = (a[:, 0].copy(), a[:, 1:4].copy(), a[:, 4:7].copy(),
                            *([mag.copy()] if bool(np.isfinite(mag).all()) else []))
        return out
    finally:
        conn.close()


def test_load_recording_returns_exactly_what_fetchall_returned(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    rng = np.random.default_rng(3)

    def stream(n: int, mag: bool) -> SensorStream:
        return SensorStream(np.sort(rng.uniform(0, 100, n)), rng.normal(0, 3, (n, 3)) * 10.0 ** rng.integers(-8, 8),
                            rng.normal(0, 1, (n, 3)), rng.normal(0, 40, (n, 3)) if mag else None)

    rec = Recording(side=Side.LEFT, exercise="seated-ir",
                    streams={Segment.THIGH: stream(5000, True), Segment.SHIN: stream(3000, False),
                             Segment.PELVIS: stream(10, True)},
                    markers=[Marker(1.0, "calibration.static")], sample_rate_hz=100.0, sensors_info={},
                    extra_meta={})
    with SessionStore.open(db) as store:
        sids = [store.store_recording(rec, "import"), store.store_recording(simulated(1, Side.RIGHT, "seated-ir"),
                                                                            "import")]
        live = store.create_session("seated-ir", Side.LEFT, "live", 100.0, {})
        # out of time order, equal times, integral values, and a sensor whose magnetometer comes and goes
        store.add_samples(live, [ImuSample(t, Segment.SHIN, (1.0, 2, 3), (0.0, -0.0, 5e-324),
                                           (1.0, 2.0, 3.0) if k % 2 else None)
                                 for k, t in enumerate([3.0, 1.0, 2.0, 1.0, 0.5])])
        store.add_samples(live, [ImuSample(t, Segment.THIGH, (1.0, 2.0, 3.0), (4.0, 5.0, 6.0), (7.0, 8.0, 9.0))
                                 for t in (2.0, 1.0, 1.0)])
        store.commit()
        for sid in [*sids, live]:
            got = store.load_recording(sid)
            want = reference_load(db, sid)
            assert set(got.streams) == set(want)
            for seg, arrays in want.items():
                s = got.streams[seg]
                mine = (s.t, s.acc, s.gyr, *([] if s.mag is None else [s.mag]))
                assert len(mine) == len(arrays)
                for a, b in zip(mine, arrays, strict=True):
                    assert (a.dtype, a.shape, a.flags.c_contiguous) == (b.dtype, b.shape, b.flags.c_contiguous)
                    assert a.tobytes() == b.tobytes()


def test_a_session_recorded_live_is_not_changed_by_rounding(tmp_path: Path) -> None:
    """`hiptrack demo` stores what the live pipeline found, working the session in 20 ms blocks;
    `reanalyze` works it in whole phases. The two agree to about 1e-14 deg (not always to the last
    bit): that is no change, and nothing is written."""
    db = tmp_path / "store.sqlite3"
    with redirect_stdout(io.StringIO()):
        assert hiptrack(["--store", str(db), "demo", "--speed", "0", "--no-browser", "--exercise",
                         "ninety-ninety-stretch", "--seed", "4"]) == 0
    before = dump(db, ("sessions", *ANALYSIS_TABLES))
    code, out = reanalyze(db, "--jobs", "1")
    assert code == 0
    assert summary(out).endswith("; 0 changed")
    assert dump(db, ("sessions", *ANALYSIS_TABLES)) == before
