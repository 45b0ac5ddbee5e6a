"""Ground-truth IMU simulator: every exercise of the catalog (reps, range tests, stretches, 90/90
transitions; seated, lying, floor sitting, kneeling postures) seen by a thigh and a shin IMU and optionally
a sacrum IMU, with injectable compensations and the truth of it all."""

from firmware_bridge.simulator.exercise_model import (
    Compensation,
    CompensationKind,
    ExerciseProfile,
    MotionKind,
    TrueCompensation,
    TrueFidget,
)
from firmware_bridge.simulator.exercises import EXERCISES, exercise_profile
from firmware_bridge.simulator.generate import SimulatedSession, simulate_session, write_truth
from firmware_bridge.simulator.imu_model import (
    EarthField,
    ImuErrorModel,
    MagneticDisturbance,
    SensorErrorDraw,
    SensorMount,
    ideal_signals,
)
from firmware_bridge.simulator.leg import (
    LegAngles,
    LegGeometry,
    LegState,
    PelvisPose,
    leg_kinematics,
    pelvis_motion_rotation,
)
from firmware_bridge.simulator.postures import Posture, PostureSpec
from firmware_bridge.simulator.script import (
    ExerciseScript,
    IrCoupling,
    SeatedIrScript,
    TrueRep,
    TruthSeries,
    exercise_script,
    seated_ir_script,
)

__all__ = [
    "EXERCISES",
    "Compensation",
    "CompensationKind",
    "EarthField",
    "ExerciseProfile",
    "ExerciseScript",
    "ImuErrorModel",
    "IrCoupling",
    "LegAngles",
    "LegGeometry",
    "LegState",
    "MagneticDisturbance",
    "MotionKind",
    "PelvisPose",
    "Posture",
    "PostureSpec",
    "SeatedIrScript",
    "SensorErrorDraw",
    "SensorMount",
    "SimulatedSession",
    "TrueCompensation",
    "TrueFidget",
    "TrueRep",
    "TruthSeries",
    "exercise_profile",
    "exercise_script",
    "ideal_signals",
    "leg_kinematics",
    "pelvis_motion_rotation",
    "seated_ir_script",
    "simulate_session",
    "write_truth",
]
