"""Ground-truth IMU simulator: a seated hip IR session seen by a thigh and a shin IMU, with its truth."""

from firmware_bridge.simulator.generate import SimulatedSession, simulate_session, write_truth
from firmware_bridge.simulator.imu_model import (
    EarthField,
    ImuErrorModel,
    MagneticDisturbance,
    SensorErrorDraw,
    SensorMount,
    ideal_signals,
)
from firmware_bridge.simulator.leg import LegAngles, LegGeometry, LegState, PelvisPose, leg_kinematics
from firmware_bridge.simulator.script import SeatedIrScript, TrueRep, TruthSeries, seated_ir_script

__all__ = [
    "EarthField",
    "ImuErrorModel",
    "LegAngles",
    "LegGeometry",
    "LegState",
    "MagneticDisturbance",
    "PelvisPose",
    "SeatedIrScript",
    "SensorErrorDraw",
    "SensorMount",
    "SimulatedSession",
    "TrueRep",
    "TruthSeries",
    "ideal_signals",
    "leg_kinematics",
    "seated_ir_script",
    "simulate_session",
    "write_truth",
]
