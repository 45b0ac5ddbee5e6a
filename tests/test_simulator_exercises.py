"""The simulator plays every exercise of the catalog: postures that match the calibration's start postures,
knee swings about the hinge, movements in the direction and range of the exercise's measure, stretches
with fidgets, 90/90 transitions, sets, and the calibration working on all of it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from sim_sessions import angle_between_deg, ideal_session, phase

from calibration.calibrate import PhaseData, calibrate, still_phases
from firmware_bridge.simulator import (
    EXERCISES,
    Compensation,
    CompensationKind,
    ImuErrorModel,
    LegAngles,
    MotionKind,
    Posture,
    SimulatedSession,
    exercise_profile,
    leg_kinematics,
    simulate_session,
    write_truth,
)
from firmware_bridge.simulator.exercise_model import CHANGE_DEG, FIDGET_MARGIN_S, SET_REST_S
from firmware_bridge.simulator.postures import Span
from imu_core import quaternion as quat
from imu_core.filters import VqfFilter, VqfParams
from imu_core.frames import GRAVITY_M_S2, Segment, Side
from imu_core.types import MarkerLabel
from tracker.exercise_model import ExerciseKind, Measure
from tracker.exercises import CATALOG, get_exercise

pytestmark = pytest.mark.timeout(120)

NEW = ("seated-ir-band", "seated-ir-test", "ninety-ninety-stretch", "ninety-ninety-transitions",
       "supine-ir-stretch", "wall-ir-stretch", "sitting-knee-drop", "figure-four-stretch", "pigeon-stretch",
       "straight-leg-roll", "swivel-chair-ir")
STRETCHES = tuple(e for e in NEW if exercise_profile(e).kind is MotionKind.STRETCH)
PLANTED = tuple(e for e in NEW if exercise_profile(e).planted_foot)
SIDES = (Side.LEFT, Side.RIGHT)
Y = np.array([0.0, 1.0, 0.0])
UP = np.array([0.0, 0.0, 1.0])

PATHS = {"hip_flexion": "hip_flexion_path", "hip_adduction": "hip_adduction_path", "knee_flexion": "knee_path",
         "pelvis_tilt": "pelvis_tilt_path", "pelvis_obliquity": "pelvis_obliquity_path",
         "pelvis_rotation": "pelvis_rotation_path"}
"""Compensation component -> the script's path of that angle."""




def half_width(span: Span) -> float:
    return 0.5 * (span.high - span.low)


def posture_tolerance_deg(exercise: str) -> dict[Segment, float]:
    """How far the drawn posture can put a segment's up direction from the nominal start posture: the
    joint angles' half ranges add up at most (plus 1.5 deg for rounding the nominal vectors)."""
    spec = exercise_profile(exercise).posture
    thigh = sum(half_width(s) for s in (spec.pelvis_roll_deg, spec.pelvis_pitch_deg, spec.hip_flexion_deg,
                                        spec.hip_adduction_deg, spec.hip_ir_rest_deg)) + 1.5
    return {Segment.THIGH: thigh, Segment.SHIN: thigh + half_width(spec.knee_flexion_deg)}


# --- the catalog ---------------------------------------------------------------------------------------


def test_every_catalog_exercise_is_played_as_the_catalog_says() -> None:
    assert set(EXERCISES) == set(CATALOG)
    for exercise_id, profile in EXERCISES.items():
        exercise = get_exercise(exercise_id)
        assert profile.kind.value == exercise.kind.value, exercise_id
        if exercise.kind is ExerciseKind.STRETCH:
            assert profile.target_deg == exercise.default_target_deg, exercise_id
            assert profile.peak_ir_deg == (exercise.default_target_deg + 5.0, exercise.default_target_deg + 15.0)
            assert profile.direction == exercise.measure.sign()
        if exercise_id in NEW:
            assert profile.default_reps == exercise.prescription.reps, exercise_id
        if exercise.kind is ExerciseKind.TRANSITIONS:
            assert profile.direction == -1.0 and profile.target_deg == exercise.default_target_deg


