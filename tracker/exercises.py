"""The exercise catalog: what each exercise measures, its start posture and prescription defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from calibration.segments import SEATED, StartPosture
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

CATALOG: dict[str, Exercise] = {e.id: e for e in (SEATED_IR,)}


def get_exercise(exercise_id: str) -> Exercise:
    try:
        return CATALOG[exercise_id]
    except KeyError:
        raise UnknownExerciseError(exercise_id, sorted(CATALOG)) from None
