"""Recording folders, version 1 (docs/recording-format.md): read and write `Recording` objects.

A recording folder holds `meta.json`, `samples.csv` and `markers.csv`. Reading checks everything the
format promises and reports the first problem as a `RecordingFormatError` naming the file and line;
writing produces files that `read_recording` reads back unchanged (floats are written with `repr`,
which round-trips exactly).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.errors import RecordingFormatError
from imu_core.frames import Segment, Side
from imu_core.types import Marker, Recording, SensorStream

FORMAT_ID = "hiptrack-recording/1"
META_FILE = "meta.json"
SAMPLES_FILE = "samples.csv"
MARKERS_FILE = "markers.csv"
SAMPLES_HEADER = ("t", "sensor", "ax", "ay", "az", "gx", "gy", "gz", "mx", "my", "mz")
MARKERS_HEADER = ("t", "label")
META_KEYS = ("format", "side", "exercise", "sensors", "sample_rate_hz")
REQUIRED_SEGMENTS = (Segment.THIGH, Segment.SHIN)

_SEGMENT_NAMES = tuple(s.value for s in Segment)
_SEGMENT_CODES = {name: code for code, name in enumerate(_SEGMENT_NAMES)}
_SIDE_NAMES = tuple(s.value for s in Side)


# --------------------------------------------------------------------------------------------- reading


def read_recording(folder: Path) -> Recording:
    """Load a recording folder. Raises `RecordingFormatError` (file, line, advice) on any problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingFormatError(
            "no such recording folder.", str(folder),
            advice="Give the folder that holds meta.json, samples.csv and markers.csv.")
    side, exercise, sensors, rate, extra = _read_meta(folder / META_FILE)
    streams = _read_samples(folder / SAMPLES_FILE)
    markers = _read_markers(folder / MARKERS_FILE)
    return Recording(side=side, exercise=exercise, streams=streams, markers=markers,
                     sample_rate_hz=rate, sensors_info=sensors, extra_meta=extra)


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise RecordingFormatError(
            f"{path.name} is missing.", str(path),
            advice=f"A recording folder needs {META_FILE}, {SAMPLES_FILE} and {MARKERS_FILE}; "
                   "re-export the recording or restore the file.")
    try:
        return path.read_bytes()
    except OSError as e:
        raise RecordingFormatError(f"cannot read the file ({e.strerror or e}).", str(path), None,
                                   "Check that the file exists and is readable.") from e


