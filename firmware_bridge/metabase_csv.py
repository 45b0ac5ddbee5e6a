"""Import of MbientLab MetaBase CSV exports: one CSV file per board and signal -> a `Recording`.

What MetaBase writes (its iOS/macOS source, ``Universal/State.swift`` and ``SensorConfig.swift``, and
exports found in public data sets):

* File names ``<name>_<start>_<MAC>_<Signal>[_<rate>Hz[_<firmware>]].csv``, e.g.
  ``MetaWear_2021-03-04T10.11.12.345_C4A3E9E2E5F3_Accelerometer_100.000Hz_1.6.0.csv``. ``<name>`` is the
  board's name (users often put a session label in front of it: ``thigh1_MetaWear_...``), ``<start>`` the
  session start in local time, ``<MAC>`` the board's address without colons, ``<Signal>`` the sensor name
  without spaces. Older versions leave out the rate and firmware.
* One header line, then one row per sample:
  ``epoc (ms),timestamp (+0100),elapsed (s),x-axis (g),y-axis (g),z-axis (g)`` (Android versions write
  ``epoch (ms),time (+01:00),...``). Gyroscope ``x-axis (deg/s)``, magnetometer ``x-axis (T)`` (Tesla).
  Values are written with 3 decimals (acc, gyro) or 9 (magnetometer, in T); ``epoc`` is integer
  milliseconds since 1970 on the phone's clock; iOS writes no newline after the last row.
* Rows of one file may share an ``epoc`` value (several samples of one packet get one time stamp).

Rules of this import (each violation is an error naming the file, and the line or column):

* Files are grouped by MAC and signal. The caller says which MAC is the thigh, the shin and optionally the
  pelvis; a board in the files that is not in that mapping, or a mapped board without files, is an error
  listing the MACs found. Each board needs an ``Accelerometer`` and a ``Gyroscope`` file; a
  ``Magnetometer`` file is used when present. Other MetaBase signals (temperature, pressure, sensor-fusion
  outputs...) are skipped with a note; two files of the same board and signal are an error (import one
  MetaBase session at a time).
* Units are checked in every header: acceleration must be in ``g``, angular rate in ``deg/s``, the
  magnetic field in ``T``; any other unit or column name is refused. Conversion: g * 9.80665 -> m/s²,
  deg/s -> rad/s, T * 1e6 -> µT.
* Time: ``epoc (ms)`` of every file, on one session clock for all boards, t = 0 at the first sample of
  the session (the earliest first sample over the files used). Rows that share a time stamp are spread
  evenly up to the next distinct time stamp (the last group by the nominal period). A time stamp earlier
  than the row before is an error.
* One time base per board: the faster of accelerometer and gyroscope (the gyroscope when the rates are
  equal) gives the sample instants; the other signal is interpolated linearly onto them. An instant is
  dropped where the other signal has no sample on one side, or where its neighbours are more than 2.5 of
  its periods apart (lost samples are left out, not invented). The magnetometer (25 Hz or less) is
  repeated: each sample carries the newest reading at or before it, as the live MetaWear driver does;
  if readings are more than 0.5 s old anywhere, the board's magnetometer is left out with a note.
* Rates: a file's rate (from its name, else measured) must agree with the spacing of its time stamps
  within 10 %; accelerometer and gyroscope of a board may differ by a factor of at most 4; every board
  must end up at the same rate (the recording's ``sample_rate_hz``, which the orientation filters use).
* Truncation: a *last* row with fields missing or cut short (fewer decimals than the row before) is
  what an interrupted export leaves: it is skipped with a note. A bad row anywhere else, an empty file
  or a file with a header only is an error.
* Markers: MetaBase records none. Either the caller gives them (at least ``calibration.static``,
  ``calibration.swing`` and ``exercise.start``, in seconds on the session clock), or `detect_markers`
  finds them: a still period of both sensors, the knee swings that follow it (the shin swinging back and
  forth at least twice), then the exercise from the next movement on, to the end of the data. Detected
  markers give one exercise phase: sets are not split (give the markers to split them).

`read_metabase` returns the recording only when every file and the markers are valid; it stores nothing.
Notes about skipped lines, signals or magnetometers are kept in ``extra_meta["metabase"]["notes"]``
(`import_notes`).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.errors import BridgeError
from imu_core.frames import GRAVITY_M_S2, Segment, Side
from imu_core.types import Marker, MarkerLabel, Recording, SensorStream

# --------------------------------------------------------------------------------------------- errors


class MetabaseError(BridgeError):
    """Root of the MetaBase import's errors: nothing was imported."""


