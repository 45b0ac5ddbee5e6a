"""Motion script of a session: phases, reps, compensations, and the truth they imply.

Timeline (every exercise, see exercises.py for what differs): rest, `calibration.static` (the exercise's
start posture, postures.py), then `calibration.swing` (3-5 knee flexion/extension swings, thigh still
unless the profile's swings are heel slides), a settle, then per set `exercise.start`, N reps (rise to a
peak with a minimum-jerk profile, hold, return, rest) and `exercise.end`, sets 5-10 s apart, and a short
rest at the end (timeline.py lays the reps out). Every joint angle and the pelvis's motion is an analytic
function of time (piecewise minimum-jerk paths, sums of sinusoids for sway and tremor, polynomials of the
IR where the foot stays planted), so the kinematics can be differentiated exactly wherever the IMU model
needs it.

The IR truth is relative to the calibration posture: the commanded IR is 0 there, and the sway of every
angle has zero mean over the `calibration.static` phase (so that phase's mean posture is the nominal one).

Random numbers are drawn from the script generator in one fixed order (posture, sway, swings, timing,
per-rep tempo and size, then what only some exercises use: excursions of other angles, return levels,
fidgets, set rests); compensations draw from their own generator, so asking for them changes nothing
but the reps they ride on (a too-fast rep also moves the reps after it in time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from firmware_bridge.simulator.exercise_model import (
    Compensation,
    CompensationKind,
    ExerciseProfile,
    TrueCompensation,
    TrueFidget,
)
from firmware_bridge.simulator.exercises import SEATED_IR, exercise_profile
from firmware_bridge.simulator.leg import LegAngles, LegGeometry, PelvisPose, pelvis_motion_rotation
from firmware_bridge.simulator.paths import IrCoupling, MinimumJerkPath, Oscillation
from firmware_bridge.simulator.postures import Posture
from firmware_bridge.simulator.timeline import draw_extras, layout, plan_compensations, rep_knots
from imu_core.frames import Side
from imu_core.types import Marker, MarkerLabel

__all__ = ["ExerciseScript", "IrCoupling", "MinimumJerkPath", "Oscillation", "SeatedIrScript", "TrueRep",
           "TruthSeries", "exercise_script", "seated_ir_script"]

_PEAK_SEARCH_STEP_S = 1e-3


@dataclass(frozen=True)
class TrueRep:
    """One rep as it really happened (times in s on the recording's clock)."""

    start: float
    """When the rise begins."""
    peak: float
    """Time of the extreme true IR within the rep, in the exercise's direction (the largest IR; the most
    negative where the excursion is external rotation)."""
    end: float
    """When the return ends."""
    peak_ir_deg: float
    """The true IR there, deg."""
    hold_s: float
    """Commanded duration of the end-range plateau (a stretch's hold), s."""


@dataclass(frozen=True, eq=False)
class TruthSeries:
    """True joint angles and pelvis motion, deg, at instants t (s, the recording's clock)."""

    t: np.ndarray
    hip_ir_deg: np.ndarray
    """Relative to the calibration posture, positive inward."""
    knee_flexion_deg: np.ndarray
    hip_flexion_deg: np.ndarray
    hip_adduction_deg: np.ndarray
    """Positive toward the midline (negative: abduction)."""
    tibial_rotation_deg: np.ndarray
    pelvis_tilt_deg: np.ndarray
    """Pelvis motion away from its rest pose (leg.pelvis_motion_rotation): anterior tilt positive."""
    pelvis_obliquity_deg: np.ndarray
    """The instrumented side's hip moving up (hip hike) positive."""
    pelvis_rotation_deg: np.ndarray
    """About the pelvis's long axis, the instrumented side's hip moving forward positive."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "t", "hip_ir_deg", "knee_flexion_deg", "hip_flexion_deg", "hip_adduction_deg", "tibial_rotation_deg"
    )
    """The joint-angle columns (truth.csv)."""
    PELVIS_COLUMNS: ClassVar[tuple[str, ...]] = (
        "t", "pelvis_tilt_deg", "pelvis_obliquity_deg", "pelvis_rotation_deg"
    )
    """The pelvis-motion columns (truth_pelvis.csv)."""

    def as_matrix(self) -> np.ndarray:
        """(N, 6) in `COLUMNS` order."""
        return np.column_stack([getattr(self, c) for c in self.COLUMNS])

    def pelvis_matrix(self) -> np.ndarray:
        """(N, 4) in `PELVIS_COLUMNS` order."""
        return np.column_stack([getattr(self, c) for c in self.PELVIS_COLUMNS])


@dataclass(frozen=True, eq=False)
class ExerciseScript:
    """A drawn session of one exercise: markers, reps, compensations, joint angles and pelvis motion as
    functions of time."""

    exercise: str
    """Catalog id."""
    posture: Posture
    duration_s: float
    markers: tuple[Marker, ...]
    reps: tuple[TrueRep, ...]
    compensations: tuple[TrueCompensation, ...]
    ir_path: MinimumJerkPath
    """Commanded IR relative to the calibration posture, deg."""
    knee_path: MinimumJerkPath
    tibial_path: MinimumJerkPath
    hip_flexion_path: MinimumJerkPath
    hip_adduction_path: MinimumJerkPath
    pelvis_tilt_path: MinimumJerkPath
    pelvis_obliquity_path: MinimumJerkPath
    pelvis_rotation_path: MinimumJerkPath
    hold_envelope: MinimumJerkPath
    """0..1, 1 during the holds: where the end-range tremor acts."""
    hold_tremor: Oscillation
    ir_sway: Oscillation
    knee_sway: Oscillation
    tibial_sway: Oscillation
    hip_flexion_sway: Oscillation
    hip_adduction_sway: Oscillation
    coupling: IrCoupling | None = None
    """Hip flexion and adduction that follow the commanded IR (a planted foot)."""
    fidgets: tuple[TrueFidget, ...] = ()
    """Dips during stretch holds."""
    sets: tuple[tuple[float, float], ...] = ()
    """(exercise.start, exercise.end) of each set, s."""

    def hip_ir_deg(self, t: ArrayLike) -> np.ndarray:
        """True IR relative to the calibration posture, deg."""
        return np.asarray(self.ir_path(t) + self.ir_sway(t) + self.hold_envelope(t) * self.hold_tremor(t))

    def angles(self, t: ArrayLike) -> LegAngles:
        """Joint angles at true times t (anatomical: IR includes the posture's resting IR)."""
        t = np.asarray(t, dtype=float)
        hip_flexion = self.hip_flexion_path(t) + self.hip_flexion_sway(t)
        hip_adduction = self.hip_adduction_path(t) + self.hip_adduction_sway(t)
        if self.coupling is not None:
            d_flexion, d_adduction = self.coupling(self.ir_path(t))
            hip_flexion, hip_adduction = hip_flexion + d_flexion, hip_adduction + d_adduction
        return LegAngles(
            hip_flexion_deg=hip_flexion,
            hip_adduction_deg=hip_adduction,
            hip_ir_deg=self.posture.hip_ir_rest_deg + self.hip_ir_deg(t),
            knee_flexion_deg=self.knee_path(t) + self.knee_sway(t),
            tibial_rotation_deg=self.tibial_path(t) + self.tibial_sway(t),
        )

    @property
    def has_pelvis_motion(self) -> bool:
        return any(c.kind == CompensationKind.PELVIS_MOTION for c in self.compensations)

    def pelvis_motion_deg(self, t: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tilt, obliquity, rotation) of the pelvis away from its rest pose, deg."""
        return self.pelvis_tilt_path(t), self.pelvis_obliquity_path(t), self.pelvis_rotation_path(t)

    def pelvis_pose(self, rest: PelvisPose, side: Side, t: ArrayLike) -> PelvisPose:
        """The pelvis at true times t, given its rest pose: `rest` itself when it never moves."""
        if not self.has_pelvis_motion:
            return rest
        tilt, obliquity, rotation = self.pelvis_motion_deg(t)
        return rest.moved(pelvis_motion_rotation(tilt, obliquity, rotation, side), self.posture.pivot(side))

    def truth(self, t: ArrayLike) -> TruthSeries:
        t = np.asarray(t, dtype=float)
        a = self.angles(t)
        tilt, obliquity, rotation = self.pelvis_motion_deg(t)
        return TruthSeries(t, self.hip_ir_deg(t), a.knee_flexion_deg, a.hip_flexion_deg, a.hip_adduction_deg,
                           a.tibial_rotation_deg, tilt, obliquity, rotation)


SeatedIrScript = ExerciseScript
"""The former name, from when the simulator only played seated IR."""


def exercise_script(
    exercise: ExerciseProfile | str,
    rng: np.random.Generator,
    reps: int | None = None,
    max_seconds: float | None = None,
    compensations: Sequence[Compensation] = (),
    compensation_rng: np.random.Generator | None = None,
    *,
    sets: int = 1,
    geometry: LegGeometry | None = None,
) -> ExerciseScript:
    """Draw a session of `exercise`: `sets` sets of `reps` reps each (its usual count if None; fewer if
    `max_seconds` caps the session), with the given compensations (reps numbered across the sets).

    All random numbers are drawn up front in a fixed order, so the first reps of a capped session are
    the same as those of the uncapped one with the same generator state. Compensation sizes and too-fast
    tempos come from `compensation_rng` (default: `rng`, after everything else); a compensation on a rep
    that the cap removes is dropped. `geometry` (default LegGeometry()) only matters for a planted foot.
    """
    profile = exercise_profile(exercise) if isinstance(exercise, str) else exercise
    reps = profile.default_reps if reps is None else reps
    if reps < 0:
        raise ValueError("reps must be >= 0")
    if sets < 1:
        raise ValueError("sets must be >= 1")
    posture = profile.posture.draw(rng)
    static_at, static_s, swing_lead_s = 0.5, 3.0, 0.5
    # Sway: physiological, well under 0.5 deg, with zero mean over the static phase so that phase's mean
    # posture is exactly the nominal one (IR 0). Hold tremor + IR sway stay <= 0.3 deg.
    sway_window = (static_at, static_at + static_s)
    ir_sway = Oscillation.random(rng, 0.07, 0.2, 0.8).centred_on(*sway_window)
    knee_sway = Oscillation.random(rng, 0.15, 0.2, 0.8).centred_on(*sway_window)
    tibial_sway = Oscillation.random(rng, 0.10, 0.2, 0.8).centred_on(*sway_window)
    hip_flexion_sway = Oscillation.random(rng, 0.15, 0.2, 0.8).centred_on(*sway_window)
    hip_adduction_sway = Oscillation.random(rng, 0.15, 0.2, 0.8).centred_on(*sway_window)
    hold_tremor = Oscillation.join(Oscillation.random(rng, 0.12, 0.8, 3.0),
                                   Oscillation.random(rng, 0.04, 8.0, 12.0, components=2))

    n_swings = int(rng.integers(3, 6))
    swing_period_s = 1.0 / rng.uniform(0.5, 0.8, size=5)
    swing_target_deg = rng.uniform(*profile.swing_knee_deg, size=5)
    settle_s = float(rng.uniform(1.5, 2.5))
    lead_in_s = float(rng.uniform(0.5, 1.0))
    end_gap_s = 0.5
    tail_rest_s = float(rng.uniform(1.0, 2.0))

    total = reps * sets
    rise_s = rng.uniform(*profile.rise_s, size=total)
    peak_deg = rng.uniform(*profile.peak_ir_deg, size=total)
    hold_s = rng.uniform(*profile.hold_s, size=total)
    return_s = rng.uniform(*profile.return_s, size=total)
    rest_s = rng.uniform(*profile.rest_s, size=total)
    knee_delta_deg = rng.uniform(-1.5, 1.5, size=total)
    tibial_delta_deg = rng.uniform(-1.0, 1.0, size=total)
    extras = draw_extras(profile, total, sets, rng)

    planned = plan_compensations(profile, compensations, total, rng if compensation_rng is None
                                  else compensation_rng)
    for p in planned:
        if p.kind is CompensationKind.TOO_FAST and p.rise_s is not None and p.return_s is not None:
            rise_s[p.rep_index], hold_s[p.rep_index], return_s[p.rep_index] = p.rise_s, 0.0, p.return_s

    knee_rest = posture.knee_flexion_deg
    hip_rest = posture.hip_flexion_deg
    knots: dict[str, list[tuple[float, float]]] = {
        "hip_ir": [(0.0, 0.0)], "knee_flexion": [(0.0, knee_rest)], "tibial_rotation": [(0.0, 0.0)],
        "hip_flexion": [(0.0, hip_rest)], "hip_adduction": [(0.0, posture.hip_adduction_deg)],
        "pelvis_tilt": [(0.0, 0.0)], "pelvis_obliquity": [(0.0, 0.0)], "pelvis_rotation": [(0.0, 0.0)],
        "hold_envelope": [(0.0, 0.0)],
    }
    swing_at = static_at + static_s
    t = swing_at + swing_lead_s
    knots["knee_flexion"].append((t, knee_rest))
    ratio = profile.swing_hip_flexion_ratio
    if ratio != 0.0:
        knots["hip_flexion"].append((t, hip_rest))
    for period, target in zip(swing_period_s[:n_swings], swing_target_deg[:n_swings], strict=True):
        knots["knee_flexion"] += [(t + period / 2.0, float(target)), (t + period, knee_rest)]
        if ratio != 0.0:
            knots["hip_flexion"] += [(t + period / 2.0, hip_rest + ratio * (float(target) - knee_rest)),
                                     (t + period, hip_rest)]
        t += period
    exercise_start = t + settle_s
    first_rise = exercise_start + lead_in_s

    tempo = (rise_s, hold_s, return_s, rest_s)
    rep_windows, set_spans = layout(exercise_start, lead_in_s, end_gap_s, reps, sets, total, tempo, extras)
    if max_seconds is not None and total > 0:
        n_reps = sum(1 for w in rep_windows if w[3] + end_gap_s + 1.0 <= max_seconds)
        shortest_rise, shortest_hold, shortest_return = profile.shortest_rep
        minimal_rep_s = shortest_rise + shortest_hold + shortest_return
        if n_reps == 0 and first_rise + minimal_rep_s + end_gap_s + 1.0 <= max_seconds:
            n_reps = 1
            rise_s[0], hold_s[0], return_s[0] = profile.shortest_rep
        rep_windows, set_spans = layout(exercise_start, lead_in_s, end_gap_s, reps, sets, n_reps, tempo, extras)

    true_compensations: list[TrueCompensation] = []
    true_fidgets: list[TrueFidget] = []
    for i, window in enumerate(rep_windows):
        rep_knots(profile, i, window, knots, planned, extras, true_compensations, true_fidgets,
                   (float(peak_deg[i]), knee_rest + float(knee_delta_deg[i]), float(tibial_delta_deg[i])))
    duration = set_spans[-1][1] + tail_rest_s
    if max_seconds is not None:
        duration = min(duration, max_seconds)
    paths = {}
    for name, path_knots in knots.items():
        path_knots.append((max(duration, path_knots[-1][0]) + 1.0, path_knots[-1][1]))
        paths[name] = MinimumJerkPath.through(path_knots)

    timeline = [(static_at, MarkerLabel.CALIBRATION_STATIC), (swing_at, MarkerLabel.CALIBRATION_SWING)]
    for start, end in set_spans:
        timeline += [(start, MarkerLabel.EXERCISE_START), (end, MarkerLabel.EXERCISE_END)]
    script = ExerciseScript(
        exercise=profile.exercise_id,
        posture=posture,
        duration_s=float(duration),
        markers=tuple(Marker(float(at), label.value) for at, label in timeline if at < duration),
        reps=(),
        compensations=tuple(true_compensations),
        ir_path=paths["hip_ir"],
        knee_path=paths["knee_flexion"],
        tibial_path=paths["tibial_rotation"],
        hip_flexion_path=paths["hip_flexion"],
        hip_adduction_path=paths["hip_adduction"],
        pelvis_tilt_path=paths["pelvis_tilt"],
        pelvis_obliquity_path=paths["pelvis_obliquity"],
        pelvis_rotation_path=paths["pelvis_rotation"],
        hold_envelope=paths["hold_envelope"],
        hold_tremor=hold_tremor,
        ir_sway=ir_sway,
        knee_sway=knee_sway,
        tibial_sway=tibial_sway,
        hip_flexion_sway=hip_flexion_sway,
        hip_adduction_sway=hip_adduction_sway,
        coupling=(IrCoupling.planted_foot(posture, LegGeometry() if geometry is None else geometry)
                  if profile.planted_foot else None),
        fidgets=tuple(true_fidgets),
        sets=tuple((float(a), float(b)) for a, b in set_spans if a < duration),
    )
    true_reps = []
    for i, (start, _, _, end) in enumerate(rep_windows):
        grid = np.arange(start, end + 0.5 * _PEAK_SEARCH_STEP_S, _PEAK_SEARCH_STEP_S)
        ir = script.hip_ir_deg(grid)
        k = int(np.argmax(profile.direction * ir))
        true_reps.append(TrueRep(float(start), float(grid[k]), float(end), float(ir[k]), float(hold_s[i])))
    return replace(script, reps=tuple(true_reps))


def seated_ir_script(
    rng: np.random.Generator, reps: int = 8, max_seconds: float | None = None
) -> ExerciseScript:
    """Draw a seated-IR session with `reps` reps (fewer if `max_seconds` caps the session)."""
    return exercise_script(SEATED_IR, rng, reps=reps, max_seconds=max_seconds)
