"""What a still phase tells about one sensor: where gravity points, gyro bias, the magnetic field."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.errors import MissingPhaseError, SensorMovedError
from imu_core.types import SensorStream


@dataclass(frozen=True, slots=True)
class StillParams:
    trim_start_s: float = 0.5
    """Ignore this much at the start of the phase (the person is still settling), s."""
    trim_end_s: float = 0.2
    """Ignore this much at the end (the person starts the next movement early), s."""
    min_duration_s: float = 1.0
    """Shortest usable still window after trimming, s."""
    max_gyro_std_deg_s: float = 2.0
    """Above this angular-rate spread the sensor was moving, deg/s."""
    max_acc_std_m_s2: float = 0.25
    """Above this specific-force spread the sensor was moving or shaken, m/s²."""


@dataclass(frozen=True, slots=True)
class StillPhase:
    """Averages of one sensor over a still phase, in the sensor's own axes."""

    t_start: float
    t_end: float
    up_sensor: np.ndarray
    """Unit vector pointing up (against gravity), sensor axes."""
    gyro_bias_rad_s: np.ndarray
    mag_mean_ut: np.ndarray | None
    gyro_std_deg_s: float
    acc_std_m_s2: float


def analyse_still(stream: SensorStream, t0: float, t1: float, sensor_name: str,
                  params: StillParams | None = None) -> StillPhase:
    """Average a sensor over [t0, t1) after trimming; raise if it moved or the phase is too short."""
    p = params or StillParams()
    a, b = t0 + p.trim_start_s, t1 - p.trim_end_s
    if b - a < p.min_duration_s:
        a, b = t0, t1  # short phase: use all of it rather than nothing
    part = stream.slice_time(a, b)
    if len(part) < 2 or (part.t[-1] - part.t[0]) < p.min_duration_s * 0.8:
        raise MissingPhaseError(
            f"the still phase has too little {sensor_name} data ({len(part)} samples).",
            "Hold the start posture for at least 3 seconds, with both sensors connected.",
        )
    gyr_std = float(np.degrees(np.linalg.norm(part.gyr.std(axis=0))))
    acc_std = float(np.linalg.norm(part.acc.std(axis=0)))
    if gyr_std > p.max_gyro_std_deg_s or acc_std > p.max_acc_std_m_s2:
        raise SensorMovedError(
            f"the {sensor_name} sensor moved during the still phase "
            f"(rate spread {gyr_std:.1f} deg/s, force spread {acc_std:.2f} m/s²).",
            "Sit still in the start posture until the still phase ends, then calibrate again.",
        )
    acc_mean = part.acc.mean(axis=0)
    return StillPhase(
        t_start=float(part.t[0]),
        t_end=float(part.t[-1]),
        up_sensor=acc_mean / np.linalg.norm(acc_mean),
        gyro_bias_rad_s=part.gyr.mean(axis=0),
        mag_mean_ut=None if part.mag is None else part.mag.mean(axis=0),
        gyro_std_deg_s=gyr_std,
        acc_std_m_s2=acc_std,
    )
