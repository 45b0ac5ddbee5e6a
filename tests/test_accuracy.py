"""Accuracy against the simulator's ground truth in every posture, with the hard error models.

Looser versions of the targets that `benchmarks/accuracy.py` measures (IR and knee flexion RMSE within
2 deg, rep peak error within 2 deg), so that a regression fails here. Side-lying knee flexion has a
looser bound: with the knee's hinge vertical nothing but gyroscope integration holds the thigh-shin
heading (see the benchmark's notes).
"""

import numpy as np
import pytest

from firmware_bridge.simulator import ImuErrorModel, MagneticDisturbance, simulate_session
from firmware_bridge.simulator.truth_measures import banded_hold_s
from imu_core.frames import Side
from imu_core.types import MarkerLabel
from tracker.offline import analyse_recording

HARSH = ImuErrorModel(sta_ir_fraction=0.3, sta_wobble_deg=0.5, packet_loss_probability=0.03,
                      magnetic_disturbance=MagneticDisturbance(dipole_moment_am2=(0.0, 0.0, 1.5)))
CASES = [
    ("seated-ir", ImuErrorModel.realistic(), 2.0),
    ("seated-ir", HARSH, 2.0),
    ("prone-ir-test", ImuErrorModel.realistic(), 2.0),
    ("prone-ir-test", HARSH, 2.0),
    ("side-lying-ir", ImuErrorModel.realistic(), 4.0),
    ("side-lying-ir", HARSH, 4.0),
    ("ninety-ninety-foot-lift", ImuErrorModel.realistic(), 2.5),
    ("ninety-ninety-foot-lift", HARSH, 2.5),
]


@pytest.mark.parametrize(("exercise", "errors", "knee_bound_deg"), CASES,
                         ids=[f"{c[0]}-{'harsh' if c[1] is HARSH else 'realistic'}" for c in CASES])
def test_angles_and_reps_against_truth(exercise: str, errors: ImuErrorModel, knee_bound_deg: float) -> None:
    sim = simulate_session(seed=77, side=Side.RIGHT, errors=errors, exercise=exercise, reps=4)
    result, angles, _ = analyse_recording(sim.recording)
    t0 = sim.recording.marker_time(MarkerLabel.EXERCISE_START)
    t1 = sim.recording.marker_time(MarkerLabel.EXERCISE_END)
    assert t0 is not None and t1 is not None
    sel = (angles.t >= t0) & (angles.t <= t1)
    ir_err = angles.hip_ir_deg[sel] - np.interp(angles.t[sel], sim.truth.t, sim.truth.hip_ir_deg)
    knee_err = angles.knee_flexion_deg[sel] - np.interp(angles.t[sel], sim.truth.t, sim.truth.knee_flexion_deg)
    assert np.sqrt(np.mean(ir_err**2)) < 1.5
    assert np.sqrt(np.mean(knee_err**2)) < knee_bound_deg
    assert len(result.reps) == len(sim.truth_reps)
    for rep, true in zip(result.reps, sim.truth_reps, strict=True):
        assert abs(rep.peak_ir_deg - true.peak_ir_deg) < 2.0
        assert abs(rep.hold_s - banded_hold_s(sim.script, true)) < 0.4


def test_knee_flexion_does_not_drift_over_a_long_set() -> None:
    """The two filters' headings drift apart (a still-phase bias estimate is never exact); the knee
    hinge holds them together, so the end of a long set is as good as its start."""
    sim = simulate_session(seed=77, side=Side.LEFT, exercise="seated-ir", reps=12)
    _, angles, _ = analyse_recording(sim.recording)
    last = angles.t > angles.t[-1] - 20.0
    knee_err = angles.knee_flexion_deg[last] - np.interp(angles.t[last], sim.truth.t, sim.truth.knee_flexion_deg)
    assert np.sqrt(np.mean(knee_err**2)) < 0.9
