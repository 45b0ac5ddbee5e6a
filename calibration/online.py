"""Calibration kept right during the session, from the knee hinge and the exercise's own rotation.

What the still phase and the knee swings cannot pin down is learned while the person exercises:

- Relative heading. Each sensor's 6D orientation filter has its own heading, and the two drift apart
  slowly. The knee is a hinge, so its axis seen from the thigh and from the shin must point the same
  way: the difference of the two hinge headings is the relative heading, measured whenever the hinge is
  not vertical and smoothed with a time constant. (The idea of Laidig et al., "Exploiting kinematic
  constraints to compensate magnetic disturbances when calculating joint angles of approximate hinge
  joints", 2017, used here without any magnetometer.)
- Long axes. Hip rotation turns the femur, and with it the shin, about the femur's long axis. So once
  the shin has turned away from its calibration orientation about anything but the knee hinge, the
  thigh's rotation since calibration is about the thigh's long axis, and the shin's about the femur's
  axis seen from the shin. (Rotation since the leg was last at rest rather than angular rate: it builds
  up to the full IR range, while soft-tissue jiggle of the thigh sensor stays a fraction of a degree; and
  rather than since calibration: the filters' heading drift over a session would tilt the axis.) The thigh's long
  axis is always learned this way (its heading at calibration was only assumed); the shin's where the
  start posture puts the hinge near vertical. The sign: the exercise says which way it turns the hip
  (`rotation_sign`: +1 for internal rotation reps, -1 for stretches held in external rotation and for
  90/90 transitions), so the rotation accumulated since calibration points that way. Where the thigh
  is vertical in the start posture its long axis is gravity's, known from the still phase, and is not
  refitted (its rotation about that axis is what the evidence would have to leave out).

Updates happen at sample indices fixed by the data alone, so a session fed in pieces gives what one
pass gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from calibration.model import Calibration
from calibration.segments import LEFT_AXIS, StartPosture, mount_from_vector_pairs
from imu_core import kinematics as K
from imu_core import quaternion as Q
from imu_core.frames import AXIS_INDEX, SegmentAxis, Side, ir_sign

_Z = np.array([0.0, 0.0, 1.0])
_LEFT = AXIS_INDEX[SegmentAxis.LEFT]
_TWO_PI = 2.0 * math.pi
_VERTICAL_COS = float(np.cos(np.radians(30.0)))
"""A thigh within 30 deg of vertical in the start posture has its long axis from gravity."""


@dataclass(frozen=True, slots=True)
class OnlineAlignmentParams:
    heading_tau_s: float = 2.0
    """Time constant of the relative-heading smoothing, s."""
    min_axis_horizontal: float = 0.5
    """An axis used to line up the headings must be at least this far from vertical (horizontal share
    of the unit vector)."""
    heading_weight_span: float = 0.3
    """An axis counts fully once its horizontal share is this much above the minimum (less: in part)."""
    axis_min_turn_deg: float = 4.0
    """Once the shin has turned this far from its calibration orientation about any axis but the knee
    hinge, the femur has rotated and both sensors' rotations are evidence for the long axes, deg."""
    axis_first_fit: int = 15
    """First fit of the long axes after this many evidence samples (the first rep's rise)."""
    axis_refit_every: int = 100
    """Then refit after this many more evidence samples. (Every second of evidence at 100 Hz: during a
    stretch held for minutes the fit follows the hold as it settles; refitting only every 10-30 s there
    put the time at target of 90/90 stretches off by up to 25 s in benchmarks/exercises.py.)"""
    axis_agree_deg: float = 5.0
    """Reps whose rotation axes are within this of each other agree on the long axis, deg."""
    axis_min_run_deg: float = 5.0
    """A rep votes on the long axis once it turned the segment at least this far, deg."""
    axis_min_ratio: float = 6.0
    """Rotation about the main axis must be this much stronger than about the next (eigenvalue ratio),
    or the motion is not a rotation about the femur and the fit is skipped."""