# --- timeline, stillness, calibration posture ------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", NEW)
def test_markers_in_order_and_still_phase_matches_the_start_posture(exercise: str, side: Side) -> None:
    sim = ideal_session(exercise, side)
    rec = sim.recording
    assert rec.exercise == exercise
    assert [m.label for m in rec.markers] == [MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING,
                                               MarkerLabel.EXERCISE_START, MarkerLabel.EXERCISE_END]
    times = [m.t for m in rec.markers]
    assert times == sorted(times)
    assert len(sim.truth_reps) == exercise_profile(exercise).default_reps
    static = (sim.truth.t >= times[0]) & (sim.truth.t < times[1])
    assert np.abs(sim.truth.hip_ir_deg[static]).max() < 0.5
    assert abs(sim.truth.hip_ir_deg[static].mean()) < 0.01
    posture = get_exercise(exercise).posture
    tolerance = posture_tolerance_deg(exercise)
    for seg in (Segment.THIGH, Segment.SHIN):
        sel = phase(sim, seg, MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING)
        assert np.linalg.norm(rec.streams[seg].gyr[sel], axis=1).max() < 0.02  # rad/s: sway only
        acc = quat.rotate(sim.mounts[seg].q, rec.streams[seg].acc[sel])  # segment axes
        assert np.abs(np.linalg.norm(acc, axis=1) - GRAVITY_M_S2).max() < 0.01
        expected = posture.up_segment(seg.value, side)
        assert np.max(angle_between_deg(acc, expected)) < tolerance[seg], seg


@pytest.mark.parametrize("exercise", NEW)
def test_nominal_posture_gives_the_start_posture_up_vectors(exercise: str) -> None:
    """The middle of every drawn range puts gravity where the calibration's start posture says."""
    spec = exercise_profile(exercise).posture

    def mid(span: Span) -> float:
        return 0.5 * (span.low + span.high)

    middle = Posture(spec.name, mid(spec.pelvis_roll_deg), mid(spec.pelvis_pitch_deg), spec.pelvis_height_m,
                     spec.pelvis_pivot_m, mid(spec.hip_flexion_deg), mid(spec.hip_adduction_deg),
                     mid(spec.hip_ir_rest_deg), mid(spec.knee_flexion_deg))
    posture = get_exercise(exercise).posture
    for side in SIDES:
        angles = LegAngles.of(middle.hip_flexion_deg, middle.hip_adduction_deg, middle.hip_ir_rest_deg,
                              middle.knee_flexion_deg)
        leg = leg_kinematics(angles, side, middle.pelvis_pose(0.3, side))
        for seg, q in ((Segment.THIGH, leg.q_thigh), (Segment.SHIN, leg.q_shin)):
            up = quat.rotate(quat.conjugate(q), UP)
            assert angle_between_deg(up, posture.up_segment(seg.value, side)) < 2.5, (seg, side)


@pytest.mark.parametrize("exercise", NEW)
def test_knee_swings_turn_the_shin_about_the_hinge_in_the_posture_direction(exercise: str) -> None:
    sim = ideal_session(exercise, Side.RIGHT)
    profile = exercise_profile(exercise)
    posture = get_exercise(exercise).posture
    for seg in (Segment.THIGH, Segment.SHIN):
        sel = phase(sim, seg, MarkerLabel.CALIBRATION_SWING, MarkerLabel.EXERCISE_START)
        gyr = quat.rotate(sim.mounts[seg].q, sim.recording.streams[seg].gyr[sel])  # segment axes
        rate = np.linalg.norm(gyr, axis=1)
        if seg is Segment.THIGH and profile.swing_hip_flexion_ratio == 0.0:
            assert rate.max() < 0.03
            continue
        fast = rate > 0.5
        assert rate.max() > 0.8
        assert np.max(np.linalg.norm(gyr[fast][:, [0, 2]], axis=1) / rate[fast]) < 0.025  # about the hinge
    truth = sim.truth
    t_swing, t_start = sim.recording.markers[1].t, sim.recording.markers[2].t
    during = (truth.t >= t_swing) & (truth.t < t_start)
    knee = truth.knee_flexion_deg[during] - sim.script.posture.knee_flexion_deg
    extreme = knee.max() if posture.swing_direction > 0 else knee.min()
    assert 20.0 <= posture.swing_direction * extreme <= 60.0
    if profile.swing_hip_flexion_ratio:  # heel slides: the hip flexes half as much, the heel stays down
        hip = truth.hip_flexion_deg[during] - sim.script.posture.hip_flexion_deg
        np.testing.assert_allclose(hip, profile.swing_hip_flexion_ratio * knee, atol=0.5)
        leg = leg_kinematics(sim.script.angles(truth.t[during]), sim.side, sim.pelvis, sim.geometry)
        assert np.ptp(leg.ankle_centre_m[:, 2]) < 0.015


