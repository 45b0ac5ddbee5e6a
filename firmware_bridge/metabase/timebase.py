"""One time base per board, and the boards of a session checked against each other.

* Time: ``epoc (ms)`` of every file, on one session clock for all boards (t = 0 at the first sample of
  the session, the earliest first sample over the files used: `Board.first_ms`).
* The faster of accelerometer and gyroscope (the gyroscope when the rates are equal) gives the board's
  sample instants; the other signal is interpolated linearly onto them. An instant is dropped where the
  other signal has no sample on one side, or where its neighbours are more than 2.5 of its periods apart
  (lost samples are left out, not invented). The magnetometer (25 Hz or less) is repeated: each sample
  carries the newest reading at or before it, as the live MetaWear driver does; if readings are more than
  0.5 s old anywhere, the board's magnetometer is left out with a note.
* Rates: accelerometer and gyroscope of a board may differ by a factor of at most 4; every board must end
  up at the same rate (the recording's ``sample_rate_hz``, which the orientation filters use), and the
  boards must record together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from firmware_bridge.metabase.csv_file import ACCELEROMETER, GYROSCOPE, MAGNETOMETER, Series, read_series
from firmware_bridge.metabase.errors import MetabaseBoardError, MetabaseFileError, MetabaseRateError
from firmware_bridge.metabase.names import MetabaseFile, format_mac
from imu_core.frames import Segment

MAX_ACC_GYRO_RATIO = 4.0
GAP_PERIODS = 2.5
"""Interpolation bridges neighbours at most this many periods apart."""
MAG_MAX_AGE_S = 0.5
MIN_OVERLAP = 0.5
"""Boards must record together for at least this share of the shorter board's time span."""


@dataclass(slots=True)
class Board:
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


def utc(epoch_ms: float) -> datetime:
    return datetime.fromtimestamp(float(epoch_ms) / 1000.0, tz=UTC)


def _interpolate_onto(base_t: np.ndarray, other: Series) -> tuple[np.ndarray, np.ndarray, int]:
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


def _held_mag(base_t: np.ndarray, mag: Series) -> tuple[np.ndarray, float]:
    """Newest reading at or before each instant (the first reading before it); the largest age, s."""
    idx = np.searchsorted(mag.t_ms, base_t, side="right") - 1
    idx = np.clip(idx, 0, mag.t_ms.shape[0] - 1)
    age_s = np.abs(base_t - mag.t_ms[idx]) / 1000.0
    return mag.values[idx], float(age_s.max()) if age_s.size else 0.0


def assemble_board(seg: Segment, files: dict[str, MetabaseFile], notes: list[str]) -> Board:
    """Read a board's files (signal name -> file) and put them on one time base (module rules)."""
    acc = read_series(files[ACCELEROMETER.name], ACCELEROMETER, notes)
    gyr = read_series(files[GYROSCOPE.name], GYROSCOPE, notes)
    mag = read_series(files[MAGNETOMETER.name], MAGNETOMETER, notes) if MAGNETOMETER.name in files else None
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
        notes.append(f"{seg.value} board: {in_gaps} {base.file.signal.lower()} samples fell in gaps of the "
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
            notes.append(f"{seg.value} board: magnetometer readings are up to {age:.1f} s old in places "
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
    return Board(seg, mac, t_ms, acc_v, gyr_v, mag_v, base.rate_hz, info, first_ms)


def check_boards(boards: list[Board]) -> float:
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
                def span(x: Board) -> str:
                    return f"{utc(x.t_ms[0]):%H:%M:%S}-{utc(x.t_ms[-1]):%H:%M:%S} UTC"
                raise MetabaseBoardError(
                    f"the {a.segment.value} and {b.segment.value} files hardly overlap in time ({a.segment.value} "
                    f"{span(a)}, {b.segment.value} {span(b)}, {utc(a.t_ms[0]):%Y-%m-%d}).",
                    "They come from different MetaBase sessions; give the files of one session.",
                    [a.mac, b.mac])
    return first.rate_hz
