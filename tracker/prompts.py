"""What the person is asked to do in each phase, in the exercise's own posture.

The text describes the movement only; the exercise and its dose come from whoever prescribed it.
"""

from __future__ import annotations

from imu_core.types import MarkerLabel
from tracker.exercise_model import Exercise

STILL_PROMPTS: dict[str, str] = {
    "seated": "Sit still: thigh on the chair, lower leg hanging straight down.",
    "prone": "Lie still face down, knee bent so the foot points at the ceiling.",
    "side-lying": "Lie still on your other side, hips and knees bent, knees together.",
    "ninety-ninety-back": "Sit still in 90/90 with this leg behind you.",
    "supine-hook-lying": "Lie still on your back, this knee bent, foot flat on the floor.",
    "supine-feet-on-wall": "Lie still on your back, feet on the wall, hips and knees at 90 degrees.",
    "floor-sitting-knees-bent": "Sit still on the floor, knees bent, feet flat and apart.",
    "floor-sitting-leg-straight": "Sit still on the floor with this leg straight, kneecap up.",
    "kneeling-on-chair": "Stand still with this knee resting on the chair seat, knee pointing down.",
}

START_POSITIONS: dict[str, str] = {
    "seated": "sitting on a chair, thigh on the seat, lower leg hanging straight down",
    "prone": "lying face down, knee bent so the foot points at the ceiling",
    "side-lying": "lying on your other side, hips and knees bent, knees together",
    "ninety-ninety-back": "sitting in 90/90 with this leg behind you",
    "supine-hook-lying": "lying on your back, this knee bent, foot flat on the floor",
    "supine-feet-on-wall": "lying on your back, feet on the wall, hips and knees at 90 degrees",
    "floor-sitting-knees-bent": "sitting on the floor, knees bent, feet flat and apart",
    "floor-sitting-leg-straight": "sitting on the floor with this leg straight, kneecap up",
    "kneeling-on-chair": "standing with this knee resting on the chair seat, knee pointing down",
}

SWING_PROMPTS: dict[int, str] = {
    -1: "Straighten the knee and bend it back, a few times; keep the thigh still.",
    +1: "Bend the knee further and back, a few times; keep the thigh as still as you can.",
}


def phase_prompt(exercise: Exercise, phase: str) -> str:
    """The instruction for a marker phase ('' = before the first marker)."""
    if phase == "":
        return "Waiting for the sensors..."
    if phase == MarkerLabel.CALIBRATION_STATIC:
        return STILL_PROMPTS.get(exercise.posture.name, "Hold still in the start position.")
    if phase == MarkerLabel.CALIBRATION_SWING:
        return SWING_PROMPTS[1 if exercise.posture.swing_direction > 0 else -1]
    if phase == MarkerLabel.EXERCISE_START:
        return exercise.instructions[-1] if exercise.instructions else exercise.name
    if phase == MarkerLabel.EXERCISE_END:
        return "Set done. Relax."
    return phase


def ready_prompt(exercise: Exercise) -> str:
    """What the person is asked before a leg's session starts; they say when they are in position (the
    page's Start button, Enter in the terminal)."""
    where = START_POSITIONS.get(exercise.posture.name, "in the start position")
    return f"Sensors on this leg, then get into position: {where}."


def target_band_ir_deg(exercise: Exercise) -> tuple[float, float]:
    """The band around the target, in deg of hip IR (negative where the target is external rotation)."""
    t = exercise.target_deg * exercise.measure.sign()
    lo, hi = 0.85 * t, 1.15 * t
    return (min(lo, hi), max(lo, hi))