class MetabaseFileError(MetabaseError):
    """A MetaBase CSV file is empty, truncated or malformed; `line` (1-based) and `column` when known."""

    def __init__(self, path: Path | str, message: str, advice: str = "", *, line: int | None = None,
                 column: str | None = None) -> None:
        where = str(path) + (f", line {line}" if line is not None else "") + \
            (f", column {column!r}" if column is not None else "")
        super().__init__(f"{where}: {message}",
                         advice or "Export the session from MetaBase again and import the files unchanged.")
        self.path = str(path)
        self.line = line
        self.column = column


class MetabaseUnitError(MetabaseFileError):
    """A column is in a unit this import does not know or does not expect for the signal."""


class MetabaseBoardError(MetabaseError):
    """The boards found in the files do not match the MAC -> segment mapping, or a board lacks a signal."""

    def __init__(self, message: str, advice: str, macs_found: Sequence[str]) -> None:
        super().__init__(message, advice)
        self.macs_found = list(macs_found)


class MetabaseRateError(MetabaseError):
    """Sample rates that do not fit together (file name vs time stamps, accelerometer vs gyro, boards)."""


class MetabaseMarkerError(MetabaseError):
    """Markers given by the caller are unusable."""


class MarkerDetectionError(MetabaseError):
    """The calibration phases could not be found in the data."""


# --------------------------------------------------------------------------------------------- format

MARKER_OPTIONS_ADVICE = (
    "Give the phase times yourself, in seconds from the first sample of the session: "
    "--marker calibration.static=SECONDS --marker calibration.swing=SECONDS --marker exercise.start=SECONDS "
    "(and exercise.end=SECONDS, one start/end pair per set). Next time, begin the MetaBase recording with "
    "both legs still for 3 s or more, then swing the lower leg 3 to 5 times with the thigh still, then rest "
    "2 s before the exercise."
)


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

_NAME_RE = re.compile(
    r"^(?P<device>.*)_(?P<start>\d{4}-\d{2}-\d{2}T\d{2}[.:-]\d{2}[.:-]\d{2}(?:\.\d{1,6})?)"
    r"_(?P<mac>[0-9A-Fa-f]{12})_(?P<signal>[A-Za-z][A-Za-z0-9]*)"
    r"(?:_(?P<rate>\d+(?:\.\d+)?)Hz)?(?:_(?P<firmware>\d+(?:\.\d+)*))?\.csv$")
_EPOCH_COLUMNS = ("epoc (ms)", "epoch (ms)")
_TIMESTAMP_RE = re.compile(r"^(timestamp|time) \(.*\)$")
_AXIS_RE = re.compile(r"^(?P<axis>[xyz])-axis \((?P<unit>.*)\)$")
_N_COLUMNS = 6
MAX_RATE_MISMATCH = 0.10
"""A file's stated rate and the spacing of its time stamps may differ by this fraction."""
MAX_ACC_GYRO_RATIO = 4.0
GAP_PERIODS = 2.5
"""Interpolation bridges neighbours at most this many periods apart."""
MAG_MAX_AGE_S = 0.5
MIN_OVERLAP = 0.5
"""Boards must record together for at least this share of the shorter board's time span."""


@dataclass(frozen=True, slots=True)
class MetabaseFile:
    """What a MetaBase file name says."""

    path: Path
    device_name: str
    started: str
    """Session start as written in the name (local time, e.g. 2021-03-04T10.11.12.345)."""
    mac: str
    """12 upper-case hex digits, no separators."""
    signal: str
    rate_hz: float | None
    firmware: str | None


def parse_file_name(path: Path | str) -> MetabaseFile | None:
    """The parts of a MetaBase file name, or None if the name does not follow MetaBase's pattern."""
    p = Path(path)
    m = _NAME_RE.match(p.name)
    if m is None:
        return None
    rate = m.group("rate")
    return MetabaseFile(p, m.group("device"), m.group("start"), m.group("mac").upper(), m.group("signal"),
                        None if rate is None else float(rate), m.group("firmware"))


def normalise_mac(text: str) -> str:
    """'c4:a3:e9:e2:e5:f3', 'C4-A3-...' or 'C4A3E9E2E5F3' -> 'C4A3E9E2E5F3'."""
    mac = re.sub(r"[\s:.-]", "", str(text)).upper()
    if not re.fullmatch(r"[0-9A-F]{12}", mac):
        raise MetabaseBoardError(f"{text!r} is not a board address (MAC).",
                                 "Give it as in the MetaBase file names (C4A3E9E2E5F3) or as C4:A3:E9:E2:E5:F3.",
                                 [])
    return mac


