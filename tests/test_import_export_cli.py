"""`hiptrack import --metabase` and `hiptrack export --tables` through the real command line: a simulated
seated-IR session exported as MetaBase files is imported into a store, damaged exports are refused with a
one-line error and leave the store as it was, and the imported session's tables read back with pandas."""

from __future__ import annotations

import io
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from metabase_files import SHIN_MAC, THIGH_MAC, MetabaseFiles, edit_lines, sim_session, write_metabase

from firmware_bridge.simulator import SimulatedSession
from imu_core.frames import Segment
from tracker.analysis import AnalysisResult
from tracker.cli import main as hiptrack
from tracker.store import SessionStore

PERSON = "alice"
THIGH, SHIN = "C4:A3:E9:E2:E5:F3", "D1:F4:CF:B8:F6:E0"  # as a user types them; the files have no colons
assert (THIGH.replace(":", ""), SHIN.replace(":", "")) == (THIGH_MAC, SHIN_MAC)


def import_args(db: Path, folder: Path, *, shin: str = SHIN) -> list[str]:
    return ["--store", str(db), "--person", PERSON, "import", "--metabase", str(folder), "--thigh", THIGH,
            "--shin", shin, "--side", "left", "--exercise", "seated-ir"]


@dataclass(frozen=True)
class Imported:
    sim: SimulatedSession
    export: Path
    """The clean MetaBase export (not to be changed: tests damage copies)."""
    files: MetabaseFiles
    db: Path
    sid: int
    stdout: str


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    """A simulated seated-IR session (left leg), exported as MetaBase files and imported with the CLI."""
    root = tmp_path_factory.mktemp("cli")
    sim = sim_session()
    files = write_metabase(sim.recording, root / "metabase")
    db = root / "store.sqlite3"
    with redirect_stdout(io.StringIO()) as out:
        assert hiptrack(import_args(db, root / "metabase")) == 0
    with SessionStore.open(db) as store:
        sid = store.list_sessions()[-1].id
    return Imported(sim, root / "metabase", files, db, sid, out.getvalue())


def stored_analysis(imported: Imported) -> AnalysisResult:
    with SessionStore.open(imported.db) as store:
        result = store.load_analysis(imported.sid)
    assert result is not None
    return result


# ------------------------------------------------------------------------------------------ import


def test_metabase_export_imports_as_one_session_of_the_person(imported: Imported) -> None:
    truth = np.array([r.peak_ir_deg for r in imported.sim.truth_reps])
    with SessionStore.open(imported.db) as store:
        sessions = store.list_sessions()
        assert [s.id for s in sessions] == [imported.sid]
        info = sessions[0]
        assert (info.person, info.source, info.exercise, info.side.value) == (PERSON, "import", "seated-ir", "left")
        assert info.created_at.date().isoformat() == "2021-03-04"  # when the MetaBase session was recorded
        rec = store.load_recording(imported.sid)
    assert set(rec.streams) == {Segment.THIGH, Segment.SHIN}
    assert rec.sensors_info["shin"]["mac"] == SHIN
    result = stored_analysis(imported)
    assert len(result.reps) == len(truth) == info.n_reps == 8
    assert np.abs(np.array([r.peak_ir_deg for r in result.reps]) - truth).max() < 1.5
    assert f"Imported as session {imported.sid}: 8 reps" in imported.stdout


# ------------------------------------------------------------------------------------------ refused imports


def store_state(db: Path) -> tuple[object, ...]:
    """Everything an import writes: sessions (with their sample and rep counts), people, and the rows."""
    with SessionStore.open(db) as store:
        sessions = [(s.id, s.person, s.n_samples, s.n_reps, s.status) for s in store.list_sessions()]
        people = [p.name for p in store.list_people()]
    conn = sqlite3.connect(db)
    try:
        rows = tuple(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                     for table in ("sessions", "samples", "markers"))
    finally:
        conn.close()
    return sessions, people, rows


