"""Kinematic chain of the leg: pelvis -> hip (3 DoF) -> femur -> knee (hinge + tibial rotation) -> tibia.

Every segment frame follows imu_core/frames.py: x anterior, y to the person's left, z proximal along the
long axis. The thigh frame's origin is the hip joint centre, the shin frame's origin the knee joint centre.

Joint angles (the simulator's truth; positive values as named):
    q_thigh = q_pelvis * Ry(-hip_flexion) * Rx(s_add * hip_adduction) * Rz(ir_sign * hip_ir)
    q_shin  = q_thigh  * Ry(knee_flexion) * Rz(ir_sign * tibial_rotation)
with ir_sign from imu_core.frames and s_add from `adduction_sign`. All functions are vectorised over
time: angles may be scalars or (N,) arrays, pelvis poses (4,)/(3,) or (N, 4)/(N, 3) (a moving pelvis:
see `PelvisPose.moved` and `pelvis_motion_rotation`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from imu_core import quaternion as quat
from imu_core.frames import Side, ir_sign

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])


def adduction_sign(side: Side) -> float:
    """s_add: the factor that makes a positive hip adduction move the knee toward the midline.

    With the hip straight, Rx(+a) about the thigh's x swings the knee (at -z) toward +y, the person's
    left. That is toward the midline for a right leg and away from it for a left leg, so s_add is +1
    for the right leg and -1 for the left, the same factor as `ir_sign`. At 90 deg of hip flexion x points
    up and the same rotation swings the (forward-pointing) knee to the left, so the sign holds there too.
    """
    return ir_sign(side)


def lateral_sign(side: Side) -> float:
    """+1 if the lateral side of this leg is +y (a left leg), -1 for a right leg."""
    return 1.0 if side is Side.LEFT else -1.0


@dataclass(frozen=True)
class LegGeometry:
    """Segment dimensions of the simulated person."""

    femur_length_m: float = 0.42
    """Hip joint centre to knee joint centre, m."""
    tibia_length_m: float = 0.40
    """Knee joint centre to ankle joint centre, m."""
    hip_half_width_m: float = 0.09
    """Lateral distance of each hip joint centre from the pelvis origin (mid-way between them), m."""


@dataclass(frozen=True, eq=False)
class PelvisPose:
    """Pose of the pelvis frame in the earth frame (ENU); arrays (one row per instant) for a moving pelvis."""

    q_pelvis: np.ndarray
    """(4,) or (N, 4) pelvis-to-earth quaternion."""
    position_m: np.ndarray
    """(3,) or (N, 3) pelvis origin (mid-way between the hip joint centres), m, ENU."""

    @staticmethod
    def upright(heading_rad: float, position_m: ArrayLike = (0.0, 0.0, 0.5)) -> PelvisPose:
        """Upright pelvis facing `heading_rad` (counter-clockwise from east: 0 faces east, pi/2 north)."""
        return PelvisPose(quat.about_z(heading_rad), np.asarray(position_m, dtype=float))

    def moved(self, q_relative: np.ndarray, pivot_m: np.ndarray) -> PelvisPose:
        """This pose turned by `q_relative` (pelvis axes, (4,) or (N, 4)) about `pivot_m` (pelvis axes, m)."""
        q = quat.multiply(self.q_pelvis, q_relative)
        pivot_world = self.position_m + quat.rotate(self.q_pelvis, pivot_m)
        return PelvisPose(q, np.asarray(pivot_world - quat.rotate(q, pivot_m)))


def pelvis_motion_rotation(
    tilt_deg: ArrayLike, obliquity_deg: ArrayLike, rotation_deg: ArrayLike, side: Side
) -> np.ndarray:
    """Rotation of the pelvis away from its rest pose, in its own axes, (..., 4):
    Rz(-lat * rotation) * Rx(lat * obliquity) * Ry(tilt), lat = `lateral_sign(side)`.

    tilt: anterior tilt (the top of the pelvis tips forward) positive. obliquity: the instrumented side's
    hip moves up (toward the head) positive, a hip hike. rotation: about the pelvis's long axis, the
    instrumented side's hip moving forward (anterior) positive. Each positive direction turns the femur
    the way hip IR does when the hip is in the matching posture (obliquity for a 90 deg flexed hip,
    rotation for a straight hip), so a positive pelvis motion can pass for extra IR.
    """
    lat = lateral_sign(side)
    rot = quat.from_axis_angle(_Z, -lat * np.deg2rad(np.asarray(rotation_deg, dtype=float)))
    obl = quat.from_axis_angle(_X, lat * np.deg2rad(np.asarray(obliquity_deg, dtype=float)))
    tilt = quat.from_axis_angle(_Y, np.deg2rad(np.asarray(tilt_deg, dtype=float)))
    return quat.multiply(quat.multiply(rot, obl), tilt)


@dataclass(frozen=True, eq=False)
class LegAngles:
    """Joint angles of one leg, deg, as equal-length arrays (or scalars as 0-d arrays)."""

    hip_flexion_deg: np.ndarray
    hip_adduction_deg: np.ndarray
    """Positive toward the midline."""
    hip_ir_deg: np.ndarray
    """Hip internal rotation, positive inward."""
    knee_flexion_deg: np.ndarray
    """0 = straight knee."""
    tibial_rotation_deg: np.ndarray
    """Internal rotation of the tibia relative to the femur about the tibia's long axis."""

    @staticmethod
    def of(
        hip_flexion_deg: ArrayLike = 90.0,
        hip_adduction_deg: ArrayLike = 0.0,
        hip_ir_deg: ArrayLike = 0.0,
        knee_flexion_deg: ArrayLike = 90.0,
        tibial_rotation_deg: ArrayLike = 0.0,
    ) -> LegAngles:
        """Angles broadcast to one common shape; defaults are the seated start posture."""
        arrays = np.broadcast_arrays(
            *(np.asarray(a, dtype=float)
              for a in (hip_flexion_deg, hip_adduction_deg, hip_ir_deg, knee_flexion_deg,
                        tibial_rotation_deg))
        )
        return LegAngles(*(np.array(a) for a in arrays))