@dataclass(frozen=True, slots=True)
class AlignmentSpan:
    """The alignment in force over samples [start, end) of a block (see `OnlineAlignment.advance`)."""

    start: int
    end: int
    thigh_mount: np.ndarray
    shin_mount: np.ndarray
    femur_reference: np.ndarray
    thigh_reference: np.ndarray
    thigh_long_axis: tuple[float, float, float]
    """The thigh's long axis in the thigh sensor's axes (unit)."""
    refits: int
    thigh_axis_known: bool
    thigh_axis_fitted: bool
    heading_reset: bool = False
    """A refit came just before: the relative heading restarts from the next well-conditioned sample."""
    heading_hold_rad: float | None = None
    """... and, where nothing can track it, is held at this value from here on."""


class _AxisEvidence:
    """Main rotation axis of one sensor, perpendicular to a known axis, signed by accumulated rotation.

    Evidence is kept per run (one rep's rotation away from rest), and the fit is the consensus of the
    runs: the axis most runs agree with, from those runs only. A rep spoiled by a compensation (the
    thigh drifting, the pelvis rolling) turns about another axis and is outvoted, even the first one.
    """

    def __init__(self, known_axis_sensor: np.ndarray | None, still_quat: np.ndarray, sign: float,
                 agree_rad: float) -> None:
        self.known = None if known_axis_sensor is None else known_axis_sensor / np.linalg.norm(known_axis_sensor)
        self.sign = sign
        self.agree_cos = float(np.cos(agree_rad))
        self.runs: list[tuple[np.ndarray, np.ndarray, float]] = []
        """(scatter, sum of rotation vectors, largest rotation in rad) of each run."""
        self._open = False
        self.reference = still_quat
        """Orientation the rotation of the next evidence is measured from."""
        # Runs that can no longer grow (all but an open last one) are worked out once, not at every fit:
        # a fit compared every run with every other, so its cost grew with the square of the reps (tens
        # of ms per fit after an hour, most of the offline analysis). Same arithmetic, same results.
        self._settled: list[tuple[np.ndarray, float] | None] = []
        """Per settled run: (main axis, planarity) if it votes (turned at least min_run_rad), else None."""
        self._agrees: list[int] = []
        """Per settled run i: bit j set if settled run j agrees with it (|axis_i . axis_j| >= agree_cos)."""
        self._settled_min_run: float | None = None

    def add(self, quat: np.ndarray, evidence: np.ndarray) -> None:
        """quat: (N, 4) filter orientations in time order; evidence: which of them are hip rotation.

        Each is measured from the last orientation before it that was not evidence (the leg at rest
        before the rep), not from calibration: within one rep the filter's heading drift is nil, over a
        session it is degrees, and it would tilt the axis."""
        n = len(quat)
        if n and not evidence.any():  # the leg at rest: only the reference moves on
            self.reference = quat[-1]
            self._open = False
            return
        last_rest = np.maximum.accumulate(np.where(~evidence, np.arange(n), -1))
        refs = np.where((last_rest >= 0)[:, None], quat[np.maximum(last_rest, 0)], self.reference)
        rest_idx = np.flatnonzero(~evidence)
        if len(rest_idx):
            self.reference = quat[rest_idx[-1]]
        turned_all = np.zeros((n, 3))
        if evidence.any():
            turned = Q.to_rotation_vector(Q.multiply(Q.conjugate(refs[evidence]), quat[evidence]))
            if self.known is not None:
                turned = turned - (turned @ self.known)[:, None] * self.known
            turned_all[evidence] = turned
        # split into runs of evidence (a run may continue from the previous batch)
        edges = np.diff(np.concatenate([[0], evidence.astype(np.int8), [0]]))
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            part = turned_all[a:b]
            largest = float(np.linalg.norm(part, axis=1).max())
            if a == 0 and self._open and self.runs:
                scatter, total, top = self.runs[-1]
                self.runs[-1] = (scatter + part.T @ part, total + part.sum(axis=0), max(top, largest))
            else:
                self.runs.append((part.T @ part, part.sum(axis=0), largest))
        if n:
            self._open = bool(evidence[-1])

    def _settle(self, min_run_rad: float) -> None:
        """Axis, planarity and agreements of the runs settled since the last call."""
        if self._settled_min_run != min_run_rad:
            self._settled, self._agrees, self._settled_min_run = [], [], min_run_rad
        n_settled = len(self.runs) - 1 if self._open else len(self.runs)
        cos = self.agree_cos
        for i in range(len(self._settled), n_settled):
            sc, _, top = self.runs[i]
            if top < min_run_rad:
                self._settled.append(None)
                self._agrees.append(0)
                continue
            a = _main_axis(sc)
            mask = 0
            for j, other in enumerate(self._settled):
                if other is not None:
                    b = other[0]
                    if abs(float(a @ b)) >= cos:
                        mask |= 1 << j
                    if abs(float(b @ a)) >= cos:
                        self._agrees[j] |= 1 << i
            if abs(float(a @ a)) >= cos:
                mask |= 1 << i
            self._settled.append((a, _planarity(sc)))
            self._agrees.append(mask)

    def axis(self, min_ratio: float, min_run_rad: float) -> np.ndarray | None:
        self._settle(min_run_rad)
        cos = self.agree_cos
        axes = {i: got[0] for i, got in enumerate(self._settled) if got is not None}
        planarity = {i: got[1] for i, got in enumerate(self._settled) if got is not None}
        last = len(self._settled)  # the open run, if any: it may still grow, so it is worked out afresh
        open_axis = None
        if last < len(self.runs) and self.runs[last][2] >= min_run_rad:
            open_axis = axes[last] = _main_axis(self.runs[last][0])
            planarity[last] = _planarity(self.runs[last][0])
        if not axes:
            return None
        with_open = {i: open_axis is not None and abs(float(a @ open_axis)) >= cos for i, a in axes.items()}
        votes = {i: self._agrees[i].bit_count() + with_open[i] for i in axes if i != last}
        if open_axis is not None:
            votes[last] = sum(abs(float(open_axis @ b)) >= cos for b in axes.values())
        # on a tie (two reps that disagree), the rep that turned most purely about one axis
        best = max(axes, key=lambda i: (votes[i], planarity[i]))
        if best == last:
            chosen = [j for j, b in axes.items() if abs(float(axes[best] @ b)) >= cos]
        else:
            chosen = [j for j in axes if (j == last and with_open[best]) or (j != last and self._agrees[best] >> j & 1)]
        scatter = sum((self.runs[j][0] for j in chosen), np.zeros((3, 3)))
        total = sum((self.runs[j][1] for j in chosen), np.zeros(3))
        evals, evecs = np.linalg.eigh(scatter)
        if evals[-1] <= 0 or evals[-1] < min_ratio * max(evals[-2], 1e-12):
            return None
        axis: np.ndarray = evecs[:, -1]
        return axis if axis @ total * self.sign >= 0 else -axis