def calibrate_session(sim: SimulatedSession) -> tuple[float, float, float]:
    """Calibrate from the still phase and the swings as the session pipeline does; (score, shin mount
    error, hinge error) in deg."""
    rec = sim.recording
    t_static, t_swing, t_start = (rec.marker_time(label) for label in (
        MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING, MarkerLabel.EXERCISE_START))
    assert t_static is not None and t_swing is not None and t_start is not None
    data = {}
    for seg in (Segment.THIGH, Segment.SHIN):
        part = rec.streams[seg].slice_time(0.0, t_start)
        q = VqfFilter(rec.sample_rate_hz, params=VqfParams(rest_bias_estimation=False)).update(part.gyr, part.acc)
        data[seg] = PhaseData(part, q)
    cal = calibrate(get_exercise(sim.exercise).posture, sim.side, data, still_phases(data, t_static, t_swing),
                    t_swing, t_start)
    shin_true = sim.mounts[Segment.SHIN].q
    mount_err = float(np.rad2deg(quat.angle(quat.multiply(quat.conjugate(cal.sensors_mount("shin")), shin_true))))
    hinge_true = quat.rotate(quat.conjugate(shin_true), Y)
    return cal.score, mount_err, float(angle_between_deg(cal.hinge_in_shin_sensor, hinge_true))


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", NEW)
def test_calibration_finds_the_hinge_and_the_shin_mount(exercise: str, side: Side) -> None:
    sim = simulate_session(seed=23, side=side, exercise=exercise, reps=1, max_seconds=20.0)
    score, mount_err, hinge_err = calibrate_session(sim)
    assert score > 0.6
    assert hinge_err < 1.0
    if not get_exercise(exercise).posture.hinge_is_up("shin"):  # else its roll is learned later, online
        assert mount_err < posture_tolerance_deg(exercise)[Segment.SHIN]


# --- the movements --------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", NEW)
def test_reps_go_the_measure_s_way_within_the_exercise_range(exercise: str, side: Side) -> None:
    sim = ideal_session(exercise, side)
    profile = exercise_profile(exercise)
    catalog = get_exercise(exercise)
    start, end = sim.recording.markers[2].t, sim.recording.markers[3].t
    previous_end = start
    for rep in sim.truth_reps:
        assert previous_end <= rep.start < rep.peak < rep.end <= end
        size = profile.direction * rep.peak_ir_deg
        assert profile.peak_ir_deg[0] - 0.3 <= size <= profile.peak_ir_deg[1] + 0.3
        assert profile.hold_s[0] <= rep.hold_s <= profile.hold_s[1]
        top = (sim.truth.t > rep.start + 0.3 * (rep.peak - rep.start)) & (sim.truth.t < rep.peak)
        assert np.all(profile.direction * sim.truth.hip_ir_deg[top] > 0.0)
        previous_end = rep.end
    if catalog.kind is ExerciseKind.STRETCH:  # 5-15 deg beyond the target, in the measure
        level = catalog.measure.sign() * np.array([r.peak_ir_deg for r in sim.truth_reps])
        assert np.all(level >= catalog.default_target_deg + 5.0 - 0.3)
        assert np.all(level <= catalog.default_target_deg + 15.0 + 0.3)
    if catalog.measure is Measure.HIP_ER:
        assert all(r.peak_ir_deg < 0.0 for r in sim.truth_reps)


