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
                  up_still_sensor: np.ndarray,
                  params: SwingParams | None = None) -> KneeSwing:
    """Find the knee hinge axis from the shin's rotation during [t0, t1).

    shin_quat: the shin sensor's orientation (sensor-to-earth, z up) for every sample of `shin`.
    The axis sign is fixed by anatomy: swinging the foot forward (knee extension) from a hanging shin
    tilts the shin's top backward, so 'up' seen by the sensor gains a forward (anterior) component.
    The segment's left axis is then y = z cross x with z = up at rest.
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
            "Swing the lower leg freely forward and back, 3 to 5 times, keeping the thigh still.",
        )
    # principal axis of the angular rate: the hinge
    cov = gyr.T @ gyr
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, -1]
    planarity = float(evals[-1] / max(evals.sum(), 1e-12))
    up_now = Q.rotate(Q.conjugate(shin_quat[sel]), np.array([0.0, 0.0, 1.0]))  # 'up' in sensor axes
    z = up_still_sensor / np.linalg.norm(up_still_sensor)
    tilt = np.degrees(np.arccos(np.clip(up_now @ z, -1.0, 1.0)))
    excursion = float(np.percentile(tilt, 98))
    if excursion < p.min_excursion_deg:
        raise SwingTooSmallError(
            f"the knee swings moved the shin only {excursion:.0f} deg.",
            "Swing the lower leg further forward (about 30 to 50 degrees), keeping the thigh still.",
        )
    if planarity < p.min_planarity:
        raise SwingTooSmallError(
            f"the shin did not swing like a hinge (planarity {planarity:.2f}); was the thigh still?",
            "Keep the thigh on the chair and swing only the lower leg forward and back.",
        )
    hinge = axis - (axis @ z) * z
    hinge /= np.linalg.norm(hinge)
    anterior = np.cross(hinge, z)  # x = y cross z if hinge is +y
    forward_tilt = float(np.mean((up_now - (up_now @ z)[:, None] * z) @ anterior))
    if forward_tilt < 0:
        hinge = -hinge
    return KneeSwing(hinge_sensor=hinge, excursion_deg=excursion, planarity=planarity)
