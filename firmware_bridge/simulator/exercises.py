"""The simulated exercises, one profile per catalog id (tracker/exercises.py), and how each is played.

Postures are in postures.py; what each field means is in exercise_model.py (whose names are
re-exported here). The sizes follow the catalog:
a stretch's level is drawn 5-15 deg beyond the catalog's default target, in the direction of its measure
(external rotation for the figure-four and pigeon stretches).

Simplifications: the pelvis stays where the calibration left it (unless a pelvis_motion compensation is
injected). So the figure-four and pigeon stretches, calibrated sitting on a chair, are played as the leg
turning out, flexing and abducting from the seated posture, without leaving the chair; the 90/90
transitions turn only the instrumented leg between the back and front positions, with the pelvis still
in its back-leg tilt; the 90/90 stretch turns the back hip in by moving the leg rather than by leaning the
pelvis over it (the hip angles are the same either way, which the leg sensors cannot tell apart).
"""

from __future__ import annotations

from dataclasses import replace

from firmware_bridge.simulator.exercise_model import (
    CHANGE_DEG,
    COMPONENTS,
    TOO_FAST_PHASE_S,
    Compensation,
    CompensationKind,
    ExerciseProfile,
    MotionKind,
    TrueCompensation,
    TrueFidget,
    UsualCompensation,
    stretch_level_deg,
)
from firmware_bridge.simulator.postures import (
    FLOOR_SITTING_KNEES_BENT,
    FLOOR_SITTING_LEG_STRAIGHT,
    KNEELING_ON_CHAIR,
    NINETY_NINETY_BACK_LEG,
    PRONE,
    SEATED,
    SIDE_LYING,
    SUPINE_FEET_ON_WALL,
    SUPINE_HOOK_LYING,
    Span,
)

__all__ = ["CHANGE_DEG", "COMPONENTS", "EXERCISES", "TOO_FAST_PHASE_S", "Compensation", "CompensationKind",
           "ExerciseProfile", "MotionKind", "TrueCompensation", "TrueFidget", "UsualCompensation",
           "exercise_profile"]

_DRIFT = CompensationKind.THIGH_DRIFT
_KNEE = CompensationKind.KNEE_FLEXION_CHANGE
_PELVIS = CompensationKind.PELVIS_MOTION

_SEATED_COMPENSATIONS = {
    _DRIFT: UsualCompensation("hip_adduction", 1.0),  # knee drifts inward
    _KNEE: UsualCompensation("knee_flexion", -1.0),  # knee kicks out
    _PELVIS: UsualCompensation("pelvis_obliquity", 1.0),  # hip hike
}
_NINETY_NINETY_COMPENSATIONS = {
    _DRIFT: UsualCompensation("hip_flexion", 1.0),  # back knee slides forward
    _KNEE: UsualCompensation("knee_flexion", 1.0),  # heel pulled in
    _PELVIS: UsualCompensation("pelvis_tilt", 1.0),  # lean over the front leg
}
_SUPINE_COMPENSATIONS = {
    _DRIFT: UsualCompensation("hip_flexion", -1.0),  # foot slides away
    _KNEE: UsualCompensation("knee_flexion", -1.0),
    _PELVIS: UsualCompensation("pelvis_rotation", 1.0),  # the pelvis rolls after the knee
}

SEATED_IR = ExerciseProfile(
    exercise_id="seated-ir",
    posture=SEATED,
    default_reps=8,
    # the shin swings forward (knee extension) toward 30-50 deg of flexion and back
    swing_knee_deg=(30.0, 50.0),
    rise_s=(1.2, 2.0), peak_ir_deg=(20.0, 40.0), hold_s=(2.0, 5.0), return_s=(1.2, 2.0), rest_s=(1.0, 2.5),
    usual_compensations=_SEATED_COMPENSATIONS,
)

SEATED_IR_BAND = ExerciseProfile(
    exercise_id="seated-ir-band",
    posture=SEATED,
    default_reps=8,
    swing_knee_deg=(30.0, 50.0),
    # against the band: slower both ways, less range
    rise_s=(2.0, 3.0), peak_ir_deg=(15.0, 30.0), hold_s=(2.0, 5.0), return_s=(2.0, 3.0), rest_s=(1.0, 2.5),
    usual_compensations=_SEATED_COMPENSATIONS,
)

