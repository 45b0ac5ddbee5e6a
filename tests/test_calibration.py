"""Calibration against the simulator's known strap orientations, and its refusals."""

from dataclasses import replace

import numpy as np
import pytest

from calibration.errors import MissingPhaseError, SensorMovedError, SensorsSwappedError, SwingTooSmallError
from calibration.model import Calibration
from firmware_bridge.replay import merged_events
from firmware_bridge.simulator import ImuErrorModel, MagneticDisturbance, simulate_session
from imu_core import quaternion as Q
from imu_core.frames import Segment, Side
from imu_core.types import Marker, MarkerLabel, Recording
from tracker.exercises import SEATED_IR
from tracker.offline import analyse_recording
from tracker.pipeline import SessionPipeline


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(Q.angle(Q.multiply(Q.conjugate(a), b))))


def run_pipeline(rec: Recording) -> SessionPipeline:
    pipe = SessionPipeline(SEATED_IR, rec.side, rec.sample_rate_hz)
    pipe.feed(merged_events(rec))
    pipe.finish()
    return pipe


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_mounts_found_whatever_the_strap(seed: int) -> None:
    sim = simulate_session(seed=seed, side=Side.LEFT if seed % 2 else Side.RIGHT, reps=2)
    pipe = run_pipeline(sim.recording)
    cal, align = pipe.calibration, pipe.alignment
    assert cal is not None and align is not None
    assert angle_between_deg(cal.sensors[Segment.SHIN].mount, sim.mounts[Segment.SHIN].q) < 1.5
    # the thigh's long axis is learned from the first rep's rotation
    assert align.axis_refits >= 1
    assert angle_between_deg(align.thigh_mount, sim.mounts[Segment.THIGH].q) < 2.0
    assert cal.score > 0.7
    assert cal.quality["knee_flexion_at_start_deg"] == pytest.approx(90.0, abs=1.0)


def test_relative_heading_needs_no_magnetometer_and_ignores_steel() -> None:
    chair = ImuErrorModel(magnetic_disturbance=MagneticDisturbance(dipole_moment_am2=(0.0, 0.0, 3.0)))
    for sim in (simulate_session(seed=31, reps=3, with_magnetometer=False),
                simulate_session(seed=31, reps=3, errors=chair)):
        _, angles, _ = analyse_recording(sim.recording)
        t_ex = sim.recording.marker_time(MarkerLabel.EXERCISE_START)
        assert t_ex is not None
        sel = angles.t >= t_ex
        knee_true = np.interp(angles.t[sel], sim.truth.t, sim.truth.knee_flexion_deg)
        assert np.sqrt(np.mean((angles.knee_flexion_deg[sel] - knee_true) ** 2)) < 1.5


def test_calibration_round_trips_through_json() -> None:
    sim = simulate_session(seed=5, reps=1)
    _, _, cal = analyse_recording(sim.recording)
    back = Calibration.from_json(cal.to_json())
    for seg in cal.sensors:
        np.testing.assert_allclose(back.sensors[seg].mount, cal.sensors[seg].mount)
    np.testing.assert_allclose(back.femur_reference, cal.femur_reference)
    assert back.side == cal.side and back.quality == cal.quality


def with_markers(rec: Recording, shifts: dict[str, float]) -> Recording:
    return replace(rec, markers=[Marker(m.t + shifts.get(m.label, 0.0), m.label) for m in rec.markers])


def test_moving_during_still_phase_is_refused() -> None:
    rec = simulate_session(seed=2, reps=1).recording
    t_static = rec.marker_time(MarkerLabel.CALIBRATION_STATIC)
    t_swing = rec.marker_time(MarkerLabel.CALIBRATION_SWING)
    assert t_static is not None and t_swing is not None
    # the person was told to start swinging 3 s later than they did
    moved = with_markers(rec, {MarkerLabel.CALIBRATION_SWING: 3.0})
    with pytest.raises(SensorMovedError, match="shin sensor moved"):
        analyse_recording(moved)


def test_swings_too_small_are_refused() -> None:
    rec = simulate_session(seed=2, reps=1).recording
    t_swing = rec.marker_time(MarkerLabel.CALIBRATION_SWING)
    assert t_swing is not None
    # the swing phase begins only after the swings are over: the person barely moves in it
    late = [m for m in rec.markers if m.label != MarkerLabel.CALIBRATION_SWING]
    t_ex = rec.marker_time(MarkerLabel.EXERCISE_START)
    assert t_ex is not None
    late.append(Marker(t_swing, "note.free-swing"))  # an unknown label still ends the still phase
    late.append(Marker(t_ex - 1.0, MarkerLabel.CALIBRATION_SWING))
    late.sort(key=lambda m: m.t)
    with pytest.raises(SwingTooSmallError):
        analyse_recording(replace(rec, markers=late))


def test_no_calibration_markers_is_a_clear_error() -> None:
    rec = simulate_session(seed=3, reps=1).recording
    bare = replace(rec, markers=[m for m in rec.markers if not m.label.startswith("calibration")])
    with pytest.raises(MissingPhaseError, match="no calibration phases"):
        analyse_recording(bare)


def test_swapped_sensors_are_named() -> None:
    rec = simulate_session(seed=6, reps=1).recording
    swapped = replace(rec, streams={Segment.THIGH: rec.streams[Segment.SHIN], Segment.SHIN: rec.streams[Segment.THIGH]})
    with pytest.raises(SensorsSwappedError, match="swapped"):
        analyse_recording(swapped)
