"""Reading and checking one MetaBase CSV file: header, units, rows, truncation and time stamps.

What MetaBase writes (its iOS/macOS source, ``Universal/State.swift`` and ``SensorConfig.swift``, and
exports found in public data sets): one header line, then one row per sample:
``epoc (ms),timestamp (+0100),elapsed (s),x-axis (g),y-axis (g),z-axis (g)`` (Android versions write
``epoch (ms),time (+01:00),...``). Gyroscope ``x-axis (deg/s)``, magnetometer ``x-axis (T)`` (Tesla).
Values are written with 3 decimals (acc, gyro) or 9 (magnetometer, in T); ``epoc`` is integer
milliseconds since 1970 on the phone's clock; iOS writes no newline after the last row. Rows of one file
may share an ``epoc`` value (several samples of one packet get one time stamp).

Rules (each violation is an error naming the file, and the line or column):

* Units are checked in every header: acceleration must be in ``g``, angular rate in ``deg/s``, the
  magnetic field in ``T``; any other unit or column name is refused. Conversion: g * 9.80665 -> m/s²,
  deg/s -> rad/s, T * 1e6 -> µT.
* Rows that share a time stamp are spread evenly up to the next distinct time stamp (the last group by
  the nominal period). A time stamp earlier than the row before is an error.
* A file's rate (from its name, else measured) must agree with the spacing of its time stamps within 10 %.
* Truncation: a *last* row with fields missing or cut short (fewer decimals than the row before) is
  what an interrupted export leaves: it is skipped with a note. A bad row anywhere else, an empty file
  or a file with a header only is an error.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware_bridge.metabase.errors import MetabaseFileError, MetabaseRateError, MetabaseUnitError
from firmware_bridge.metabase.names import MetabaseFile
from imu_core.frames import GRAVITY_M_S2


@dataclass(frozen=True, slots=True)
class _SignalSpec:
    name: str
    """As in MetaBase file names."""
    unit: str
    """The only unit accepted in the header."""
    scale: float
    """Multiplier from that unit to ours (m/s², rad/s, µT)."""
    holds: str
    """What the file holds, in words."""


ACCELEROMETER = _SignalSpec("Accelerometer", "g", GRAVITY_M_S2, "acceleration in g")
GYROSCOPE = _SignalSpec("Gyroscope", "deg/s", math.pi / 180.0, "angular rate in deg/s")
MAGNETOMETER = _SignalSpec("Magnetometer", "T", 1e6, "magnetic field in T (Tesla)")
SIGNALS: dict[str, _SignalSpec] = {s.name: s for s in (ACCELEROMETER, GYROSCOPE, MAGNETOMETER)}

_EPOCH_COLUMNS = ("epoc (ms)", "epoch (ms)")
_TIMESTAMP_RE = re.compile(r"^(timestamp|time) \(.*\)$")
_AXIS_RE = re.compile(r"^(?P<axis>[xyz])-axis \((?P<unit>.*)\)$")
_N_COLUMNS = 6
MAX_RATE_MISMATCH = 0.10
"""A file's stated rate and the spacing of its time stamps may differ by this fraction."""


@dataclass(slots=True)
class Series:
    """One file's samples: epoch times (ms, ties spread) and values in our units."""

    file: MetabaseFile
    t_ms: np.ndarray
    values: np.ndarray
    rate_hz: float
    """Nominal: from the file name, else measured."""


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise MetabaseFileError(path, "the file is not UTF-8 text.",
                                "Import the CSV files as MetaBase wrote them (not opened and re-saved).") from e
    except OSError as e:
        raise MetabaseFileError(path, f"cannot read the file ({e.strerror or e}).",
                                "Check that the file exists and is readable.") from e


def _check_header(header: list[str], spec: _SignalSpec, path: Path) -> None:
    cols = [h.strip() for h in header]
    expected = (f"epoc (ms),timestamp (<zone>),elapsed (s),x-axis ({spec.unit}),y-axis ({spec.unit}),"
                f"z-axis ({spec.unit})")
    advice = f"A MetaBase {spec.name} file starts with the header line {expected}."
    if len(cols) < 3 or cols[0].lower() not in _EPOCH_COLUMNS:
        raise MetabaseFileError(path, f"the first column is {cols[0] if cols else ''!r}, expected 'epoc (ms)'.",
                                advice, line=1, column=cols[0] if cols else None)
    if not _TIMESTAMP_RE.match(cols[1].lower()):
        raise MetabaseFileError(path, f"the second column is {cols[1]!r}, expected 'timestamp (<zone>)'.",
                                advice, line=1, column=cols[1])
    if cols[2].lower() != "elapsed (s)":
        raise MetabaseFileError(path, f"the third column is {cols[2]!r}, expected 'elapsed (s)'.",
                                advice, line=1, column=cols[2])
    for i, axis in enumerate("xyz"):
        k = 3 + i
        if k >= len(cols):
            raise MetabaseFileError(path, f"the header has {len(cols)} columns; the {axis}-axis column is missing.",
                                    advice, line=1)
        m = _AXIS_RE.match(cols[k])
        if m is None or m.group("axis") != axis:
            raise MetabaseFileError(path, f"column {k + 1} is {cols[k]!r}, expected '{axis}-axis ({spec.unit})'.",
                                    advice, line=1, column=cols[k])
        unit = m.group("unit").strip()
        if unit != spec.unit:
            raise MetabaseUnitError(
                path, f"the unit is {unit!r}; a MetaBase {spec.name} file holds {spec.holds}.",
                f"Import the file as MetaBase exported it ({spec.name} in {spec.unit}); files converted to "
                "other units are not accepted.", line=1, column=cols[k])
    if len(cols) > _N_COLUMNS:
        raise MetabaseFileError(path, f"unexpected extra column {cols[_N_COLUMNS]!r}.", advice, line=1,
                                column=cols[_N_COLUMNS])


