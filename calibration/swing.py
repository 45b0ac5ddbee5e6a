"""The knee's hinge axis, in shin-sensor axes, from knee swings with the thigh kept still."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.errors import MissingPhaseError, SwingTooSmallError
from imu_core import quaternion as Q
from imu_core.types import SensorStream


@dataclass(frozen=True, slots=True)
class SwingParams:
    min_peak_rate_deg_s: float = 40.0
    """The fastest part of the swings must turn at least this fast, deg/s."""
    min_excursion_deg: float = 15.0
    """The swings must move the shin at least this far from its still direction, deg."""
    min_planarity: float = 0.8
    """Share of rotation energy about the main axis (1 = a perfect hinge)."""


@dataclass(frozen=True, slots=True)
class KneeSwing:
    hinge_sensor: np.ndarray
    """Knee hinge axis in shin-sensor axes, unit, pointing to the person's left (segment +y)."""
    excursion_deg: float
    """Largest tilt of the shin away from its still direction during the swings, deg."""
    planarity: float
    """Share of the rotation about the hinge axis (0..1)."""


def analyse_swing(shin: SensorStream, shin_quat: np.ndarray, t0: float, t1: float,
                  still_quat: np.ndarray, up_still_sensor: np.ndarray, up_segment: np.ndarray,
                  swing_direction: int, params: SwingParams | None = None) -> KneeSwing:
    """Find the knee hinge axis from the shin's rotation during [t0, t1).

    shin_quat: the shin filter's orientation for every sample of `shin`; still_quat: its mean over the
    still phase; up_still_sensor / up_segment: where 'up' pointed then, in sensor and segment axes;
    swing_direction: -1 if the swings straighten the knee from the start posture, +1 if they bend it.

    The hinge is the shin's main rotation axis. Its sign (it must point to the person's left, segment
    +y) comes from gravity where the hinge is near vertical, else from the way the swings turn the shin.
    """
    p = params or SwingParams()
    sel = (shin.t >= t0) & (shin.t < t1)
    gyr = shin.gyr[sel]
    if gyr.shape[0] < 20:
        raise MissingPhaseError("the knee-swing phase has too little shin data.",
                                "Swing the lower leg back and forth 3 to 5 times after the still phase.")
    rates = np.degrees(np.linalg.norm(gyr, axis=1))
    if np.percentile(rates, 95) < p.min_peak_rate_deg_s:
        raise SwingTooSmallError(
            f"the knee swings were too slow or too small (fastest {np.percentile(rates, 95):.0f} deg/s).",
            "Swing the lower leg freely, 3 to 5 times, keeping the thigh still.",
        )
    evals, evecs = np.linalg.eigh(gyr.T @ gyr)
    hinge = evecs[:, -1]
    planarity = float(evals[-1] / max(evals.sum(), 1e-12))
    turned = Q.to_rotation_vector(Q.multiply(Q.conjugate(still_quat), shin_quat[sel]))  # sensor axes
    excursion = float(np.degrees(np.percentile(np.linalg.norm(turned, axis=1), 98)))
    if excursion < p.min_excursion_deg:
        raise SwingTooSmallError(
            f"the knee swings moved the shin only {excursion:.0f} deg.",
            "Swing the lower leg further (about 30 to 50 degrees), keeping the thigh still.",
        )
    if planarity < p.min_planarity:
        raise SwingTooSmallError(
            f"the shin did not swing like a hinge (planarity {planarity:.2f}); was the thigh still?",
            "Keep the thigh still and swing only the lower leg.",
        )
    if abs(up_segment[1]) > 0.5:
        if np.sign(hinge @ up_still_sensor) != np.sign(up_segment[1]):
            hinge = -hinge
    elif np.sign(np.mean(turned @ hinge)) != swing_direction:
        hinge = -hinge
    return KneeSwing(hinge_sensor=hinge, excursion_deg=excursion, planarity=planarity)
