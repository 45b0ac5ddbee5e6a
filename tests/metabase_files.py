"""Shared by the MetaBase import's tests: simulated sessions written as MetaBase would export them (names,
headers, units, 3-decimal values, integer epoch milliseconds, acc and gyro stamped separately,
magnetometer at 25 Hz), the boards' addresses, and helpers to damage the files or line up times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from firmware_bridge.simulator import SimulatedSession, simulate_session
from imu_core.frames import GRAVITY_M_S2, Segment, Side
from imu_core.types import Marker, Recording

THIGH_MAC, SHIN_MAC, PELVIS_MAC = "C4A3E9E2E5F3", "D1F4CFB8F6E0", "E6632891E36F"
MACS = {Segment.THIGH: THIGH_MAC, Segment.SHIN: SHIN_MAC, Segment.PELVIS: PELVIS_MAC}
"""The address `write_metabase` gives each segment's board."""
MAPPING = {"C4:A3:E9:E2:E5:F3": "thigh", "d1f4cfb8f6e0": "shin"}
"""Thigh and shin as a caller would give them (two spellings of a MAC)."""
EPOCH0_MS = 1614849072345  # 2021-03-04T09:11:12.345 UTC
ZONE = timezone(timedelta(hours=1))
ACC_HEADER = "epoc (ms),timestamp (+0100),elapsed (s),x-axis (g),y-axis (g),z-axis (g)"

MetabaseFiles = dict[tuple[Segment, str], Path]
"""(segment, signal name) -> the file written."""


def _local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000.0, tz=ZONE).strftime("%Y-%m-%dT%H.%M.%S.") + f"{ms % 1000:03d}"


def write_metabase(rec: Recording, folder: Path, *, acc_every: int = 1, gyro_every: int = 1, mag_every: int = 4,
                   acc_offset_ms: float = 2.0, epoch0_ms: int = EPOCH0_MS, shared_stamps: int = 1,
                   segments: tuple[Segment, ...] | None = None) -> MetabaseFiles:
    """Write a recording as MetaBase would export it: per board an Accelerometer (g), Gyroscope (deg/s) and
    Magnetometer (T, every `mag_every`-th sample) file, values with MetaBase's decimals, epoch ms rounded,
    the accelerometer stamped `acc_offset_ms` later than the gyro (each MetaBase stream has its own start),
    `shared_stamps` consecutive accelerometer rows sharing one time stamp, no newline after the last row."""
    folder.mkdir(parents=True, exist_ok=True)
    start = _local(epoch0_ms)
    out: MetabaseFiles = {}
    for seg, s in rec.streams.items():
        if segments is not None and seg not in segments:
            continue
        signals: list[tuple[str, str, np.ndarray, np.ndarray, str, int]] = [
            ("Accelerometer", "g", s.t[::acc_every] + acc_offset_ms / 1000.0, s.acc[::acc_every] / GRAVITY_M_S2,
             "%.3f", acc_every),
            ("Gyroscope", "deg/s", s.t[::gyro_every], np.degrees(s.gyr[::gyro_every]), "%.3f", gyro_every)]
        if s.mag is not None:
            signals.append(("Magnetometer", "T", s.t[::mag_every], s.mag[::mag_every] / 1e6, "%.9f", mag_every))
        for name, unit, t, values, fmt, every in signals:
            epoch = np.round(epoch0_ms + t * 1000.0).astype(np.int64)
            if name == "Accelerometer" and shared_stamps > 1:
                epoch = epoch[(np.arange(epoch.shape[0]) // shared_stamps) * shared_stamps]
            rows = [f"epoc (ms),timestamp (+0100),elapsed (s),x-axis ({unit}),y-axis ({unit}),z-axis ({unit})"]
            rows += [f"{e},{_local(e)},{(e - int(epoch[0])) / 1000.0:.3f},{fmt % x},{fmt % y},{fmt % z}"
                     for e, (x, y, z) in zip(epoch.tolist(), values.tolist(), strict=True)]
            path = folder / f"MetaWear_{start}_{MACS[seg]}_{name}_{rec.sample_rate_hz / every:.3f}Hz_1.6.0.csv"
            path.write_text("\n".join(rows), encoding="utf-8")
            out[(seg, name)] = path
    return out


_SIMS: dict[tuple[object, ...], SimulatedSession] = {}


def sim_session(seed: int = 11, side: Side = Side.LEFT, exercise: str = "seated-ir", **kw: object) -> SimulatedSession:
    """Realistic-error simulated sessions, made once per test run."""
    key = (seed, side, exercise, *sorted(kw.items()))
    if key not in _SIMS:
        _SIMS[key] = simulate_session(seed=seed, side=side, exercise=exercise, **kw)  # type: ignore[arg-type]
    return _SIMS[key]


def clock_offset(rec: Recording) -> float:
    """The simulated time of the imported session's t = 0 (the first gyro sample of either board)."""
    return min(float(s.t[0]) for s in rec.streams.values())


def shifted_markers(rec: Recording) -> list[Marker]:
    """The simulation's markers on the imported session's clock."""
    off = clock_offset(rec)
    return [Marker(m.t - off, m.label) for m in rec.markers]


def edit_lines(path: Path, fn: Callable[[list[str]], list[str]]) -> None:
    """Rewrite a file's lines (split on newlines, as written, no newline after the last)."""
    path.write_text("\n".join(fn(path.read_text(encoding="utf-8").split("\n"))), encoding="utf-8")