SEATED_IR_TEST = ExerciseProfile(
    exercise_id="seated-ir-test",
    posture=SEATED,
    default_reps=3,
    swing_knee_deg=(30.0, 50.0),
    rise_s=(2.5, 4.0), peak_ir_deg=(25.0, 45.0), hold_s=(1.0, 2.0), return_s=(2.0, 3.0), rest_s=(1.5, 3.0),
    usual_compensations=_SEATED_COMPENSATIONS,
    kind=MotionKind.ROM_TEST,
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
        _DRIFT: UsualCompensation("hip_adduction", -1.0),  # knee slides out
        _KNEE: UsualCompensation("knee_flexion", -1.0),  # foot sinks
        _PELVIS: UsualCompensation("pelvis_rotation", 1.0),  # other side lifts
    },
    kind=MotionKind.ROM_TEST,
)

SIDE_LYING_IR = ExerciseProfile(
    exercise_id="side-lying-ir",
    posture=SIDE_LYING,
    default_reps=8,
    # in the horizontal plane: knee extended to 50-65 deg (foot forward) and back
    swing_knee_deg=(50.0, 65.0),
    rise_s=(1.0, 1.8), peak_ir_deg=(20.0, 35.0), hold_s=(3.0, 5.0), return_s=(1.0, 1.8), rest_s=(1.0, 2.0),
    usual_compensations={
        _DRIFT: UsualCompensation("hip_adduction", -1.0),  # top knee lifts off
        _KNEE: UsualCompensation("knee_flexion", -1.0),
        _PELVIS: UsualCompensation("pelvis_rotation", 1.0),  # pelvis rolls forward
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
    usual_compensations=_NINETY_NINETY_COMPENSATIONS,
)

NINETY_NINETY_STRETCH = ExerciseProfile(
    exercise_id="ninety-ninety-stretch",
    posture=NINETY_NINETY_BACK_LEG,
    default_reps=1,
    swing_knee_deg=(115.0, 125.0),
    rise_s=(2.0, 4.0), peak_ir_deg=stretch_level_deg(5.0), hold_s=(120.0, 180.0), return_s=(2.0, 4.0),
    rest_s=(3.0, 6.0),
    usual_compensations=_NINETY_NINETY_COMPENSATIONS,
    kind=MotionKind.STRETCH, target_deg=5.0,
)

NINETY_NINETY_TRANSITIONS = ExerciseProfile(
    exercise_id="ninety-ninety-transitions",
    posture=NINETY_NINETY_BACK_LEG,
    default_reps=12,
    swing_knee_deg=(115.0, 125.0),
    # rise: back -> front, hold: pause in front, return: front -> back, rest: pause in back
    rise_s=(1.5, 3.0), peak_ir_deg=(55.0, 70.0), hold_s=(0.3, 1.0), return_s=(1.5, 3.0), rest_s=(0.5, 1.5),
    usual_compensations={},
    kind=MotionKind.TRANSITIONS, direction=-1.0,
    # front position: hip flexion 77-90, abduction 30-44 (from 32-38 and 40-44 in the back)
    excursion_deg={"hip_flexion": Span(45.0, 52.0), "hip_adduction": Span(0.0, 10.0)},
    return_ir_deg=(0.0, 6.0), target_deg=-40.0,
)

SUPINE_IR_STRETCH = ExerciseProfile(
    exercise_id="supine-ir-stretch",
    posture=SUPINE_HOOK_LYING,
    default_reps=1,
    # the foot lifts off the mat as the knee extends to 45-60 deg
    swing_knee_deg=(45.0, 60.0),
    rise_s=(2.0, 4.0), peak_ir_deg=stretch_level_deg(20.0), hold_s=(30.0, 60.0), return_s=(2.0, 4.0),
    rest_s=(3.0, 6.0),
    usual_compensations=_SUPINE_COMPENSATIONS,
    kind=MotionKind.STRETCH, planted_foot=True, target_deg=20.0,
)

WALL_IR_STRETCH = ExerciseProfile(
    exercise_id="wall-ir-stretch",
    posture=SUPINE_FEET_ON_WALL,
    default_reps=1,
    # the foot leaves the wall upward as the knee extends to 50-65 deg
    swing_knee_deg=(50.0, 65.0),
    rise_s=(2.0, 4.0), peak_ir_deg=stretch_level_deg(20.0), hold_s=(30.0, 60.0), return_s=(2.0, 4.0),
    rest_s=(3.0, 6.0),
    usual_compensations=_SUPINE_COMPENSATIONS,
    kind=MotionKind.STRETCH, planted_foot=True, target_deg=20.0,
)

SITTING_KNEE_DROP = ExerciseProfile(
    exercise_id="sitting-knee-drop",
    posture=FLOOR_SITTING_KNEES_BENT,
    default_reps=20,
    # the foot lifts off the floor as the knee extends to 50-65 deg
    swing_knee_deg=(50.0, 65.0),
    rise_s=(1.0, 2.0), peak_ir_deg=(10.0, 25.0), hold_s=(0.0, 2.0), return_s=(1.0, 2.0), rest_s=(0.5, 1.5),
    usual_compensations={
        _DRIFT: UsualCompensation("hip_flexion", -1.0),  # foot slides forward, knee sinks
        _PELVIS: UsualCompensation("pelvis_obliquity", 1.0),  # this buttock lifts
    },
    planted_foot=True,
)

_CROSS_LEGGED = {"hip_flexion": Span(10.0, 20.0), "hip_adduction": Span(-25.0, -15.0),
                 "knee_flexion": Span(0.0, 15.0)}
"""The leg turned out into a figure-four or pigeon position from sitting on a chair."""

FIGURE_FOUR_STRETCH = ExerciseProfile(
    exercise_id="figure-four-stretch",
    posture=SEATED,
    default_reps=1,
    swing_knee_deg=(30.0, 50.0),
    rise_s=(2.0, 4.0), peak_ir_deg=stretch_level_deg(30.0), hold_s=(30.0, 60.0), return_s=(2.0, 4.0),
    rest_s=(3.0, 6.0),
    usual_compensations={_PELVIS: UsualCompensation("pelvis_obliquity", 1.0)},  # this hip hikes
    kind=MotionKind.STRETCH, direction=-1.0, excursion_deg=_CROSS_LEGGED, target_deg=30.0,
)

PIGEON_STRETCH = replace(FIGURE_FOUR_STRETCH, exercise_id="pigeon-stretch")
"""The same motion from the chair (the simulator does not model getting down to the floor)."""

STRAIGHT_LEG_ROLL = ExerciseProfile(
    exercise_id="straight-leg-roll",
    posture=FLOOR_SITTING_LEG_STRAIGHT,
    default_reps=20,
    # heel slides: the knee bends to 40-60 deg while the hip flexes half as much (heel on the floor)
    swing_knee_deg=(40.0, 60.0), swing_hip_flexion_ratio=0.5,
    rise_s=(1.0, 1.8), peak_ir_deg=(10.0, 30.0), hold_s=(0.0, 1.0), return_s=(1.0, 1.8), rest_s=(0.5, 1.5),
    usual_compensations={
        _DRIFT: UsualCompensation("hip_adduction", -1.0),  # leg slides out
        _KNEE: UsualCompensation("knee_flexion", 1.0),  # knee bends
        _PELVIS: UsualCompensation("pelvis_obliquity", 1.0),  # this buttock lifts
    },
)

SWIVEL_CHAIR_IR = ExerciseProfile(
    exercise_id="swivel-chair-ir",
    posture=KNEELING_ON_CHAIR,
    default_reps=20,
    # the foot lifts off the seat (knee flexion to 115-130 deg) and back
    swing_knee_deg=(115.0, 130.0),
    rise_s=(1.0, 1.6), peak_ir_deg=(15.0, 35.0), hold_s=(0.0, 1.0), return_s=(1.0, 1.6), rest_s=(0.5, 1.5),
    usual_compensations={
        _DRIFT: UsualCompensation("hip_flexion", 1.0),  # the knee rides forward with the chair
        _KNEE: UsualCompensation("knee_flexion", 1.0),  # foot lifts off the seat
        _PELVIS: UsualCompensation("pelvis_rotation", 1.0),  # this hip swings forward
    },
)

EXERCISES: dict[str, ExerciseProfile] = {
    p.exercise_id: p for p in (
        SEATED_IR, PRONE_IR_TEST, SIDE_LYING_IR, NINETY_NINETY_FOOT_LIFT, SEATED_IR_BAND, SEATED_IR_TEST,
        NINETY_NINETY_STRETCH, NINETY_NINETY_TRANSITIONS, SUPINE_IR_STRETCH, WALL_IR_STRETCH,
        SITTING_KNEE_DROP, FIGURE_FOUR_STRETCH, PIGEON_STRETCH, STRAIGHT_LEG_ROLL, SWIVEL_CHAIR_IR,
    )
}


def exercise_profile(exercise_id: str) -> ExerciseProfile:
    """The profile of a catalog id; ValueError for one the simulator cannot play."""
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise ValueError(f"the simulator plays {sorted(EXERCISES)}, not {exercise_id!r}") from None