@pytest.mark.parametrize("exercise", ["figure-four-stretch", "pigeon-stretch"])
def test_cross_legged_stretches_flex_abduct_and_turn_out(exercise: str) -> None:
    sim = ideal_session(exercise, Side.LEFT)
    posture = sim.script.posture
    for rep in sim.truth_reps:
        k = int(np.argmin(np.abs(sim.truth.t - rep.peak)))
        assert 10.0 - 0.5 <= sim.truth.hip_flexion_deg[k] - posture.hip_flexion_deg <= 20.0 + 0.5
        assert 15.0 - 0.5 <= -(sim.truth.hip_adduction_deg[k] - posture.hip_adduction_deg) <= 25.0 + 0.5
        assert -2.0 <= sim.truth.knee_flexion_deg[k] - posture.knee_flexion_deg <= 17.0
    assert np.all(sim.truth.pelvis_matrix()[:, 1:] == 0.0)  # the pelvis stays on the chair


def test_ninety_ninety_transitions_swing_between_back_and_front() -> None:
    sim = ideal_session("ninety-ninety-transitions", Side.LEFT)
    posture = sim.script.posture
    assert len(sim.truth_reps) == 12
    for rep in sim.truth_reps:
        k = int(np.argmin(np.abs(sim.truth.t - rep.peak)))
        assert 55.0 - 0.3 <= -rep.peak_ir_deg <= 70.0 + 0.3
        assert 76.0 <= sim.truth.hip_flexion_deg[k] <= 91.0  # front position
        assert 29.0 <= -sim.truth.hip_adduction_deg[k] <= 45.0
        move = rep.peak - rep.start
        assert 1.5 <= move <= 3.0 + 1.0
        back = int(np.argmin(np.abs(sim.truth.t - rep.end)))  # back where it started, within a few deg
        assert -0.3 <= sim.truth.hip_ir_deg[back] <= 6.3
        assert sim.truth.hip_flexion_deg[back] == pytest.approx(posture.hip_flexion_deg, abs=0.3)
    fast = simulate_session(seed=7, exercise="ninety-ninety-transitions", reps=3, errors=ImuErrorModel.ideal(),
                            compensations=(Compensation(CompensationKind.TOO_FAST, 2),))
    rep2 = fast.truth_reps[1]
    assert rep2.hold_s == 0.0 and rep2.end - rep2.start <= 1.0
    with pytest.raises(ValueError, match="name its component"):
        simulate_session(exercise="ninety-ninety-transitions", compensations=(
            Compensation(CompensationKind.THIGH_DRIFT, 1),))


@pytest.mark.parametrize("exercise", PLANTED)
def test_planted_foot_stays_while_the_knee_falls_in(exercise: str) -> None:
    for side in SIDES:
        sim = ideal_session(exercise, side)
        t_start = sim.recording.markers[2].t
        t = sim.truth.t[sim.truth.t >= t_start]
        script, posture = sim.script, sim.script.posture
        assert script.coupling is not None
        d_flexion, d_adduction = script.coupling(script.ir_path(t))
        # the commanded motion without sway and the knee's small per-rep changes
        commanded = LegAngles.of(posture.hip_flexion_deg + d_flexion, posture.hip_adduction_deg + d_adduction,
                                 posture.hip_ir_rest_deg + script.ir_path(t), posture.knee_flexion_deg)
        leg = leg_kinematics(commanded, side, sim.pelvis, sim.geometry)
        assert np.linalg.norm(leg.ankle_centre_m - leg.ankle_centre_m[0], axis=1).max() < 0.001
        actual = leg_kinematics(sim.script.angles(t), side, sim.pelvis, sim.geometry)
        assert np.linalg.norm(actual.ankle_centre_m - actual.ankle_centre_m[0], axis=1).max() < 0.02
        peak = sim.truth_reps[0].peak
        at = leg_kinematics(sim.script.angles(np.array([t_start, peak])), side, sim.pelvis, sim.geometry)
        inward = quat.rotate(quat.conjugate(sim.pelvis.q_pelvis), at.knee_centre_m[1] - at.knee_centre_m[0])
        medial = -1.0 if side is Side.LEFT else 1.0
        peak_ir = np.deg2rad(sim.truth_reps[0].peak_ir_deg)
        assert inward[1] * medial > 0.2 * sim.geometry.femur_length_m * np.sin(peak_ir)


