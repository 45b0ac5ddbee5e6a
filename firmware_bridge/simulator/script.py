"""Motion script of a seated hip IR session: phases, reps, and the truth they imply.

Timeline: rest, `calibration.static` (seated start posture: hip flexion 90, knee flexion 90, IR 0), then
`calibration.swing` (3-5 knee extension swings toward 30-50 deg and back, thigh still), a settle, then
`exercise.start`, N reps (rise to a peak IR with a minimum-jerk profile, hold, return, rest) and
`exercise.end` followed by a short rest. Every joint angle is an analytic function of time (piecewise
minimum-jerk paths plus sums of sinusoids for sway and tremor), so the kinematics can be differentiated
exactly wherever the IMU model needs it.

The IR truth is relative to the calibration posture: the commanded IR is 0 there, and the sway of every
angle has zero mean over the `calibration.static` phase (so that phase's mean posture is the nominal one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from firmware_bridge.simulator.leg import LegAngles
from imu_core.types import Marker, MarkerLabel

SEATED_HIP_FLEXION_DEG = 90.0
SEATED_KNEE_FLEXION_DEG = 90.0
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
    """True joint angles, deg, at instants t (s, the recording's clock)."""

    t: np.ndarray
    hip_ir_deg: np.ndarray
    """Relative to the calibration posture, positive inward."""
    knee_flexion_deg: np.ndarray
    hip_flexion_deg: np.ndarray
    hip_adduction_deg: np.ndarray
    tibial_rotation_deg: np.ndarray

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "t", "hip_ir_deg", "knee_flexion_deg", "hip_flexion_deg", "hip_adduction_deg", "tibial_rotation_deg"
    )

    def as_matrix(self) -> np.ndarray:
        """(N, 6) in `COLUMNS` order."""
        return np.column_stack([getattr(self, c) for c in self.COLUMNS])


@dataclass(frozen=True, eq=False)
class SeatedIrScript:
    """A drawn seated-IR session: markers, reps, and the joint angles as functions of time."""

    duration_s: float
    markers: tuple[Marker, ...]
    reps: tuple[TrueRep, ...]
    ir_path: MinimumJerkPath
    knee_path: MinimumJerkPath
    tibial_path: MinimumJerkPath
    hold_envelope: MinimumJerkPath
    """0..1, 1 during the holds: where the end-range tremor acts."""
    hold_tremor: Oscillation
    ir_sway: Oscillation
    knee_sway: Oscillation
    tibial_sway: Oscillation
    hip_flexion_sway: Oscillation
    hip_adduction_sway: Oscillation
    hip_flexion_deg: float = SEATED_HIP_FLEXION_DEG
    hip_adduction_deg: float = 0.0

    def hip_ir_deg(self, t: ArrayLike) -> np.ndarray:
        return np.asarray(self.ir_path(t) + self.ir_sway(t) + self.hold_envelope(t) * self.hold_tremor(t))

    def angles(self, t: ArrayLike) -> LegAngles:
        """Joint angles at true times t."""
        t = np.asarray(t, dtype=float)
        return LegAngles(
            hip_flexion_deg=self.hip_flexion_deg + self.hip_flexion_sway(t),
            hip_adduction_deg=self.hip_adduction_deg + self.hip_adduction_sway(t),
            hip_ir_deg=self.hip_ir_deg(t),
            knee_flexion_deg=self.knee_path(t) + self.knee_sway(t),
            tibial_rotation_deg=self.tibial_path(t) + self.tibial_sway(t),
        )

    def truth(self, t: ArrayLike) -> TruthSeries:
        t = np.asarray(t, dtype=float)
        a = self.angles(t)
        return TruthSeries(t, a.hip_ir_deg, a.knee_flexion_deg, a.hip_flexion_deg, a.hip_adduction_deg,
                           a.tibial_rotation_deg)


