"""A stored session as tables (pandas DataFrames), and writing them as CSV or Parquet files.

`session_tables(store, session_id)` returns, by name:

* ``session``: one row: id, start, exercise, side, person, source, status, rate, samples, duration, reps,
  max IR and
  where the reps came from (``analysis``: ``stored``, or ``recomputed`` when the session has no saved
  analysis).
* ``reps``: ``rep`` (1-based), ``set``, ``t_start_s``, ``t_peak_s``, ``t_end_s``, ``peak_ir_deg``, ``hold_s``,
  ``time_to_peak_s``, ``rise_s``, ``return_s``, ``tempo`` (rise-hold-return, s), ``clean`` (no compensation),
  ``compensations`` (kinds joined with ``;``). Start, peak, end, peak IR and hold come from the stored
  analysis; set, timing and tempo from the stored analysis details (`SessionStore.load_details`) when they
  describe the same reps, else they are empty (NA) and ``clean`` follows from the stored compensations.
* ``holds``: ``hold``, ``t_start_s``, ``t_end_s``, ``duration_s``, ``mean_ir_deg``.
* ``compensations``: ``compensation``, ``kind``, ``t_start_s``, ``t_end_s``, ``duration_s``, ``rep`` (NA if none).
* ``angles`` (unless ``angles=False``): ``t_s``, ``hip_ir_deg``, ``knee_flexion_deg``, ``thigh_drift_deg``,
  ``pelvis_motion_deg`` (NaN without a pelvis sensor), recomputed from the stored raw samples with
  `tracker.offline.analyse_recording_in_detail`, one row per output instant.
* ``markers``: ``t_s``, ``label`` (the phases: calibration.static, calibration.swing, exercise.start/end).
* ``pain``: ``set``, ``pain`` (0-10, as the person reported it after the set).
* ``sets`` and ``partial_reps``, only when the details have them: per set ``set``, ``t_start_s``, ``t_end_s``,
  ``reps``, ``clean_reps``, ``reps_with_compensation``, ``partial_reps``, ``max_ir_deg`` (stretches also
  ``time_at_target_s``, ``fidgets``); per partial rep ``t_start_s``, ``t_peak_s``, ``t_end_s``, ``peak_ir_deg``.

Times are seconds on the session's clock (the recording's ``t``), angles degrees; every column name that
has a unit carries it. `write_tables(tables, out_dir, "csv" | "parquet")` writes ``<name>.csv`` or
``<name>.parquet`` per table (each file written whole, then moved into place). Parquet needs pyarrow, the
optional extra ``hiptrack[parquet]``.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from imu_core.errors import AdvisedError
from tracker.analysis import AnalysisResult
from tracker.errors import TrackerError
from tracker.offline import analyse_recording_in_detail
from tracker.store import SessionStore

if TYPE_CHECKING:
    import pandas as pd

TableFormat = Literal["csv", "parquet"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("csv", "parquet")
PARQUET_ADVICE = "Install it with: pip install 'hiptrack[parquet]' (or export CSV instead: --tables csv)."


class TablesExportError(TrackerError):
    """A session's tables cannot be made or written."""


# --------------------------------------------------------------------------------------------- tables


def _frame(columns: Mapping[str, tuple[Sequence[Any] | np.ndarray, str]]) -> pd.DataFrame:
    """A DataFrame with the given dtype per column (kept when there are no rows)."""
    import pandas as pd  # here, not at the top: the command line starts without it
    return pd.DataFrame({name: pd.Series(list(values) if not isinstance(values, np.ndarray) else values,
                                         dtype=dtype) for name, (values, dtype) in columns.items()})


def _num(x: Any) -> float:
    return math.nan if x is None else float(x)


def _details_reps(details: Mapping[str, Any] | None, result: AnalysisResult) -> list[dict[str, Any]] | None:
    """The details' reps if they describe the same reps as `result` (same count, starts within 10 ms)."""
    reps = details.get("reps") if details else None
    if not isinstance(reps, list) or len(reps) != len(result.reps):
        return None
    for d, r in zip(reps, result.reps, strict=True):
        if not isinstance(d, dict) or d.get("start") is None or abs(float(d["start"]) - r.start) > 0.01:
            return None
    return reps


