"""Sensor-to-segment alignment from a still phase in a known start posture and knee swings.

The start posture says which segment axis points up (gravity gives it in each sensor's axes); the knee
swings give the knee's hinge, which is the left axis of both the shin and the thigh. The thigh sensor
only learns the hinge direction through a shared heading: each sensor's still-phase gravity and
magnetic field fix its orientation in ENU, so the shin's hinge can be carried over to the thigh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.errors import MissingPhaseError
from calibration.still import StillPhase, orientation_from_gravity_and_field
from calibration.swing import KneeSwing
from imu_core import quaternion as Q


@dataclass(frozen=True, slots=True)
class StartPosture:
    """Which segment axis points up, per segment, in the start posture (segment coordinates)."""

    name: str
    thigh_up_segment: tuple[float, float, float]
    shin_up_segment: tuple[float, float, float]


SEATED = StartPosture("seated", thigh_up_segment=(1.0, 0.0, 0.0), shin_up_segment=(0.0, 0.0, 1.0))
"""Seated on a tall chair: the front of the thigh faces up, the shin hangs vertical."""


def mount_from_axes(up_sensor: np.ndarray, left_sensor: np.ndarray,
                    up_segment: np.ndarray) -> np.ndarray:
    """Quaternion rotating sensor axes into segment axes, given 'up' and 'left' (+y) in both.

    `left_sensor` is made perpendicular to `up_sensor` first; `up_segment` must be perpendicular
    to the segment's y axis.
    """
    up_s = up_sensor / np.linalg.norm(up_sensor)
    left_s = left_sensor - (left_sensor @ up_s) * up_s
    left_s /= np.linalg.norm(left_s)
    up_g = np.asarray(up_segment, dtype=float)
    left_g = np.array([0.0, 1.0, 0.0])
    sensor_triad = np.stack([up_s, left_s, np.cross(up_s, left_s)], axis=1)
    segment_triad = np.stack([up_g, left_g, np.cross(up_g, left_g)], axis=1)
    return Q.from_matrix(segment_triad @ sensor_triad.T)


def heading_offset(enu_from_sensor: np.ndarray, filter_quat: np.ndarray) -> float:
    """Rotation about the vertical (rad) taking a filter's frame into ENU for the same instant."""
    q_enu = Q.from_matrix(enu_from_sensor)
    return float(Q.heading(Q.multiply(q_enu, Q.conjugate(filter_quat))))


@dataclass(frozen=True, slots=True)
class SegmentAlignment:
    thigh_mount: np.ndarray
    shin_mount: np.ndarray
    thigh_heading_offset_rad: float
    shin_heading_offset_rad: float


def align_segments(posture: StartPosture, thigh_still: StillPhase, shin_still: StillPhase,
                   swing: KneeSwing, thigh_filter_quat: np.ndarray,
                   shin_filter_quat: np.ndarray) -> SegmentAlignment:
    """Mounts of both sensors and their filter-frame heading offsets into a shared ENU frame.

    *_filter_quat: each sensor's filter orientation at the still phase (sensor-to-filter-frame).
    """
    if thigh_still.mag_mean_ut is None or shin_still.mag_mean_ut is None:
        raise MissingPhaseError(
            "calibration needs magnetometer readings from both sensors to line up their headings.",
            "Use sensors with a magnetometer (MetaMotion, Nano 33 BLE Sense) and enable it.",
        )
    thigh_enu = orientation_from_gravity_and_field(thigh_still.up_sensor, thigh_still.mag_mean_ut)
    shin_enu = orientation_from_gravity_and_field(shin_still.up_sensor, shin_still.mag_mean_ut)
    shin_mount = mount_from_axes(shin_still.up_sensor, swing.hinge_sensor,
                                 np.array(posture.shin_up_segment))
    hinge_enu = shin_enu @ swing.hinge_sensor
    hinge_in_thigh = thigh_enu.T @ hinge_enu
    thigh_mount = mount_from_axes(thigh_still.up_sensor, hinge_in_thigh,
                                  np.array(posture.thigh_up_segment))
    return SegmentAlignment(
        thigh_mount=thigh_mount,
        shin_mount=shin_mount,
        thigh_heading_offset_rad=heading_offset(thigh_enu, thigh_filter_quat),
        shin_heading_offset_rad=heading_offset(shin_enu, shin_filter_quat),
    )
