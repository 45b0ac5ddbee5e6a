"""The exercise catalog: what each exercise measures, its start posture and prescription defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from calibration.segments import NINETY_NINETY_BACK, PRONE, SEATED, SIDE_LYING, StartPosture
from tracker.errors import UnknownExerciseError
from tracker.reps import RepParams


@dataclass(frozen=True, slots=True)
class Prescription:
    """Defaults a professional can override per person."""

    sets: int
    reps: int
    hold_s: tuple[float, float]
    """Target end-range hold, min..max seconds."""


@dataclass(frozen=True, slots=True)
class Exercise:
    id: str
    name: str
    posture: StartPosture
    primary_measure: str
    """Name of the angle that drives reps: hip_ir_deg"""
    prescription: Prescription
    rep_params: RepParams = field(default_factory=RepParams)
    instructions: tuple[str, ...] = ()


SEATED_IR = Exercise(
    id="seated-ir",
    name="Seated hip internal rotation",
    posture=SEATED,
    primary_measure="hip_ir_deg",
    prescription=Prescription(sets=3, reps=8, hold_s=(2.0, 5.0)),
    instructions=(
        "Sit on a tall chair, feet off the floor, knees together.",
        "Keep the thigh still and swing the foot out to the side; hold at the end, then return.",
    ),
)

PRONE_IR_TEST = Exercise(
    id="prone-ir-test",
    name="Prone hip internal rotation test",
    posture=PRONE,
    primary_measure="hip_ir_deg",
    prescription=Prescription(sets=1, reps=3, hold_s=(0.0, 2.0)),
    instructions=(
        "Lie face down, knee bent to 90 degrees so the foot points at the ceiling.",
        "Let the foot fall slowly outward as far as it goes, then bring it back.",
    ),
)

SIDE_LYING_IR = Exercise(
    id="side-lying-ir",
    name="Side-lying hip internal rotation",
    posture=SIDE_LYING,
    primary_measure="hip_ir_deg",
    prescription=Prescription(sets=1, reps=20, hold_s=(3.0, 5.0)),
    instructions=(
        "Lie on the other side, hips and knees bent, knees together.",
        "Keep the knees together and lift the top foot toward the ceiling; hold, then lower.",
    ),
)

NINETY_NINETY_FOOT_LIFT = Exercise(
    id="ninety-ninety-foot-lift",
    name="90/90 back-foot lift",
    posture=NINETY_NINETY_BACK,
    primary_measure="hip_ir_deg",
    prescription=Prescription(sets=2, reps=10, hold_s=(2.0, 3.0)),
    instructions=(
        "Sit in 90/90 with this leg behind you, knee bent to 90 degrees.",
        "Lift the back foot off the floor, hold, and lower it again.",
    ),
)

CATALOG: dict[str, Exercise] = {e.id: e for e in (SEATED_IR, PRONE_IR_TEST, SIDE_LYING_IR, NINETY_NINETY_FOOT_LIFT)}


def get_exercise(exercise_id: str) -> Exercise:
    try:
        return CATALOG[exercise_id]
    except KeyError:
        raise UnknownExerciseError(exercise_id, sorted(CATALOG)) from None
