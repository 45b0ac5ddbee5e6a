"""The exercise catalog: the exercises people are given for hip internal rotation, as the software
runs them, and the ones two leg sensors cannot measure (with the reason).

Prescription defaults follow common prescriptions; a professional overrides them per person. The text
here is shown to the person exercising: it describes the movement, never advises on treatment.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from calibration.segments import (
    FLOOR_SITTING_KNEES_BENT,
    FLOOR_SITTING_LEG_STRAIGHT,
    KNEELING_ON_CHAIR,
    NINETY_NINETY_BACK,
    PRONE,
    SEATED,
    SIDE_LYING,
    SUPINE_FEET_ON_WALL,
    SUPINE_HOOK_LYING,
)
from tracker.errors import UnknownExerciseError, UnmeasurableExerciseError
from tracker.exercise_model import (
    Check,
    CompensationParams,
    Exercise,
    ExerciseKind,
    Measure,
    Prescription,
    UnmeasurableExercise,
)

_ALL_CHECKS = (Check.THIGH_DRIFT, Check.KNEE_FLEXION_CHANGE, Check.TOO_FAST, Check.PELVIS_MOTION)
_POSITION_CHECKS = (Check.THIGH_DRIFT, Check.KNEE_FLEXION_CHANGE, Check.PELVIS_MOTION)
"""Held positions: nothing to be too fast about."""
_PLANTED_FOOT_CHECKS = (Check.KNEE_FLEXION_CHANGE, Check.PELVIS_MOTION)
"""The foot stays on the floor or wall and the knee falls inward: the thigh's long axis moves by design
(about 1 deg per deg of rotation), so its moving is not a compensation."""

SEATED_IR = Exercise(
    id="seated-ir",
    name="Seated hip internal rotation",
    kind=ExerciseKind.REPS,
    posture=SEATED,
    prescription=Prescription(sets=3, reps=8, hold_s=(2.0, 5.0), rest_s=60.0),
    default_target_deg=30.0,
    instructions=(
        "Sit on a tall chair with your feet off the floor and your knees together.",
        "Keep the thigh where it is and move the foot out to the side; hold at the end, then come back.",
    ),
    notes="Range taken by twisting the shin or ankle instead of the hip is only partly visible to the sensors.",
)

SEATED_IR_BAND = Exercise(
    id="seated-ir-band",
    name="Seated hip internal rotation with a band",
    kind=ExerciseKind.REPS,
    posture=SEATED,
    prescription=Prescription(sets=3, reps=8, hold_s=(2.0, 5.0), rest_s=60.0, band_level="light"),
    default_target_deg=25.0,
    compensation=CompensationParams(min_rise_s=0.5),
    instructions=(
        "Sit on a tall chair, feet off the floor, a band around both ankles.",
        "Move the foot out against the band, slowly; hold at the end, then come back under control.",
    ),
    equipment="resistance band",
)

SIDE_LYING_IR = Exercise(
    id="side-lying-ir",
    name="Side-lying hip internal rotation",
    kind=ExerciseKind.REPS,
    posture=SIDE_LYING,
    prescription=Prescription(sets=1, reps=20, hold_s=(3.0, 5.0)),
    default_target_deg=25.0,
    messages={Check.THIGH_DRIFT.value: "Keep your knees together and your hips stacked.",
              Check.PELVIS_MOTION.value: "Don't let your hips roll forward."},
    instructions=(
        "Lie on the other side with hips and knees bent and the knees together.",
        "Keep the knees together and lift the top foot toward the ceiling; hold, then lower it.",
    ),
    notes="The pelvis rolling forward shows as the thigh moving; a sacrum sensor measures it directly.",
)

PRONE_IR_TEST = Exercise(
    id="prone-ir-test",
    name="Prone hip internal rotation test",
    kind=ExerciseKind.ROM_TEST,
    posture=PRONE,
    prescription=Prescription(sets=1, reps=3, hold_s=(0.0, 2.0), rest_s=10.0),
    default_target_deg=45.0,
    norm_deg=(45.0, 45.0),
    checks=_POSITION_CHECKS,
    instructions=(
        "Lie face down with the knee bent to 90 degrees so the foot points at the ceiling.",
        "Let the foot fall slowly outward as far as it goes without the hip lifting, then bring it back.",
    ),
)

SEATED_IR_TEST = Exercise(
    id="seated-ir-test",
    name="Seated hip internal rotation test",
    kind=ExerciseKind.ROM_TEST,
    posture=SEATED,
    prescription=Prescription(sets=1, reps=3, hold_s=(0.0, 2.0), rest_s=10.0),
    default_target_deg=38.0,
    norm_deg=(30.0, 45.0),
    checks=_POSITION_CHECKS,
    instructions=(
        "Sit on a tall chair, feet off the floor, thigh supported.",
        "Move the foot slowly outward as far as it goes with the thigh still, then bring it back.",
    ),
)

NINETY_NINETY_STRETCH = Exercise(
    id="ninety-ninety-stretch",
    name="90/90 hip stretch (back leg)",
    kind=ExerciseKind.STRETCH,
    posture=NINETY_NINETY_BACK,
    prescription=Prescription(sets=2, reps=1, hold_s=(120.0, 180.0), rest_s=30.0),
    default_target_deg=5.0,
    checks=_POSITION_CHECKS,
    messages={Check.PELVIS_MOTION.value: "Sit into the back hip rather than leaning with your body."},
    instructions=(
        "Sit in 90/90 with this leg behind you, both knees bent to 90 degrees.",
        "Settle your weight toward the back hip and stay there, breathing calmly.",
    ),
    notes="Time counts while the back hip is turned in at least the target beyond the calibration posture.",
)

NINETY_NINETY_FOOT_LIFT = Exercise(
    id="ninety-ninety-foot-lift",
    name="90/90 back-foot lift",
    kind=ExerciseKind.REPS,
    posture=NINETY_NINETY_BACK,
    prescription=Prescription(sets=2, reps=10, hold_s=(2.0, 3.0)),
    default_target_deg=15.0,
    instructions=(
        "Sit in 90/90 with this leg behind you, knee bent to 90 degrees.",
        "Lift the back foot off the floor, hold, and lower it again.",
    ),
)

NINETY_NINETY_TRANSITIONS = Exercise(
    id="ninety-ninety-transitions",
    name="90/90 transitions",
    kind=ExerciseKind.TRANSITIONS,
    posture=NINETY_NINETY_BACK,
    prescription=Prescription(sets=1, reps=12, hold_s=(0.0, 1.0), rest_s=30.0, both_sides=False),
    default_target_deg=-40.0,
    checks=(Check.TOO_FAST,),
    instructions=(
        "Sit in 90/90 with this leg behind you, hands on the floor behind you.",
        "Turn both knees over to the other side, then back; each switch counts.",
    ),
    notes="The sensored leg alternates between the back (turned in) and front (turned out) position; "
          "the target is the front position's level, deg of IR from the back position.",
)

SUPINE_IR_STRETCH = Exercise(
    id="supine-ir-stretch",
    name="Lying internal rotation stretch",
    kind=ExerciseKind.STRETCH,
    posture=SUPINE_HOOK_LYING,
    prescription=Prescription(sets=2, reps=1, hold_s=(30.0, 60.0), rest_s=20.0),
    default_target_deg=20.0,
    checks=_PLANTED_FOOT_CHECKS,
    instructions=(
        "Lie on your back with the knee bent and the foot on the floor.",
        "Let the knee fall in toward the middle and stay there.",
    ),
)

WALL_IR_STRETCH = Exercise(
    id="wall-ir-stretch",
    name="Internal rotation stretch with feet on a wall",
    kind=ExerciseKind.STRETCH,
    posture=SUPINE_FEET_ON_WALL,
    prescription=Prescription(sets=2, reps=1, hold_s=(30.0, 60.0), rest_s=20.0),
    default_target_deg=20.0,
    checks=(Check.PELVIS_MOTION,),
    instructions=(
        "Lie on your back with both feet on a wall, hips and knees at 90 degrees.",
        "Let the knee fall in toward the middle, foot staying on the wall, and stay there.",
    ),
    notes="With the thigh vertical its sensor's roll cannot be told from a turn of the whole leg, so the "
          "knee angle is not judged here (it reads a few degrees off as the knee falls in).",
)

SITTING_KNEE_DROP = Exercise(
    id="sitting-knee-drop",
    name="Sitting knee drop",
    kind=ExerciseKind.REPS,
    posture=FLOOR_SITTING_KNEES_BENT,
    prescription=Prescription(sets=1, reps=20, hold_s=(0.0, 2.0)),
    default_target_deg=20.0,
    checks=(Check.TOO_FAST, Check.PELVIS_MOTION),
    instructions=(
        "Sit on the floor, knees bent and feet apart, upright (hands behind you if needed).",
        "Lower the inside of this knee toward the floor, then bring it back up.",
    ),
    notes="The knee moves inward by design, so the thigh moving is not judged as drift.",
)

def _external_rotation_stretch(exercise_id: str, name: str, instructions: tuple[str, ...], notes: str) -> Exercise:
    """A stretch held with the hip turned out, calibrated sitting on a chair: its measure is external
    rotation, and its long axes stay the calibration's (the hip flexes and abducts as it turns out, so
    the rotation is not about the femur alone)."""
    return Exercise(
        id=exercise_id, name=name, kind=ExerciseKind.STRETCH, posture=SEATED, measure=Measure.HIP_ER,
        learn_long_axes=False, prescription=Prescription(sets=2, reps=1, hold_s=(30.0, 60.0), rest_s=20.0),
        default_target_deg=30.0, checks=(Check.PELVIS_MOTION,), instructions=instructions, notes=notes)


FIGURE_FOUR_STRETCH = _external_rotation_stretch(
    "figure-four-stretch", "Figure-four stretch (sitting)",
    ("Calibrate sitting on a chair, then cross this ankle over the other knee.",
     "Sit tall and lean forward a little until you feel the back of the hip; stay there."),
    "This stretch works the muscles that limit internal rotation by holding the hip turned OUT; the measure "
    "is external rotation from the seated calibration.",
)

PIGEON_STRETCH = _external_rotation_stretch(
    "pigeon-stretch", "Pigeon stretch (front leg)",
    ("Calibrate sitting on a chair, then take the pigeon position with this leg in front.",
     "Stay where you feel the back of the hip, hips level."),
    "Like the figure-four stretch, held in external rotation: the measure is external rotation from the "
    "seated calibration. Leaving the chair for the floor moves the pelvis, which the leg sensors cannot tell "
    "from hip motion, so it is less exact than the seated exercises.",
)

STRAIGHT_LEG_ROLL = Exercise(
    id="straight-leg-roll",
    name="Straight-leg rolls",
    kind=ExerciseKind.REPS,
    posture=FLOOR_SITTING_LEG_STRAIGHT,
    prescription=Prescription(sets=1, reps=20, hold_s=(0.0, 1.0)),
    default_target_deg=20.0,
    checks=(Check.KNEE_FLEXION_CHANGE, Check.TOO_FAST),
    messages={Check.KNEE_FLEXION_CHANGE.value: "Keep the knee straight."},
    instructions=(
        "Sit on the floor with this leg straight in front of you.",
        "Roll the whole leg inward so the toes turn in, then back.",
    ),
    notes="With the knee straight the shin cannot act as a pointer; the rotation is read from the segment "
          "itself, which includes any twist at the knee.",
)

SWIVEL_CHAIR_IR = Exercise(
    id="swivel-chair-ir",
    name="Swivel-chair internal rotation",
    kind=ExerciseKind.REPS,
    posture=KNEELING_ON_CHAIR,
    prescription=Prescription(sets=1, reps=20, hold_s=(0.0, 1.0)),
    default_target_deg=25.0,
    instructions=(
        "Stand with this knee resting lightly on a swivel chair, knee pointing at the floor.",
        "Swing the foot out to the side with the chair, then back.",
    ),
)

CATALOG: dict[str, Exercise] = {e.id: e for e in (
    SEATED_IR, SEATED_IR_BAND, SIDE_LYING_IR, PRONE_IR_TEST, SEATED_IR_TEST, NINETY_NINETY_STRETCH,
    NINETY_NINETY_FOOT_LIFT, NINETY_NINETY_TRANSITIONS, SUPINE_IR_STRETCH, WALL_IR_STRETCH, SITTING_KNEE_DROP,
    FIGURE_FOUR_STRETCH, PIGEON_STRETCH, STRAIGHT_LEG_ROLL, SWIVEL_CHAIR_IR,
)}

UNMEASURABLE: dict[str, UnmeasurableExercise] = {e.id: e for e in (
    UnmeasurableExercise(
        "hip-shift-on-wall", "Hip shift on a wall",
        "the pelvis turns over a thigh that stays still, so the thigh and shin sensors see almost nothing; "
        "it would need a sensor on the pelvis as the main measure, which the software does not offer yet."),
    UnmeasurableExercise(
        "standing-pelvis-rotation", "Standing internal rotation (pelvis over a planted leg)",
        "the rotation happens at the pelvis while the foot and leg stay planted, out of the leg sensors' view."),
    UnmeasurableExercise(
        "quadruped-rockback", "Quadruped rock-back",
        "the hip mostly bends; its small rotation under body weight on the knee cannot be separated from "
        "the rocking with two leg sensors."),
    UnmeasurableExercise(
        "posterior-hip-release", "Posterior hip release on a ball",
        "a soft-tissue release has no joint angle to measure."),
    UnmeasurableExercise(
        "band-distraction", "Hip band distraction",
        "the joint glides by millimetres under traction, far below what these sensors resolve."),
    UnmeasurableExercise(
        "heel-drive-isometric", "Heel drive into a wall (isometric)",
        "an isometric effort does not move the leg; the sensors could only confirm that nothing moved."),
)}


def get_exercise(exercise_id: str, custom_dirs: Sequence[Path] | None = None) -> Exercise:
    """The catalog exercise with this id, else a custom one (tracker/custom_exercises.py; from
    `custom_dirs`, default the user's exercise folders); a clear error for an unknown or unmeasurable one."""
    from tracker.custom_exercises import find_exercise, load_exercise_dir

    try:
        return CATALOG[exercise_id]
    except KeyError:
        pass
    if exercise_id in UNMEASURABLE:
        raise UnmeasurableExerciseError(UNMEASURABLE[exercise_id])
    custom = find_exercise(exercise_id, custom_dirs)
    if custom is not None:
        return custom
    known = sorted(CATALOG) + sorted(load_exercise_dir(custom_dirs) if custom_dirs is not None else ())
    raise UnknownExerciseError(exercise_id, known)
