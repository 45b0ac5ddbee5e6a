"""The simulated exercises (catalog ids, posture, tempo, calibration swings) and injectable compensations.

Every exercise follows the same timeline (script.py): a still phase in its start posture
(`calibration.static`), 3-5 knee swings with the thigh still (`calibration.swing`), then the reps between
`exercise.start` and `exercise.end`. What differs is the posture (postures.py), the direction and size of
the knee swings, and the tempo and size of the reps.

Compensations are requested per rep (numbered from 1, as in the truth and the analysis output) and
ride on that rep: the compensating angle leaves its rest value when the rise begins, reaches its full
change when the hold begins, stays through the hold and is back when the return ends. `too_fast` instead
replaces the rep's tempo (0.3-0.5 s up, no hold, 0.3-0.5 s down).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firmware_bridge.simulator.postures import (
    NINETY_NINETY_BACK_LEG,
    PRONE,
    SEATED,
    SIDE_LYING,
    PostureSpec,
    Span,
)


class CompensationKind(StrEnum):
    """Kinds of compensation, named as in the analysis output (recording-format.md)."""

    THIGH_DRIFT = "thigh_drift"
    KNEE_FLEXION_CHANGE = "knee_flexion_change"
    TOO_FAST = "too_fast"
    PELVIS_MOTION = "pelvis_motion"


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
class UsualCompensation:
    """How a person typically compensates in an exercise: the angle moved and the sign of the change."""

    component: str
    sign: float


@dataclass(frozen=True)
class ExerciseProfile:
    """One simulated exercise: posture, calibration swings and the tempo of its reps."""

    exercise_id: str
    """Catalog id (the recording's `exercise`)."""
    posture: PostureSpec
    default_reps: int
    swing_knee_deg: tuple[float, float]
    """Knee flexion each calibration swing turns to before coming back, drawn in this range, deg."""
    rise_s: tuple[float, float]
    peak_ir_deg: tuple[float, float]
    """IR reached by a rep, relative to the calibration posture."""
    hold_s: tuple[float, float]
    return_s: tuple[float, float]
    rest_s: tuple[float, float]
    usual_compensations: dict[CompensationKind, UsualCompensation]

    @property
    def shortest_rep(self) -> tuple[float, float, float]:
        """(rise, hold, return) of the shortest normal rep, s."""
        return self.rise_s[0], self.hold_s[0], self.return_s[0]


SEATED_IR = ExerciseProfile(
    exercise_id="seated-ir",
    posture=SEATED,
    default_reps=8,
    # the shin swings forward (knee extension) toward 30-50 deg of flexion and back
    swing_knee_deg=(30.0, 50.0),
    rise_s=(1.2, 2.0), peak_ir_deg=(20.0, 40.0), hold_s=(2.0, 5.0), return_s=(1.2, 2.0), rest_s=(1.0, 2.5),
    usual_compensations={
        CompensationKind.THIGH_DRIFT: UsualCompensation("hip_adduction", 1.0),  # knee drifts inward
        CompensationKind.KNEE_FLEXION_CHANGE: UsualCompensation("knee_flexion", -1.0),  # knee kicks out
        CompensationKind.PELVIS_MOTION: UsualCompensation("pelvis_obliquity", 1.0),  # hip hike
    },
)

PRONE_IR_TEST = ExerciseProfile(
    exercise_id="prone-ir-test",
    posture=PRONE,
    default_reps=3,
    # foot lowered toward the table (knee extension to 50-60 deg) and back up to vertical
    swing_knee_deg=(50.0, 60.0),
    # a range-of-motion test: slow excursions to end range, short pauses there
    rise_s=(2.5, 4.0), peak_ir_deg=(30.0, 45.0), hold_s=(1.0, 2.0), return_s=(2.0, 3.0), rest_s=(1.5, 3.0),
    usual_compensations={
        CompensationKind.THIGH_DRIFT: UsualCompensation("hip_adduction", -1.0),  # knee slides out
        CompensationKind.KNEE_FLEXION_CHANGE: UsualCompensation("knee_flexion", -1.0),  # foot sinks
        CompensationKind.PELVIS_MOTION: UsualCompensation("pelvis_rotation", 1.0),  # other side lifts
    },
)

SIDE_LYING_IR = ExerciseProfile(
    exercise_id="side-lying-ir",
    posture=SIDE_LYING,
    default_reps=8,
    # in the horizontal plane: knee extended to 50-65 deg (foot forward) and back
    swing_knee_deg=(50.0, 65.0),
    rise_s=(1.0, 1.8), peak_ir_deg=(20.0, 35.0), hold_s=(3.0, 5.0), return_s=(1.0, 1.8), rest_s=(1.0, 2.0),
    usual_compensations={
        CompensationKind.THIGH_DRIFT: UsualCompensation("hip_adduction", -1.0),  # top knee lifts off
        CompensationKind.KNEE_FLEXION_CHANGE: UsualCompensation("knee_flexion", -1.0),
        CompensationKind.PELVIS_MOTION: UsualCompensation("pelvis_rotation", 1.0),  # pelvis rolls forward
    },
)

NINETY_NINETY_FOOT_LIFT = ExerciseProfile(
    exercise_id="ninety-ninety-foot-lift",
    posture=NINETY_NINETY_BACK_LEG,
    default_reps=8,
    # the back heel slides toward the buttock (knee flexion to 115-125 deg) and back; extending the
    # knee would push the foot into the floor
    swing_knee_deg=(115.0, 125.0),
    rise_s=(1.0, 1.8), peak_ir_deg=(10.0, 20.0), hold_s=(2.0, 3.0), return_s=(1.0, 1.8), rest_s=(1.0, 2.5),
    usual_compensations={
        CompensationKind.THIGH_DRIFT: UsualCompensation("hip_flexion", 1.0),  # back knee slides forward
        CompensationKind.KNEE_FLEXION_CHANGE: UsualCompensation("knee_flexion", 1.0),  # heel pulled in
        CompensationKind.PELVIS_MOTION: UsualCompensation("pelvis_tilt", 1.0),  # lean over the front leg
    },
)

EXERCISES: dict[str, ExerciseProfile] = {
    p.exercise_id: p for p in (SEATED_IR, PRONE_IR_TEST, SIDE_LYING_IR, NINETY_NINETY_FOOT_LIFT)
}


def exercise_profile(exercise_id: str) -> ExerciseProfile:
    """The profile of a catalog id; ValueError for one the simulator cannot play."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise ValueError(f"the simulator plays {sorted(EXERCISES)}, not {exercise_id!r}") from None
