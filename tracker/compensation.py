"""Compensation detection: what a physiotherapist watches for while the hip turns.

Each angle check compares the angle with its value when the movement began (latched while the leg is at
rest), so slow drift between reps and a person's own resting posture are not blamed on the rep. A
deviation must exceed its threshold for `min_duration_s` to count; it lasts until it falls back under
`release_fraction` of the threshold or the movement ends. Onset is the moment it first exceeded the
threshold. Fed one output instant at a time, like the rep counter, so live and offline agree.

`too_fast` is judged once a rep's rise is known: the time from 10 % to 90 % of the rep's range shorter
than `min_rise_s`. (Judged between those two levels, a rep's tempo does not depend on how its start and
end are defined, nor on the size of the range.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from imu_core import quaternion as Q
from tracker.analysis import Compensation, Rep
from tracker.exercise_model import Check, CompensationParams

ANGLE_CHECKS = (Check.THIGH_DRIFT, Check.KNEE_FLEXION_CHANGE, Check.PELVIS_MOTION)


@dataclass(slots=True)
class _Watch:
    check: Check
    threshold_deg: float
    baseline: float = math.nan
    over_since: float | None = None
    onset: float | None = None
    """Set while the compensation is confirmed and active."""
    last: float = math.nan
    value_index: int = 0
    """Where this check's angle is in the values `CompensationDetector.update` takes."""


ThighAlignment = tuple[tuple[float, float, float], int, bool, bool]
"""ThighPose's (long_axis, alignment_epoch, axis_known, axis_fitted): constant between refits."""


class ThighPose(NamedTuple):
    """The thigh at one output instant, for the thigh drift check (a named tuple: one is made for every
    output instant of a set)."""

    quat: Sequence[float]
    """The thigh sensor's orientation (wxyz, sensor to its filter's frame)."""
    long_axis: tuple[float, float, float]
    """The thigh's long axis in the sensor's axes (unit)."""
    alignment_epoch: int = 0
    """Counts the refits of the sensors' alignment: when it changes, angle readings may jump without any
    motion, and the checks carry their deviation across the jump."""
    axis_known: bool = True
    """False while the long axis is still a guess (before the first fit in some postures)."""
    axis_fitted: bool = True
    """False until the long axis has been fitted from the exercise, where it will be: the knee angle,
    the angle between the two long axes, is not judged before."""


@dataclass(frozen=True, slots=True)
class CompensationChange:
    """A compensation confirmed (`started`) or over (`ended`); `compensation.rep` is provisional until
    the movement ends."""

    started: bool
    compensation: Compensation


