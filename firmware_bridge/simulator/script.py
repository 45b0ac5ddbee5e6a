"""Motion script of a session: phases, reps, compensations, and the truth they imply.

Timeline (every exercise, see exercises.py for what differs): rest, `calibration.static` (the exercise's
start posture, postures.py), then `calibration.swing` (3-5 knee flexion/extension swings, thigh still), a
settle, then `exercise.start`, N reps (rise to a peak IR with a minimum-jerk profile, hold, return, rest)
and `exercise.end` followed by a short rest. Every joint angle and the pelvis's motion is an analytic
function of time (piecewise minimum-jerk paths plus sums of sinusoids for sway and tremor), so the
kinematics can be differentiated exactly wherever the IMU model needs it.

The IR truth is relative to the calibration posture: the commanded IR is 0 there, and the sway of every
angle has zero mean over the `calibration.static` phase (so that phase's mean posture is the nominal one).

Random numbers are drawn from the script generator in one fixed order (posture, sway, swings, timing,
per-rep tempo and size); compensations draw from their own generator, so asking for them changes nothing
but the reps they ride on (a too-fast rep also moves the reps after it in time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from firmware_bridge.simulator.exercises import (
    CHANGE_DEG,
    SEATED_IR,
    TOO_FAST_PHASE_S,
    Compensation,
    CompensationKind,
    ExerciseProfile,
    TrueCompensation,
    exercise_profile,
)
from firmware_bridge.simulator.leg import LegAngles, PelvisPose, pelvis_motion_rotation
from firmware_bridge.simulator.postures import Posture
from imu_core.frames import Side
from imu_core.types import Marker, MarkerLabel

_PEAK_SEARCH_STEP_S = 1e-3


@dataclass(frozen=True)
class TrueRep:
    """One rep as it really happened (times in s on the recording's clock)."""

    start: float
    """When the rise begins."""
    peak: float
    """Time of the largest true IR within the rep."""
    end: float
    """When the return to 0 ends."""
    peak_ir_deg: float
    """That largest true IR, deg."""
    hold_s: float
    """Commanded duration of the end-range plateau, s."""


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

    def hip_ir_deg(self, t: ArrayLike) -> np.ndarray:
        """True IR relative to the calibration posture, deg."""
        return np.asarray(self.ir_path(t) + self.ir_sway(t) + self.hold_envelope(t) * self.hold_tremor(t))

    def angles(self, t: ArrayLike) -> LegAngles:
        """Joint angles at true times t (anatomical: IR includes the posture's resting IR)."""
        t = np.asarray(t, dtype=float)
        return LegAngles(
            hip_flexion_deg=self.hip_flexion_path(t) + self.hip_flexion_sway(t),
            hip_adduction_deg=self.hip_adduction_path(t) + self.hip_adduction_sway(t),
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


@dataclass(frozen=True)
class _PlannedCompensation:
    kind: CompensationKind
    rep_index: int
    component: str | None
    change_deg: float | None
    rise_s: float | None = None
    return_s: float | None = None


def _plan_compensations(
    profile: ExerciseProfile, compensations: Sequence[Compensation], reps: int, rng: np.random.Generator
) -> list[_PlannedCompensation]:
    """Resolve defaults and draw sizes, in the order given."""
    seen: set[tuple[int, CompensationKind]] = set()
    planned = []
    for c in compensations:
        if c.rep > reps:
            raise ValueError(f"{c.kind.value} asked for rep {c.rep} of a session of {reps} reps")
        if (c.rep, c.kind) in seen:
            raise ValueError(f"{c.kind.value} asked twice for rep {c.rep}")
        seen.add((c.rep, c.kind))
        if c.kind is CompensationKind.TOO_FAST:
            rise, back = TOO_FAST_PHASE_S.draw(rng), TOO_FAST_PHASE_S.draw(rng)
            planned.append(_PlannedCompensation(c.kind, c.rep - 1, None, None, rise, back))
            continue
        usual = profile.usual_compensations[c.kind]
        component = usual.component if c.component is None else c.component
        sign = usual.sign if component == usual.component else 1.0
        change = sign * CHANGE_DEG[c.kind].draw(rng) if c.change_deg is None else float(c.change_deg)
        planned.append(_PlannedCompensation(c.kind, c.rep - 1, component, change))
    return planned


def _plateau(knots: list[tuple[float, float]], window: tuple[float, float, float, float], rest: float,
             value: float) -> None:
    """Knots of one rep: from `rest` at the rise to `value` through the hold and back by the return's end."""
    rise, hold_start, hold_end, back = window
    knots += [(rise, rest), (hold_start, value)]
    if hold_end > hold_start:
        knots.append((hold_end, value))
    knots.append((back, rest))


def exercise_script(
    exercise: ExerciseProfile | str,
    rng: np.random.Generator,
    reps: int | None = None,
    max_seconds: float | None = None,
    compensations: Sequence[Compensation] = (),
    compensation_rng: np.random.Generator | None = None,
) -> ExerciseScript:
    """Draw a session of `exercise` with `reps` reps (its usual count if None; fewer if `max_seconds` caps
    the session), with the given compensations.

    All random numbers are drawn up front in a fixed order, so the first reps of a capped session are
    the same as those of the uncapped one with the same generator state. Compensation sizes and too-fast
    tempos come from `compensation_rng` (default: `rng`, after everything else); a compensation on a rep
    that the cap removes is dropped.
    """
    profile = exercise_profile(exercise) if isinstance(exercise, str) else exercise
    reps = profile.default_reps if reps is None else reps
    if reps < 0:
        raise ValueError("reps must be >= 0")
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

    rise_s = rng.uniform(*profile.rise_s, size=reps)
    peak_deg = rng.uniform(*profile.peak_ir_deg, size=reps)
    hold_s = rng.uniform(*profile.hold_s, size=reps)
    return_s = rng.uniform(*profile.return_s, size=reps)
    rest_s = rng.uniform(*profile.rest_s, size=reps)
    knee_delta_deg = rng.uniform(-1.5, 1.5, size=reps)
    tibial_delta_deg = rng.uniform(-1.0, 1.0, size=reps)

    planned = _plan_compensations(profile, compensations, reps, rng if compensation_rng is None
                                  else compensation_rng)
    for p in planned:
        if p.kind is CompensationKind.TOO_FAST and p.rise_s is not None and p.return_s is not None:
            rise_s[p.rep_index], hold_s[p.rep_index], return_s[p.rep_index] = p.rise_s, 0.0, p.return_s

    knee_rest = posture.knee_flexion_deg
    knots: dict[str, list[tuple[float, float]]] = {
        "hip_ir": [(0.0, 0.0)], "knee_flexion": [(0.0, knee_rest)], "tibial_rotation": [(0.0, 0.0)],
        "hip_flexion": [(0.0, posture.hip_flexion_deg)], "hip_adduction": [(0.0, posture.hip_adduction_deg)],
        "pelvis_tilt": [(0.0, 0.0)], "pelvis_obliquity": [(0.0, 0.0)], "pelvis_rotation": [(0.0, 0.0)],
        "hold_envelope": [(0.0, 0.0)],
    }
    swing_at = static_at + static_s
    t = swing_at + swing_lead_s
    knots["knee_flexion"].append((t, knee_rest))
    for period, target in zip(swing_period_s[:n_swings], swing_target_deg[:n_swings], strict=True):
        knots["knee_flexion"] += [(t + period / 2.0, float(target)), (t + period, knee_rest)]
        t += period
    exercise_start = t + settle_s
    first_rise = exercise_start + lead_in_s

    n_reps = reps
    if max_seconds is not None and reps > 0:
        span = rise_s + hold_s + return_s
        return_end = first_rise + np.cumsum(span + rest_s) - rest_s
        n_reps = int(np.sum(return_end + end_gap_s + 1.0 <= max_seconds))
        shortest_rise, shortest_hold, shortest_return = profile.shortest_rep
        minimal_rep_s = shortest_rise + shortest_hold + shortest_return
        if n_reps == 0 and first_rise + minimal_rep_s + end_gap_s + 1.0 <= max_seconds:
            n_reps = 1
            rise_s[0], hold_s[0], return_s[0] = profile.shortest_rep

    rep_windows: list[tuple[float, float, float]] = []
    true_compensations: list[TrueCompensation] = []
    t = first_rise
    for i in range(n_reps):
        hold_start = t + float(rise_s[i])
        hold_end = hold_start + float(hold_s[i])
        back = hold_end + float(return_s[i])

        window = (t, hold_start, hold_end, back)
        knee_peak = knee_rest + float(knee_delta_deg[i])
        for p in planned:
            if p.rep_index != i:
                continue
            true_compensations.append(
                TrueCompensation(p.kind.value, float(t), float(back), i + 1, p.component, p.change_deg))
            if p.component == "knee_flexion" and p.change_deg is not None:
                knee_peak += p.change_deg
            elif p.component is not None and p.change_deg is not None:
                rest = knots[p.component][0][1]
                _plateau(knots[p.component], window, rest, rest + p.change_deg)
        _plateau(knots["hip_ir"], window, 0.0, float(peak_deg[i]))
        _plateau(knots["knee_flexion"], window, knee_rest, knee_peak)
        _plateau(knots["tibial_rotation"], window, 0.0, float(tibial_delta_deg[i]))
        if hold_end > hold_start:
            ramp = 0.3
            knots["hold_envelope"] += [(hold_start - ramp, 0.0), (hold_start, 1.0), (hold_end, 1.0),
                                       (hold_end + ramp, 0.0)]
        rep_windows.append((t, back, float(hold_s[i])))
        t = back + float(rest_s[i])
    last_return = rep_windows[-1][1] if rep_windows else first_rise
    exercise_end = last_return + end_gap_s
    duration = exercise_end + tail_rest_s
    if max_seconds is not None:
        duration = min(duration, max_seconds)
    paths = {}
    for name, path_knots in knots.items():
        path_knots.append((max(duration, path_knots[-1][0]) + 1.0, path_knots[-1][1]))
        paths[name] = MinimumJerkPath.through(path_knots)

    script = ExerciseScript(
        exercise=profile.exercise_id,
        posture=posture,
        duration_s=float(duration),
        markers=tuple(
            Marker(float(at), label.value)
            for at, label in ((static_at, MarkerLabel.CALIBRATION_STATIC),
                              (swing_at, MarkerLabel.CALIBRATION_SWING),
                              (exercise_start, MarkerLabel.EXERCISE_START),
                              (exercise_end, MarkerLabel.EXERCISE_END))
            if at < duration
        ),
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
    )
    true_reps = []
    for start, end, hold in rep_windows:
        grid = np.arange(start, end + 0.5 * _PEAK_SEARCH_STEP_S, _PEAK_SEARCH_STEP_S)
        ir = script.hip_ir_deg(grid)
        k = int(np.argmax(ir))
        true_reps.append(TrueRep(float(start), float(grid[k]), float(end), float(ir[k]), hold))
    return replace(script, reps=tuple(true_reps))


def seated_ir_script(
    rng: np.random.Generator, reps: int = 8, max_seconds: float | None = None
) -> ExerciseScript:
    """Draw a seated-IR session with `reps` reps (fewer if `max_seconds` caps the session)."""
    return exercise_script(SEATED_IR, rng, reps=reps, max_seconds=max_seconds)
