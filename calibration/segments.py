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
from imu_core.frames import Side


@dataclass(frozen=True, slots=True)
class StartPosture:
    """What is known of the start posture, for a LEFT leg (a right leg is its mirror image).

    Up directions are unit vectors in segment coordinates. Where a segment's up direction lies close to
    the knee hinge (lying on the side, 90/90), gravity and the knee swings tell the same thing and the
    segment's long axis is learned from the exercise's own rotation instead (`calibration.online`).
    """

    name: str
    thigh_up_segment: tuple[float, float, float]
    shin_up_segment: tuple[float, float, float]
    swing_direction: int = -1
    """Which way the calibration swings bend the knee from the start posture: -1 straighten, +1 bend."""
    knee_flexion_deg: float = 90.0
    """Knee flexion in the start posture; assumed only where it cannot be measured (hinge vertical)."""
    thigh_tilt_axis: tuple[float, float, float] | None = None
    """Where the thigh stands vertical in the start posture its roll about itself is a guess; if the
    exercise then tilts it about a known segment axis (the knee falling in: adduction, about the anterior
    axis), that tilt fixes the roll (calibration.online)."""

    def up_segment(self, segment: str, side: Side) -> np.ndarray:
        up = np.array(self.thigh_up_segment if segment == "thigh" else self.shin_up_segment, dtype=float)
        if side is Side.RIGHT:
            up[1] = -up[1]
        unit: np.ndarray = up / np.linalg.norm(up)
        return unit

    def hinge_is_up(self, segment: str) -> bool:
        """True where gravity in the start posture lies within 35 deg of the knee hinge."""
        up = self.thigh_up_segment if segment == "thigh" else self.shin_up_segment
        return bool(abs(up[1]) > np.cos(np.radians(35.0)))


SEATED = StartPosture("seated", thigh_up_segment=(1.0, 0.0, 0.0), shin_up_segment=(0.0, 0.0, 1.0))
"""Seated on a tall chair: the front of the thigh faces up, the shin hangs vertical."""

PRONE = StartPosture("prone", thigh_up_segment=(-1.0, 0.0, 0.0), shin_up_segment=(0.0, 0.0, -1.0))
"""Lying face down, knee bent 90 deg: the front of the thigh faces down, the foot points up."""

SIDE_LYING = StartPosture("side-lying", thigh_up_segment=(0.0, 0.99, 0.12), shin_up_segment=(-0.12, 0.99, 0.0))
"""Lying on the other side, hips bent about 45 deg, knees 90 deg and together: the leg's outer side up."""

NINETY_NINETY_BACK = StartPosture("ninety-ninety-back", thigh_up_segment=(0.06, 0.96, 0.28),
                                  shin_up_segment=(-0.28, 0.96, 0.06), swing_direction=+1)
"""Sitting in 90/90 with this leg behind, turned in: its outer side faces up; knee swings bend the knee."""

SUPINE_HOOK_LYING = StartPosture("supine-hook-lying", thigh_up_segment=(0.71, 0.0, -0.71),
                                 shin_up_segment=(0.69, 0.0, 0.73))
"""Lying on the back, hip bent about 45 deg, knee 90 deg, foot flat: the knee points up and forward."""

SUPINE_FEET_ON_WALL = StartPosture("supine-feet-on-wall", thigh_up_segment=(0.0, 0.0, -1.0),
                                   shin_up_segment=(1.0, 0.0, 0.0), thigh_tilt_axis=(1.0, 0.0, 0.0))
"""Lying on the back, hips and knees at 90 deg, feet on a wall: thigh vertical, shin horizontal."""

FLOOR_SITTING_KNEES_BENT = StartPosture("floor-sitting-knees-bent", thigh_up_segment=(0.73, -0.23, -0.64),
                                        shin_up_segment=(0.65, -0.23, 0.72))
"""Sitting on the floor, knees bent about 90 deg, feet flat and apart: the thigh rises toward the knee;
the hip's abduction (about 20 deg) turns the inner side of thigh and shin partly up."""

FLOOR_SITTING_LEG_STRAIGHT = StartPosture("floor-sitting-leg-straight", thigh_up_segment=(1.0, 0.0, 0.03),
                                          shin_up_segment=(1.0, 0.0, 0.07), swing_direction=+1,
                                          knee_flexion_deg=0.0)
"""Sitting on the floor, leg straight in front, kneecap up; the calibration swings slide the heel in."""

KNEELING_ON_CHAIR = StartPosture("kneeling-on-chair", thigh_up_segment=(0.0, 0.0, 1.0),
                                 shin_up_segment=(-1.0, 0.0, 0.0), swing_direction=+1)
"""Standing on the other leg, this knee on a (swivel) chair seat: thigh vertical, shin flat on the seat
pointing back; the calibration swings lift the foot off the seat."""


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
        return np.stack([a, b, Q.cross(a, b)], axis=1)  # (np.cross's arithmetic, without its set-up)

    return Q.from_matrix(triad(primary_segment, secondary_segment) @ triad(primary_sensor, secondary_sensor).T)


LEFT_AXIS = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True, slots=True)
class SegmentAlignment:
    thigh_mount: np.ndarray
    shin_mount: np.ndarray
    thigh_long_axis_pending: bool
    """True where the thigh's rotation about the hinge is a guess until the exercise shows it."""
    shin_long_axis_pending: bool


def align_segments(posture: StartPosture, side: Side, thigh_still: StillPhase, shin_still: StillPhase,
                   swing: KneeSwing, thigh_filter_quat: np.ndarray,
                   shin_filter_quat: np.ndarray) -> SegmentAlignment:
    """Mounts of both sensors (sensor-to-segment quaternions).

    *_filter_quat: each sensor's filter orientation over the still phase (sensor-to-filter-frame), the
    two frames taken to share their heading at that moment.
    """
    shin_up = posture.up_segment("shin", side)
    thigh_up = posture.up_segment("thigh", side)
    # the hinge is the shin's best-known axis; gravity fixes the rotation about it (a guess where the
    # two nearly coincide)
    shin_mount = mount_from_vector_pairs(swing.hinge_sensor, LEFT_AXIS, shin_still.up_sensor, shin_up)
    hinge_common = Q.rotate(shin_filter_quat, swing.hinge_sensor)
    hinge_in_thigh = Q.rotate(Q.conjugate(thigh_filter_quat), hinge_common)
    thigh_pending = posture.hinge_is_up("thigh")
    if thigh_pending:
        thigh_mount = mount_from_vector_pairs(hinge_in_thigh, LEFT_AXIS, thigh_still.up_sensor, thigh_up)
    else:
        thigh_mount = mount_from_vector_pairs(thigh_still.up_sensor, thigh_up, hinge_in_thigh, LEFT_AXIS)
    return SegmentAlignment(thigh_mount, shin_mount, thigh_pending, posture.hinge_is_up("shin"))