def _decode(data: bytes, path: Path) -> str:
    """The text of a file as `open(path, encoding="utf-8-sig")` reads it (universal newlines)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise RecordingFormatError("the file is not UTF-8 text.", str(path), None,
                                   "Save it as UTF-8 (plain text).") from e
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _read_text(path: Path) -> str:
    return _decode(_read_bytes(path), path)


def _key_line(text: str, key: str) -> int | None:
    """1-based line where `"key":` first appears in a JSON text (for error messages)."""
    m = re.search(r'"' + re.escape(key) + r'"\s*:', text)
    return None if m is None else text.count("\n", 0, m.start()) + 1


def _read_meta(path: Path) -> tuple[Side, str, dict[str, dict[str, Any]], float, dict[str, Any]]:
    text = _read_text(path)
    p = str(path)
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordingFormatError(f"not valid JSON: {e.msg}.", p, e.lineno,
                                   "Fix the JSON syntax (quotes, commas, braces).") from e
    if not isinstance(meta, dict):
        raise RecordingFormatError("the file must hold one JSON object {...}.", p, 1)
    for key in META_KEYS:
        if key not in meta:
            raise RecordingFormatError(f'the key "{key}" is missing.', p, None,
                                       f"meta.json needs the keys {', '.join(META_KEYS)}.")

    fmt = meta["format"]
    if fmt != FORMAT_ID:
        raise RecordingFormatError(
            f'"format" is {fmt!r}, expected {FORMAT_ID!r}.', p, _key_line(text, "format"),
            "This reader only understands recording format version 1; export the recording "
            "in that version or update hiptrack.")
    side = meta["side"]
    if side not in _SIDE_NAMES:
        raise RecordingFormatError(f'"side" is {side!r}, expected "left" or "right".', p,
                                   _key_line(text, "side"),
                                   "Set it to the leg that wore the sensors.")
    exercise = meta["exercise"]
    if not isinstance(exercise, str) or not exercise:
        raise RecordingFormatError(f'"exercise" is {exercise!r}, expected an exercise id.', p,
                                   _key_line(text, "exercise"),
                                   "Use the catalog id of the exercise, e.g. \"seated-ir\".")
    sensors = meta["sensors"]
    if not isinstance(sensors, dict):
        raise RecordingFormatError('"sensors" must be an object: segment name -> description.', p,
                                   _key_line(text, "sensors"))
    for name, info in sensors.items():
        if name not in _SEGMENT_NAMES:
            raise RecordingFormatError(
                f'"sensors" names an unknown segment {name!r}.', p, _key_line(text, name),
                f"Segment names are {', '.join(_SEGMENT_NAMES)}.")
        if not isinstance(info, dict):
            raise RecordingFormatError(
                f'the description of the {name} sensor must be an object {{"model": ...}}.', p,
                _key_line(text, name))
    rate = meta["sample_rate_hz"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) \
            or rate <= 0:
        raise RecordingFormatError(f'"sample_rate_hz" is {rate!r}, expected a positive number.', p,
                                   _key_line(text, "sample_rate_hz"),
                                   "Give the nominal sample rate in Hz, e.g. 100.")
    extra = {k: v for k, v in meta.items() if k not in META_KEYS}
    return Side(side), exercise, sensors, float(rate), extra


def _split_header(path: Path, header: Sequence[str], text: str | None = None) -> str:
    """Read a CSV file (unless its `text` is given), check its header line, return the text after it."""
    if text is None:
        text = _read_text(path)
    first, _, body = text.partition("\n")
    _check_header(first, path, header)
    return body


def _check_header(first: str, path: Path, header: Sequence[str]) -> None:
    row = next(csv.reader([first]), None) if first else None
    if row is None or [h.strip() for h in row] != list(header):
        got = "an empty first line" if not first else repr(first)
        raise RecordingFormatError(
            f"bad header: found {got}, expected {','.join(header)!r}.", str(path), 1,
            "The first line must be exactly that header.")


def _csv_rows(body: str, n_fields: int, path: Path) -> tuple[list[list[str]], list[int]]:
    """The data rows after the header line with the 1-based line of each; blank lines are skipped."""
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(body))
    start = 2  # file line where the next row starts (a quoted field may span lines)
    try:
        for row in reader:
            line, start = start, reader.line_num + 2
            if not row:
                continue
            if len(row) != n_fields:
                raise RecordingFormatError(
                    f"{len(row)} fields, expected {n_fields}.", str(path), line,
                    "Every row needs one value per header column (leave a value empty, not out).")
            rows.append(row)
            lines.append(line)
    except csv.Error as e:
        raise RecordingFormatError(f"unreadable CSV ({e}).", str(path), start) from e
    return rows, lines


def _numbers(values: Sequence[str], column: str, lines: Sequence[int], path: Path) -> np.ndarray:
    """A column of finite numbers; the first bad value is reported with its line."""
    try:
        arr = np.array(values, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is not None and bool(np.isfinite(arr).all()):
        return arr
    for v, line in zip(values, lines, strict=True):
        try:
            x = float(v)
        except ValueError:
            raise RecordingFormatError(f"{column} = {v!r} is not a number.", str(path), line,
                                       "Use plain decimal numbers such as 9.81 or -0.0123.") from None
        if not math.isfinite(x):
            raise RecordingFormatError(f"{column} = {v!r} is not a finite number.", str(path), line,
                                       "Drop the row (a missing sample is fine) instead of nan/inf.")
    raise RecordingFormatError(f"column {column} holds values that are not numbers.", str(path))


@dataclass(slots=True)
class _SampleTable:
    """samples.csv as columns: row i came from line lines[i]; mag rows are nan where empty."""

    t: np.ndarray
    sensor: np.ndarray
    """int8 index into _SEGMENT_NAMES"""
    imu: np.ndarray
    """(N, 6) ax ay az gx gy gz"""
    mag: np.ndarray
    """(N, 3), all-nan rows where the sensor has no magnetometer"""
    lines: np.ndarray


def _read_samples(path: Path) -> dict[Segment, SensorStream]:
    raw = _read_bytes(path)
    data = raw.removeprefix(codecs.BOM_UTF8)
    if data.isascii():  # the usual case, worked on as bytes: no 48 MB of str, decoded only when needed
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.find(b"\n")
        end = len(data) if end < 0 else end
        _check_header(data[:end].decode("ascii"), path, SAMPLES_HEADER)
        start = end + 1
        table = _parse_samples_fast(data, start) or _parse_samples_checked(data[start:].decode("ascii"), path)
    else:
        body = _split_header(path, SAMPLES_HEADER, _decode(raw, path))
        table = (_parse_samples_fast(body.encode("ascii")) if body.isascii() else None) \
            or _parse_samples_checked(body, path)
    return _streams(table, path)


_NOT_IN_PLAIN_ROWS = (b'"', b"a", b"A", b"f", b"F", b"\r", b"\0", b"\v", b"\f", b"\x1c", b"\x1d", b"\x1e")
"""Quotes, the letters of nan/inf (sensor names have none of a, f), and the control characters that
str.splitlines or pandas' tokenizer take as line ends or treat specially."""