def _decimals(text: str) -> int:
    _, dot, frac = text.strip().partition(".")
    return len(frac) if dot else 0


def read_series(f: MetabaseFile, spec: _SignalSpec, notes: list[str]) -> Series:
    """Read and check one file (module rules); notes about skipped rows or spread time stamps go to `notes`."""
    path = f.path
    text = _read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise MetabaseFileError(path, "the file is empty.",
                                "The MetaBase export was interrupted or the file was emptied; export it again.")
    header = next(csv.reader([lines[0]]))
    _check_header(header, spec, path)
    rows: list[tuple[int, list[str]]] = [(i + 2, ln.split(",")) for i, ln in enumerate(lines[1:]) if ln.strip()]
    if not rows:
        raise MetabaseFileError(path, "the file has a header but no samples.",
                                f"Record the {spec.name} in MetaBase and export the session again.")
    names = [h.strip() for h in header]
    data = np.empty((len(rows), 4))
    last = len(rows) - 1
    keep = np.ones(len(rows), dtype=bool)
    for r, (line, fields) in enumerate(rows):
        problem = _row_problem(fields, names, data, r)
        if problem is None and r == last and r > 0:
            prev = rows[r - 1][1]
            if _decimals(fields[-1]) < _decimals(prev[-1]):
                problem = (f"the last value {fields[-1].strip()!r} has fewer decimals than the row before", names[-1])
        if problem is None:
            continue
        message, column = problem
        if r == last:
            keep[r] = False
            notes.append(f"{path.name}: line {line} was cut off ({message}); it was skipped.")
            continue
        raise MetabaseFileError(path, f"{message}.", "The file is damaged (a row in the middle is incomplete); "
                                "export the session from MetaBase again.", line=line, column=column)
    data = data[keep]
    line_numbers = np.array([ln for (ln, _), k in zip(rows, keep, strict=True) if k], dtype=np.int64)
    if data.shape[0] < 2:
        raise MetabaseFileError(path, f"only {data.shape[0]} complete sample(s).",
                                "A recording needs more than a moment of data; export the whole session.")
    t_ms = data[:, 0]
    back = np.flatnonzero(np.diff(t_ms) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise MetabaseFileError(
            path, f"time goes backwards: epoc {t_ms[i]:.0f} ms after {t_ms[i - 1]:.0f} ms.",
            "Rows must be in time order as MetaBase writes them; do not sort, merge or edit the file.",
            line=int(line_numbers[i]), column=names[0])
    if t_ms[-1] == t_ms[0]:
        raise MetabaseFileError(path, "every row has the same time stamp.",
                                "The time column is damaged; export the session from MetaBase again.",
                                line=int(line_numbers[0]), column=names[0])
    t_ms, tied = _spread_ties(t_ms, None if f.rate_hz is None else 1000.0 / f.rate_hz)
    if tied:
        notes.append(f"{path.name}: {tied} rows shared a time stamp with the row before; "
                     "they were spread evenly up to the next time stamp.")
    median_ms = float(np.median(np.diff(t_ms)))
    measured = 1000.0 / median_ms
    rate = f.rate_hz if f.rate_hz is not None else measured
    if abs(measured / rate - 1.0) > MAX_RATE_MISMATCH:
        raise MetabaseRateError(
            f"{path}: the file name says {rate:g} Hz but its time stamps are {median_ms:.1f} ms apart "
            f"({measured:.1f} Hz).",
            "The file name and its contents do not belong together; import the files as MetaBase wrote them.")
    return Series(f, t_ms, data[:, 1:4] * spec.scale, float(rate))


def _row_problem(fields: list[str], names: list[str], out: np.ndarray, r: int) -> tuple[str, str | None] | None:
    """Parse a data row into out[r] (epoc, x, y, z); return (problem, column) if it is incomplete or bad."""
    if len(fields) < _N_COLUMNS:
        return f"{len(fields)} of {_N_COLUMNS} fields", names[len(fields)] if len(fields) < len(names) else None
    if len(fields) > _N_COLUMNS:
        return f"{len(fields)} fields, the header has {_N_COLUMNS}", None
    for k, c in enumerate((0, 3, 4, 5)):
        cell = fields[c].strip()
        if not cell:
            return "an empty value", names[c]
        try:
            v = float(cell)
        except ValueError:
            return f"{cell!r} is not a number", names[c]
        if not math.isfinite(v):
            return f"{cell!r} is not a finite number", names[c]
        out[r, k] = v
    return None


def _spread_ties(t_ms: np.ndarray, period_ms: float | None) -> tuple[np.ndarray, int]:
    """Spread rows sharing a time stamp evenly up to the next distinct one; returns (times, rows moved)."""
    new = np.concatenate([[True], np.diff(t_ms) > 0])
    tied = int((~new).sum())
    if tied == 0:
        return t_ms.astype(np.float64), 0
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, t_ms.shape[0]))
    values = t_ms[starts]
    if period_ms is None:  # at least two distinct values (checked by the caller)
        period_ms = float(np.median(np.diff(values) / counts[:-1]))
    nxt = np.append(values[1:], values[-1] + counts[-1] * period_ms)
    step = (nxt - values) / counts
    offset = np.arange(t_ms.shape[0]) - np.repeat(starts, counts)
    return np.repeat(values, counts) + offset * np.repeat(step, counts), tied