def replace_header(signal_file: tuple[Segment, str], old: str, new: str) -> Callable[[MetabaseFiles], Path]:
    def damage(files: MetabaseFiles) -> Path:
        path = files[signal_file]
        edit_lines(path, lambda lines: [lines[0].replace(old, new), *lines[1:]])
        return path
    return damage


def cut_row_101(files: MetabaseFiles) -> Path:
    """Row 101 of the thigh's gyroscope file keeps 4 of its 6 fields; the rows after it are intact."""
    path = files[(Segment.THIGH, "Gyroscope")]
    edit_lines(path, lambda lines: [*lines[:100], ",".join(lines[100].split(",")[:4]), *lines[101:]])
    return path


def remove_shin_gyroscope(files: MetabaseFiles) -> None:
    files[(Segment.SHIN, "Gyroscope")].unlink()


@dataclass(frozen=True)
class Malformed:
    damage: Callable[[MetabaseFiles], Path | None]
    """Damages the copy of the export; returns the file whose name the error must give, if any."""
    says: tuple[str, ...]
    shin: str = SHIN


MALFORMED = {
    "wrong-column": Malformed(replace_header((Segment.SHIN, "Accelerometer"), "z-axis (g)", "w (number)"),
                              ("line 1", "'w (number)'", "expected 'z-axis (g)'")),
    "wrong-unit": Malformed(replace_header((Segment.THIGH, "Gyroscope"), "(deg/s)", "(rad/s)"),
                            ("'rad/s'", "Gyroscope file holds angular rate in deg/s")),
    "row-cut-in-the-middle": Malformed(cut_row_101, ("line 101", "4 of 6 fields", "'y-axis (deg/s)'")),
    "missing-gyroscope": Malformed(remove_shin_gyroscope, (f"the shin board {SHIN} has no Gyroscope file",)),
    "unknown-mac": Malformed(lambda files: None, (f"board {SHIN} that is not assigned to a segment",
                                                  "no files of the shin board AA:BB:CC:DD:EE:FF"),
                             shin="AA:BB:CC:DD:EE:FF"),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_export_is_refused_and_changes_nothing(imported: Imported, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], case: Malformed) -> None:
    folder = tmp_path / "metabase"
    shutil.copytree(imported.export, folder)
    named = case.damage({key: folder / path.name for key, path in imported.files.items()})
    before = store_state(imported.db)
    capsys.readouterr()

    assert hiptrack(import_args(imported.db, folder, shin=case.shin)) == 1

    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hiptrack: error: "), err
    for fragment in (*case.says, *([named.name] if named else [])):
        assert fragment in lines[0], (fragment, lines[0])
    assert "Imported" not in out
    assert store_state(imported.db) == before


# ------------------------------------------------------------------------------------------ export


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_of_the_imported_session_read_back(imported: Imported, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    out_dir = tmp_path / "tables"
    assert hiptrack(["--store", str(imported.db), "export", str(imported.sid), str(out_dir), "--tables", fmt]) == 0
    assert f"Session {imported.sid}:" in capsys.readouterr().out
    assert {"session", "reps", "holds", "markers", "angles"} <= {p.stem for p in out_dir.iterdir()}
    assert all(p.suffix == f".{fmt}" for p in out_dir.iterdir())

    def read(name: str) -> pd.DataFrame:
        path = out_dir / f"{name}.{fmt}"
        return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)

    stored = stored_analysis(imported).reps
    reps = read("reps")
    assert reps["rep"].tolist() == list(range(1, len(stored) + 1))
    for column, values in (("t_start_s", [r.start for r in stored]), ("t_peak_s", [r.peak for r in stored]),
                           ("t_end_s", [r.end for r in stored]), ("peak_ir_deg", [r.peak_ir_deg for r in stored]),
                           ("hold_s", [r.hold_s for r in stored])):
        np.testing.assert_array_equal(reps[column].to_numpy(dtype=float), values, err_msg=column)
    session = read("session").iloc[0]
    assert (session["session"], session["person"], session["n_reps"]) == (imported.sid, PERSON, len(stored))
    assert len(read("angles")) > 0
