"""What a simulated exercise is (`ExerciseProfile`) and the compensations that can be injected into it.
The profiles themselves, one per catalog id, are in exercises.py.

Every exercise follows the same timeline (script.py): a still phase in its start posture
(`calibration.static`), 3-5 knee swings (`calibration.swing`), then one or more sets, each between
`exercise.start` and `exercise.end`. What differs is the posture (postures.py), the direction and size of
the knee swings, and the kind, tempo and size of the movements:

- reps and ROM tests: rise from the calibration posture to a peak, hold, return, rest;
- stretches: per rep (usually one per set) a rise to a stretch level, one long hold with a few fidgets
  (short dips back toward the start) and a return;
- transitions (90/90): each rep moves the leg from the back position to the front one (external
  rotation relative to the calibration), pauses, and comes back to a back position within a few degrees
  of the calibration.

An excursion is signed by `ExerciseProfile.direction`: +1 toward internal rotation, -1 toward external
rotation. Other angles can move with it, in proportion (`excursion_deg`), or as the planted foot
requires (`planted_foot`, see `IrCoupling` in script.py).

Compensations are requested per rep (numbered from 1 across all sets, as in the truth and the analysis
output) and ride on that rep: the compensating angle leaves its rest value when the rise begins, reaches
its full change when the hold begins, stays through the hold and is back when the return ends.
`too_fast` instead replaces the rep's tempo (0.3-0.5 s up, no hold, 0.3-0.5 s down); stretches have no
tempo to get wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from firmware_bridge.simulator.postures import PostureSpec, Span


class CompensationKind(StrEnum):
    """Kinds of compensation, named as in the analysis output (recording-format.md)."""

    THIGH_DRIFT = "thigh_drift"
    KNEE_FLEXION_CHANGE = "knee_flexion_change"
    TOO_FAST = "too_fast"
    PELVIS_MOTION = "pelvis_motion"


class MotionKind(StrEnum):
    """How the exercise moves; the values are the catalog's `ExerciseKind` values."""

    REPS = "reps"
    ROM_TEST = "rom-test"
    STRETCH = "stretch"
    TRANSITIONS = "transitions"


COMPONENTS: dict[CompensationKind, tuple[str, ...]] = {
    CompensationKind.THIGH_DRIFT: ("hip_adduction", "hip_flexion"),
    CompensationKind.KNEE_FLEXION_CHANGE: ("knee_flexion",),
    CompensationKind.TOO_FAST: (),
    CompensationKind.PELVIS_MOTION: ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation"),
}
"""The angle each kind moves: a truth column without its `_deg` suffix (TruthSeries)."""

CHANGE_DEG: dict[CompensationKind, Span] = {
    CompensationKind.THIGH_DRIFT: Span(6.0, 15.0),
    CompensationKind.KNEE_FLEXION_CHANGE: Span(10.0, 20.0),
    CompensationKind.PELVIS_MOTION: Span(5.0, 15.0),
}
"""Size of the change drawn when a `Compensation` does not give one, deg."""

TOO_FAST_PHASE_S = Span(0.3, 0.5)
"""Duration of the rise and of the return of a too-fast rep, s (drawn separately)."""

FIDGETS_PER_HOLD = (0, 3)
"""How many fidgets a stretch hold has, inclusive range."""
FIDGET_DIP_DEG = Span(6.0, 12.0)
"""How far a fidget dips back toward the start, deg."""
FIDGET_S = Span(1.0, 2.0)
"""How long a fidget lasts (down and back up), s."""
FIDGET_MARGIN_S = 2.0
"""No fidget starts sooner than this after the hold begins or ends later than this before it ends, s."""
SET_REST_S = Span(5.0, 10.0)
"""Rest between two sets (between `exercise.end` and the next `exercise.start`), s."""


