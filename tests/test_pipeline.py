"""The session pipeline: accuracy against the simulator's truth, and one result however it is fed."""

import numpy as np
import pytest

from firmware_bridge.replay import merged_events
from firmware_bridge.simulator import ImuErrorModel, simulate_session
from firmware_bridge.simulator.exercises import Compensation, CompensationKind
from firmware_bridge.simulator.truth_measures import banded_hold_s, time_at_or_beyond_s
from imu_core.filters import VqfFilter
from imu_core.frames import Segment, Side
from imu_core.types import JointAngles, MarkerLabel
from tracker.exercises import SEATED_IR, get_exercise
from tracker.offline import analyse_recording
from tracker.pipeline import SessionPipeline, analyse_samples_in_detail, analyse_streams_in_detail


@pytest.mark.parametrize(("seed", "side"), [(21, Side.LEFT), (22, Side.RIGHT)])
def test_angles_and_reps_match_the_truth(seed: int, side: Side) -> None:
    sim = simulate_session(seed=seed, side=side, reps=4)
    result, angles, _ = analyse_recording(sim.recording)
    t_ex = sim.recording.marker_time(MarkerLabel.EXERCISE_START)
    assert t_ex is not None
    sel = angles.t >= t_ex
    ir_true = np.interp(angles.t[sel], sim.truth.t, sim.truth.hip_ir_deg)
    knee_true = np.interp(angles.t[sel], sim.truth.t, sim.truth.knee_flexion_deg)
    assert np.sqrt(np.mean((angles.hip_ir_deg[sel] - ir_true) ** 2)) < 1.0
    assert np.sqrt(np.mean((angles.knee_flexion_deg[sel] - knee_true) ** 2)) < 2.0
    assert len(result.reps) == len(sim.truth_reps) == 4
    for rep, true in zip(result.reps, sim.truth_reps, strict=True):
        assert rep.peak_ir_deg == pytest.approx(true.peak_ir_deg, abs=1.0)
        assert rep.hold_s == pytest.approx(banded_hold_s(sim.script, true), abs=0.25)
        assert rep.start == pytest.approx(true.start, abs=0.5)
        assert rep.end == pytest.approx(true.end, abs=0.5)
    assert result.max_ir_deg == pytest.approx(max(r.peak_ir_deg for r in sim.truth_reps), abs=1.0)
    assert len(result.holds) == 4


def test_angle_output_covers_the_whole_recording_at_sample_rate() -> None:
    sim = simulate_session(seed=4, reps=2)
    _, angles, _ = analyse_recording(sim.recording)
    shin_t = sim.recording.streams[Segment.SHIN].t
    assert angles.t[0] - shin_t[0] < 0.05 and shin_t[-1] - angles.t[-1] < 0.05
    assert np.all(np.diff(angles.t) > 0)
    assert np.median(np.diff(angles.t)) < 1 / 50


def test_feeding_in_pieces_gives_what_one_pass_gives() -> None:
    sim = simulate_session(seed=8, reps=3, errors=ImuErrorModel(packet_loss_probability=0.02))
    events = merged_events(sim.recording)
    one = SessionPipeline(SEATED_IR, sim.side, sim.recording.sample_rate_hz)
    first = one.feed(events)
    result_one, last_one = one.finish()
    angles_one = JointAngles.concat([first.angles, last_one.angles])

    rng = np.random.default_rng(0)
    pieces = SessionPipeline(SEATED_IR, sim.side, sim.recording.sample_rate_hz)
    parts = []
    i = 0
    while i < len(events):
        n = int(rng.integers(1, 40))
        parts.append(pieces.feed(events[i:i + n]).angles)
        i += n
    result_pieces, last_pieces = pieces.finish()
    parts.append(last_pieces.angles)
    angles_pieces = JointAngles.concat(parts)
    np.testing.assert_array_equal(angles_pieces.t, angles_one.t)
    np.testing.assert_allclose(angles_pieces.hip_ir_deg, angles_one.hip_ir_deg, atol=1e-9)
    assert len(result_pieces.reps) == len(result_one.reps)
    for a, b in zip(result_pieces.reps, result_one.reps, strict=True):  # equal up to float rounding
        assert np.allclose([a.start, a.peak, a.end, a.peak_ir_deg, a.hold_s],
                           [b.start, b.peak, b.end, b.peak_ir_deg, b.hold_s], atol=1e-9)
    assert len(result_one.reps) == 3


