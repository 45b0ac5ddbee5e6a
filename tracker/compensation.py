"""Compensation detection: what a physiotherapist watches for while the hip turns.

Each angle check compares the angle with its value when the movement began (latched while the leg is at
rest), so slow drift between reps and a person's own resting posture are not blamed on the rep. A
deviation must exceed its threshold for `min_duration_s` to count; it lasts until it falls back under
`release_fraction` of the threshold or the movement ends. Onset is the moment it first exceeded the
threshold. Fed one output instant at a time, like the rep counter, so live and offline agree.

`too_fast` is judged once a rep's rise is known: the rise (from leaving rest to the start of the
end-range hold, or to the peak if none) shorter than `min_rise_s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tracker.analysis import Compensation, Hold, Rep
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
    reported: bool = False


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
    found: list[Compensation] = field(default_factory=list)
    """Finished compensations, each with its rep (None where the movement did not count)."""
    _watches: list[_Watch] = field(default_factory=list)
    _movement: list[Compensation] = field(default_factory=list)
    """Compensations of the movement under way (rep not final)."""
    _prev_t: float | None = None

    def __post_init__(self) -> None:
        thresholds = {Check.THIGH_DRIFT: self.params.thigh_drift_deg,
                      Check.KNEE_FLEXION_CHANGE: self.params.knee_flexion_change_deg,
                      Check.PELVIS_MOTION: self.params.pelvis_motion_deg}
        self._watches = [_Watch(c, thresholds[c]) for c in ANGLE_CHECKS if c in self.checks]

    @property
    def active(self) -> list[Check]:
        return [w.check for w in self._watches if w.onset is not None]

    def update(self, t: float, values: tuple[float, float, float], moving: bool,
               rep_no: int) -> list[CompensationChange]:
        """values: (thigh_drift_deg, knee_flexion_deg, pelvis_motion_deg) at t (NaN where unknown);
        moving: the rep counter is in a movement; rep_no: the number that movement gets if it counts."""
        dt = 0.0 if self._prev_t is None else max(0.0, t - self._prev_t)
        self._prev_t = t
        changes: list[CompensationChange] = []
        p = self.params
        for w in self._watches:
            v = values[ANGLE_CHECKS.index(w.check)]
            if math.isnan(v):
                continue
            if not moving:
                if math.isnan(w.baseline):
                    w.baseline = v
                else:
                    w.baseline += (v - w.baseline) * min(1.0, dt / self.rest_tau_s)
                continue
            deviation = abs(v - w.baseline)
            if w.onset is None:
                if deviation > w.threshold_deg:
                    if w.over_since is None:
                        w.over_since = t
                    if t - w.over_since >= p.min_duration_s:
                        w.onset = w.over_since
                        comp = Compensation(w.check.value, w.onset, math.nan, rep_no)
                        changes.append(CompensationChange(True, comp))
                else:
                    w.over_since = None
            elif deviation < p.release_fraction * w.threshold_deg:
                changes.append(self._end(w, t, rep_no))
        return changes

    def _end(self, w: _Watch, t: float, rep_no: int | None) -> CompensationChange:
        assert w.onset is not None
        comp = Compensation(w.check.value, w.onset, t, rep_no)
        self._movement.append(comp)
        w.onset, w.over_since = None, None
        return CompensationChange(False, comp)

    def movement_over(self, t: float, rep: Rep | None, rep_no: int, hold: Hold | None) -> list[CompensationChange]:
        """The rep counter closed a movement at t: end what is active, judge the tempo, and give every
        compensation of the movement its rep (None if the movement did not count)."""
        number = rep_no if rep is not None else None
        changes = [self._end(w, t, number) for w in self._watches if w.onset is not None]
        for w in self._watches:
            w.over_since = None
        if rep is not None and Check.TOO_FAST in self.checks:
            rise_end = hold.start if hold is not None and rep.start <= hold.start <= rep.end else rep.peak
            if rise_end - rep.start < self.params.min_rise_s:
                comp = Compensation(Check.TOO_FAST.value, rep.start, rise_end, number)
                self._movement.append(comp)
                changes.append(CompensationChange(True, comp))
        for c in self._movement:
            self.found.append(Compensation(c.kind, c.start, c.end, number))
        self._movement = []
        self.found.sort(key=lambda c: (c.start, c.kind))
        return changes
