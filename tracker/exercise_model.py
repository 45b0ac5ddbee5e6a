"""What an exercise is, for the software: its posture, what it measures, how it is judged, and the
prescription a professional can override per person.

Every value carries its unit. The catalog (tracker/exercises.py) and custom exercise files
(tracker/custom_exercises.py) both build these objects; nothing else in the tracker needs to know
which exercise it is running beyond them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from calibration.segments import StartPosture


class ExerciseKind(StrEnum):
    """How the exercise is judged."""

    REPS = "reps"
    """Movements to end range and back: counted, with an end-range hold each."""
    ROM_TEST = "rom-test"
    """A few slow excursions to end range; the largest is the result."""
    STRETCH = "stretch"
    """A position held: time at or beyond a target angle."""
    TRANSITIONS = "transitions"
    """Switching between two positions (90/90 transitions): each switch counted."""


class Measure(StrEnum):
    """The angle that drives the exercise."""

    HIP_IR = "hip_ir_deg"
    """Hip internal rotation, positive inward, deg."""
    HIP_ER = "hip_er_deg"
    """Hip external rotation, positive outward (minus hip_ir_deg), deg: stretches taken in external rotation."""

    def sign(self) -> float:
        """Multiplier from hip IR to this measure."""
        return -1.0 if self is Measure.HIP_ER else 1.0


class Check(StrEnum):
    """Compensations an exercise watches for; values are the analysis output's kinds."""

    THIGH_DRIFT = "thigh_drift"
    KNEE_FLEXION_CHANGE = "knee_flexion_change"
    TOO_FAST = "too_fast"
    PELVIS_MOTION = "pelvis_motion"


DEFAULT_MESSAGES: dict[Check, str] = {
    Check.THIGH_DRIFT: "Keep your knee still.",
    Check.KNEE_FLEXION_CHANGE: "Keep the knee bent as it was.",
    Check.TOO_FAST: "Slow down.",
    Check.PELVIS_MOTION: "Keep your hips still.",
}
"""What the live views say when a compensation starts, unless the exercise says otherwise."""


@dataclass(frozen=True, slots=True)
class Prescription:
    """What the professional prescribed; defaults follow common prescriptions."""

    sets: int = 3
    reps: int = 8
    """Reps per set (REPS, TRANSITIONS per direction, ROM_TEST excursions); 1 for a stretch."""
    hold_s: tuple[float, float] = (2.0, 5.0)
    """End-range hold per rep, or a stretch's hold, min..max, s."""
    rest_s: float = 60.0
    """Rest between sets, s."""
    both_sides: bool = True
    """Whether the exercise is done on each leg in turn."""
    target_deg: float | None = None
    """The angle the person aims for, deg of the exercise's measure (a stretch's hold counts at or beyond
    it; reps are judged relative to it). None: the exercise's default."""
    band_level: str | None = None
    """Resistance band used (free text: colour or strength), recorded with the session."""

    def __post_init__(self) -> None:
        if self.sets < 1 or self.reps < 1:
            raise ValueError("a prescription needs at least one set of one rep")
        lo, hi = self.hold_s
        if lo < 0 or hi < lo:
            raise ValueError(f"hold_s must be min..max seconds with 0 <= min <= max, got {self.hold_s}")
        if self.rest_s < 0:
            raise ValueError("rest_s must be >= 0")

    def with_overrides(self, **changes: object) -> Prescription:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class CompensationParams:
    """When a compensation counts (each relative to the rep's own start, so slow drift is not blamed)."""

    thigh_drift_deg: float = 4.0
    """The thigh's long axis turned this far from where it was when the rep began, deg."""
    knee_flexion_change_deg: float = 7.0
    """Knee flexion changed this much since the rep began, deg."""
    pelvis_motion_deg: float = 4.0
    """The pelvis (sacrum sensor) turned this far since the rep began, deg."""
    min_duration_s: float = 0.25
    """A deviation must last this long to count, s."""
    release_fraction: float = 0.6
    """It is over once back under this fraction of its threshold (hysteresis)."""
    min_rise_s: float = 0.35
    """A rep whose rise took less than this from 10 % to 90 % of its range is too fast, s. (A smooth rise
    spends about half its duration between those levels: 0.35 s flags rises shorter than about 0.7 s.)"""


@dataclass(frozen=True, slots=True)
class Exercise:
    """One exercise of the catalog, or a custom one."""

    id: str
    name: str
    kind: ExerciseKind
    posture: StartPosture
    """The start posture of the calibration (0 deg of the measure)."""
    prescription: Prescription
    measure: Measure = Measure.HIP_IR
    checks: tuple[Check, ...] = (Check.THIGH_DRIFT, Check.KNEE_FLEXION_CHANGE, Check.TOO_FAST, Check.PELVIS_MOTION)
    """Compensations watched for (pelvis_motion only acts with a pelvis sensor)."""
    default_target_deg: float = 25.0
    """Target when the prescription gives none, deg of the measure."""
    compensation: CompensationParams = field(default_factory=CompensationParams)
    messages: dict[str, str] = field(default_factory=dict)
    """Check value -> what to tell the person; DEFAULT_MESSAGES where missing."""
    learn_long_axes: bool = True
    """Refine the sensors' long axes from the exercise's own rotation (calibration.online). False where
    the hip turns together with large flexion and abduction (the rotation is not about the femur)."""
    norm_deg: tuple[float, float] | None = None
    """ROM tests: the usual range of the measure in people without a hip problem, low..high, deg."""
    instructions: tuple[str, ...] = ()
    equipment: str = ""
    notes: str = ""
    """What the sensors can and cannot see in this exercise."""

    @property
    def target_deg(self) -> float:
        p = self.prescription.target_deg
        return self.default_target_deg if p is None else p

    def message(self, check: Check | str) -> str:
        key = Check(check)
        return self.messages.get(key.value, DEFAULT_MESSAGES[key])

    def with_prescription(self, prescription: Prescription) -> Exercise:
        return replace(self, prescription=prescription)


@dataclass(frozen=True, slots=True)
class UnmeasurableExercise:
    """An exercise people are given that these two sensors cannot measure honestly, and why."""

    id: str
    name: str
    reason: str
