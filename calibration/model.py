"""The result of a calibration: how each sensor sits on its segment, and how good that is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imu_core.frames import Segment, Side

CALIBRATION_FORMAT = "hiptrack-calibration/1"


@dataclass(frozen=True, slots=True)
class SensorCalibration:
    mount: np.ndarray
    """Quaternion rotating sensor axes into segment axes (segment = sensor * conj(mount))."""
    gyro_bias_rad_s: np.ndarray
    """Gyroscope bias measured in the still phase, rad/s, sensor axes."""


@dataclass(frozen=True, slots=True)
class Calibration:
    side: Side
    posture: str
    sensors: dict[Segment, SensorCalibration]
    femur_reference: np.ndarray
    """Femur segment orientation that defines 0 deg hip rotation, in the shared frame (the shin
    filter's frame)."""
    thigh_reference: np.ndarray
    """Thigh segment orientation from the thigh sensor at calibration: the start of thigh drift."""
    thigh_still_quat: np.ndarray
    """Mean thigh filter orientation over the still phase (sensor-to-filter-frame)."""
    shin_still_quat: np.ndarray
    """Mean shin filter orientation over the still phase (sensor-to-filter-frame)."""
    hinge_in_shin_sensor: np.ndarray
    """Knee hinge axis (segment +y) in shin-sensor axes, from the swings."""
    thigh_long_axis_pending: bool = False
    """The thigh's rotation about the hinge is a guess until the exercise's rotation shows it."""
    shin_long_axis_pending: bool = False
    quality: dict[str, float] = field(default_factory=dict)
    """Numbers behind the score: still-phase spreads, swing excursion, hinge planarity."""
    score: float = 1.0
    """0 (unusable) .. 1 (ideal)."""
    t_calibrated: float = 0.0
    """Time (s, recording clock) at which the calibration was made."""

    def sensors_mount(self, segment: str) -> np.ndarray:
        return self.sensors[Segment(segment)].mount

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT,
            "side": self.side.value,
            "posture": self.posture,
            "sensors": {
                seg.value: {
                    "mount_wxyz": [float(x) for x in c.mount],
                    "gyro_bias_rad_s": [float(x) for x in c.gyro_bias_rad_s],
                }
                for seg, c in self.sensors.items()
            },
            "femur_reference_wxyz": [float(x) for x in self.femur_reference],
            "thigh_reference_wxyz": [float(x) for x in self.thigh_reference],
            "thigh_still_quat_wxyz": [float(x) for x in self.thigh_still_quat],
            "shin_still_quat_wxyz": [float(x) for x in self.shin_still_quat],
            "hinge_in_shin_sensor": [float(x) for x in self.hinge_in_shin_sensor],
            "thigh_long_axis_pending": self.thigh_long_axis_pending,
            "shin_long_axis_pending": self.shin_long_axis_pending,
            "quality": self.quality,
            "score": self.score,
            "t_calibrated": self.t_calibrated,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict())

    @staticmethod
    def from_json(text: str) -> Calibration:
        d = json.loads(text)
        return Calibration(
            side=Side(d["side"]),
            posture=str(d["posture"]),
            sensors={
                Segment(k): SensorCalibration(
                    mount=np.array(v["mount_wxyz"], dtype=float),
                    gyro_bias_rad_s=np.array(v["gyro_bias_rad_s"], dtype=float),
                )
                for k, v in d["sensors"].items()
            },
            femur_reference=np.array(d["femur_reference_wxyz"], dtype=float),
            thigh_reference=np.array(d["thigh_reference_wxyz"], dtype=float),
            thigh_still_quat=np.array(d["thigh_still_quat_wxyz"], dtype=float),
            shin_still_quat=np.array(d["shin_still_quat_wxyz"], dtype=float),
            hinge_in_shin_sensor=np.array(d["hinge_in_shin_sensor"], dtype=float),
            thigh_long_axis_pending=bool(d.get("thigh_long_axis_pending", False)),
            shin_long_axis_pending=bool(d.get("shin_long_axis_pending", False)),
            quality={k: float(v) for k, v in d.get("quality", {}).items()},
            score=float(d.get("score", 1.0)),
            t_calibrated=float(d.get("t_calibrated", 0.0)),
        )