def test_swivel_chair_foot_swings_outward_on_the_seat() -> None:
    sim = ideal_session("swivel-chair-ir", Side.RIGHT)
    rep = sim.truth_reps[0]
    leg = leg_kinematics(sim.script.angles(np.array([rep.start, rep.peak])), sim.side, sim.pelvis, sim.geometry)
    move = quat.rotate(quat.conjugate(sim.pelvis.q_pelvis), leg.ankle_centre_m[1] - leg.ankle_centre_m[0])
    assert move[1] < -0.9 * sim.geometry.tibia_length_m * np.sin(np.deg2rad(rep.peak_ir_deg))  # right leg: out
    assert abs(move[2]) < 0.02  # along the seat
    np.testing.assert_allclose(leg.knee_centre_m[1], leg.knee_centre_m[0], atol=3e-3)  # sway only


# --- stretches ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", STRETCHES)
def test_stretch_holds_with_fidgets_recorded(exercise: str, tmp_path: Path) -> None:
    sim = simulate_session(seed=5, exercise=exercise, sets=3, errors=ImuErrorModel.ideal())
    profile = exercise_profile(exercise)
    assert len(sim.truth_reps) == 3 and len(sim.script.sets) == 3
    assert sim.truth_fidgets, "three holds of 0-3 fidgets each: this seed has some"
    for f in sim.truth_fidgets:
        rep = sim.truth_reps[f.rep - 1]
        assert rep.start + FIDGET_MARGIN_S < f.start < f.end < rep.end - FIDGET_MARGIN_S
        assert 1.0 <= f.end - f.start <= 2.0
        assert f.dip_deg <= 12.0
        middle = float(sim.script.hip_ir_deg(np.array([0.5 * (f.start + f.end)]))[0])
        assert profile.direction * (rep.peak_ir_deg - middle) == pytest.approx(f.dip_deg, abs=0.6)
    t = sim.truth.t
    for rep in sim.truth_reps:  # at its level for the hold, but for the fidgets
        fidgets = [f for f in sim.truth_fidgets if rep.start < f.start < rep.end]
        plateau = (t > rep.start) & (t < rep.end)
        for f in fidgets:
            plateau &= (t < f.start) | (t > f.end)
        at_level = plateau & (np.abs(sim.truth.hip_ir_deg - rep.peak_ir_deg) < 0.6)
        assert np.sum(at_level) * 0.01 >= rep.hold_s - 2.0 * len(fidgets) - 0.5
    write_truth(sim, tmp_path)
    doc = json.loads((tmp_path / "truth.json").read_text())
    assert [(f["rep"], f["start"], f["end"]) for f in doc["fidgets"]] == [
        (f.rep, f.start, f.end) for f in sim.truth_fidgets]
    assert len(doc["sets"]) == 3
    with pytest.raises(ValueError, match="too_fast"):
        simulate_session(exercise=exercise, compensations=(Compensation(CompensationKind.TOO_FAST, 1),))


