"""The exercise engine: one exercise's judging of a stream of joint angles, set by set.

It combines the rep counter (reps, holds, partial reps), the compensation detector and, for stretches,
the stretch timer, and keeps the summary of each set (a set is an `exercise.start` .. `exercise.end`
phase of the recording). The session pipeline feeds it one output instant at a time during sets, live
and offline alike.

Every kind of exercise runs the rep counter on its measure in the direction of its target: reps and
ROM tests count excursions to end range; a stretch is one long movement whose hold time is the time at
or beyond the target; a 90/90 transition cycle (out to the front position and back) is one movement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imu_core.types import JointAngles
from tracker.analysis import Compensation, Hold, Rep
from tracker.compensation import CompensationChange, CompensationDetector, ThighAlignment, ThighPose
from tracker.exercise_model import Exercise, ExerciseKind
from tracker.reps import RepCounter, RepEvent, RepParams
from tracker.stretch import StretchParams, StretchTimer

DETAILS_FORMAT = "hiptrack-analysis-details/1"
STRETCH_BASELINE_TAU_S = 30.0
"""In a stretch, a compensation is a change of posture within about this long, s."""
ROM_UNCERTAINTY_DEG = 2.0
"""What one ROM-test maximum may be off by, deg (benchmarks/exercises.py measures it)."""


@dataclass(slots=True)
class SetSummary:
    number: int
    start: float
    end: float = math.nan
    reps: int = 0
    clean_reps: int = 0
    partial_reps: int = 0
    time_at_target_s: float = 0.0
    fidgets: int = 0
    max_ir_deg: float = math.nan


@dataclass(slots=True)
class RepRecord:
    """A counted rep with what the interchange format leaves out."""

    number: int
    set_number: int
    rep: Rep
    hold: Hold | None
    compensations: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.compensations

    def timing(self) -> tuple[float, float, float]:
        """(rise, hold, return) durations, s."""
        r, h = self.rep, self.hold
        if h is not None and r.start <= h.start <= h.end <= r.end:
            return h.start - r.start, h.end - h.start, r.end - h.end
        return r.peak - r.start, 0.0, r.end - r.peak


class ExerciseEngine:
    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        kind = exercise.kind
        target = exercise.target_deg
        self.direction = math.copysign(1.0, target) * exercise.measure.sign()
        """Multiplier from hip IR to the counted value (positive toward the target)."""
        self.counter = RepCounter(RepParams.for_target(target, long_hold=kind is ExerciseKind.STRETCH,
                                                       wide_rest=kind is ExerciseKind.TRANSITIONS))
        stretch = kind is ExerciseKind.STRETCH
        self.detector = CompensationDetector(exercise.compensation, exercise.checks,
                                             hold_tau_s=STRETCH_BASELINE_TAU_S if stretch else None)
        self.stretch = (StretchTimer(StretchParams(abs(target)), self.direction)
                        if kind is ExerciseKind.STRETCH else None)
        self.sets: list[SetSummary] = []
        self.records: list[RepRecord] = []
        self.max_ir_deg = math.nan
        self.back_ir_deg: list[float] = []
        """Transitions: the IR reached in the back position before each move out."""
        self._stretch_at_start = 0.0
        self._rest_max_ir = -math.inf
        self._partials_before = 0

    @property
    def in_set(self) -> bool:
        return bool(self.sets) and math.isnan(self.sets[-1].end)

    @property
    def current_set(self) -> int:
        return len(self.sets)

    def start_set(self, t: float) -> None:
        if not self.in_set:
            self.sets.append(SetSummary(len(self.sets) + 1, t))
            self.counter.begin_set()
            self._partials_before = len(self.counter.partials)

    def end_set(self, t: float) -> list[RepEvent]:
        if not self.in_set:
            return []
        events = self._handle(self.counter.finish(t), t)
        if self.stretch is not None:
            self.stretch.finish(t)
        s = self.sets[-1]
        s.end = t
        s.partial_reps = len(self.counter.partials) - self._partials_before
        if self.stretch is not None:
            s.fidgets = self.stretch.fidgets - sum(x.fidgets for x in self.sets[:-1])
            s.time_at_target_s = self.stretch.time_at_target_s - sum(x.time_at_target_s for x in self.sets[:-1])
        return events

    def update(self, t: float, hip_ir_deg: float, knee_flexion_deg: float, thigh_drift_deg: float,
               pelvis_motion_deg: float, thigh: ThighPose | None = None) -> list[RepEvent]:
        """One output instant inside a set (thigh: see CompensationDetector.update)."""
        return self._step(t, hip_ir_deg, knee_flexion_deg, thigh_drift_deg, pelvis_motion_deg, thigh, None)

    def update_block(self, angles: JointAngles, thigh_quat: np.ndarray,
                     thigh_alignment: Sequence[ThighAlignment]) -> list[RepEvent]:
        """Output instants inside a set, in time order: what `update` gives for each in turn.

        thigh_quat (N, 4): the thigh filter's orientation at each instant; thigh_alignment: the
        alignment current at each instant (see ThighPose)."""
        speeds = self.counter.speeds(angles.t, self.direction * angles.hip_ir_deg).tolist()
        step = self._step
        pose = tuple.__new__  # ThighPose(...) without the named tuple's Python-level __new__: one per instant
        events: list[RepEvent] = []
        for t, ir, knee, drift, pelvis, q, (axis, refits, known, fitted), speed in zip(
                angles.t.tolist(), angles.hip_ir_deg.tolist(), angles.knee_flexion_deg.tolist(),
                angles.thigh_drift_deg.tolist(), angles.pelvis_motion_deg.tolist(), thigh_quat.tolist(),
                thigh_alignment, speeds, strict=True):
            happened = step(t, ir, knee, drift, pelvis, pose(ThighPose, (q, axis, refits, known, fitted)), speed)
            if happened:
                events += happened
        return events

    def _step(self, t: float, hip_ir_deg: float, knee_flexion_deg: float, thigh_drift_deg: float,
              pelvis_motion_deg: float, thigh: ThighPose | None, speed: float | None) -> list[RepEvent]:
        s = self.sets[-1]
        if not hip_ir_deg <= s.max_ir_deg:  # also replaces NaN
            s.max_ir_deg = hip_ir_deg
            if not hip_ir_deg <= self.max_ir_deg:
                self.max_ir_deg = hip_ir_deg
        counter = self.counter
        moving = counter.in_movement
        if not moving and hip_ir_deg > self._rest_max_ir:
            self._rest_max_ir = hip_ir_deg
        changes = self.detector.update(t, (thigh_drift_deg, knee_flexion_deg, pelvis_motion_deg), moving,
                                       counter.current_rep_no, thigh)
        events = [self._change_event(c) for c in changes] if changes else []
        paused = self.detector.any_active
        if self.stretch is not None:
            self.stretch.update(t, hip_ir_deg, paused)
        counted = counter.update(t, self.direction * hip_ir_deg, paused, speed)
        if counted:
            events += self._handle(counted, t)
        if not moving and counter.in_movement:
            self._stretch_at_start = 0.0 if self.stretch is None else self.stretch.time_at_target_s
            if math.isfinite(self._rest_max_ir):
                self.back_ir_deg.append(self._rest_max_ir)
            self._rest_max_ir = -math.inf
        return events

    def _change_event(self, change: CompensationChange) -> RepEvent:
        c = change.compensation
        kind = "compensation_started" if change.started else "compensation_ended"
        return RepEvent(kind, c.start if change.started else c.end, c.rep or self.counter.current_rep_no,
                        compensation=c, message=self.exercise.message(c.kind) if change.started else "")

    def _handle(self, events: list[RepEvent], t: float) -> list[RepEvent]:
        out: list[RepEvent] = []
        for ev in events:
            if ev.kind == "rep_completed" and ev.rep is not None:
                rep = ev.rep
                hold_s = (rep.hold_s if self.stretch is None
                          else self.stretch.time_at_target_s - self._stretch_at_start)
                rep = Rep(rep.start, rep.peak, rep.end, self.direction * rep.peak_ir_deg, hold_s)
                changes = self.detector.movement_over(t, rep, ev.rep_no, ev.rise_10_90_s)
                out += [self._change_event(c) for c in changes]
                kinds = sorted({c.kind for c in self.detector.found if c.rep == ev.rep_no})
                self.records.append(RepRecord(ev.rep_no, self.current_set, rep, ev.hold, kinds))
                s = self.sets[-1]
                s.reps += 1
                s.clean_reps += not kinds
                out.append(RepEvent(ev.kind, ev.t, ev.rep_no, rep=rep, hold=ev.hold))
                continue
            if ev.kind == "movement_abandoned":
                out += [self._change_event(c) for c in self.detector.movement_over(t, None, ev.rep_no, None)]
            if ev.hold is not None:
                ev = RepEvent(ev.kind, ev.t, ev.rep_no, hold=Hold(ev.hold.start, ev.hold.end,
                                                                   self.direction * ev.hold.mean_ir_deg))
            out.append(ev)
        return out

    # --- results ----------------------------------------------------------------------------
    @property
    def reps(self) -> list[Rep]:
        return [r.rep for r in self.records]

    @property
    def holds(self) -> list[Hold]:
        if self.stretch is not None:
            return list(self.stretch.holds)
        return [r.hold for r in self.records if r.hold is not None and r.hold.end - r.hold.start > 0]

    @property
    def result_max_ir_deg(self) -> float:
        """The session's largest IR. A ROM test's is its largest clean excursion: one where the pelvis
        moved, the thigh drifted or the knee changed does not test the hip alone (if every excursion
        had a compensation, the largest of them)."""
        if self.exercise.kind is ExerciseKind.ROM_TEST and self.records:
            clean = [r.rep.peak_ir_deg for r in self.records if r.clean]
            return max(clean) if clean else max(r.rep.peak_ir_deg for r in self.records)
        return self.max_ir_deg

    @property
    def compensations(self) -> list[Compensation]:
        return list(self.detector.found)

    def hold_elapsed(self, t: float) -> float:
        if self.stretch is not None:
            return self.stretch.time_at_target_s - self._stretch_at_start if self.counter.in_movement else 0.0
        return self.counter.hold_elapsed(t)

    def details(self) -> dict[str, Any]:
        """Everything the interchange format leaves out (`hiptrack analyze --details`)."""
        ex = self.exercise

        def r(x: float, nd: int = 3) -> float | None:
            return round(float(x), nd) if math.isfinite(x) else None

        reps = []
        for rec in self.records:
            rise, hold, back = rec.timing()
            reps.append({"number": rec.number, "set": rec.set_number, "start": r(rec.rep.start),
                         "peak": r(rec.rep.peak), "end": r(rec.rep.end), "peak_ir_deg": r(rec.rep.peak_ir_deg, 2),
                         "time_to_peak_s": r(rec.rep.peak - rec.rep.start, 2), "rise_s": r(rise, 2),
                         "hold_s": r(rec.rep.hold_s, 2), "return_s": r(back, 2),
                         "tempo": f"{rise:.1f}-{hold:.1f}-{back:.1f}",
                         "clean": rec.clean, "compensations": rec.compensations})
        out: dict[str, Any] = {
            "format": DETAILS_FORMAT, "exercise": ex.id, "kind": ex.kind.value, "measure": ex.measure.value,
            "target_deg": ex.target_deg, "prescription": {
                "sets": ex.prescription.sets, "reps": ex.prescription.reps,
                "hold_s": list(ex.prescription.hold_s), "band_level": ex.prescription.band_level},
            "sets": [{"number": s.number, "start": r(s.start), "end": r(s.end), "reps": s.reps,
                      "clean_reps": s.clean_reps, "reps_with_compensation": s.reps - s.clean_reps,
                      "partial_reps": s.partial_reps, "max_ir_deg": r(s.max_ir_deg, 2),
                      **({"time_at_target_s": r(s.time_at_target_s, 2), "fidgets": s.fidgets}
                         if self.stretch is not None else {})}
                     for s in self.sets],
            "reps": reps,
            "partial_reps": [{"start": r(p.start), "peak": r(p.peak), "end": r(p.end),
                              "peak_ir_deg": r(self.direction * p.peak_deg, 2)} for p in self.counter.partials],
        }
        if self.stretch is not None:
            out["stretch"] = {"time_at_target_s": r(self.stretch.time_at_target_s, 2),
                              "fidgets": self.stretch.fidgets,
                              "holds": [{"start": r(h.start), "end": r(h.end), "mean_ir_deg": r(h.mean_ir_deg, 2)}
                                        for h in self.stretch.holds]}
        if ex.kind is ExerciseKind.ROM_TEST:
            peaks = [rec.rep.peak_ir_deg for rec in self.records]
            out["rom_test"] = {"max_ir_deg": r(self.result_max_ir_deg, 2) if peaks else None,
                               "excursions_deg": [r(p, 2) for p in peaks],
                               "excursions_with_compensation": [rec.number for rec in self.records if not rec.clean],
                               "spread_deg": r(max(peaks) - min(peaks), 2) if peaks else None,
                               "uncertainty_deg": ROM_UNCERTAINTY_DEG,
                               "norm_deg": list(ex.norm_deg) if ex.norm_deg else None}
        if ex.kind is ExerciseKind.TRANSITIONS:
            n = len(self.records)
            out["transitions"] = {"count": 2 * n, "to_front": n, "to_back": n,
                                  "back_ir_deg": [r(x, 2) for x in self.back_ir_deg]}
        return out