@dataclass(frozen=True, eq=False)
class LegState:
    """Orientations (segment-to-earth) and joint-centre positions (m, ENU) of the chain."""

    q_thigh: np.ndarray
    q_shin: np.ndarray
    hip_centre_m: np.ndarray
    knee_centre_m: np.ndarray
    ankle_centre_m: np.ndarray


def hip_rotation(angles: LegAngles, side: Side) -> np.ndarray:
    """Pelvis-to-thigh rotation Ry(-flexion) * Rx(s_add * adduction) * Rz(ir_sign * IR), (..., 4)."""
    flex = np.deg2rad(angles.hip_flexion_deg)
    add = np.deg2rad(angles.hip_adduction_deg)
    ir = np.deg2rad(angles.hip_ir_deg)
    return quat.multiply(
        quat.multiply(quat.from_axis_angle(_Y, -flex), quat.from_axis_angle(_X, adduction_sign(side) * add)),
        quat.from_axis_angle(_Z, ir_sign(side) * ir),
    )


def hip_angles_deg(q_hip: np.ndarray, side: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flexion, adduction, IR) in deg of pelvis-to-thigh rotations (..., 4): the inverse of `hip_rotation`
    for |adduction| < 90 deg."""
    m = quat.to_matrix(np.asarray(q_hip, dtype=float))
    # third column: Ry(-f) Rx(b) z = (-cos b sin f, -sin b, cos b cos f), b = s_add * adduction
    b = np.arcsin(np.clip(-m[..., 1, 2], -1.0, 1.0))
    f = np.arctan2(-m[..., 0, 2], m[..., 2, 2])
    # second row: (cos b sin g, cos b cos g, -sin b)
    g = np.arctan2(m[..., 1, 0], m[..., 1, 1])
    return (np.rad2deg(f), np.rad2deg(b) * adduction_sign(side), np.rad2deg(g) * ir_sign(side))


def knee_rotation(angles: LegAngles, side: Side) -> np.ndarray:
    """Thigh-to-shin rotation Ry(knee_flexion) * Rz(ir_sign * tibial_rotation), (..., 4)."""
    flex = np.deg2rad(angles.knee_flexion_deg)
    tib = np.deg2rad(angles.tibial_rotation_deg)
    return quat.multiply(quat.from_axis_angle(_Y, flex), quat.from_axis_angle(_Z, ir_sign(side) * tib))


def hip_centre(pelvis: PelvisPose, side: Side, geometry: LegGeometry) -> np.ndarray:
    """Hip joint centre of this side, m, ENU."""
    offset = np.array([0.0, lateral_sign(side) * geometry.hip_half_width_m, 0.0])
    return np.asarray(pelvis.position_m + quat.rotate(pelvis.q_pelvis, offset))


def leg_kinematics(
    angles: LegAngles, side: Side, pelvis: PelvisPose, geometry: LegGeometry = LegGeometry()
) -> LegState:
    """Segment orientations and joint positions for the given joint angles."""
    q_thigh = quat.multiply(pelvis.q_pelvis, hip_rotation(angles, side))
    q_shin = quat.multiply(q_thigh, knee_rotation(angles, side))
    hip = hip_centre(pelvis, side, geometry)
    knee = hip + quat.rotate(q_thigh, np.array([0.0, 0.0, -geometry.femur_length_m]))
    ankle = knee + quat.rotate(q_shin, np.array([0.0, 0.0, -geometry.tibia_length_m]))
    hip = np.broadcast_to(hip, knee.shape).copy()
    return LegState(q_thigh, q_shin, hip, knee, ankle)