@dataclass(frozen=True)
class Compensation:
    """A compensation to inject into one rep.

    `change_deg` (signed, deg) and `component` (one of `COMPONENTS[kind]`) default to the exercise's usual
    direction (`ExerciseProfile.usual_compensations`) with a size drawn from `CHANGE_DEG[kind]`.
    Both are ignored for `too_fast`.
    """

    kind: CompensationKind
    rep: int
    """1 = the first rep."""
    change_deg: float | None = None
    component: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CompensationKind(self.kind))
        if self.rep < 1:
            raise ValueError(f"compensation reps are numbered from 1, got {self.rep}")
        if self.component is not None and self.component not in COMPONENTS[self.kind]:
            raise ValueError(f"{self.kind.value} moves one of {COMPONENTS[self.kind]}, not {self.component!r}")


@dataclass(frozen=True)
class TrueCompensation:
    """A compensation as it really happened (times in s on the recording's clock)."""

    kind: str
    """A `CompensationKind` value."""
    start: float
    """When the compensating motion begins (the rep's rise)."""
    end: float
    """When it is over (the end of the rep's return)."""
    rep: int
    """The rep it belongs to, from 1."""
    component: str | None
    """Which truth angle it moves (column name without `_deg`); None for too_fast."""
    change_deg: float | None
    """Signed change of that angle at the height of the rep, deg; None for too_fast."""


@dataclass(frozen=True)
class TrueFidget:
    """A dip during a stretch hold (times in s on the recording's clock)."""

    rep: int
    start: float
    end: float
    dip_deg: float
    """How far the commanded angle went back toward the start, deg (positive)."""


@dataclass(frozen=True)
class UsualCompensation:
    """How a person typically compensates in an exercise: the angle moved and the sign of the change."""

    component: str
    sign: float


@dataclass(frozen=True)
class ExerciseProfile:
    """One simulated exercise: posture, calibration swings and the tempo of its movements."""

    exercise_id: str
    """Catalog id (the recording's `exercise`)."""
    posture: PostureSpec
    default_reps: int
    """Reps per set (stretches: holds per set)."""
    swing_knee_deg: tuple[float, float]
    """Knee flexion each calibration swing turns to before coming back, drawn in this range, deg."""
    rise_s: tuple[float, float]
    peak_ir_deg: tuple[float, float]
    """Size of the excursion, deg of IR relative to the calibration posture in `direction` (a stretch's
    level; a transition's front position)."""
    hold_s: tuple[float, float]
    return_s: tuple[float, float]
    rest_s: tuple[float, float]
    """Pause after each rep (transitions: in the back position), s."""
    usual_compensations: dict[CompensationKind, UsualCompensation]
    """The angle compensations move by default; too_fast is available unless the kind is a stretch."""
    kind: MotionKind = MotionKind.REPS
    direction: float = 1.0
    """+1: the excursion is internal rotation; -1: external rotation (IR goes negative)."""
    excursion_deg: dict[str, Span] = field(default_factory=dict)
    """Other angles (truth columns without `_deg`) that move with the excursion: their change at its full
    size, drawn per rep, deg."""
    planted_foot: bool = False
    """The foot stays where it is: the leg turns about the hip-ankle line, so hip flexion and adduction
    follow the IR (`IrCoupling`)."""
    swing_hip_flexion_ratio: float = 0.0
    """Hip flexion change per degree of knee flexion change during the calibration swings (heel slides:
    about 0.5, so the heel stays on the floor)."""
    return_ir_deg: tuple[float, float] = (0.0, 0.0)
    """IR each rep returns to (transitions: the back position is reached within a few degrees)."""
    target_deg: float | None = None
    """The catalog's default target, deg of the exercise's measure (stretches: the level is drawn in
    target + 5 .. target + 15)."""

    @property
    def shortest_rep(self) -> tuple[float, float, float]:
        """(rise, hold, return) of the shortest normal rep, s."""
        return self.rise_s[0], self.hold_s[0], self.return_s[0]

    @property
    def allows_too_fast(self) -> bool:
        return self.kind is not MotionKind.STRETCH


def stretch_level_deg(target_deg: float) -> tuple[float, float]:
    """Range a stretch's level is drawn from, deg of the measure: 5 to 15 deg beyond the target."""
    return target_deg + 5.0, target_deg + 15.0