def seated_ir_script(
    rng: np.random.Generator, reps: int = 8, max_seconds: float | None = None
) -> SeatedIrScript:
    """Draw a seated-IR session with `reps` reps (fewer if `max_seconds` caps the session).

    All random numbers are drawn up front in a fixed order, so the first reps of a capped session are
    the same as those of the uncapped one with the same generator state.
    """
    if reps < 0:
        raise ValueError("reps must be >= 0")
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
    swing_target_deg = rng.uniform(30.0, 50.0, size=5)
    settle_s = float(rng.uniform(1.5, 2.5))
    lead_in_s = float(rng.uniform(0.5, 1.0))
    end_gap_s = 0.5
    tail_rest_s = float(rng.uniform(1.0, 2.0))

    rise_s = rng.uniform(1.2, 2.0, size=reps)
    peak_deg = rng.uniform(20.0, 40.0, size=reps)
    hold_s = rng.uniform(2.0, 5.0, size=reps)
    return_s = rng.uniform(1.2, 2.0, size=reps)
    rest_s = rng.uniform(1.0, 2.5, size=reps)
    knee_delta_deg = rng.uniform(-1.5, 1.5, size=reps)
    tibial_delta_deg = rng.uniform(-1.0, 1.0, size=reps)

    knee_knots: list[tuple[float, float]] = [(0.0, SEATED_KNEE_FLEXION_DEG)]
    swing_at = static_at + static_s
    t = swing_at + swing_lead_s
    knee_knots.append((t, SEATED_KNEE_FLEXION_DEG))
    for period, target in zip(swing_period_s[:n_swings], swing_target_deg[:n_swings], strict=True):
        knee_knots += [(t + period / 2.0, float(target)), (t + period, SEATED_KNEE_FLEXION_DEG)]
        t += period
    exercise_start = t + settle_s
    first_rise = exercise_start + lead_in_s

    n_reps = reps
    if max_seconds is not None and reps > 0:
        span = rise_s + hold_s + return_s
        return_end = first_rise + np.cumsum(span + rest_s) - rest_s
        n_reps = int(np.sum(return_end + end_gap_s + 1.0 <= max_seconds))
        minimal_rep_s = 1.2 + 2.0 + 1.2
        if n_reps == 0 and first_rise + minimal_rep_s + end_gap_s + 1.0 <= max_seconds:
            n_reps = 1
            rise_s[0], hold_s[0], return_s[0] = 1.2, 2.0, 1.2

    ir_knots: list[tuple[float, float]] = [(0.0, 0.0)]
    tibial_knots: list[tuple[float, float]] = [(0.0, 0.0)]
    envelope_knots: list[tuple[float, float]] = [(0.0, 0.0)]
    rep_windows: list[tuple[float, float, float]] = []
    t = first_rise
    for i in range(n_reps):
        top, hold_start = float(peak_deg[i]), t + float(rise_s[i])
        hold_end = hold_start + float(hold_s[i])
        back = hold_end + float(return_s[i])
        ir_knots += [(t, 0.0), (hold_start, top), (hold_end, top), (back, 0.0)]
        knee_knots += [(t, SEATED_KNEE_FLEXION_DEG),
                       (hold_start, SEATED_KNEE_FLEXION_DEG + float(knee_delta_deg[i])),
                       (hold_end, SEATED_KNEE_FLEXION_DEG + float(knee_delta_deg[i])),
                       (back, SEATED_KNEE_FLEXION_DEG)]
        tibial_knots += [(t, 0.0), (hold_start, float(tibial_delta_deg[i])),
                         (hold_end, float(tibial_delta_deg[i])), (back, 0.0)]
        ramp = 0.3
        envelope_knots += [(hold_start - ramp, 0.0), (hold_start, 1.0), (hold_end, 1.0),
                           (hold_end + ramp, 0.0)]
        rep_windows.append((t, back, float(hold_s[i])))
        t = back + float(rest_s[i])
    last_return = rep_windows[-1][1] if rep_windows else first_rise
    exercise_end = last_return + end_gap_s
    duration = exercise_end + tail_rest_s
    if max_seconds is not None:
        duration = min(duration, max_seconds)
    for knots in (ir_knots, knee_knots, tibial_knots, envelope_knots):
        knots.append((max(duration, knots[-1][0]) + 1.0, knots[-1][1]))

    script = SeatedIrScript(
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
        ir_path=MinimumJerkPath.through(ir_knots),
        knee_path=MinimumJerkPath.through(knee_knots),
        tibial_path=MinimumJerkPath.through(tibial_knots),
        hold_envelope=MinimumJerkPath.through(envelope_knots),
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