def reps_table(result: AnalysisResult, details: Mapping[str, Any] | None) -> pd.DataFrame:
    n = len(result.reps)
    extra = _details_reps(details, result)
    comps: list[list[str]] = [[] for _ in range(n)]
    for c in result.compensations:
        if c.rep is not None and 1 <= c.rep <= n and c.kind not in comps[c.rep - 1]:
            comps[c.rep - 1].append(c.kind)
    if extra is not None:
        comps = [[str(k) for k in (d.get("compensations") or [])] for d in extra]

    def from_details(key: str) -> list[Any]:
        return [None if extra is None else extra[i].get(key) for i in range(n)]

    return _frame({
        "rep": (range(1, n + 1), "Int64"),
        "set": (from_details("set"), "Int64"),
        "t_start_s": ([r.start for r in result.reps], "float64"),
        "t_peak_s": ([r.peak for r in result.reps], "float64"),
        "t_end_s": ([r.end for r in result.reps], "float64"),
        "peak_ir_deg": ([r.peak_ir_deg for r in result.reps], "float64"),
        "hold_s": ([r.hold_s for r in result.reps], "float64"),
        "time_to_peak_s": ([r.peak - r.start for r in result.reps], "float64"),
        "rise_s": ([_num(x) for x in from_details("rise_s")], "float64"),
        "return_s": ([_num(x) for x in from_details("return_s")], "float64"),
        "tempo": (from_details("tempo"), "string"),
        "clean": ([not c for c in comps], "boolean"),
        "compensations": ([";".join(c) for c in comps], "string"),
    })


def holds_table(result: AnalysisResult) -> pd.DataFrame:
    h = result.holds
    return _frame({
        "hold": (range(1, len(h) + 1), "Int64"),
        "t_start_s": ([x.start for x in h], "float64"),
        "t_end_s": ([x.end for x in h], "float64"),
        "duration_s": ([x.end - x.start for x in h], "float64"),
        "mean_ir_deg": ([x.mean_ir_deg for x in h], "float64"),
    })


def compensations_table(result: AnalysisResult) -> pd.DataFrame:
    c = result.compensations
    return _frame({
        "compensation": (range(1, len(c) + 1), "Int64"),
        "kind": ([x.kind for x in c], "string"),
        "t_start_s": ([x.start for x in c], "float64"),
        "t_end_s": ([x.end for x in c], "float64"),
        "duration_s": ([x.end - x.start for x in c], "float64"),
        "rep": ([x.rep for x in c], "Int64"),
    })


def sets_table(details: Mapping[str, Any]) -> pd.DataFrame | None:
    sets = details.get("sets")
    if not isinstance(sets, list) or not all(isinstance(s, dict) for s in sets):
        return None
    columns: dict[str, tuple[Sequence[Any], str]] = {
        "set": ([s.get("number") for s in sets], "Int64"),
        "t_start_s": ([_num(s.get("start")) for s in sets], "float64"),
        "t_end_s": ([_num(s.get("end")) for s in sets], "float64"),
        "reps": ([s.get("reps") for s in sets], "Int64"),
        "clean_reps": ([s.get("clean_reps") for s in sets], "Int64"),
        "reps_with_compensation": ([s.get("reps_with_compensation") for s in sets], "Int64"),
        "partial_reps": ([s.get("partial_reps") for s in sets], "Int64"),
        "max_ir_deg": ([_num(s.get("max_ir_deg")) for s in sets], "float64"),
    }
    if any("time_at_target_s" in s for s in sets):
        columns["time_at_target_s"] = ([_num(s.get("time_at_target_s")) for s in sets], "float64")
        columns["fidgets"] = ([s.get("fidgets") for s in sets], "Int64")
    return _frame(columns)


def partial_reps_table(details: Mapping[str, Any]) -> pd.DataFrame | None:
    parts = details.get("partial_reps")
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        return None
    return _frame({
        "t_start_s": ([_num(p.get("start")) for p in parts], "float64"),
        "t_peak_s": ([_num(p.get("peak")) for p in parts], "float64"),
        "t_end_s": ([_num(p.get("end")) for p in parts], "float64"),
        "peak_ir_deg": ([_num(p.get("peak_ir_deg")) for p in parts], "float64"),
    })


