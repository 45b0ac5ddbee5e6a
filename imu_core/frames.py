"""Frames, segments and axis conventions, stated once.

Earth frame: ENU (x east, y north, z up). Sensor frames: the device's own right-handed axes.

Segment (anatomical) frame, the same for every segment and for both legs:
    x  anterior (the front of the segment)
    y  to the person's left (for the knee this is the hinge axis)
    z  proximal, along the segment's long axis (thigh: knee -> hip, shin: ankle -> knee)
It is right-handed (x = y cross z): standing upright and facing north, x is north, y west, z up.

Quaternions are w, x, y, z. A "segment-to-earth" quaternion q rotates a vector given in segment
coordinates into earth coordinates.

Hip internal rotation (IR) turns the femur about its long axis z so that its front faces the midline.
For a right leg that is a positive rotation about z, for a left leg a negative one; `ir_sign` gives the
factor that turns a rotation about +z into IR for each side.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

GRAVITY_M_S2 = 9.80665
EARTH_UP = np.array([0.0, 0.0, 1.0])


class Segment(StrEnum):
    """Body segment a sensor is strapped to."""

    THIGH = "thigh"
    SHIN = "shin"
    PELVIS = "pelvis"


class Side(StrEnum):
    """Which leg wears the sensors."""

    LEFT = "left"
    RIGHT = "right"


class SegmentAxis(StrEnum):
    """Axes of the segment frame (see the module docstring)."""

    ANTERIOR = "x"
    LEFT = "y"
    PROXIMAL = "z"


AXIS_INDEX = {SegmentAxis.ANTERIOR: 0, SegmentAxis.LEFT: 1, SegmentAxis.PROXIMAL: 2}


def axis_vector(axis: SegmentAxis) -> np.ndarray:
    """Unit vector of a segment axis in segment coordinates."""
    v = np.zeros(3)
    v[AXIS_INDEX[axis]] = 1.0
    return v


def ir_sign(side: Side) -> float:
    """Factor turning a femur rotation about its +z (proximal) axis into hip IR (positive inward)."""
    return 1.0 if side is Side.RIGHT else -1.0