def format_mac(mac: str) -> str:
    return ":".join(mac[i:i + 2] for i in range(0, 12, 2))


# --------------------------------------------------------------------------------------------- reading


@dataclass(slots=True)
class _Series:
    """One file's samples: epoch times (ms, ties spread) and values in our units."""

    file: MetabaseFile
    t_ms: np.ndarray
    values: np.ndarray
    rate_hz: float
    """Nominal: from the file name, else measured."""


@dataclass(slots=True)
class _Notes:
    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.items.append(text)


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


def _read_series(f: MetabaseFile, spec: _SignalSpec, notes: _Notes) -> _Series:
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
            notes.add(f"{path.name}: line {line} was cut off ({message}); it was skipped.")
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
        notes.add(f"{path.name}: {tied} rows shared a time stamp with the row before; "
                  "they were spread evenly up to the next time stamp.")
    median_ms = float(np.median(np.diff(t_ms)))
    measured = 1000.0 / median_ms
    rate = f.rate_hz if f.rate_hz is not None else measured
    if abs(measured / rate - 1.0) > MAX_RATE_MISMATCH:
        raise MetabaseRateError(
            f"{path}: the file name says {rate:g} Hz but its time stamps are {median_ms:.1f} ms apart "
            f"({measured:.1f} Hz).",
            "The file name and its contents do not belong together; import the files as MetaBase wrote them.")
    return _Series(f, t_ms, data[:, 1:4] * spec.scale, float(rate))


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


# --------------------------------------------------------------------------------------------- boards


def _collect_files(paths: Sequence[Path | str] | Path | str, notes: _Notes) -> list[MetabaseFile]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise MetabaseError("no MetaBase files were given.", "Give the folder MetaBase exported or its CSV files.")
    found: list[MetabaseFile] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            csvs = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() == ".csv")
            for q in csvs:
                f = parse_file_name(q)
                if f is None:
                    notes.add(f"{q.name}: not a MetaBase file name; skipped.")
                else:
                    found.append(f)
            if not csvs:
                raise MetabaseError(f"{p}: the folder holds no CSV files.",
                                    "Give the folder MetaBase exported the session's CSV files into.")
        elif p.is_file():
            f = parse_file_name(p)
            if f is None:
                raise MetabaseFileError(
                    p, "the name does not follow MetaBase's pattern <name>_<date>_<MAC>_<Signal>_<rate>Hz_<fw>.csv.",
                    "Keep the file names MetaBase gave: the board address (MAC) and the signal are read from them.")
            found.append(f)
        else:
            raise MetabaseError(f"{p}: no such file or folder.", "Check the path.")
    unique = {f.path.resolve(): f for f in found}  # a file given both itself and in its folder counts once
    found = list(unique.values())
    if not found:
        raise MetabaseError("none of the CSV files has a MetaBase file name.",
                            "Keep the file names MetaBase gave (…_<MAC>_Accelerometer_100.000Hz_….csv).")
    return found


def _mapping(segments: Mapping[str, Segment | str]) -> dict[str, Segment]:
    out: dict[str, Segment] = {}
    seen: dict[Segment, str] = {}
    for mac_text, seg_text in segments.items():
        mac = normalise_mac(mac_text)
        try:
            seg = Segment(seg_text)
        except ValueError:
            raise MetabaseBoardError(f"{seg_text!r} is not a segment.",
                                     f"Segments are {', '.join(s.value for s in Segment)}.", []) from None
        if seg in seen and seen[seg] != mac:
            raise MetabaseBoardError(f"two boards are given for the {seg.value}: {format_mac(seen[seg])} and "
                                     f"{format_mac(mac)}.", "Give one board per segment.", [])
        seen[seg] = mac
        out[mac] = seg
    return out


