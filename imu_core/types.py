"""Value types shared by every package: samples, streams, markers, joint angles, recordings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from imu_core.frames import Segment, Side


class MarkerLabel(StrEnum):
    """What the person was asked to do from this moment on (recording-format.md)."""

    CALIBRATION_STATIC = "calibration.static"
    CALIBRATION_SWING = "calibration.swing"
    EXERCISE_START = "exercise.start"
    EXERCISE_END = "exercise.end"


@dataclass(frozen=True, slots=True)
class Marker:
    t: float
    """Time, s, on the recording's clock."""
    label: str
    """A `MarkerLabel` value, or a label another tool wrote (kept, ignored)."""


@dataclass(frozen=True, slots=True)
class ImuSample:
    """One sample of one sensor, on the host time base."""

    t: float
    """Time, s."""
    sensor: Segment
    acc: tuple[float, float, float]
    """Specific force, m/s², sensor axes (+9.81 along the axis pointing up at rest)."""
    gyr: tuple[float, float, float]
    """Angular rate, rad/s, sensor axes."""
    mag: tuple[float, float, float] | None = None
    """Magnetic field, µT, sensor axes; None when the sensor has none."""


@dataclass(slots=True)
class SensorStream:
    """All samples of one sensor, as arrays (N rows, time ascending)."""

    t: np.ndarray
    """(N,) s"""
    acc: np.ndarray
    """(N, 3) m/s²"""
    gyr: np.ndarray
    """(N, 3) rad/s"""
    mag: np.ndarray | None = None
    """(N, 3) µT or None"""

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def slice_time(self, t0: float, t1: float) -> SensorStream:
        """Samples with t0 <= t < t1."""
        sel = (self.t >= t0) & (self.t < t1)
        return SensorStream(
            self.t[sel], self.acc[sel], self.gyr[sel], None if self.mag is None else self.mag[sel]
        )

    def samples(self, sensor: Segment) -> list[ImuSample]:
        """Row-wise view, for feeding a live pipeline."""
        mag = self.mag
        return [
            ImuSample(
                float(self.t[i]),
                sensor,
                (float(self.acc[i, 0]), float(self.acc[i, 1]), float(self.acc[i, 2])),
                (float(self.gyr[i, 0]), float(self.gyr[i, 1]), float(self.gyr[i, 2])),
                None if mag is None else (float(mag[i, 0]), float(mag[i, 1]), float(mag[i, 2])),
            )
            for i in range(len(self))
        ]

    @staticmethod
    def from_samples(samples: list[ImuSample]) -> SensorStream:
        """Stack samples of one sensor (mag kept only if every sample has it)."""
        if not samples:
            return SensorStream(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), None)
        has_mag = all(s.mag is not None for s in samples)
        return SensorStream(
            np.array([s.t for s in samples]),
            np.array([s.acc for s in samples]),
            np.array([s.gyr for s in samples]),
            np.array([s.mag for s in samples]) if has_mag else None,
        )


@dataclass(slots=True)
class Recording:
    """A recorded session in memory: what a recording folder holds (recording-format.md)."""

    side: Side
    exercise: str
    streams: dict[Segment, SensorStream]
    markers: list[Marker]
    sample_rate_hz: float = 100.0
    sensors_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Segment name -> free description of the device (model, placement)."""
    extra_meta: dict[str, Any] = field(default_factory=dict)
    """Unknown meta.json keys, kept so an import/export round trip loses nothing."""

    def merged_samples(self) -> list[ImuSample]:
        """Every sample of every sensor in time order (the order a live session sees them)."""
        out: list[ImuSample] = []
        for seg, stream in self.streams.items():
            out.extend(stream.samples(seg))
        out.sort(key=lambda s: s.t)
        return out

    def marker_time(self, label: str) -> float | None:
        """Time of the first marker with this label, or None."""
        for m in self.markers:
            if m.label == label:
                return m.t
        return None


@dataclass(slots=True)
class JointAngles:
    """Joint angles at output instants (arrays of equal length)."""

    t: np.ndarray
    """(N,) s"""
    hip_ir_deg: np.ndarray
    """(N,) hip internal rotation, deg, positive inward, 0 at the calibration posture"""
    knee_flexion_deg: np.ndarray
    """(N,) knee flexion, deg, 0 = straight"""
    thigh_drift_deg: np.ndarray
    """(N,) how far the femur's long axis has moved from its calibration direction, deg"""
    pelvis_motion_deg: np.ndarray
    """(N,) how far the pelvis has turned since calibration, deg (NaN without a pelvis sensor)"""

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def empty() -> JointAngles:
        z = np.zeros(0)
        return JointAngles(z, z.copy(), z.copy(), z.copy(), z.copy())

    @staticmethod
    def concat(parts: list[JointAngles]) -> JointAngles:
        if not parts:
            return JointAngles.empty()
        if len(parts) == 1:
            return parts[0]
        return JointAngles(
            np.concatenate([p.t for p in parts]),
            np.concatenate([p.hip_ir_deg for p in parts]),
            np.concatenate([p.knee_flexion_deg for p in parts]),
            np.concatenate([p.thigh_drift_deg for p in parts]),
            np.concatenate([p.pelvis_motion_deg for p in parts]),
        )