def _parse_samples_fast(data: bytes, start: int = 0) -> _SampleTable | None:
    """The common case, a plain file as `write_recording` makes it, parsed by pandas in C.

    `data[start:]` is the ASCII text after the header line (line 2 onwards). Returns None when anything
    is unusual (quotes, blank lines, nan/inf, odd field counts, unknown sensors, unparsable numbers):
    `_parse_samples_checked` then reads the file row by row and names the line of the first problem.
    Both give the same table for every file the fast path accepts.
    """
    if start >= len(data) or any(data.find(c, start) >= 0 for c in _NOT_IN_PLAIN_ROWS):
        return None
    body = np.frombuffer(data, dtype=np.uint8, offset=start)  # (numpy counts bytes faster than bytes.count)
    n = int(np.count_nonzero(body == ord("\n"))) + (not data.endswith(b"\n"))
    n_fields = len(SAMPLES_HEADER)
    # pandas fills short rows with nan and refuses long ones, except the first, whose extra field it
    # takes as the index: with the first row exact and the totals equal, every row is exact.
    first_end = data.find(b"\n", start)
    if data.count(b",", start, len(data) if first_end < 0 else first_end) != n_fields - 1 \
            or int(np.count_nonzero(body == ord(","))) != (n_fields - 1) * n:
        return None
    import pandas as pd

    buffer = io.BytesIO(data)  # shares data's memory
    buffer.seek(start)
    try:  # pandas' C reader (its default precision reads every number as Python's float() does: tested)
        frame = pd.read_csv(buffer, header=None, names=list(SAMPLES_HEADER), dtype={"sensor": "category"},
                            na_filter=True, keep_default_na=False, na_values=[""], engine="c")
    except (ValueError, OverflowError, pd.errors.ParserError):
        return None
    if len(frame) != n:
        return None  # blank lines (skipped by pandas)
    names = frame["sensor"].cat.categories
    codes = frame["sensor"].cat.codes.to_numpy()
    if not all(name in _SEGMENT_CODES for name in names) or bool((codes < 0).any()):
        return None
    sensor = np.array([_SEGMENT_CODES[name] for name in names], dtype=np.int8)[codes]
    numeric = [c for c in SAMPLES_HEADER if c != "sensor"]
    if any(frame[c].dtype != np.float64 and frame[c].dtype != np.int64 for c in numeric):
        return None
    a = frame[numeric].to_numpy(dtype=np.float64)
    mag = a[:, 7:10]
    mag_missing = np.isnan(mag)
    if a.shape != (n, n_fields - 1) or not bool(np.isfinite(a[:, :7]).all()) \
            or not bool((np.isfinite(mag) | mag_missing).all()) \
            or not bool((mag_missing.all(axis=1) | ~mag_missing.any(axis=1)).all()):
        return None  # (a row with only some magnetometer fields: the checked parser names it)
    return _SampleTable(a[:, 0], sensor, a[:, 1:7], mag, np.arange(2, n + 2))