def _planarity(scatter: np.ndarray) -> float:
    evals = np.linalg.eigvalsh(scatter)
    return float(evals[-1] / max(float(evals.sum()), 1e-12))


def _main_axis(scatter: np.ndarray) -> np.ndarray:
    axis: np.ndarray = np.linalg.eigh(scatter)[1][:, -1]
    return axis


class OnlineAlignment:
    """Current mounts, femur reference and thigh-to-shin relative heading, refined as samples arrive."""

    def __init__(self, posture: StartPosture, side: Side, cal: Calibration, thigh_up_sensor: np.ndarray,
                 shin_up_sensor: np.ndarray, rate_hz: float, params: OnlineAlignmentParams | None = None,
                 rotation_sign: float = 1.0, learn_axes: bool = True) -> None:
        self.params = params or OnlineAlignmentParams()
        self.posture, self.side, self.rate_hz = posture, side, rate_hz
        self.thigh_mount = cal.sensors_mount("thigh")
        self.shin_mount = cal.sensors_mount("shin")
        self.femur_reference = cal.femur_reference
        self.thigh_reference = cal.thigh_reference
        self.relative_heading_rad = 0.0
        """Rotation about the vertical from the thigh filter's frame into the shin filter's frame."""
        self.axis_refits = 0
        self.hinge_sensor = cal.hinge_in_shin_sensor / np.linalg.norm(cal.hinge_in_shin_sensor)
        self._cal = cal
        self._thigh_up_sensor = thigh_up_sensor / np.linalg.norm(thigh_up_sensor)
        self._shin_up_sensor = shin_up_sensor / np.linalg.norm(shin_up_sensor)
        sign = ir_sign(side) * rotation_sign  # the exercise's rotation about the femur's proximal axis
        self._thigh_pending = cal.thigh_long_axis_pending
        # where the hinge is near vertical the thigh's hinge direction came through the shared-heading
        # guess, so nothing is projected out of its rotation
        agree = np.radians(self.params.axis_agree_deg)
        self._thigh = _AxisEvidence(None if self._thigh_pending else self._thigh_up_sensor,
                                    cal.thigh_still_quat, sign, agree)
        self._shin = _AxisEvidence(self.hinge_sensor, cal.shin_still_quat, sign, agree) \
            if cal.shin_long_axis_pending \
            else None
        self._evidence = 0
        self._next_refit = self.params.axis_first_fit if learn_axes else 1 << 62
        self._learn_axes = learn_axes
        self._heading_reset = False
        self._restart_heading = False
        self._heading_hold: float | None = None
        """A refit since the last span: the next span restarts the heading (and holds it at this)."""
        self._heading_gain = 1.0 - math.exp(-1.0 / (rate_hz * self.params.heading_tau_s))
        self._thigh_vertical = bool(abs(posture.up_segment("thigh", side) @ _Z) > _VERTICAL_COS)
        """The thigh is near vertical in the start posture: gravity gives its long axis."""
        self._long_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
        self._long_axis_of: np.ndarray | None = None

    @property
    def thigh_long_axis_sensor(self) -> tuple[float, float, float]:
        """The thigh's long axis in the thigh sensor's axes, with the current mount (unit)."""
        if self._long_axis_of is not self.thigh_mount:
            axis = Q.rotate(Q.conjugate(self.thigh_mount), K.LONG_AXIS).tolist()
            self._long_axis, self._long_axis_of = (axis[0], axis[1], axis[2]), self.thigh_mount
        return self._long_axis

    @property
    def thigh_axis_fitted(self) -> bool:
        """True once the thigh's long axis has been fitted from the exercise, or where it never will be
        (a vertical thigh, whose axis gravity gives; an exercise that keeps the calibration's axes)."""
        return self.axis_refits > 0 or self._thigh_vertical or not self._learn_axes

    @property
    def thigh_axis_known(self) -> bool:
        """False while the thigh's long axis is a guess: in postures with the knee hinge near vertical,
        until the first fit from the exercise. (Elsewhere calibration gives it well enough, gravity gives
        it for a vertical thigh, and exercises that do not turn the hip about the femur alone keep it.)"""
        return (self.axis_refits > 0 or not self._thigh_pending or self._thigh_vertical
                or not self._learn_axes)

    # --- relative heading -----------------------------------------------------------------
    def track_heading(self, thigh_seg_own: np.ndarray, shin_seg: np.ndarray,
                      spans: list[AlignmentSpan]) -> np.ndarray:
        """Relative heading (rad) per paired sample, updating the smoothed estimate.

        thigh_seg_own: thigh segment orientation in the thigh filter's frame; shin_seg: shin segment
        orientation in the shin filter's frame; both (N, 4) at the same instants; spans: `advance`'s
        for these instants (a refit restarts the heading).
        """
        h_thigh = Q.rotated_axis(thigh_seg_own, _LEFT)
        h_shin = Q.rotated_axis(shin_seg, _LEFT)
        horiz = np.minimum(np.hypot(h_thigh[:, 0], h_thigh[:, 1]), np.hypot(h_shin[:, 0], h_shin[:, 1]))
        raw = np.arctan2(h_shin[:, 1], h_shin[:, 0]) - np.arctan2(h_thigh[:, 1], h_thigh[:, 0])
        # just past the threshold the heading of a near-vertical axis is poorly conditioned: weigh it in
        # gradually, and restart from a single sample only where it is well conditioned
        p = self.params
        weight = np.clip((horiz - p.min_axis_horizontal) / p.heading_weight_span, 0.0, 1.0)
        gain = self._heading_gain
        raws, weights = raw.tolist(), weight.tolist()
        out: list[float] = []
        est = self.relative_heading_rad
        reset = self._heading_reset
        for span in spans:
            if span.heading_reset:
                reset = True
                if span.heading_hold_rad is not None:
                    est = span.heading_hold_rad
            for r, w in zip(raws[span.start:span.end], weights[span.start:span.end], strict=True):
                if w > 0.0:
                    step = (r - est + math.pi) % _TWO_PI - math.pi
                    if reset and w >= 1.0:
                        est += step
                        reset = False
                    else:
                        est += gain * w * step
                out.append(est)
        self.relative_heading_rad, self._heading_reset = est, reset
        return np.array(out)

    # --- long axes ------------------------------------------------------------------------
    def evidence_mask(self, shin_quat: np.ndarray) -> np.ndarray:
        """Which samples are evidence for the long axes, from the shin filter's orientation."""
        turned = Q.to_rotation_vector(Q.multiply(Q.conjugate(self._cal.shin_still_quat), shin_quat))
        off_hinge = turned - (turned @ self.hinge_sensor)[:, None] * self.hinge_sensor
        mask: np.ndarray = np.linalg.norm(off_hinge, axis=1) > np.radians(self.params.axis_min_turn_deg)
        return mask

    def advance(self, thigh_quat: np.ndarray, shin_quat: np.ndarray, evidence: np.ndarray) -> list[AlignmentSpan]:
        """Take a block of paired samples (filter orientations, and which are evidence for the long
        axes): accumulate the evidence, refitting wherever one is due, and return the alignment in force
        over each stretch of the block, refit to refit. The refits fall at sample indices fixed by the
        evidence alone, so the angles worked out from the spans do not depend on how a session is cut."""
        spans: list[AlignmentSpan] = []
        start, n = 0, len(evidence)
        while start < n:
            due = self.samples_until_refit(evidence[start:])
            end = n if due is None else start + due
            spans.append(AlignmentSpan(start, end, self.thigh_mount, self.shin_mount, self.femur_reference,
                                       self.thigh_reference, self.thigh_long_axis_sensor, self.axis_refits,
                                       self.thigh_axis_known, self.thigh_axis_fitted, self._restart_heading,
                                       self._heading_hold))
            self._restart_heading, self._heading_hold = False, None
            self.observe(thigh_quat[start:end], shin_quat[start:end], evidence[start:end])
            if due is not None:
                self.refit()
            start = end
        return spans

    def samples_until_refit(self, evidence: np.ndarray) -> int | None:
        """Index (within this batch) after which the next refit is due, or None."""
        need = self._next_refit - self._evidence
        idx = np.flatnonzero(evidence)
        return int(idx[need - 1]) + 1 if len(idx) >= need else None

    def observe(self, thigh_quat: np.ndarray, shin_quat: np.ndarray, evidence: np.ndarray) -> None:
        """Accumulate evidence from paired samples (filter orientations)."""
        self._thigh.add(thigh_quat, evidence)
        if self._shin is not None:
            self._shin.add(shin_quat, evidence)
        self._evidence += int(evidence.sum())

    def refit(self) -> bool:
        """Re-derive the long axes from the accumulated rotation; True if anything changed."""
        changed = False
        thigh_up = self.posture.up_segment("thigh", self.side)
        min_run = np.radians(self.params.axis_min_run_deg)
        vertical = abs(thigh_up @ _Z) > _VERTICAL_COS
        thigh_axis = None if vertical else self._thigh.axis(self.params.axis_min_ratio, min_run)
        tilt = self.posture.thigh_tilt_axis
        if vertical and tilt is not None and self._learn_axes:
            # the long axis is gravity's; the rotation left once it is taken out is the tilt
            tilt_axis = self._thigh.axis(self.params.axis_min_ratio, min_run)
            if tilt_axis is not None:
                self.thigh_mount = mount_from_vector_pairs(self._thigh_up_sensor, thigh_up, tilt_axis,
                                                           np.asarray(tilt, dtype=float))
                changed = True
        if thigh_axis is not None:
            if self._thigh_pending:  # the long axis is the best-known axis; gravity sets the roll about it
                self.thigh_mount = mount_from_vector_pairs(thigh_axis, _Z, self._thigh_up_sensor, thigh_up)
            else:
                self.thigh_mount = mount_from_vector_pairs(self._thigh_up_sensor, thigh_up, thigh_axis, _Z)
            changed = True
        if self._shin is not None:
            femur_axis = self._shin.axis(self.params.axis_min_ratio, min_run)
            if femur_axis is not None:
                flex0 = np.radians(self.posture.knee_flexion_deg)
                femur_in_shin = np.array([-np.sin(flex0), 0.0, np.cos(flex0)])
                self.shin_mount = mount_from_vector_pairs(self.hinge_sensor, LEFT_AXIS, femur_axis, femur_in_shin)
                shin_still = K.segment_orientation(self._cal.shin_still_quat[None, :], self.shin_mount)
                self.femur_reference = K.femur_from_shin(shin_still, np.array([flex0]))[0]
                changed = True
        # until a first fit succeeds, try again soon
        self._next_refit = self._evidence + (self.params.axis_refit_every if changed or self.axis_refits
                                              else self.params.axis_first_fit)
        if changed:
            self.axis_refits += 1
            # the new mounts change the headings: start again from them (from the next span on)
            self._restart_heading = True
            hold = self._rebase_thigh_reference()
            if hold is not None:
                self._heading_hold = hold
        return changed

    def _rebase_thigh_reference(self) -> float | None:
        """The still phase seen with the current mounts: the thigh's heading relative to the shin there,
        from whichever shared axis is further from vertical (hinge, or the femur's long axis). Returns
        that heading where the hinge cannot track it (it is held from now on), else None."""
        own = K.segment_orientation(self._cal.thigh_still_quat[None, :], self.thigh_mount)[0]
        shin = K.segment_orientation(self._cal.shin_still_quat[None, :], self.shin_mount)[0]
        femur = self.femur_reference
        pairs = [(Q.rotate(own, LEFT_AXIS), Q.rotate(shin, LEFT_AXIS)), (Q.rotate(own, _Z), Q.rotate(femur, _Z))]
        a_thigh, a_shin = max(pairs, key=lambda p: min(np.hypot(*p[0][:2]), np.hypot(*p[1][:2])))
        heading = float(np.arctan2(a_shin[1], a_shin[0]) - np.arctan2(a_thigh[1], a_thigh[0]))
        self.thigh_reference = K.segment_orientation(own[None, :], Q.IDENTITY, heading)[0]
        if not self._hinge_horizontal(own, shin):
            return heading  # nothing to track it with: hold the still phase's value
        return None

    def _hinge_horizontal(self, thigh_own: np.ndarray, shin: np.ndarray) -> bool:
        h_t, h_s = Q.rotate(thigh_own, LEFT_AXIS), Q.rotate(shin, LEFT_AXIS)
        return bool(min(np.hypot(h_t[0], h_t[1]), np.hypot(h_s[0], h_s[1])) >= self.params.min_axis_horizontal)
