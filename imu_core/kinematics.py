"""Segment orientations and joint angles of the leg, vectorised over samples.

The femur's axial rotation is read through the shin: with the knee bent the shin is a rigid pointer
fixed to the femur by the knee hinge, while a thigh sensor slides on soft tissue and sees only part of
the femur's rotation. So the femur's orientation is taken as the shin's, turned back by the knee's
hinge angle; the thigh sensor contributes the hinge angle (a rotation about an axis the soft tissue
barely moves) and the direction of the femur's long axis.
"""

from __future__ import annotations

import numpy as np

from imu_core import quaternion as Q
from imu_core.frames import AXIS_INDEX, SegmentAxis, Side, axis_vector, ir_sign

_LEFT = AXIS_INDEX[SegmentAxis.LEFT]
_PROXIMAL = AXIS_INDEX[SegmentAxis.PROXIMAL]
_Z = axis_vector(SegmentAxis.PROXIMAL)
LONG_AXIS = _Z
"""A segment's long axis (proximal), segment coordinates."""


def segment_orientation(sensor_quat: np.ndarray, mount: np.ndarray,
                        heading_offset_rad: np.ndarray | float = 0.0) -> np.ndarray:
    """Segment-to-shared-frame quaternions from a sensor's filter output.

    sensor_quat: (N, 4) sensor-to-filter-frame; mount: sensor-to-segment; heading_offset_rad: rotation
    about the vertical from the filter's frame into the shared frame (one value, or one per sample).
    """
    q = Q.multiply(sensor_quat, Q.conjugate(mount))
    return with_heading(q, heading_offset_rad)


def with_heading(q: np.ndarray, heading_offset_rad: np.ndarray | float) -> np.ndarray:
    """Quaternions (N, 4) turned about the vertical by heading_offset_rad (one value or one per row)."""
    if np.any(heading_offset_rad):
        return Q.multiply(Q.about_axis(2, heading_offset_rad), q)
    return q


def knee_flexion_rad(thigh: np.ndarray, shin: np.ndarray) -> np.ndarray:
    """Knee flexion (rad, 0 = straight, positive = bent): the angle between the thigh's and the shin's
    long axes, signed about the shin's hinge axis.

    Only the thigh's long axis enters, so a thigh sensor slipping about the femur on soft tissue (its
    largest artefact) does not change the result.
    """
    z_thigh = Q.rotated_axis(thigh, _PROXIMAL)
    z_shin = Q.rotated_axis(shin, _PROXIMAL)
    y_shin = Q.rotated_axis(shin, _LEFT)
    along_hinge = np.sum(Q.cross(z_thigh, z_shin) * y_shin, axis=-1)
    flexion: np.ndarray = np.arctan2(along_hinge, np.sum(z_thigh * z_shin, axis=-1))
    return flexion


def femur_from_shin(shin: np.ndarray, knee_flexion: np.ndarray) -> np.ndarray:
    """Femur orientation implied by the shin and the knee's hinge angle (rad)."""
    return Q.multiply(shin, Q.about_axis(_LEFT, -np.asarray(knee_flexion)))


def hip_internal_rotation_rad(femur: np.ndarray, femur_reference: np.ndarray, side: Side) -> np.ndarray:
    """Hip IR (rad, positive inward) of the femur relative to its reference orientation: the twist
    about the femur's long axis of the rotation since the reference."""
    rel = Q.multiply(Q.conjugate(femur_reference), femur)
    return ir_sign(side) * Q.twist_angle(rel, _Z)


def long_axis_drift_rad(segment: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """How far a segment's long axis has turned away from its reference direction (rad, >= 0)."""
    rel = Q.multiply(Q.conjugate(reference), segment)
    # Q.swing_angle(rel, _Z), whose dot product with z is the moved axis's z component
    drift: np.ndarray = np.arccos(np.clip(Q.rotated_axis(rel, _PROXIMAL)[..., 2], -1.0, 1.0))
    return drift


def mean_orientation(q: np.ndarray) -> np.ndarray:
    """Average of nearby unit quaternions (sign-aligned, normalised sum)."""
    q = np.asarray(q, dtype=float)
    aligned = np.where((q @ q[0])[:, None] < 0, -q, q)
    return Q.normalize(aligned.mean(axis=0))


__all__ = [
    "femur_from_shin",
    "hip_internal_rotation_rad",
    "knee_flexion_rad",
    "long_axis_drift_rad",
    "mean_orientation",
    "segment_orientation",
    "with_heading",
]