@dataclass
class CompensationDetector:
    params: CompensationParams
    checks: tuple[Check, ...]
    rest_tau_s: float = 0.3
    """Time constant of the resting baselines, s."""
    hold_tau_s: float | None = None
    """Stretches: the angle baselines also follow during the movement, this slowly, s. A stretch lasts
    minutes, over which a reading may creep by degrees; a compensation is a change within about this
    long. None: the baselines stay where they were when the movement began."""
    found: list[Compensation] = field(default_factory=list)
    """Finished compensations, each with its rep (None where the movement did not count)."""
    _watches: list[_Watch] = field(default_factory=list)
    _movement: list[Compensation] = field(default_factory=list)
    """Compensations of the movement under way (rep not final)."""
    _prev_t: float | None = None
    _rest_quat: tuple[float, float, float, float] | None = None
    _rest_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    """The long axis's direction at rest, for _rest_axis_of (rest orientation, long axis in the sensor)."""
    _rest_axis_of: tuple[tuple[float, float, float, float], tuple[float, float, float]] | None = None
    _epoch: int = 0
    _fitted: bool = True

    def __post_init__(self) -> None:
        thresholds = {Check.THIGH_DRIFT: self.params.thigh_drift_deg,
                      Check.KNEE_FLEXION_CHANGE: self.params.knee_flexion_change_deg,
                      Check.PELVIS_MOTION: self.params.pelvis_motion_deg}
        self._watches = [_Watch(c, thresholds[c], value_index=ANGLE_CHECKS.index(c))
                         for c in ANGLE_CHECKS if c in self.checks]

    @property
    def active(self) -> list[Check]:
        return [w.check for w in self._watches if w.onset is not None]

    @property
    def any_active(self) -> bool:
        """Whether any check is active (`bool(active)`; asked at every output instant, so a plain loop)."""
        for w in self._watches:  # noqa: SIM110 (any() over a generator costs twice as much here)
            if w.onset is not None:
                return True
        return False

    def update(self, t: float, values: tuple[float, float, float], moving: bool,
               rep_no: int, thigh: ThighPose | None = None) -> list[CompensationChange]:
        """values: (thigh_drift_deg, knee_flexion_deg, pelvis_motion_deg) at t (NaN where unknown);
        moving: the rep counter is in a movement; rep_no: the number that movement gets if it counts;
        thigh: the thigh sensor's orientation and long axis, with which the thigh drift check compares
        the long axis's direction now with its direction at rest (rather than the size of
        thigh_drift_deg), in the thigh sensor's own frame (no thigh-to-shin heading involved)."""
        prev_t = self._prev_t
        dt = 0.0 if prev_t is None else max(0.0, t - prev_t)
        self._prev_t = t
        changes: list[CompensationChange] = []
        realigned = fitted_now = False
        if thigh is not None:
            realigned = thigh.alignment_epoch != self._epoch
            fitted_now = thigh.axis_fitted and not self._fitted
            self._epoch = thigh.alignment_epoch
            self._fitted = thigh.axis_fitted
        hold_tau = self.hold_tau_s
        for w in self._watches:
            check = w.check
            if check is Check.THIGH_DRIFT and thigh is not None:
                deviation = self._axis_deviation(thigh, moving, dt) if thigh.axis_known else None
                if deviation is None:
                    w.over_since = None
                    continue
            else:
                v = values[w.value_index]
                if v != v:  # NaN: not measured
                    continue
                knee = check is Check.KNEE_FLEXION_CHANGE
                if knee and thigh is not None and not thigh.axis_fitted:
                    # the knee angle rests on the thigh's long axis: nothing to judge before it is known
                    w.last, w.over_since = v, None
                    if not moving:
                        w.baseline = v
                    continue
                baseline = w.baseline
                if fitted_now and moving and knee:
                    baseline = v  # what the knee did before the axis was known cannot be told
                elif realigned and w.last == w.last and baseline == baseline:
                    baseline += v - w.last  # the reading jumped with the new alignment, the leg did not
                w.last = v
                if not moving:
                    w.baseline = (v if baseline != baseline
                                  else baseline + (v - baseline) * min(1.0, dt / self.rest_tau_s))
                    continue
                if hold_tau is not None and baseline == baseline:
                    baseline += (v - baseline) * min(1.0, dt / hold_tau)
                w.baseline = baseline
                deviation = abs(v - baseline)
            if w.onset is None:
                if deviation > w.threshold_deg:
                    if w.over_since is None:
                        w.over_since = t
                    if t - w.over_since >= self.params.min_duration_s:
                        w.onset = w.over_since
                        comp = Compensation(check.value, w.onset, math.nan, rep_no)
                        changes.append(CompensationChange(True, comp))
                else:
                    w.over_since = None
            elif deviation < self.params.release_fraction * w.threshold_deg:
                changes.append(self._end(w, t, rep_no))
        return changes

    def _axis_deviation(self, thigh: ThighPose, moving: bool, dt: float) -> float | None:
        """Angle the thigh's long axis has turned since rest, deg; None while at rest (the resting
        orientation follows then). Both directions use the current long axis, so a refit of the
        sensor's mount during a rep changes nothing."""
        q: Sequence[float] = thigh.quat
        if not moving or self.hold_tau_s is not None:
            base: Sequence[float] | None = self._rest_quat
            if base is None:
                base = q
            elif q[0] * base[0] + q[1] * base[1] + q[2] * base[2] + q[3] * base[3] < 0.0:
                q = (-q[0], -q[1], -q[2], -q[3])
            tau = self.rest_tau_s if not moving else self.hold_tau_s
            assert tau is not None
            k = min(1.0, dt / tau)
            w = base[0] + (q[0] - base[0]) * k
            x = base[1] + (q[1] - base[1]) * k
            y = base[2] + (q[2] - base[2]) * k
            z = base[3] + (q[3] - base[3]) * k
            n = math.sqrt(w * w + x * x + y * y + z * z) or 1.0
            self._rest_quat = (w / n, x / n, y / n, z / n)
            if not moving:
                return None
        rest = self._rest_quat
        if rest is None:
            return None
        now = Q.rotate_one(q, thigh.long_axis)
        if self._rest_axis_of != (rest, thigh.long_axis):  # the same all through a rep (but in stretches)
            self._rest_axis = Q.rotate_one(rest, thigh.long_axis)
            self._rest_axis_of = (rest, thigh.long_axis)
        then = self._rest_axis
        dot = now[0] * then[0] + now[1] * then[1] + now[2] * then[2]
        return math.degrees(math.acos(max(-1.0, min(1.0, dot))))

    def _end(self, w: _Watch, t: float, rep_no: int | None) -> CompensationChange:
        assert w.onset is not None
        comp = Compensation(w.check.value, w.onset, t, rep_no)
        self._movement.append(comp)
        w.onset, w.over_since = None, None
        return CompensationChange(False, comp)

    def movement_over(self, t: float, rep: Rep | None, rep_no: int,
                      rise_10_90_s: float | None) -> list[CompensationChange]:
        """The rep counter closed a movement at t: end what is active, judge the tempo, and give every
        compensation of the movement its rep (None if the movement did not count)."""
        number = rep_no if rep is not None else None
        changes = [self._end(w, t, number) for w in self._watches if w.onset is not None]
        for w in self._watches:
            w.over_since = None
        if (rep is not None and Check.TOO_FAST in self.checks and rise_10_90_s is not None
                and rise_10_90_s < self.params.min_rise_s):
            comp = Compensation(Check.TOO_FAST.value, rep.start, rep.peak, number)
            self._movement.append(comp)
            changes.append(CompensationChange(True, comp))
        for c in self._movement:
            self.found.append(Compensation(c.kind, c.start, c.end, number))
        self._movement = []
        self.found.sort(key=lambda c: (c.start, c.kind))
        return changes