def session_tables(store: SessionStore, session_id: int, *, angles: bool = True) -> dict[str, pd.DataFrame]:
    """The session's tables (module docstring). Raises UnknownSessionError for an unknown id and
    `TablesExportError` when the angles (or, without a stored analysis, the reps) cannot be recomputed."""
    info = store.get_session(session_id)
    rec = store.load_recording(session_id)
    stored = store.load_analysis(session_id)
    details = store.load_details(session_id)
    result: AnalysisResult | None = stored
    source = "stored"
    angle_frame: pd.DataFrame | None = None
    if angles or stored is None:
        try:
            recomputed, joint, _, recomputed_details = analyse_recording_in_detail(rec)
        except AdvisedError as e:
            what = "angles" if stored is not None else "reps and angles"
            raise TablesExportError(
                f"the {what} of session {session_id} cannot be recomputed from its samples: {e.message}",
                "Export the other tables without the angles (--no-angles)." if stored is not None
                else "The session has no saved analysis and its recording cannot be analysed; export it as a "
                     "recording folder instead (hiptrack export SESSION DIR).") from e
        if stored is None:
            result, details, source = recomputed, recomputed_details, "recomputed"
        if angles:
            angle_frame = _frame({
                "t_s": (np.asarray(joint.t, dtype=np.float64), "float64"),
                "hip_ir_deg": (np.asarray(joint.hip_ir_deg, dtype=np.float64), "float64"),
                "knee_flexion_deg": (np.asarray(joint.knee_flexion_deg, dtype=np.float64), "float64"),
                "thigh_drift_deg": (np.asarray(joint.thigh_drift_deg, dtype=np.float64), "float64"),
                "pelvis_motion_deg": (np.asarray(joint.pelvis_motion_deg, dtype=np.float64), "float64"),
            })
    assert result is not None
    pain = store.load_pain(session_id)
    tables: dict[str, pd.DataFrame] = {
        "session": _frame({
            "session": ([info.id], "Int64"),
            "created_at_utc": ([info.created_at.isoformat()], "string"),
            "exercise": ([info.exercise], "string"),
            "side": ([info.side.value], "string"),
            "person": ([info.person], "string"),
            "source": ([info.source], "string"),
            "status": ([info.status], "string"),
            "sample_rate_hz": ([rec.sample_rate_hz], "float64"),
            "n_samples": ([info.n_samples], "Int64"),
            "duration_s": ([info.duration_s], "float64"),
            "n_reps": ([len(result.reps)], "Int64"),
            "max_ir_deg": ([result.max_ir_deg], "float64"),
            "analysis": ([source], "string"),
        }),
        "markers": _frame({"t_s": ([m.t for m in rec.markers], "float64"),
                           "label": ([m.label for m in rec.markers], "string")}),
        "reps": reps_table(result, details),
        "holds": holds_table(result),
        "compensations": compensations_table(result),
    }
    if angle_frame is not None:
        tables["angles"] = angle_frame
    tables["pain"] = _frame({"set": (list(pain), "Int64"), "pain": (list(pain.values()), "Int64")})
    if details:
        for name, frame in (("sets", sets_table(details)), ("partial_reps", partial_reps_table(details))):
            if frame is not None:
                tables[name] = frame
    return tables


# --------------------------------------------------------------------------------------------- writing


def _require_pyarrow() -> None:
    try:
        importlib.import_module("pyarrow")
    except ImportError as e:
        raise TablesExportError("writing Parquet files needs the pyarrow package, which is not installed.",
                                PARQUET_ADVICE) from e


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path | str, fmt: str = "csv") -> list[Path]:
    """Write one file per table, ``<out_dir>/<name>.csv`` or ``.parquet``; returns the paths, in table order.

    Existing files of the same names are replaced. Raises `TablesExportError` for an unknown format, a
    missing pyarrow (Parquet) or a folder that cannot be written.
    """
    if fmt not in TABLE_FORMATS:
        raise TablesExportError(f"unknown table format {fmt!r}.", "Choose csv or parquet.")
    for name in tables:
        if not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise TablesExportError(f"table name {name!r} cannot be a file name.",
                                    "Use letters, digits and underscores.")
    if fmt == "parquet":
        _require_pyarrow()
    folder = Path(out_dir)
    paths: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            path = folder / f"{name}.{fmt}"
            tmp = folder / f".{name}.{fmt}.part"
            if fmt == "csv":
                frame.to_csv(tmp, index=False, lineterminator="\n")
            else:
                frame.to_parquet(tmp, index=False, engine="pyarrow")
            tmp.replace(path)
            paths.append(path)
    except OSError as e:
        raise TablesExportError(f"cannot write the tables to {folder} ({e.strerror or e}).",
                                "Check that the folder is writable and the disk has space.") from e
    return paths