def _parse_samples_checked(body: str, path: Path) -> _SampleTable:
    """Row-by-row parsing that reports the first malformed row."""
    rows, line_list = _csv_rows(body, len(SAMPLES_HEADER), path)
    p = str(path)
    lines = np.array(line_list, dtype=np.int64)
    if not rows:
        return _SampleTable(np.zeros(0), np.zeros(0, dtype=np.int8), np.zeros((0, 6)), np.zeros((0, 3)), lines)
    cols: list[Sequence[str]] = list(zip(*rows, strict=True))

    names = np.array(cols[1], dtype=str)
    bad = np.flatnonzero(~np.isin(names, _SEGMENT_NAMES))
    if bad.size:
        i = int(bad[0])
        raise RecordingFormatError(f"unknown sensor {str(names[i])!r}.", p, int(lines[i]),
                                   f"The sensor column holds a segment name: {', '.join(_SEGMENT_NAMES)}.")
    sensor = np.zeros(len(rows), dtype=np.int8)
    for code, name in enumerate(_SEGMENT_NAMES):
        sensor[names == name] = code
    t = _numbers(cols[0], "t", line_list, path)
    imu = np.column_stack([_numbers(cols[c], SAMPLES_HEADER[c], line_list, path) for c in range(2, 8)])

    empty = np.stack([np.array(cols[c], dtype=str) == "" for c in range(8, 11)])
    partial = np.flatnonzero(empty.any(axis=0) & ~empty.all(axis=0))
    if partial.size:
        raise RecordingFormatError("mx, my, mz must be all three filled or all three empty.", p,
                                   int(lines[int(partial[0])]))
    filled: list[int] = np.flatnonzero(~empty[0]).tolist()
    mag = np.full((len(rows), 3), np.nan)
    if filled:
        filled_lines = [line_list[i] for i in filled]
        for k, c in enumerate(range(8, 11)):
            mag[filled, k] = _numbers([cols[c][i] for i in filled], SAMPLES_HEADER[c], filled_lines, path)
    return _SampleTable(t, sensor, imu, mag, lines)


def _streams(table: _SampleTable, path: Path) -> dict[Segment, SensorStream]:
    """Check time order, magnetometer consistency and the required sensors; split by sensor."""
    p = str(path)
    t, lines = table.t, table.lines
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise RecordingFormatError(
            f"t = {float(t[i])!r} is earlier than the row before (t = {float(t[i - 1])!r}).", p,
            int(lines[i]),
            "Rows must be in time order across all sensors (equal times are fine); sort the file by t.")
    has_mag = np.asarray(~np.isnan(table.mag[:, 0]), dtype=bool)
    streams: dict[Segment, SensorStream] = {}
    for seg in Segment:
        idx = np.flatnonzero(table.sensor == _SEGMENT_CODES[seg.value])
        if idx.size == 0:
            continue
        seg_has = has_mag[idx]
        if seg_has.any() and not seg_has.all():
            j = int(idx[int(np.flatnonzero(seg_has != seg_has[0])[0])])
            raise RecordingFormatError(
                f"the {seg.value} sensor has magnetometer values on some rows and not on others.", p,
                int(lines[j]),
                "A sensor either has a magnetometer (mx, my, mz on every row) or not (all empty).")
        streams[seg] = SensorStream(t[idx], table.imu[idx, 0:3], table.imu[idx, 3:6],
                                    table.mag[idx] if seg_has.all() else None)
    for seg in REQUIRED_SEGMENTS:
        if seg not in streams:
            raise RecordingFormatError(
                f"no samples from the {seg.value} sensor.", p, None,
                "A recording needs samples from both a thigh and a shin sensor.")
    return streams


def _read_markers(path: Path) -> list[Marker]:
    body = _split_header(path, MARKERS_HEADER)
    rows, lines = _csv_rows(body, len(MARKERS_HEADER), path)
    markers: list[Marker] = []
    for (t_text, label), line in zip(rows, lines, strict=True):
        t = float(_numbers([t_text], "t", [line], path)[0])
        if not label.strip():
            raise RecordingFormatError("the label is empty.", str(path), line,
                                       "Give each marker a label such as calibration.static.")
        markers.append(Marker(t, label))
    return markers


