"""Smooth functions of time the motion script is built from: minimum-jerk paths through knots, sums of
sinusoids (sway, tremor), and the hip angles that go with the IR when the foot stays planted.

All are analytic, so the IMU model can differentiate the kinematics wherever it needs to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from firmware_bridge.simulator.leg import LegAngles, LegGeometry, hip_angles_deg, hip_rotation, knee_rotation
from firmware_bridge.simulator.postures import Posture
from imu_core import quaternion as quat
from imu_core.frames import Side


@dataclass(frozen=True, eq=False)
class MinimumJerkPath:
    """Piecewise minimum-jerk path through knots (zero velocity and acceleration at every knot).

    Between knots i and i+1 the value moves from v_i to v_i+1 along v_i + (v_i+1 - v_i) * s(u),
    s = 10u^3 - 15u^4 + 6u^5; equal neighbouring values make a hold. Constant outside the knots.
    """

    knot_t: np.ndarray
    """(K,) s, strictly increasing, K >= 2."""
    knot_value: np.ndarray
    """(K,)"""

    def __call__(self, t: ArrayLike) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        idx = np.clip(np.searchsorted(self.knot_t, t, side="right") - 1, 0, self.knot_t.shape[0] - 2)
        t0 = self.knot_t[idx]
        t1 = self.knot_t[idx + 1]
        u = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
        s = u**3 * (10.0 - 15.0 * u + 6.0 * u**2)
        v0 = self.knot_value[idx]
        return np.asarray(v0 + (self.knot_value[idx + 1] - v0) * s)

    @staticmethod
    def through(knots: list[tuple[float, float]]) -> MinimumJerkPath:
        arr = np.array(knots, dtype=float)
        if np.any(np.diff(arr[:, 0]) <= 0.0):
            raise ValueError("knot times must be strictly increasing")
        return MinimumJerkPath(arr[:, 0], arr[:, 1])


@dataclass(frozen=True, eq=False)
class Oscillation:
    """Sum of sinusoids plus a constant, deg: sway and tremor. |value| <= |offset| + sum of amplitudes."""

    amplitude_deg: np.ndarray
    frequency_hz: np.ndarray
    phase_rad: np.ndarray
    offset_deg: float = 0.0

    def __call__(self, t: ArrayLike) -> np.ndarray:
        t = np.asarray(t, dtype=float)[..., None]
        waves = self.amplitude_deg * np.sin(2.0 * np.pi * self.frequency_hz * t + self.phase_rad)
        return np.asarray(self.offset_deg + np.sum(waves, axis=-1))

    def centred_on(self, t0: float, t1: float) -> Oscillation:
        """The same waves, offset so that their mean over [t0, t1] is exactly 0."""
        w = 2.0 * np.pi * self.frequency_hz
        means = -self.amplitude_deg * (np.cos(w * t1 + self.phase_rad) - np.cos(w * t0 + self.phase_rad)) / (
            w * (t1 - t0))
        return replace(self, offset_deg=-float(np.sum(means)))

    @staticmethod
    def random(rng: np.random.Generator, peak_deg: float, low_hz: float, high_hz: float,
               components: int = 3) -> Oscillation:
        """Random components whose amplitudes add up to `peak_deg` (the bound on |value|)."""
        return Oscillation(
            peak_deg * rng.dirichlet(np.ones(components)),
            rng.uniform(low_hz, high_hz, size=components),
            rng.uniform(0.0, 2.0 * np.pi, size=components),
        )

    @staticmethod
    def join(*parts: Oscillation) -> Oscillation:
        return Oscillation(
            np.concatenate([p.amplitude_deg for p in parts]),
            np.concatenate([p.frequency_hz for p in parts]),
            np.concatenate([p.phase_rad for p in parts]),
        )


_COUPLING_DEGREE = 6


@dataclass(frozen=True, eq=False)
class IrCoupling:
    """Changes of hip flexion and adduction that go with a change of hip IR when the foot stays planted.

    With the foot on the floor (or a wall) the leg turns as one piece about the line from the hip centre
    to the ankle, so as the hip turns in the knee falls inward: the turn is IR, adduction and some
    flexion at once. Both changes are polynomials in the IR change (no constant term), fitted to the
    exact rigid turn; the foot stays put to well under a millimetre.
    """

    flexion_coef: np.ndarray
    """Coefficients (deg) of the IR change (rad) to the powers 1 .. n."""
    adduction_coef: np.ndarray

    def __call__(self, ir_deg: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(flexion change, adduction change), deg, for IR changes from the calibration posture, deg."""
        x = np.deg2rad(np.asarray(ir_deg, dtype=float))
        return (np.polynomial.polynomial.polyval(x, np.concatenate([[0.0], self.flexion_coef])),
                np.polynomial.polynomial.polyval(x, np.concatenate([[0.0], self.adduction_coef])))

    @staticmethod
    def planted_foot(posture: Posture, geometry: LegGeometry,
                     ir_range_deg: tuple[float, float] = (-20.0, 50.0)) -> IrCoupling:
        """The coupling for the leg of `posture` (the same for both sides: they are mirror images)."""
        side = Side.LEFT
        rest = LegAngles.of(posture.hip_flexion_deg, posture.hip_adduction_deg, posture.hip_ir_rest_deg,
                            posture.knee_flexion_deg)
        q_hip = hip_rotation(rest, side)
        ankle = np.array([0.0, 0.0, -geometry.femur_length_m]) + quat.rotate(
            knee_rotation(rest, side), np.array([0.0, 0.0, -geometry.tibia_length_m]))
        axis = ankle / np.linalg.norm(ankle)  # thigh axes
        turn = np.deg2rad(np.linspace(-80.0, 80.0, 641))
        flex, add, ir = hip_angles_deg(quat.multiply(q_hip, quat.from_axis_angle(axis, turn)), side)
        d_ir = ir - posture.hip_ir_rest_deg
        use = (d_ir >= ir_range_deg[0]) & (d_ir <= ir_range_deg[1])
        if not np.all(np.diff(d_ir[use]) * np.sign(d_ir[use][-1] - d_ir[use][0]) > 0.0):
            raise ValueError("the IR does not change steadily with the turn about the hip-ankle line")
        powers = np.stack([np.deg2rad(d_ir[use]) ** k for k in range(1, _COUPLING_DEGREE + 1)], axis=-1)
        fit_flex = np.linalg.lstsq(powers, flex[use] - posture.hip_flexion_deg, rcond=None)[0]
        fit_add = np.linalg.lstsq(powers, add[use] - posture.hip_adduction_deg, rcond=None)[0]
        return IrCoupling(fit_flex, fit_add)