@pytest.mark.parametrize("pelvis", [False, True])
def test_a_recording_fed_as_arrays_gives_what_its_samples_one_by_one_give(pelvis: bool) -> None:
    """The offline analysis feeds each sensor's samples between two markers as one block of arrays; a
    live session feeds sample objects as they come. Same angles, reps, holds and details, bit for bit."""
    sim = simulate_session(seed=12, reps=3, with_pelvis_sensor=pelvis,
                           errors=ImuErrorModel(packet_loss_probability=0.02))
    rec = sim.recording
    by_sample = analyse_samples_in_detail(SEATED_IR, rec.side, rec.sample_rate_hz, merged_events(rec))
    by_block = analyse_streams_in_detail(SEATED_IR, rec.side, rec.sample_rate_hz, rec.streams, rec.markers)
    assert by_block[0] == by_sample[0]
    assert by_block[3] == by_sample[3]
    assert len(by_sample[0].reps) == 3
    for name in ("t", "hip_ir_deg", "knee_flexion_deg", "thigh_drift_deg", "pelvis_motion_deg"):
        np.testing.assert_array_equal(getattr(by_block[1], name), getattr(by_sample[1], name))
    assert by_block[2].to_json_dict() == by_sample[2].to_json_dict()


def test_filter_state_saved_and_restored_continues_the_stream() -> None:
    sim = simulate_session(seed=9, reps=1)
    shin = sim.recording.streams[Segment.SHIN]
    whole = VqfFilter(100.0).update(shin.gyr, shin.acc)
    a = VqfFilter(100.0)
    half = len(shin) // 2
    head = a.update(shin.gyr[:half], shin.acc[:half])
    b = VqfFilter(100.0)
    b.set_state(a.get_state())
    tail = b.update(shin.gyr[half:], shin.acc[half:])
    np.testing.assert_allclose(np.vstack([head, tail]), whole, atol=1e-12)


def test_sacrum_sensor_reports_pelvis_motion_only_when_the_pelvis_moves() -> None:
    from firmware_bridge.simulator.exercises import Compensation

    sim = simulate_session(seed=12, reps=3, with_pelvis_sensor=True,
                           compensations=(Compensation("pelvis_motion", rep=2, change_deg=10.0),))
    _, angles, _ = analyse_recording(sim.recording)
    (comp,) = sim.truth_compensations
    during = (angles.t > comp.start) & (angles.t < comp.end)
    outside = (angles.t > sim.truth_reps[0].start) & (angles.t < sim.truth_reps[0].end)
    assert np.nanmax(angles.pelvis_motion_deg[during]) == pytest.approx(10.0, abs=1.5)
    assert np.nanmax(angles.pelvis_motion_deg[outside]) < 1.0
    without = simulate_session(seed=12, reps=1)
    _, plain, _ = analyse_recording(without.recording)
    assert np.isnan(plain.pelvis_motion_deg).all()


@pytest.mark.parametrize(("seed", "kind", "pelvis"), [(1000, CompensationKind.PELVIS_MOTION, True),
                                                   (1026, CompensationKind.THIGH_DRIFT, False)])
def test_a_long_stretch_after_a_compensated_one_keeps_its_time_at_target(
        seed: int, kind: CompensationKind, pelvis: bool) -> None:
    """A 90/90 stretch, two sets of one long hold (2-3 min), the first with a compensation, realistic
    sensor errors: the long axes keep being refitted through the holds, so the second set's time at
    target stays within 3 s of the truth. (Refitting every 10 s instead of every second put it off by 6
    and 11 s in these two sessions, refitting as the evidence grew by 16 and 23 s.)"""
    ex = get_exercise("ninety-ninety-stretch")
    sim = simulate_session(seed=seed, side=Side.LEFT, exercise=ex.id, reps=ex.prescription.reps,
                           sets=ex.prescription.sets, errors=ImuErrorModel(), with_pelvis_sensor=pelvis,
                           compensations=(Compensation(kind, 1),))
    pipe = SessionPipeline(ex, sim.side, sim.recording.sample_rate_hz)
    pipe.feed(merged_events(sim.recording))
    pipe.finish()
    sets = pipe.engine.sets
    assert len(sets) == 2
    second = sets[1]
    truth = time_at_or_beyond_s(sim.script, second.start, second.end, abs(ex.target_deg), pipe.engine.direction)
    assert truth > 100.0
    assert second.time_at_target_s == pytest.approx(truth, abs=3.0)