# --- compensations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", NEW)
def test_usual_compensations_move_their_angle_only(exercise: str) -> None:
    profile = exercise_profile(exercise)
    reps = 2 if profile.kind is MotionKind.STRETCH else 3
    base = simulate_session(seed=3, exercise=exercise, reps=reps, errors=ImuErrorModel.ideal(),
                            with_pelvis_sensor=True)
    for kind, usual in profile.usual_compensations.items():
        sim = simulate_session(seed=3, exercise=exercise, reps=reps, errors=ImuErrorModel.ideal(),
                               with_pelvis_sensor=True, compensations=(Compensation(kind, 2),))
        [comp] = sim.truth_compensations
        assert comp.change_deg is not None and comp.component == usual.component
        assert CHANGE_DEG[kind].contains(abs(comp.change_deg)) and np.sign(comp.change_deg) == usual.sign
        assert sim.truth_reps == base.truth_reps
        np.testing.assert_allclose(sim.truth.hip_ir_deg, base.truth.hip_ir_deg, atol=1e-12)
        deviation = getattr(sim.truth, usual.component + "_deg") - getattr(base.truth, usual.component + "_deg")
        path = PATHS[usual.component]
        rep2 = sim.truth_reps[1]
        grid = np.arange(rep2.start, rep2.end, 1e-3)
        top = grid[np.argmax(profile.direction * sim.script.ir_path(grid))]  # within the hold
        change = getattr(sim.script, path)(top) - getattr(base.script, path)(top)
        assert change == pytest.approx(comp.change_deg, abs=1e-4)
        outside = (sim.truth.t < comp.start) | (sim.truth.t > comp.end)
        assert np.abs(deviation[outside]).max() < 1e-9
        pelvis_moving = np.linalg.norm(sim.recording.streams[Segment.PELVIS].gyr, axis=1) > 1e-6
        assert pelvis_moving.any() == (kind is CompensationKind.PELVIS_MOTION)
    if profile.allows_too_fast:
        sim = simulate_session(seed=3, exercise=exercise, reps=reps, errors=ImuErrorModel.ideal(),
                               compensations=(Compensation(CompensationKind.TOO_FAST, 2),))
        assert sim.truth_reps[1].peak - sim.truth_reps[1].start <= 0.55


# --- sets, determinism -----------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", ["seated-ir-band", "sitting-knee-drop", "ninety-ninety-transitions"])
def test_sets_repeat_the_exercise_phase(exercise: str) -> None:
    comps = (Compensation(CompensationKind.TOO_FAST, 5),)
    sim = simulate_session(seed=9, exercise=exercise, reps=3, sets=3, errors=ImuErrorModel.ideal(),
                           compensations=comps)
    labels = [m.label for m in sim.recording.markers]
    assert labels == [MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING] + [
        MarkerLabel.EXERCISE_START, MarkerLabel.EXERCISE_END] * 3
    times = [m.t for m in sim.recording.markers]
    assert times == sorted(times)
    spans = list(zip(times[2::2], times[3::2], strict=True))
    assert spans == list(sim.script.sets)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert SET_REST_S.contains(start - end, tol=1e-9)
    assert len(sim.truth_reps) == 9
    for k, (start, end) in enumerate(spans):
        assert all(start < r.start and r.end < end for r in sim.truth_reps[3 * k:3 * k + 3])
    assert [(c.kind, c.rep) for c in sim.truth_compensations] == [("too_fast", 5)]
    assert sim.truth_reps[4].hold_s == 0.0
    capped = simulate_session(seed=9, exercise=exercise, reps=3, sets=3, errors=ImuErrorModel.ideal(),
                              max_seconds=spans[1][0] + 3.0 + sim.truth_reps[3].end - sim.truth_reps[3].start)
    assert len(capped.truth_reps) == 4 and len(capped.script.sets) == 2
    assert [m.label for m in capped.recording.markers][-1] == MarkerLabel.EXERCISE_END
    with pytest.raises(ValueError, match="sets"):
        simulate_session(exercise=exercise, sets=0)


@pytest.mark.parametrize("exercise", ["straight-leg-roll", "supine-ir-stretch", "ninety-ninety-transitions"])
def test_deterministic_by_seed(exercise: str) -> None:
    profile = exercise_profile(exercise)
    kind = next(iter(profile.usual_compensations), CompensationKind.TOO_FAST)
    comps = (Compensation(kind, 1),)
    a, b, c = (simulate_session(seed=s, exercise=exercise, reps=2, sets=2, compensations=comps,
                                max_seconds=200.0) for s in (41, 41, 42))
    for seg in (Segment.THIGH, Segment.SHIN):
        for name in ("t", "acc", "gyr", "mag"):
            np.testing.assert_array_equal(getattr(a.recording.streams[seg], name),
                                          getattr(b.recording.streams[seg], name))
    assert a.truth_reps == b.truth_reps and a.truth_fidgets == b.truth_fidgets
    assert a.recording.markers == b.recording.markers
    np.testing.assert_array_equal(a.truth.as_matrix(), b.truth.as_matrix())
    assert a.truth_reps != c.truth_reps
