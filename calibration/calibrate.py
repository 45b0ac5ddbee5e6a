"""Calibrate a thigh + shin pair from the still and swing phases of a session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.errors import SensorsSwappedError
from calibration.model import Calibration, SensorCalibration
from calibration.segments import StartPosture, align_segments
from calibration.still import StillParams, StillPhase, analyse_still
from calibration.swing import KneeSwing, SwingParams, analyse_swing
from imu_core import kinematics as K
from imu_core.frames import Segment, Side
from imu_core.types import SensorStream


@dataclass(slots=True)
class PhaseData:
    """One sensor's samples and filter orientations over the calibration phases."""

    stream: SensorStream
    quat: np.ndarray
    """(N, 4) filter orientation per sample (sensor-to-filter-frame)."""


def still_phases(data: dict[Segment, PhaseData], t_still: float, t_swing: float,
                 params: StillParams | None = None) -> dict[Segment, StillPhase]:
    return {seg: analyse_still(d.stream, t_still, t_swing, seg.value, params) for seg, d in data.items()}


def _quat_over(d: PhaseData, t0: float, t1: float) -> np.ndarray:
    sel = (d.stream.t >= t0) & (d.stream.t <= t1)
    return d.quat[sel] if sel.any() else d.quat[:1]


def _rms_rate_deg_s(stream: SensorStream, t0: float, t1: float) -> float:
    part = stream.slice_time(t0, t1)
    return float(np.degrees(np.sqrt(np.mean(np.sum(part.gyr**2, axis=1))))) if len(part) else 0.0


def check_not_swapped(thigh: SensorStream, shin: SensorStream, t0: float, t1: float) -> None:
    """During the knee swings the shin sensor must turn far more than the thigh sensor."""
    thigh_rate, shin_rate = _rms_rate_deg_s(thigh, t0, t1), _rms_rate_deg_s(shin, t0, t1)
    if thigh_rate > 20.0 and thigh_rate > 2.0 * shin_rate:
        raise SensorsSwappedError(
            f"during the knee swings the thigh sensor turned at {thigh_rate:.0f} deg/s and the shin sensor "
            f"at {shin_rate:.0f} deg/s: the two sensors look swapped.",
            "Put each sensor on its own segment (or swap their assignment), then calibrate again.",
        )


def calibrate(posture: StartPosture, side: Side, data: dict[Segment, PhaseData], still: dict[Segment, StillPhase],
              t_swing: float, t_swing_end: float, swing_params: SwingParams | None = None) -> Calibration:
    """Full calibration from the phase data of both sensors (still phases already analysed)."""
    thigh, shin = data[Segment.THIGH], data[Segment.SHIN]
    check_not_swapped(thigh.stream, shin.stream, t_swing, t_swing_end)
    q_thigh_still = _quat_over(thigh, still[Segment.THIGH].t_start, still[Segment.THIGH].t_end)
    q_shin_still = _quat_over(shin, still[Segment.SHIN].t_start, still[Segment.SHIN].t_end)
    q_thigh_ref, q_shin_ref = K.mean_orientation(q_thigh_still), K.mean_orientation(q_shin_still)
    swing: KneeSwing = analyse_swing(shin.stream, shin.quat, t_swing, t_swing_end, q_shin_ref,
                                     still[Segment.SHIN].up_sensor, posture.up_segment("shin", side),
                                     posture.swing_direction, swing_params)
    align = align_segments(posture, side, still[Segment.THIGH], still[Segment.SHIN], swing,
                           q_thigh_ref, q_shin_ref)
    thigh_seg = K.segment_orientation(q_thigh_still, align.thigh_mount)
    shin_seg_all = K.segment_orientation(q_shin_still, align.shin_mount)
    # pair samples by index over the (equal-length-ish) still windows
    n = min(len(thigh_seg), len(shin_seg_all))
    flex = K.knee_flexion_rad(thigh_seg[:n], shin_seg_all[:n])
    femur = K.femur_from_shin(shin_seg_all[:n], flex)
    quality = {
        "thigh_still_gyro_std_deg_s": still[Segment.THIGH].gyro_std_deg_s,
        "shin_still_gyro_std_deg_s": still[Segment.SHIN].gyro_std_deg_s,
        "swing_excursion_deg": swing.excursion_deg,
        "hinge_planarity": swing.planarity,
        "knee_flexion_at_start_deg": float(np.degrees(np.mean(flex))),
    }
    score = float(np.clip(min(
        1.0 - max(quality["thigh_still_gyro_std_deg_s"], quality["shin_still_gyro_std_deg_s"]) / 4.0,
        (swing.planarity - 0.6) / 0.35,
        swing.excursion_deg / 30.0,
    ), 0.0, 1.0))
    return Calibration(
        side=side,
        posture=posture.name,
        sensors={
            Segment.THIGH: SensorCalibration(align.thigh_mount, still[Segment.THIGH].gyro_bias_rad_s),
            Segment.SHIN: SensorCalibration(align.shin_mount, still[Segment.SHIN].gyro_bias_rad_s),
        },
        femur_reference=K.mean_orientation(femur),
        thigh_reference=K.mean_orientation(thigh_seg),
        thigh_still_quat=q_thigh_ref,
        shin_still_quat=q_shin_ref,
        hinge_in_shin_sensor=swing.hinge_sensor,
        thigh_long_axis_pending=align.thigh_long_axis_pending,
        shin_long_axis_pending=align.shin_long_axis_pending,
        quality=quality,
        score=score,
        t_calibrated=t_swing_end,
    )
