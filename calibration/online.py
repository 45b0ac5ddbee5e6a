"""Calibration kept right during the session, from the knee hinge and the exercise's own motion.

Two things the still phase and the knee swings cannot pin down for the thigh sensor are learned while
the person exercises:

- Relative heading. Each sensor's 6D orientation filter has its own heading, and the two drift apart
  slowly. The knee is a hinge, so its axis seen from the thigh and from the shin must point the same
  way: the difference of the two hinge headings is the relative heading, measured whenever the hinge is
  not vertical and smoothed with a time constant. (After Laidig et al., "Exploiting kinematic
  constraints to compensate magnetic disturbances when calculating joint angles of approximate hinge
  joints", 2017 - implemented here from the idea, without a magnetometer at all.)
- The thigh's long axis. Gravity gives one thigh axis in the start posture; the rotation about it is
  fixed at calibration by the shared-heading assumption. Hip rotation turns the femur about its long
  axis, so the thigh gyroscope's main rotation axis during the exercise (perpendicular to the known
  axis) is the long axis itself. Its sign comes from the shin, which turns the same way.

Both updates happen at sample indices fixed by the data alone, so feeding a session in pieces gives
what one pass gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.segments import LEFT_AXIS, StartPosture, mount_from_vector_pairs
from imu_core import kinematics as K
from imu_core import quaternion as Q

_Z = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True, slots=True)
class OnlineAlignmentParams:
    heading_tau_s: float = 2.0
    """Time constant of the relative-heading smoothing, s."""
    min_hinge_horizontal: float = 0.35
    """The hinge must be at least this far from vertical (horizontal share of the unit axis) to give
    the relative heading."""
    axis_min_rate_deg_s: float = 10.0
    """While the shin turns faster than this about any axis but the knee hinge (the femur is rotating:
    the thigh sensor's soft-tissue jiggle alone does not count), the thigh's rotation is evidence for its
    long axis, deg/s."""
    axis_first_fit: int = 30
    """First fit of the long axis after this many evidence samples (the first rep's rise)."""
    axis_refit_every: int = 100
    """Then refit after this many more evidence samples."""
    axis_min_ratio: float = 6.0
    """The rotation must be this much stronger about the main axis than about the other (eigenvalue
    ratio), or the motion is not a rotation about the femur and the fit is skipped."""


class ThighAlignment:
    """Current thigh mount and thigh-to-shin relative heading, refined as samples arrive."""

    def __init__(self, posture: StartPosture, thigh_mount: np.ndarray, thigh_up_sensor: np.ndarray,
                 thigh_still_quat: np.ndarray, shin_still_seg: np.ndarray, rate_hz: float,
                 params: OnlineAlignmentParams | None = None) -> None:
        """thigh_still_quat: the thigh filter's mean orientation over the still phase; shin_still_seg: the
        shin segment's mean orientation then (shin filter frame)."""
        self.params = params or OnlineAlignmentParams()
        self.rate_hz = rate_hz
        self.thigh_mount = np.asarray(thigh_mount, dtype=float)
        self.relative_heading_rad = 0.0
        """Rotation about the vertical from the thigh filter's frame into the shin filter's frame."""
        self._thigh_still_quat = np.asarray(thigh_still_quat, dtype=float)
        self._shin_still_seg = np.asarray(shin_still_seg, dtype=float)
        self.thigh_reference = K.segment_orientation(self._thigh_still_quat[None, :], self.thigh_mount)[0]
        """Thigh segment orientation at calibration (shared frame): where thigh drift is measured from."""
        self.axis_refits = 0
        self._up_segment = np.array(posture.thigh_up_segment, dtype=float)
        self._up_sensor = np.asarray(thigh_up_sensor, dtype=float) / np.linalg.norm(thigh_up_sensor)
        self._scatter = np.zeros((3, 3))
        self._sign_evidence = np.zeros(3)
        self._evidence = 0
        self._next_refit = self.params.axis_first_fit
        self._heading_reset = False

    # --- relative heading -----------------------------------------------------------------
    def track_heading(self, thigh_seg_own: np.ndarray, shin_seg: np.ndarray) -> np.ndarray:
        """Relative heading (rad) per paired sample, updating the smoothed estimate.

        thigh_seg_own: thigh segment orientation in the thigh filter's frame; shin_seg: shin segment
        orientation in the shin filter's frame; both (N, 4) at the same instants.
        """
        h_thigh = Q.rotate(thigh_seg_own, LEFT_AXIS)
        h_shin = Q.rotate(shin_seg, LEFT_AXIS)
        horiz = np.minimum(np.hypot(h_thigh[:, 0], h_thigh[:, 1]), np.hypot(h_shin[:, 0], h_shin[:, 1]))
        raw = np.arctan2(h_shin[:, 1], h_shin[:, 0]) - np.arctan2(h_thigh[:, 1], h_thigh[:, 0])
        usable = horiz >= self.params.min_hinge_horizontal
        gain = 1.0 - np.exp(-1.0 / (self.rate_hz * self.params.heading_tau_s))
        out = np.empty(len(raw))
        est = self.relative_heading_rad
        for i, (r, ok) in enumerate(zip(raw.tolist(), usable.tolist(), strict=True)):
            if ok:
                step = (r - est + np.pi) % (2.0 * np.pi) - np.pi
                est += step if self._heading_reset else gain * step
                self._heading_reset = False
            out[i] = est
        self.relative_heading_rad = est
        return out

    # --- thigh long axis ------------------------------------------------------------------
    def _perpendicular_rate(self, gyr: np.ndarray) -> np.ndarray:
        out: np.ndarray = gyr - (gyr @ self._up_sensor)[:, None] * self._up_sensor
        return out

    def evidence_mask(self, shin_gyr_seg: np.ndarray) -> np.ndarray:
        """Which samples are evidence for the long axis, from the shin's rate (segment axes, rad/s)."""
        off_hinge = np.hypot(shin_gyr_seg[:, 0], shin_gyr_seg[:, 2])
        mask: np.ndarray = off_hinge > np.radians(self.params.axis_min_rate_deg_s)
        return mask

    def samples_until_refit(self, evidence: np.ndarray) -> int | None:
        """Index (within this batch) after which the next refit is due, or None."""
        need = self._next_refit - self._evidence
        idx = np.flatnonzero(evidence)
        return int(idx[need - 1]) + 1 if len(idx) >= need else None

    def observe(self, thigh_gyr: np.ndarray, shin_gyr_seg: np.ndarray, knee_flexion_rad: np.ndarray,
                evidence: np.ndarray) -> None:
        """Accumulate evidence: thigh gyro (sensor axes) and the shin's rate (segment axes) at the same
        instants, with the knee flexion there."""
        if not evidence.any():
            return
        w = self._perpendicular_rate(thigh_gyr[evidence])
        self._scatter += w.T @ w
        femur_axis_in_shin = np.stack([-np.sin(knee_flexion_rad[evidence]), np.zeros(int(evidence.sum())),
                                       np.cos(knee_flexion_rad[evidence])], axis=1)
        shin_rate_about_femur = np.sum(shin_gyr_seg[evidence] * femur_axis_in_shin, axis=1)
        self._sign_evidence += w.T @ shin_rate_about_femur
        self._evidence += int(evidence.sum())

    def refit_due(self) -> bool:
        return self._evidence >= self._next_refit

    def refit(self) -> bool:
        """Re-derive the thigh mount from the accumulated rotation; True if it changed."""
        self._next_refit = self._evidence + self.params.axis_refit_every
        evals, evecs = np.linalg.eigh(self._scatter)
        if evals[-1] <= 0 or evals[-1] < self.params.axis_min_ratio * max(evals[-2], 1e-12):
            return False
        axis = evecs[:, -1]
        if axis @ self._sign_evidence < 0:
            axis = -axis
        self.thigh_mount = mount_from_vector_pairs(self._up_sensor, self._up_segment, axis, _Z)
        self.axis_refits += 1
        self._heading_reset = True  # the new mount changes the thigh's heading: start again from it
        # the still phase, seen with the new mount: its heading relative to the shin there
        own = K.segment_orientation(self._thigh_still_quat[None, :], self.thigh_mount)[0]
        h_t, h_s = Q.rotate(own, LEFT_AXIS), Q.rotate(self._shin_still_seg, LEFT_AXIS)
        still_heading = float(np.arctan2(h_s[1], h_s[0]) - np.arctan2(h_t[1], h_t[0]))
        self.thigh_reference = K.segment_orientation(own[None, :], Q.IDENTITY, still_heading)[0]
        return True