# --------------------------------------------------------------------------------------------- writing


def write_recording(rec: Recording, folder: Path) -> None:
    """Write `rec` as a version-1 recording folder (created if needed; existing files are replaced).

    Raises `RecordingFormatError` if `rec` cannot be expressed in the format (unknown side or segment,
    no thigh or shin samples, arrays of the wrong shape, non-finite values); OSError if writing fails.
    """
    folder = Path(folder)
    _check_writable(rec, folder)
    folder.mkdir(parents=True, exist_ok=True)

    meta: dict[str, Any] = {
        "format": FORMAT_ID,
        "side": Side(rec.side).value,
        "exercise": rec.exercise,
        "sensors": rec.sensors_info,
        "sample_rate_hz": float(rec.sample_rate_hz),
    }
    meta.update({k: v for k, v in rec.extra_meta.items() if k not in META_KEYS})
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    with (folder / SAMPLES_FILE).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(SAMPLES_HEADER)
        w.writerows(_sample_rows(rec))

    with (folder / MARKERS_FILE).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(MARKERS_HEADER)
        w.writerows([repr(float(m.t)), m.label] for m in rec.markers)


def _sample_rows(rec: Recording) -> Iterator[list[object]]:
    """Rows of samples.csv, all sensors merged in time order (ties keep stream order)."""
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for seg, s in rec.streams.items():
        n = len(s)
        mag = np.full((n, 3), np.nan) if s.mag is None else np.asarray(s.mag, dtype=np.float64)
        blocks.append(np.column_stack([np.asarray(s.t, dtype=np.float64), s.acc, s.gyr, mag]))
        names.extend([Segment(seg).value] * n)
    if not blocks:
        return
    data = np.concatenate(blocks)
    order = np.argsort(data[:, 0], kind="stable")
    name_arr = np.array(names)[order].tolist()
    for name, row in zip(name_arr, data[order].tolist(), strict=True):
        mag_cells: list[object] = ["", "", ""] if math.isnan(row[7]) else row[7:10]
        yield [row[0], name, *row[1:7], *mag_cells]


def _check_writable(rec: Recording, folder: Path) -> None:
    p = str(folder)

    def fail(message: str, advice: str = "") -> RecordingFormatError:
        return RecordingFormatError(message, p, None, advice or "Fix the recording before exporting it.")

    if rec.side not in _SIDE_NAMES:
        raise fail(f"side {rec.side!r} is not left or right.")
    if not isinstance(rec.exercise, str) or not rec.exercise:
        raise fail("the recording has no exercise id.")
    if not (math.isfinite(rec.sample_rate_hz) and rec.sample_rate_hz > 0):
        raise fail(f"sample_rate_hz {rec.sample_rate_hz!r} is not a positive number.")
    for name in rec.sensors_info:
        if name not in _SEGMENT_NAMES:
            raise fail(f"sensors_info names an unknown segment {name!r}.")
    for seg, s in rec.streams.items():
        if seg not in _SEGMENT_NAMES:
            raise fail(f"unknown segment {seg!r} in streams.")
        n = len(s)
        shapes_ok = (np.shape(s.t) == (n,) and np.shape(s.acc) == (n, 3) and np.shape(s.gyr) == (n, 3)
                     and (s.mag is None or np.shape(s.mag) == (n, 3)))
        if not shapes_ok:
            raise fail(f"the {seg} stream's arrays do not have N, (N,3), (N,3) shapes.")
        arrays = [s.t, s.acc, s.gyr] + ([] if s.mag is None else [s.mag])
        if not all(bool(np.isfinite(a).all()) for a in arrays):
            raise fail(f"the {seg} stream holds nan or inf values.", "Drop those samples instead.")
    for seg in REQUIRED_SEGMENTS:
        if seg not in rec.streams or len(rec.streams[seg]) == 0:
            raise fail(f"no samples from the {seg.value} sensor.",
                       "A recording needs samples from both a thigh and a shin sensor.")
    for m in rec.markers:
        if not math.isfinite(m.t) or not m.label.strip():
            raise fail(f"marker {m!r} needs a finite time and a non-empty label.")
