"""Tables of a stored session (tracker.tables): built from a simulated session in a real store, written
as CSV and Parquet, read back with pandas and checked against the stored analysis and the recording."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from firmware_bridge.simulator import Compensation, CompensationKind, simulate_session
from imu_core.frames import Side
from imu_core.types import Recording
from tracker.analysis import AnalysisResult
from tracker.errors import TrackerError, UnknownSessionError
from tracker.offline import analyse_recording, analyse_recording_in_detail
from tracker.store import SessionStore
from tracker.tables import TablesExportError, session_tables, write_tables


@dataclass
class Stored:
    path: Path
    full: int
    """Analysis, details and pain saved."""
    bare: int
    """Samples and markers only."""
    no_details: int
    """Analysis saved, no details."""
    rec: Recording
    result: AnalysisResult


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    sim = simulate_session(seed=3, side=Side.LEFT, sets=2, reps=3,
                           compensations=[Compensation(CompensationKind.THIGH_DRIFT, 2)])
    rec = sim.recording
    result, _, _, details = analyse_recording_in_detail(rec)
    path = tmp_path_factory.mktemp("tables") / "store.sqlite3"
    with SessionStore.open(path) as store:
        full = store.store_recording(rec, source="demo")
        store.save_analysis(full, result)
        store.save_details(full, details)
        store.add_pain(full, 1, 3, t=38.0)
        store.add_pain(full, 2, 5, t=74.5)
        bare = store.store_recording(rec, source="import")
        no_details = store.store_recording(rec, source="import")
        store.save_analysis(no_details, result)
        store.commit()
    return Stored(path, full, bare, no_details, rec, result)


def tables_of(stored: Stored, sid: int, **kw: bool) -> dict[str, pd.DataFrame]:
    with SessionStore.open(stored.path) as store:
        return session_tables(store, sid, **kw)


def test_tables_hold_the_stored_analysis(stored: Stored) -> None:
    t = tables_of(stored, stored.full)
    assert list(t) == ["session", "markers", "reps", "holds", "compensations", "angles", "pain", "sets",
                       "partial_reps"]
    res = stored.result
    reps = t["reps"]
    assert len(reps) == len(res.reps) == 6
    assert reps["rep"].tolist() == [1, 2, 3, 4, 5, 6] and reps["set"].tolist() == [1, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(reps["peak_ir_deg"], [r.peak_ir_deg for r in res.reps])
    np.testing.assert_array_equal(reps["hold_s"], [r.hold_s for r in res.reps])
    np.testing.assert_array_equal(reps["t_peak_s"], [r.peak for r in res.reps])
    assert reps["tempo"].notna().all() and reps["rise_s"].notna().all()
    drift_reps = {c.rep for c in res.compensations if c.kind == "thigh_drift"}
    assert drift_reps == {2}
    assert reps["clean"].tolist() == [r not in drift_reps for r in range(1, 7)]
    assert reps.loc[1, "compensations"] == "thigh_drift" and reps.loc[0, "compensations"] == ""

    holds = t["holds"]
    assert len(holds) == len(res.holds)
    np.testing.assert_allclose(holds["duration_s"], [h.end - h.start for h in res.holds])
    comps = t["compensations"]
    assert comps["kind"].tolist() == [c.kind for c in res.compensations] and comps["rep"].tolist() == [2]

    assert t["pain"].to_dict("list") == {"set": [1, 2], "pain": [3, 5]}
    sets = t["sets"]
    assert sets["set"].tolist() == [1, 2] and sets["reps"].tolist() == [3, 3]
    assert sets["reps_with_compensation"].tolist() == [1, 0]
    session = t["session"].iloc[0]
    assert (session["session"], session["n_reps"], session["analysis"], session["exercise"]) == (
        stored.full, 6, "stored", "seated-ir")
    assert t["markers"]["label"].tolist() == [m.label for m in stored.rec.markers]


def test_angles_are_recomputed_over_the_whole_recording(stored: Stored) -> None:
    angles = tables_of(stored, stored.full)["angles"]
    _, joint, _ = analyse_recording(stored.rec)
    assert len(angles) == len(joint)
    np.testing.assert_allclose(angles["hip_ir_deg"], joint.hip_ir_deg)
    t = angles["t_s"].to_numpy()
    t0 = min(float(s.t[0]) for s in stored.rec.streams.values())
    t1 = max(float(s.t[-1]) for s in stored.rec.streams.values())
    assert t0 <= t[0] < t0 + 0.1 and t1 - 0.1 < t[-1] <= t1
    assert bool(np.all(np.diff(t) > 0)) and len(t) / (t[-1] - t[0]) >= 50.0
    assert angles["pelvis_motion_deg"].isna().all()  # no pelvis sensor


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_files_read_back(stored: Stored, tmp_path: Path, fmt: str) -> None:
    tables = tables_of(stored, stored.full)
    paths = write_tables(tables, tmp_path / "out", fmt)
    assert [p.name for p in paths] == [f"{name}.{fmt}" for name in tables]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)

    def read(name: str) -> pd.DataFrame:
        path = tmp_path / "out" / f"{name}.{fmt}"
        return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)

    res = stored.result
    reps = read("reps")
    assert len(reps) == len(res.reps)
    np.testing.assert_array_equal(reps["peak_ir_deg"], [r.peak_ir_deg for r in res.reps])
    np.testing.assert_array_equal(reps["hold_s"], [r.hold_s for r in res.reps])
    assert reps["clean"].tolist() == tables["reps"]["clean"].tolist()
    holds = read("holds")
    np.testing.assert_array_equal(holds["mean_ir_deg"], [h.mean_ir_deg for h in res.holds])
    angles = read("angles")
    assert len(angles) == len(tables["angles"])
    np.testing.assert_array_equal(angles["t_s"], tables["angles"]["t_s"])
    np.testing.assert_array_equal(angles["knee_flexion_deg"], tables["angles"]["knee_flexion_deg"])
    assert read("pain")["pain"].tolist() == [3, 5]
    assert read("compensations")["rep"].tolist() == [2]
    for name, frame in tables.items():
        assert list(read(name).columns) == list(frame.columns), name
    if fmt == "parquet":
        for name, frame in tables.items():
            pd.testing.assert_frame_equal(read(name), frame, check_dtype=True)


def test_units_are_in_the_column_names(stored: Stored) -> None:
    unitless = {"rep", "set", "hold", "compensation", "session", "created_at_utc", "exercise", "side", "person",
                "source",
                "status", "n_samples", "n_reps", "analysis", "label", "kind", "tempo", "clean", "compensations",
                "pain", "reps", "clean_reps", "reps_with_compensation", "partial_reps"}
    for name, frame in tables_of(stored, stored.full).items():
        for col in frame.columns:
            assert col in unitless or col.endswith(("_s", "_deg", "_hz")), (name, col)


def test_session_without_details_or_analysis(stored: Stored) -> None:
    no_details = tables_of(stored, stored.no_details, angles=False)
    assert "angles" not in no_details and "sets" not in no_details
    reps = no_details["reps"]
    assert len(reps) == 6 and reps["set"].isna().all() and reps["tempo"].isna().all()
    assert reps["clean"].tolist() == [True, False, True, True, True, True]  # from the stored compensations
    assert reps["compensations"].tolist()[1] == "thigh_drift"

    bare = tables_of(stored, stored.bare)
    assert bare["session"].loc[0, "analysis"] == "recomputed"
    np.testing.assert_allclose(bare["reps"]["peak_ir_deg"], [r.peak_ir_deg for r in stored.result.reps])
    assert len(bare["pain"]) == 0 and list(bare["pain"].columns) == ["set", "pain"]
    assert "sets" in bare  # the recomputed details


def test_an_unanalysable_session(tmp_path: Path) -> None:
    sim = simulate_session(seed=4, max_seconds=20.0)
    rec = sim.recording
    result, _, _ = analyse_recording(rec)
    rec.markers = []  # no calibration phases: the angles cannot be recomputed
    with SessionStore.open(tmp_path / "s.sqlite3") as store:
        sid = store.store_recording(rec, source="import")
        store.save_analysis(sid, result)
        with pytest.raises(TablesExportError, match="cannot be recomputed") as e:
            session_tables(store, sid)
        assert "--no-angles" in e.value.advice
        assert "angles" not in session_tables(store, sid, angles=False)
        bare = store.store_recording(rec, source="import")
        with pytest.raises(TablesExportError, match="reps and angles"):
            session_tables(store, bare, angles=False)
        with pytest.raises(UnknownSessionError):
            session_tables(store, 999)


def test_parquet_without_pyarrow_says_what_to_install(stored: Stored, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    tables = tables_of(stored, stored.full, angles=False)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    with pytest.raises(TablesExportError) as e:
        write_tables(tables, tmp_path / "out", "parquet")
    assert "pip install 'hiptrack[parquet]'" in e.value.advice and "csv" in e.value.advice
    assert isinstance(e.value, TrackerError)
    assert not (tmp_path / "out").exists()
    assert len(write_tables(tables, tmp_path / "out", "csv")) == len(tables)


def test_bad_format_and_unwritable_folder(stored: Stored, tmp_path: Path) -> None:
    tables = tables_of(stored, stored.full, angles=False)
    with pytest.raises(TablesExportError, match="unknown table format 'xlsx'"):
        write_tables(tables, tmp_path, "xlsx")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(TablesExportError, match="cannot write the tables"):
        write_tables(tables, blocker / "out", "csv")
    with pytest.raises(TablesExportError, match="cannot be a file name"):
        write_tables({"../reps": tables["reps"]}, tmp_path, "csv")