def _group(files: list[MetabaseFile], mapping: dict[str, Segment],
           notes: _Notes) -> dict[Segment, dict[str, MetabaseFile]]:
    macs = sorted({f.mac for f in files})
    found = ", ".join(format_mac(m) for m in macs)
    usage = ("Say which board is which, e.g. --thigh C4:A3:E9:E2:E5:F3 --shin D1:F4:CF:B8:F6:E0 "
             "(the address is in each file name).")
    unknown = [m for m in macs if m not in mapping]
    missing = [(mac, seg) for mac, seg in mapping.items() if mac not in macs]
    no_files = "no files of the " + ", ".join(f"{seg.value} board {format_mac(mac)}" for mac, seg in missing)
    if unknown:
        raise MetabaseBoardError(
            f"the files hold board{'s' if len(unknown) > 1 else ''} {', '.join(format_mac(m) for m in unknown)} "
            f"that {'are' if len(unknown) > 1 else 'is'} not assigned to a segment"
            + (f", and there are {no_files}" if missing else "") + f" (boards found: {found}).",
            usage + " Leave out the files of boards you do not want.", macs)
    if missing:
        raise MetabaseBoardError(f"there are {no_files} (boards found: {found}).",
                                 "Check the addresses, or add that board's files.", macs)
    for seg in (Segment.THIGH, Segment.SHIN):
        if seg not in mapping.values():
            raise MetabaseBoardError(f"no board is assigned to the {seg.value} (boards found: {found}).", usage, macs)
    grouped: dict[Segment, dict[str, MetabaseFile]] = {}
    for f in files:
        seg = mapping[f.mac]
        if f.signal not in SIGNALS:
            notes.add(f"{f.path.name}: MetaBase signal {f.signal!r} is not used; skipped.")
            continue
        board = grouped.setdefault(seg, {})
        if f.signal in board:
            raise MetabaseBoardError(
                f"two {f.signal} files of the {seg.value} board {format_mac(f.mac)}: {board[f.signal].path.name} "
                f"and {f.path.name}.", "Import one MetaBase session at a time: give only that session's files.",
                macs)
        board[f.signal] = f
    for seg, mac in ((s, m) for m, s in mapping.items()):
        board = grouped.get(seg, {})
        for spec in (ACCELEROMETER, GYROSCOPE):
            if spec.name not in board:
                have = ", ".join(sorted(board)) or "no accelerometer, gyroscope or magnetometer files"
                raise MetabaseBoardError(
                    f"the {seg.value} board {format_mac(mac)} has no {spec.name} file (it has {have}).",
                    "Record Accelerometer and Gyroscope in MetaBase (not sensor fusion, which replaces them) and "
                    "export all of the session's files.", macs)
    return grouped


@dataclass(slots=True)
class _Board:
    segment: Segment
    mac: str
    t_ms: np.ndarray
    acc: np.ndarray
    gyr: np.ndarray
    mag: np.ndarray | None
    rate_hz: float
    info: dict[str, Any]
    first_ms: float
    """Earliest time stamp of the board's files (before pairing)."""


