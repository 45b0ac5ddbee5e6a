"""Sensor-to-segment alignment from a still phase in a known start posture and knee swings.

The start posture says which segment axis points up (gravity gives it in each sensor's axes); the knee
swings give the knee's hinge, which is the left axis of both the shin and the thigh. The thigh sensor
sees the hinge only through the shin: both sensors' orientation filters are taken to share a heading at
this moment, which makes the pair exactly consistent in the start posture. How far the two filters'
headings drift apart afterwards is tracked during the session from the knee hinge itself
(`calibration.online`), so no magnetometer is needed and none can mislead it near steel furniture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.still import StillPhase
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

PRONE = StartPosture("prone", thigh_up_segment=(-1.0, 0.0, 0.0), shin_up_segment=(0.0, 0.0, -1.0))
"""Lying face down, knee bent 90 deg: the front of the thigh faces down, the foot points up."""


def mount_from_vector_pairs(primary_sensor: np.ndarray, primary_segment: np.ndarray,
                            secondary_sensor: np.ndarray, secondary_segment: np.ndarray) -> np.ndarray:
    """Quaternion rotating sensor axes into segment axes from two directions known in both.

    The primary direction is matched exactly; the secondary only fixes the rotation about it (its part
    along the primary is ignored). The two must not be parallel.
    """
    def triad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float) / np.linalg.norm(a)
        b = np.asarray(b, dtype=float) - (np.asarray(b, dtype=float) @ a) * a
        b = b / np.linalg.norm(b)
        return np.stack([a, b, np.cross(a, b)], axis=1)

    return Q.from_matrix(triad(primary_segment, secondary_segment) @ triad(primary_sensor, secondary_sensor).T)


LEFT_AXIS = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True, slots=True)
class SegmentAlignment:
    thigh_mount: np.ndarray
    shin_mount: np.ndarray


def align_segments(posture: StartPosture, thigh_still: StillPhase, shin_still: StillPhase,
                   swing: KneeSwing, thigh_filter_quat: np.ndarray,
                   shin_filter_quat: np.ndarray) -> SegmentAlignment:
    """Mounts of both sensors (sensor-to-segment quaternions).

    *_filter_quat: each sensor's filter orientation over the still phase (sensor-to-filter-frame), the
    two frames taken to share their heading at that moment.
    """
    shin_mount = mount_from_vector_pairs(shin_still.up_sensor, np.array(posture.shin_up_segment),
                                         swing.hinge_sensor, LEFT_AXIS)
    hinge_common = Q.rotate(shin_filter_quat, swing.hinge_sensor)
    hinge_in_thigh = Q.rotate(Q.conjugate(thigh_filter_quat), hinge_common)
    thigh_mount = mount_from_vector_pairs(thigh_still.up_sensor, np.array(posture.thigh_up_segment),
                                          hinge_in_thigh, LEFT_AXIS)
    return SegmentAlignment(thigh_mount=thigh_mount, shin_mount=shin_mount)
