"""imu_core: pure computation. Value types, quaternion math, orientation filters, joint kinematics."""

from imu_core.filters import MadgwickFilter, OrientationFilter, VqfFilter, VqfParams, estimate_orientation
from imu_core.frames import Segment, Side

__all__ = ["MadgwickFilter", "OrientationFilter", "Segment", "Side", "VqfFilter", "VqfParams", "estimate_orientation"]