def _interpolate_onto(base_t: np.ndarray, other: _Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Values of `other` at base_t, linear; which instants are covered (see the module rules); how many
    instants inside `other`'s time span were dropped for a gap in it."""
    t = other.t_ms
    j = np.searchsorted(t, base_t, side="right")
    inside = (base_t >= t[0]) & (base_t <= t[-1])
    j = np.clip(j, 1, t.shape[0] - 1)
    span = t[j] - t[j - 1]
    exact_end = base_t == t[-1]
    ok = inside & ((span <= GAP_PERIODS * 1000.0 / other.rate_hz) | exact_end)
    values = np.column_stack([np.interp(base_t, t, other.values[:, k]) for k in range(3)])
    return values, ok, int((inside & ~ok).sum())


def _held_mag(base_t: np.ndarray, mag: _Series) -> tuple[np.ndarray, float]:
    """Newest reading at or before each instant (the first reading before it); the largest age, s."""
    idx = np.searchsorted(mag.t_ms, base_t, side="right") - 1
    idx = np.clip(idx, 0, mag.t_ms.shape[0] - 1)
    age_s = np.abs(base_t - mag.t_ms[idx]) / 1000.0
    return mag.values[idx], float(age_s.max()) if age_s.size else 0.0


def _assemble(seg: Segment, files: dict[str, MetabaseFile], notes: _Notes) -> _Board:
    acc = _read_series(files[ACCELEROMETER.name], ACCELEROMETER, notes)
    gyr = _read_series(files[GYROSCOPE.name], GYROSCOPE, notes)
    mag = _read_series(files[MAGNETOMETER.name], MAGNETOMETER, notes) if MAGNETOMETER.name in files else None
    mac = acc.file.mac
    base, other = (gyr, acc) if gyr.rate_hz >= acc.rate_hz * (1 - 1e-6) else (acc, gyr)
    ratio = base.rate_hz / other.rate_hz
    if ratio > MAX_ACC_GYRO_RATIO:
        raise MetabaseRateError(
            f"the {seg.value} board {format_mac(mac)} records the accelerometer at {acc.rate_hz:g} Hz and the "
            f"gyroscope at {gyr.rate_hz:g} Hz; more than {MAX_ACC_GYRO_RATIO:g} times apart.",
            "Record both at the same rate in MetaBase (100 Hz is best).")
    values, ok, in_gaps = _interpolate_onto(base.t_ms, other)
    if in_gaps:  # instants before or after the other signal's span (each stream starts on its own) go unsaid
        notes.add(f"{seg.value} board: {in_gaps} {base.file.signal.lower()} samples fell in gaps of the "
                  f"{other.file.signal.lower()} data (lost packets); they were left out.")
    t_ms = base.t_ms[ok]
    if t_ms.shape[0] < 2:
        raise MetabaseFileError(other.file.path, f"the {other.file.signal} and {base.file.signal} files of this "
                                "board do not overlap in time.", "Give files of one MetaBase session.")
    base_v, other_v = base.values[ok], values[ok]
    acc_v, gyr_v = (other_v, base_v) if base is gyr else (base_v, other_v)
    mag_v: np.ndarray | None = None
    if mag is not None:
        held, age = _held_mag(t_ms, mag)
        if age > MAG_MAX_AGE_S:
            notes.add(f"{seg.value} board: magnetometer readings are up to {age:.1f} s old in places "
                      "(it stopped or lost data); the magnetometer was left out.")
        else:
            mag_v = held
    info: dict[str, Any] = {
        "model": "MetaWear (MetaBase CSV export)",
        "mac": format_mac(mac),
        "device_name": acc.file.device_name,
        "firmware": acc.file.firmware,
        "metabase_session": acc.file.started,
        "acc_rate_hz": acc.rate_hz,
        "gyro_rate_hz": gyr.rate_hz,
        "files": sorted(f.path.name for f in files.values()),
    }
    if mag is not None:
        info["mag_rate_hz"] = mag.rate_hz
        info["magnetometer_used"] = mag_v is not None
    first_ms = min(float(x.t_ms[0]) for x in (acc, gyr, mag) if x is not None)
    return _Board(seg, mac, t_ms, acc_v, gyr_v, mag_v, base.rate_hz, info, first_ms)


def _check_boards(boards: list[_Board]) -> float:
    """Same rate everywhere and overlapping time spans; returns the common rate."""
    first = boards[0]
    for b in boards[1:]:
        if abs(b.rate_hz / first.rate_hz - 1.0) > 0.01:
            raise MetabaseRateError(
                f"the {first.segment.value} board samples at {first.rate_hz:g} Hz, the {b.segment.value} board at "
                f"{b.rate_hz:g} Hz.",
                "Record every board at the same rate in MetaBase (100 Hz is best).")
    for i, a in enumerate(boards):
        for b in boards[i + 1:]:
            overlap = min(a.t_ms[-1], b.t_ms[-1]) - max(a.t_ms[0], b.t_ms[0])
            shorter = min(a.t_ms[-1] - a.t_ms[0], b.t_ms[-1] - b.t_ms[0])
            if overlap < MIN_OVERLAP * shorter:
                def span(x: _Board) -> str:
                    return f"{_utc(x.t_ms[0]):%H:%M:%S}-{_utc(x.t_ms[-1]):%H:%M:%S} UTC"
                raise MetabaseBoardError(
                    f"the {a.segment.value} and {b.segment.value} files hardly overlap in time ({a.segment.value} "
                    f"{span(a)}, {b.segment.value} {span(b)}, {_utc(a.t_ms[0]):%Y-%m-%d}).",
                    "They come from different MetaBase sessions; give the files of one session.",
                    [a.mac, b.mac])
    return first.rate_hz


def _utc(epoch_ms: float) -> datetime:
    return datetime.fromtimestamp(float(epoch_ms) / 1000.0, tz=UTC)


# --------------------------------------------------------------------------------------------- markers

_ALIASES = {"static": MarkerLabel.CALIBRATION_STATIC, "still": MarkerLabel.CALIBRATION_STATIC,
            "swing": MarkerLabel.CALIBRATION_SWING, "swings": MarkerLabel.CALIBRATION_SWING,
            "start": MarkerLabel.EXERCISE_START, "end": MarkerLabel.EXERCISE_END}
REQUIRED_MARKERS = (MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING, MarkerLabel.EXERCISE_START)


def parse_marker(text: str) -> Marker:
    """'calibration.static=2.5' (or the short forms static=, swing=, start=, end=) -> Marker."""
    label_text, eq, value = str(text).partition("=")
    label_text = label_text.strip()
    labels = [m.value for m in MarkerLabel]
    label = _ALIASES.get(label_text.lower(), label_text)
    if not eq or label not in labels:
        raise MetabaseMarkerError(f"{text!r} is not a marker.",
                                  f"Write LABEL=SECONDS with LABEL one of {', '.join(labels)} "
                                  "(or static, swing, start, end), e.g. calibration.swing=6.5.")
    try:
        t = float(value)
    except ValueError:
        t = math.nan
    if not math.isfinite(t) or t < 0:
        raise MetabaseMarkerError(f"{text!r}: {value.strip()!r} is not a time in seconds.",
                                  "Give seconds from the first sample of the session, e.g. calibration.swing=6.5.")
    return Marker(t, str(label))


def _check_given_markers(markers: Sequence[Marker], t_end: float) -> list[Marker]:
    out = sorted(markers, key=lambda m: m.t)
    labels = [m.label for m in out]
    missing = [lab.value for lab in REQUIRED_MARKERS if lab.value not in labels]
    if missing:
        raise MetabaseMarkerError(f"the markers lack {', '.join(missing)}.",
                                  "Give all three calibration/exercise times, or none to find them automatically. "
                                  + MARKER_OPTIONS_ADVICE)
    late = [m for m in out if m.t > t_end]
    if late:
        raise MetabaseMarkerError(f"marker {late[0].label} at {late[0].t:g} s is after the end of the data "
                                  f"({t_end:.1f} s).", "Times are seconds from the first sample of the session.")
    order = [labels.index(lab.value) for lab in REQUIRED_MARKERS]
    if order != sorted(order):
        raise MetabaseMarkerError("the markers are out of order: calibration.static must come before "
                                  "calibration.swing, and that before exercise.start.", MARKER_OPTIONS_ADVICE)
    return out


@dataclass(frozen=True, slots=True)
class DetectionParams:
    """Thresholds of `detect_markers` (rates in deg/s, after removing the still phase's gyro bias)."""

    grid_hz: float = 50.0
    window_s: float = 0.5
    """Window of the stillness test."""
    still_gyro_spread_deg_s: float = 1.5
    """Still: angular-rate spread in every window below this (the calibration refuses 2.0 over the phase)."""
    still_acc_spread_m_s2: float = 0.15
    min_still_s: float = 2.0
    active_deg_s: float = 10.0
    """Moving: bias-free angular rate, smoothed over `smooth_s`, above this."""
    smooth_s: float = 0.2
    quiet_s: float = 1.0
    """The swings end when the shin has been below `active_deg_s` this long."""
    max_swing_delay_s: float = 3.0
    """The swings must begin this soon after the still period."""
    min_swings: int = 2
    """Back-and-forth swings (each a movement one way and back) needed."""
    min_lobe_deg_s: float = 20.0
    swing_lead_s: float = 0.2
    """calibration.swing is placed this long before the shin starts to move."""
    exercise_lead_s: float = 1.0
    """exercise.start is placed up to this long before the first movement after the swings..."""
    max_settle_s: float = 2.5
    """...and at most this long after the swings ended (a slow move into a stretch may not count as one)."""


def _moving_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over n samples along axis 0 (shorter windows at the ends)."""
    n = max(1, n)
    pad = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)], axis=0)
    idx = np.arange(x.shape[0])
    lo = np.clip(idx - n // 2, 0, x.shape[0])
    hi = np.clip(idx - n // 2 + n, 0, x.shape[0])
    width = (hi - lo).reshape(-1, *([1] * (x.ndim - 1)))
    out: np.ndarray = (pad[hi] - pad[lo]) / width
    return out


def _spread(x: np.ndarray, n: int) -> np.ndarray:
    """Norm of the per-axis standard deviation in a centred window of n samples."""
    m = _moving_mean(x, n)
    var = np.clip(_moving_mean(x * x, n) - m * m, 0.0, None)
    out: np.ndarray = np.sqrt(var.sum(axis=1))
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges where mask is True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def _lobes(p: np.ndarray, threshold: float) -> int:
    """Alternating excursions of p beyond +-threshold."""
    count, sign = 0, 0
    for v in p.tolist():
        if v > threshold and sign != 1:
            count, sign = count + 1, 1
        elif v < -threshold and sign != -1:
            count, sign = count + 1, -1
    return count


def detect_markers(streams: Mapping[Segment, SensorStream], params: DetectionParams | None = None) -> list[Marker]:
    """Find the still phase, the knee swings and the exercise in thigh and shin data (module docstring).

    Returns calibration.static, calibration.swing, exercise.start and exercise.end (at the end of the data).
    Raises `MarkerDetectionError` saying what was not found and which markers to give instead.
    """
    p = params or DetectionParams()
    for seg in (Segment.THIGH, Segment.SHIN):
        if seg not in streams or len(streams[seg]) < 2:
            raise MarkerDetectionError(f"no {seg.value} data to find the calibration phases in.", MARKER_OPTIONS_ADVICE)
    thigh, shin = streams[Segment.THIGH], streams[Segment.SHIN]
    t0 = max(float(thigh.t[0]), float(shin.t[0]))
    t1 = min(float(thigh.t[-1]), float(shin.t[-1]))
    grid = np.arange(t0, t1, 1.0 / p.grid_hz)
    n_win = max(2, round(p.window_s * p.grid_hz))
    if grid.shape[0] < round(p.min_still_s * p.grid_hz) + n_win:
        raise MarkerDetectionError(f"the thigh and shin data overlap for only {max(t1 - t0, 0.0):.1f} s.",
                                   MARKER_OPTIONS_ADVICE)

    def on_grid(s: SensorStream, x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.interp(grid, s.t, x[:, k]) for k in range(3)])

    gyr = {seg: np.degrees(on_grid(s, s.gyr)) for seg, s in ((Segment.THIGH, thigh), (Segment.SHIN, shin))}
    acc = {seg: on_grid(s, s.acc) for seg, s in ((Segment.THIGH, thigh), (Segment.SHIN, shin))}
    still = np.ones(grid.shape[0], dtype=bool)
    for seg in (Segment.THIGH, Segment.SHIN):
        still &= _spread(gyr[seg], n_win) < p.still_gyro_spread_deg_s
        still &= _spread(acc[seg], n_win) < p.still_acc_spread_m_s2
    half = p.window_s / 2.0
    dt = 1.0 / p.grid_hz
    n_smooth = max(1, round(p.smooth_s * p.grid_hz))
    n_quiet = max(1, round(p.quiet_s * p.grid_hz))
    reasons: list[str] = []
    candidates = [(a, b) for a, b in _runs(still) if (b - a) * dt + p.window_s >= p.min_still_s]
    for a, b in candidates:
        still_start, still_end = max(t0, grid[a] - half), min(t1, grid[b - 1] + half)
        where = f"the still period {still_start:.1f}-{still_end:.1f} s"
        bias = {seg: gyr[seg][a:b].mean(axis=0) for seg in gyr}
        shin_rel = gyr[Segment.SHIN] - bias[Segment.SHIN]
        act_shin = _moving_mean(np.linalg.norm(shin_rel, axis=1), n_smooth)
        act_thigh = _moving_mean(np.linalg.norm(gyr[Segment.THIGH] - bias[Segment.THIGH], axis=1), n_smooth)
        moving = np.flatnonzero(act_shin[b:] > p.active_deg_s)
        if moving.size == 0:
            reasons.append(f"after {where} the shin does not move")
            continue
        onset = b + int(moving[0])
        if grid[onset] - still_end > p.max_swing_delay_s:
            reasons.append(f"after {where} the shin starts moving only {grid[onset] - still_end:.1f} s later")
            continue
        quiet = act_shin[onset:] <= p.active_deg_s
        rest = [(c, d) for c, d in _runs(quiet) if d - c >= n_quiet]
        if not rest:
            reasons.append(f"the shin moves from {grid[onset]:.1f} s on without resting {p.quiet_s:g} s")
            continue
        burst_end = onset + rest[0][0]
        burst = shin_rel[onset:burst_end]
        _, vecs = np.linalg.eigh(burst.T @ burst)
        proj = _moving_mean((burst @ vecs[:, -1]).reshape(-1, 1), max(1, round(0.1 * p.grid_hz)))[:, 0]
        threshold = max(p.min_lobe_deg_s, 0.25 * float(np.abs(proj).max()))
        lobes = _lobes(proj, threshold)
        if lobes < 2 * p.min_swings:
            reasons.append(f"the shin movement at {grid[onset]:.1f}-{grid[burst_end]:.1f} s is not {p.min_swings} "
                           f"or more back-and-forth knee swings ({lobes // 2} found)")
            continue
        t_quiet = float(grid[burst_end])
        later = np.flatnonzero((act_shin[burst_end:] > p.active_deg_s) | (act_thigh[burst_end:] > p.active_deg_s))
        gap = float(grid[burst_end + int(later[0])]) - t_quiet if later.size else t1 - t_quiet
        exercise_at = t_quiet + min(max(gap - p.exercise_lead_s, gap / 2.0), p.max_settle_s)
        if exercise_at >= t1 - 1.0:
            reasons.append(f"the data ends right after the knee swings ({grid[burst_end]:.1f} s): no exercise")
            continue
        swing_at = max(still_start + dt, min(still_end, float(grid[onset])) - p.swing_lead_s)
        return [Marker(still_start, MarkerLabel.CALIBRATION_STATIC.value),
                Marker(swing_at, MarkerLabel.CALIBRATION_SWING.value),
                Marker(exercise_at, MarkerLabel.EXERCISE_START.value),
                Marker(t1, MarkerLabel.EXERCISE_END.value)]
    if not candidates:
        raise MarkerDetectionError(
            f"no still period of {p.min_still_s:g} s or more with both sensors still was found, so the "
            "calibration phases cannot be told apart.", MARKER_OPTIONS_ADVICE)
    shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    raise MarkerDetectionError(f"no knee swings were found after a still period: {shown}.", MARKER_OPTIONS_ADVICE)


# --------------------------------------------------------------------------------------------- entry


def read_metabase(paths: Sequence[Path | str] | Path | str, segments: Mapping[str, Segment | str], side: Side | str,
                  exercise: str, markers: Sequence[Marker] | None = None, *,
                  detection: DetectionParams | None = None) -> Recording:
    """Read a MetaBase session (a folder, or its CSV files) into a `Recording`; see the module docstring.

    segments: board address (MAC, any common spelling) -> "thigh", "shin" or "pelvis".
    markers: phase times in seconds on the session clock (t = 0 at the session's first sample); None to
    detect them (`detect_markers`). Raises a `MetabaseError` subclass, having changed nothing, on any problem.
    """
    try:
        side_v = Side(side)
    except ValueError:
        raise MetabaseError(f"side {side!r} is not left or right.", "Say which leg wore the sensors.") from None
    if not isinstance(exercise, str) or not exercise:
        raise MetabaseError("no exercise was given.", "Give the catalog id of the exercise, e.g. seated-ir.")
    notes = _Notes()
    mapping = _mapping(segments)
    files = _collect_files(paths, notes)
    grouped = _group(files, mapping, notes)
    order = [s for s in Segment if s in grouped]
    boards = [_assemble(seg, grouped[seg], notes) for seg in order]
    rate = _check_boards(boards)
    epoch0 = min(b.first_ms for b in boards)
    streams = {b.segment: SensorStream((b.t_ms - epoch0) / 1000.0, b.acc, b.gyr, b.mag) for b in boards}
    t_end = min(float(s.t[-1]) for seg, s in streams.items() if seg in (Segment.THIGH, Segment.SHIN))
    if markers is None:
        found = detect_markers(streams, detection)
        how = "detected"
    else:
        found = _check_given_markers(markers, max(float(s.t[-1]) for s in streams.values()))
        how = "given"
    meta: dict[str, Any] = {
        "session_start_epoch_ms": round(epoch0, 3),
        "session_start_utc": _utc(epoch0).isoformat(timespec="milliseconds"),
        "markers": how,
        "data_end_s": round(t_end, 3),
        "notes": list(notes.items),
    }
    return Recording(side=side_v, exercise=exercise, streams=streams, markers=found, sample_rate_hz=float(rate),
                     sensors_info={b.segment.value: b.info for b in boards}, extra_meta={"metabase": meta})


def recorded_at(rec: Recording) -> datetime | None:
    """When the MetaBase session began (UTC, from its first time stamp), or None for other recordings."""
    meta = rec.extra_meta.get("metabase")
    text = meta.get("session_start_utc") if isinstance(meta, dict) else None
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def import_notes(rec: Recording) -> list[str]:
    """The notes `read_metabase` kept (skipped lines, signals, magnetometers), for showing to the user."""
    meta = rec.extra_meta.get("metabase")
    notes = meta.get("notes") if isinstance(meta, dict) else None
    return [str(n) for n in notes] if isinstance(notes, list) else []
