"""The simulator's first exercise postures (seated, prone, side-lying, 90/90), injected compensations and
the optional pelvis (sacrum) sensor. The rest of the catalog: test_simulator_exercises.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sim_sessions import angle_between_deg, ideal_session, phase

from firmware_bridge.simulator import (
    Compensation,
    CompensationKind,
    ImuErrorModel,
    SimulatedSession,
    TrueCompensation,
    exercise_profile,
    leg_kinematics,
    simulate_session,
    write_truth,
)
from firmware_bridge.simulator.exercises import CHANGE_DEG, COMPONENTS
from imu_core import quaternion as quat
from imu_core.frames import GRAVITY_M_S2, Segment, Side, ir_sign
from imu_core.types import MarkerLabel

pytestmark = pytest.mark.timeout(60)

X = np.array([1.0, 0.0, 0.0])
Y = np.array([0.0, 1.0, 0.0])
Z = np.array([0.0, 0.0, 1.0])
UP = Z
SIDES = (Side.LEFT, Side.RIGHT)
ORIGINAL = ("seated-ir", "prone-ir-test", "side-lying-ir", "ninety-ninety-foot-lift")
"""The exercises these tests were written for (their expectations are spelled out per exercise)."""
LYING_AND_FLOOR = ("prone-ir-test", "side-lying-ir", "ninety-ninety-foot-lift")
ANGLE_KINDS = (CompensationKind.THIGH_DRIFT, CompensationKind.KNEE_FLEXION_CHANGE, CompensationKind.PELVIS_MOTION)


def lateral(side: Side) -> np.ndarray:
    """The lateral direction of this leg in segment (and pelvis) axes."""
    return Y if side is Side.LEFT else -Y




def segment_up(sim: SimulatedSession, seg: Segment, sel: np.ndarray) -> np.ndarray:
    """Specific force of the selected samples in segment axes (points up when still)."""
    return np.asarray(quat.rotate(sim.mounts[seg].q, sim.recording.streams[seg].acc[sel]))


def ankle_and_knee(sim: SimulatedSession, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    leg = leg_kinematics(sim.script.angles(t), sim.side, sim.pelvis_pose(t), sim.geometry)
    return leg.ankle_centre_m, leg.knee_centre_m


# --- timeline, stillness, calibration posture ------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", ORIGINAL)
def test_markers_in_order_and_still_phase_is_still(exercise: str, side: Side) -> None:
    sim = ideal_session(exercise, side)
    rec = sim.recording
    assert rec.exercise == exercise == sim.exercise
    assert set(rec.streams) == {Segment.THIGH, Segment.SHIN}
    assert [m.label for m in rec.markers] == [MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING,
                                               MarkerLabel.EXERCISE_START, MarkerLabel.EXERCISE_END]
    times = [m.t for m in rec.markers]
    assert times == sorted(times)
    assert times[1] - times[0] == pytest.approx(3.0)
    assert len(sim.truth_reps) == exercise_profile(exercise).default_reps
    assert sim.truth_compensations == []
    for seg in (Segment.THIGH, Segment.SHIN):
        sel = phase(sim, seg, MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING)
        assert np.linalg.norm(rec.streams[seg].gyr[sel], axis=1).max() < 0.02  # rad/s: sway only
    truth = sim.truth
    static = (truth.t >= times[0]) & (truth.t < times[1])
    assert np.abs(truth.hip_ir_deg[static]).max() < 0.5
    assert abs(truth.hip_ir_deg[static].mean()) < 0.01


def expected_up(exercise: str, side: Side) -> dict[Segment, tuple[np.ndarray, float]]:
    """Segment axis that points up in the still phase, and how far off it may be (deg)."""
    posture = exercise_profile(exercise).posture
    if exercise == "seated-ir":  # thigh's anterior axis up, shin hanging (proximal axis up)
        return {Segment.THIGH: (X, 0.3), Segment.SHIN: (Z, 0.3)}
    if exercise == "prone-ir-test":  # thigh's anterior axis DOWN, shin pointing up (proximal axis DOWN)
        return {Segment.THIGH: (-X, 0.3), Segment.SHIN: (-Z, 0.3)}
    if exercise == "side-lying-ir":  # top leg: lateral axis up, tilted by the adduction that joins the knees
        tol = posture.hip_adduction_deg.high + 0.3
        return {Segment.THIGH: (lateral(side), tol), Segment.SHIN: (lateral(side), tol)}
    # 90/90 back leg: lying on its medial side, so its lateral axis points (roughly) up
    return {Segment.THIGH: (lateral(side), 25.0), Segment.SHIN: (lateral(side), 25.0)}


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", ORIGINAL)
def test_still_phase_gravity_along_the_posture_axes(exercise: str, side: Side) -> None:
    sim = ideal_session(exercise, side)
    ups = {}
    for seg, (axis, tol) in expected_up(exercise, side).items():
        sel = phase(sim, seg, MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING)
        acc = segment_up(sim, seg, sel)
        assert np.abs(np.linalg.norm(acc, axis=1) - GRAVITY_M_S2).max() < 0.01
        assert np.max(angle_between_deg(acc, axis)) < tol, seg
        ups[seg] = acc.mean(axis=0) / np.linalg.norm(acc.mean(axis=0))
    if exercise == "side-lying-ir":
        # the shin lies horizontal, the thigh only dips by the adduction
        assert abs(ups[Segment.SHIN] @ Z) < np.sin(np.deg2rad(1.0))
        assert abs(ups[Segment.THIGH] @ Z) < np.sin(np.deg2rad(11.0))
    if exercise == "ninety-ninety-foot-lift":
        # back thigh down on the floor (10-20 deg below horizontal), shin roughly flat on it
        femur_below_horizontal = np.rad2deg(np.arcsin(ups[Segment.THIGH] @ Z))
        assert 8.0 < femur_below_horizontal < 22.0
        assert abs(ups[Segment.SHIN] @ Z) < np.sin(np.deg2rad(12.0))


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", ORIGINAL)
def test_knee_swings_turn_the_shin_about_the_hinge_only(exercise: str, side: Side) -> None:
    sim = ideal_session(exercise, side)
    profile = exercise_profile(exercise)
    sel_thigh = phase(sim, Segment.THIGH, MarkerLabel.CALIBRATION_SWING, MarkerLabel.EXERCISE_START)
    assert np.linalg.norm(sim.recording.streams[Segment.THIGH].gyr[sel_thigh], axis=1).max() < 0.03
    sel = phase(sim, Segment.SHIN, MarkerLabel.CALIBRATION_SWING, MarkerLabel.EXERCISE_START)
    gyr_sensor = sim.recording.streams[Segment.SHIN].gyr[sel]
    gyr = quat.rotate(sim.mounts[Segment.SHIN].q, gyr_sensor)  # shin axes
    rate = np.linalg.norm(gyr, axis=1)
    fast = rate > 0.5
    assert rate.max() > 1.0
    assert np.max(np.linalg.norm(gyr[fast][:, [0, 2]], axis=1) / rate[fast]) < 0.02  # about y, the hinge
    q_sensor, _ = sim.sensor_pose(Segment.SHIN, sim.true_sample_t[Segment.SHIN][sel])
    vertical_share = np.abs(quat.rotate(q_sensor[fast], gyr_sensor[fast]) @ UP) / rate[fast]
    if exercise == "side-lying-ir":
        assert vertical_share.min() > np.cos(np.deg2rad(11.0))  # hinge vertical: swings in the horizontal
    elif exercise == "ninety-ninety-foot-lift":
        assert vertical_share.min() > np.cos(np.deg2rad(25.0))
    else:
        assert vertical_share.max() < 0.02  # hinge horizontal
    # swing amplitude as the exercise says, from the 90 deg start
    truth = sim.truth
    t_swing, t_start = sim.recording.markers[1].t, sim.recording.markers[2].t
    knee = truth.knee_flexion_deg[(truth.t >= t_swing) & (truth.t < t_start)]
    extreme = knee.min() if profile.swing_knee_deg[0] < 90.0 else knee.max()
    assert profile.swing_knee_deg[0] - 0.3 <= extreme <= profile.swing_knee_deg[1] + 0.3
    assert 20.0 <= abs(extreme - 90.0) <= 60.0
    if exercise == "prone-ir-test":  # extending the knee lowers the foot toward the table
        ankle, knee_centre = ankle_and_knee(sim, truth.t[(truth.t >= t_swing) & (truth.t < t_start)])
        height = ankle[:, 2] - knee_centre[:, 2]
        assert height.max() == pytest.approx(sim.geometry.tibia_length_m, abs=0.005)
        assert height.min() < sim.geometry.tibia_length_m * np.sin(np.deg2rad(61.0))


# --- reps --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", ORIGINAL)
def test_reps_positive_ir_within_the_exercise_range(exercise: str, side: Side) -> None:
    sim = ideal_session(exercise, side)
    profile = exercise_profile(exercise)
    start, end = sim.recording.markers[2].t, sim.recording.markers[3].t
    previous_end = start
    for rep in sim.truth_reps:
        assert previous_end <= rep.start < rep.peak < rep.end <= end
        assert profile.peak_ir_deg[0] - 0.3 <= rep.peak_ir_deg <= profile.peak_ir_deg[1] + 0.3
        assert profile.hold_s[0] <= rep.hold_s <= profile.hold_s[1]
        in_rep = (sim.truth.t > rep.start + 0.3) & (sim.truth.t < rep.end - 0.3)
        assert sim.truth.hip_ir_deg[in_rep].min() > 0.0
        previous_end = rep.end
    # the anatomical IR includes the posture's resting IR; the truth is relative to it
    rest = sim.script.posture.hip_ir_rest_deg
    t_static = np.array([sim.recording.markers[0].t + 1.5])
    assert sim.script.angles(t_static).hip_ir_deg[0] == pytest.approx(rest, abs=0.1)


@pytest.mark.parametrize("side", SIDES)
def test_prone_foot_falls_outward_and_shin_tilt_equals_ir(side: Side) -> None:
    sim = ideal_session("prone-ir-test", side)
    t_rest = np.array([sim.recording.markers[0].t + 1.5])
    peaks = np.array([r.peak for r in sim.truth_reps])
    ankle, _ = ankle_and_knee(sim, np.concatenate([t_rest, peaks]))
    move = quat.rotate(quat.conjugate(sim.pelvis.q_pelvis), ankle[1:] - ankle[0])  # pelvis axes
    for rep, m in zip(sim.truth_reps, move, strict=True):
        expected = sim.geometry.tibia_length_m * np.sin(np.deg2rad(rep.peak_ir_deg))
        assert m @ lateral(side) == pytest.approx(expected, rel=0.03)  # outward
    assert np.all(ankle[1:, 2] < ankle[0, 2])  # and down
    # clinical convention: the shin's angle from vertical is the IR (the shin's long axis pointed down)
    shin_axis = quat.rotate(sim.segment_orientation(Segment.SHIN, peaks), Z)
    tilt = angle_between_deg(shin_axis, -UP)
    np.testing.assert_allclose(tilt, [r.peak_ir_deg for r in sim.truth_reps], atol=0.3)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", ["side-lying-ir", "ninety-ninety-foot-lift"])
def test_ir_lifts_the_foot_and_the_knee_stays(exercise: str, side: Side) -> None:
    sim = ideal_session(exercise, side)
    t_rest = np.array([sim.recording.markers[0].t + 1.5])
    peaks = np.array([r.peak for r in sim.truth_reps])
    ankle, knee = ankle_and_knee(sim, np.concatenate([t_rest, peaks]))
    lift = ankle[1:, 2] - ankle[0, 2]
    for rep, up in zip(sim.truth_reps, lift, strict=True):
        assert up > 0.7 * sim.geometry.tibia_length_m * np.sin(np.deg2rad(rep.peak_ir_deg))
    assert np.abs(knee - knee[0]).max() < 0.01


# --- compensations -------------------------------------------------------------------------------------


def compensated(exercise: str, side: Side, *comps: Compensation) -> SimulatedSession:
    return simulate_session(seed=3, side=side, exercise=exercise, reps=3, errors=ImuErrorModel.ideal(),
                            compensations=comps, with_pelvis_sensor=True)


def at_hold(sim: SimulatedSession, rep: int) -> np.ndarray:
    """Truth-grid mask of a rep's hold: where the commanded IR is on its plateau (about its top when the
    rep has no hold)."""
    r = sim.truth_reps[rep - 1]
    t = sim.truth.t
    commanded = sim.script.ir_path(t)
    in_rep = (t >= r.start) & (t <= r.end)
    top = commanded[in_rep].max()
    mask = in_rep & (commanded >= top - (1e-9 if r.hold_s > 0.0 else 0.1))
    assert mask.sum() >= 1
    return np.asarray(mask)


@pytest.mark.parametrize("kind", ANGLE_KINDS)
@pytest.mark.parametrize("exercise", ORIGINAL)
def test_angle_compensation_in_truth_and_in_the_angle(exercise: str, kind: CompensationKind) -> None:
    side = Side.RIGHT
    base = compensated(exercise, side)
    sim = compensated(exercise, side, Compensation(kind, 2))
    usual = exercise_profile(exercise).usual_compensations[kind]
    [comp] = sim.truth_compensations
    rep2 = sim.truth_reps[1]
    assert (comp.kind, comp.rep, comp.component) == (kind.value, 2, usual.component)
    assert (comp.start, comp.end) == (rep2.start, rep2.end)
    assert comp.change_deg is not None
    assert CHANGE_DEG[kind].contains(abs(comp.change_deg)) and np.sign(comp.change_deg) == usual.sign
    assert sim.truth_reps == base.truth_reps  # only the compensating angle changes, not the IR or tempo
    column = usual.component + "_deg"
    deviation = getattr(sim.truth, column) - getattr(base.truth, column)
    assert deviation[at_hold(sim, 2)] == pytest.approx(comp.change_deg, abs=1e-6)
    outside = (sim.truth.t < comp.start) | (sim.truth.t > comp.end)
    assert np.abs(deviation[outside]).max() < 1e-9
    np.testing.assert_allclose(sim.truth.hip_ir_deg, base.truth.hip_ir_deg, atol=1e-12)
    if kind is CompensationKind.THIGH_DRIFT:  # the knee moves: the femur's long axis turns
        drift = sim.thigh_drift_deg(sim.truth.t[at_hold(sim, 2)])
        assert drift.min() > 0.7 * abs(comp.change_deg)
        assert sim.thigh_drift_deg(sim.truth.t[at_hold(sim, 1)]).max() < 1.0
    pelvis_gyr = sim.recording.streams[Segment.PELVIS].gyr
    pelvis_moving = np.linalg.norm(pelvis_gyr, axis=1) > 1e-6
    if kind is CompensationKind.PELVIS_MOTION:
        t_pelvis = sim.recording.streams[Segment.PELVIS].t
        assert np.all((t_pelvis[pelvis_moving] >= comp.start) & (t_pelvis[pelvis_moving] <= comp.end))
        k_rest = int(np.argmin(np.abs(t_pelvis - rep2.start)))
        k_hold = int(np.argmin(np.abs(t_pelvis - rep2.peak)))
        q, _ = sim.sensor_pose(Segment.PELVIS, sim.true_sample_t[Segment.PELVIS][[k_rest, k_hold]])
        turned = np.rad2deg(quat.angle(quat.multiply(quat.conjugate(q[0]), q[1])))
        assert turned == pytest.approx(abs(comp.change_deg), abs=0.01)
    else:
        assert not pelvis_moving.any()  # the pelvis sensor sees nothing


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("exercise", ORIGINAL)
def test_usual_pelvis_motion_passes_for_extra_ir_on_the_thigh(exercise: str, side: Side) -> None:
    """Why the pelvis sensor matters: the femur turns in the world as if rotating inward further, while the
    true hip IR is unchanged."""
    change = 10.0
    base = compensated(exercise, side)
    sim = compensated(exercise, side, Compensation(CompensationKind.PELVIS_MOTION, 2, change_deg=change))
    rep2 = sim.truth_reps[1]
    t = np.array([rep2.start, rep2.peak])

    def thigh_twist_deg(s: SimulatedSession) -> float:
        q = s.segment_orientation(Segment.THIGH, t)
        rel = quat.multiply(quat.conjugate(q[0]), q[1])
        return float(ir_sign(side) * np.rad2deg(quat.twist_angle(rel, Z)))

    assert rep2.peak_ir_deg == base.truth_reps[1].peak_ir_deg
    assert 0.5 * change < thigh_twist_deg(sim) - thigh_twist_deg(base) < 1.05 * change


@pytest.mark.parametrize("exercise", ORIGINAL)
def test_too_fast_rep(exercise: str) -> None:
    base = compensated(exercise, Side.LEFT)
    sim = compensated(exercise, Side.LEFT, Compensation(CompensationKind.TOO_FAST, 2))
    profile = exercise_profile(exercise)
    rep2 = sim.truth_reps[1]
    assert sim.truth_compensations == [TrueCompensation("too_fast", rep2.start, rep2.end, 2, None, None)]
    assert 0.6 <= rep2.end - rep2.start <= 1.0
    assert rep2.hold_s == 0.0
    assert sim.truth_reps[0] == base.truth_reps[0]
    for slow in (sim.truth_reps[0], sim.truth_reps[2]):
        assert slow.end - slow.start >= sum(profile.shortest_rep)
    # same height, reached much faster
    assert rep2.peak_ir_deg == pytest.approx(base.truth_reps[1].peak_ir_deg, abs=0.3)
    assert rep2.peak - rep2.start <= 0.55


def test_explicit_compensations_and_several_at_once() -> None:
    comps = (
        Compensation(CompensationKind.THIGH_DRIFT, 1, change_deg=-8.0, component="hip_flexion"),
        Compensation("knee_flexion_change", 3, change_deg=12.0),  # type: ignore[arg-type]
        Compensation(CompensationKind.PELVIS_MOTION, 3, change_deg=-6.0, component="pelvis_tilt"),
        Compensation(CompensationKind.TOO_FAST, 3),
    )
    sim = compensated("side-lying-ir", Side.LEFT, *comps)
    got = [(c.kind, c.rep, c.component, c.change_deg) for c in sim.truth_compensations]
    assert got == [("thigh_drift", 1, "hip_flexion", -8.0), ("knee_flexion_change", 3, "knee_flexion", 12.0),
                   ("pelvis_motion", 3, "pelvis_tilt", -6.0), ("too_fast", 3, None, None)]
    posture = sim.script.posture
    assert sim.truth.hip_flexion_deg[at_hold(sim, 1)] == pytest.approx(posture.hip_flexion_deg - 8.0, abs=0.3)
    assert sim.truth.pelvis_tilt_deg[at_hold(sim, 3)] == pytest.approx(-6.0, abs=0.05)
    assert sim.truth.knee_flexion_deg[at_hold(sim, 3)] == pytest.approx(90.0 + 12.0, abs=2.0)
    assert sim.truth_reps[2].hold_s == 0.0


@pytest.mark.parametrize(
    ("comps", "message"),
    [
        ((Compensation(CompensationKind.TOO_FAST, 4),), "rep 4"),
        ((Compensation(CompensationKind.TOO_FAST, 2), Compensation(CompensationKind.TOO_FAST, 2)), "twice"),
    ],
)
def test_compensation_requests_checked(comps: tuple[Compensation, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compensated("seated-ir", Side.LEFT, *comps)


def test_compensation_spec_checked() -> None:
    with pytest.raises(ValueError, match="from 1"):
        Compensation(CompensationKind.THIGH_DRIFT, 0)
    with pytest.raises(ValueError, match="hip_adduction"):
        Compensation(CompensationKind.THIGH_DRIFT, 1, component="knee_flexion")
    with pytest.raises(ValueError):
        Compensation("wobble", 1)  # type: ignore[arg-type]
    assert set(COMPONENTS) == set(CompensationKind)
    with pytest.raises(ValueError, match="seated-ir"):
        simulate_session(exercise="lotus")


def test_capped_session_drops_compensations_of_reps_that_do_not_fit() -> None:
    comps = (Compensation(CompensationKind.THIGH_DRIFT, 1), Compensation(CompensationKind.THIGH_DRIFT, 3))
    sim = simulate_session(seed=3, exercise="prone-ir-test", max_seconds=25.0, errors=ImuErrorModel.ideal(),
                           compensations=comps)
    assert 1 <= len(sim.truth_reps) < 3
    assert [c.rep for c in sim.truth_compensations] == [1]


# --- pelvis sensor ------------------------------------------------------------------------------------


@pytest.mark.parametrize("exercise", ORIGINAL)
def test_pelvis_sensor_only_when_asked_and_still_on_the_sacrum(exercise: str) -> None:
    side = Side.LEFT
    without = ideal_session(exercise, side)
    sim = simulate_session(seed=7, side=side, exercise=exercise, errors=ImuErrorModel.ideal(),
                           with_pelvis_sensor=True)
    assert set(without.recording.streams) == {Segment.THIGH, Segment.SHIN}
    assert "pelvis" not in without.recording.sensors_info
    assert set(sim.recording.streams) == {Segment.THIGH, Segment.SHIN, Segment.PELVIS}
    assert sim.recording.sensors_info["pelvis"] == {"model": "simulated", "placement": "sacrum (S2), midline"}
    # the other sensors and the motion do not change
    for seg in (Segment.THIGH, Segment.SHIN):
        for name in ("t", "acc", "gyr", "mag"):
            np.testing.assert_array_equal(getattr(sim.recording.streams[seg], name),
                                          getattr(without.recording.streams[seg], name))
    assert sim.truth_reps == without.truth_reps
    lever = np.array(sim.mounts[Segment.PELVIS].lever_arm_m)
    assert -0.13 <= lever[0] <= -0.10 and abs(lever[1]) <= 0.01 and 0.02 <= lever[2] <= 0.06
    stream = sim.recording.streams[Segment.PELVIS]
    assert np.abs(stream.gyr).max() < 1e-9
    up = quat.rotate(sim.mounts[Segment.PELVIS].q, stream.acc)
    posture = sim.script.posture
    expected = {"seated-ir": Z, "prone-ir-test": -X, "side-lying-ir": lateral(side)}.get(exercise)
    if expected is None:  # 90/90: tilted toward the front leg, instrumented side up
        roll = np.deg2rad(posture.pelvis_roll_deg)
        expected = np.cos(roll) * Z + np.sin(roll) * lateral(side)
    assert angle_between_deg(up, expected).max() < 1e-4


# --- determinism, unchanged seated output, truth files ---------------------------------------------


@pytest.mark.parametrize("exercise", LYING_AND_FLOOR)
def test_deterministic_by_seed(exercise: str) -> None:
    comps = (Compensation(CompensationKind.PELVIS_MOTION, 1), Compensation(CompensationKind.TOO_FAST, 2))
    a, b, c = (simulate_session(seed=s, exercise=exercise, reps=2, compensations=comps, with_pelvis_sensor=True)
               for s in (31, 31, 32))
    for seg in (Segment.THIGH, Segment.SHIN, Segment.PELVIS):
        for name in ("t", "acc", "gyr", "mag"):
            np.testing.assert_array_equal(getattr(a.recording.streams[seg], name),
                                          getattr(b.recording.streams[seg], name))
    assert a.truth_reps == b.truth_reps and a.truth_compensations == b.truth_compensations
    assert a.mounts == b.mounts
    assert a.truth_reps != c.truth_reps
    assert a.script.posture == b.script.posture


# Fingerprint of simulate_session(seed=0) (seated, left, 8 reps, realistic errors) computed with the
# simulator as it was before it knew other postures: (size, sum, sum weighted by cos(0.001 * index),
# sum of squares) of every array. A real change of the output moves these by far more than rounding.
SEATED_SEED0_FINGERPRINT = {
    "thigh.t": (7981, 318458.91887806903, 67905.48516426403, 16942943.41149978),
    "thigh.acc": (23943, -41776.14193621448, 1012.3414696252902, 765438.4045110694),
    "thigh.gyr": (23943, 4.900081015275652, 2.2983138627458395, 479.61570534109114),
    "thigh.mag": (23943, 325910.8859157027, -10084.161407147307, 19168674.737932302),
    "shin.t": (7980, 318422.784368125, 67924.49810188316, 16941120.683994003),
    "shin.acc": (23940, 120934.90167168144, -4564.408587662104, 772210.1980442031),
    "shin.gyr": (23940, -25.270017941737542, -48.98001919035607, 1339.0899337619942),
    "shin.mag": (23940, -650578.2788015523, 24533.55414009311, 19162516.77370724),
}
SEATED_SEED0_TRUTH = (47886, 1881370.8234954923, -11345.735476418087)
SEATED_SEED0_MARKERS = (0.5, 3.5, 9.935471403075557, 78.59351012078086)
SEATED_SEED0_PEAKS = (31.557999571327958, 35.59111083314267, 36.616123543085095, 33.5535510950217,
                      29.18984368645215, 22.7095861288172, 36.98487988652164, 38.40492704426427)


def fingerprint(a: np.ndarray) -> tuple[int, float, float, float]:
    flat = np.asarray(a, dtype=float).ravel()
    weights = np.cos(0.001 * np.arange(flat.size))
    return flat.size, float(flat.sum()), float(flat @ weights), float(flat @ flat)


def test_seated_output_unchanged() -> None:
    for sim in (simulate_session(seed=0), simulate_session(seed=0, compensations=(), exercise="seated-ir")):
        for key, expected in SEATED_SEED0_FINGERPRINT.items():
            seg, name = key.split(".")
            got = fingerprint(getattr(sim.recording.streams[Segment(seg)], name))
            assert got[0] == expected[0], key
            np.testing.assert_allclose(got[1:], expected[1:], rtol=1e-10, atol=1e-9, err_msg=key)
        truth = sim.truth.as_matrix().ravel()
        assert truth.size == SEATED_SEED0_TRUTH[0]
        np.testing.assert_allclose([truth.sum(), truth @ np.cos(0.001 * np.arange(truth.size))],
                                   SEATED_SEED0_TRUTH[1:], rtol=1e-10)
        np.testing.assert_allclose([m.t for m in sim.recording.markers], SEATED_SEED0_MARKERS, rtol=1e-12)
        np.testing.assert_allclose([r.peak_ir_deg for r in sim.truth_reps], SEATED_SEED0_PEAKS, rtol=1e-12)
        assert sim.truth_compensations == []
        assert np.all(sim.truth.pelvis_matrix()[:, 1:] == 0.0)


def test_write_truth_has_compensations_posture_and_pelvis(tmp_path: Path) -> None:
    sim = compensated("ninety-ninety-foot-lift", Side.LEFT, Compensation(CompensationKind.PELVIS_MOTION, 2))
    write_truth(sim, tmp_path)
    doc = json.loads((tmp_path / "truth.json").read_text())
    assert doc["exercise"] == "ninety-ninety-foot-lift"
    assert doc["posture"]["hip_ir_rest_deg"] == pytest.approx(sim.script.posture.hip_ir_rest_deg)
    assert [(c["kind"], c["rep"]) for c in doc["compensations"]] == [("pelvis_motion", 2)]
    assert set(doc["mounts"]) == {"thigh", "shin", "pelvis"}
    lines = (tmp_path / "truth_pelvis.csv").read_text().splitlines()
    assert lines[0] == "t,pelvis_tilt_deg,pelvis_obliquity_deg,pelvis_rotation_deg"
    table = np.loadtxt(tmp_path / "truth_pelvis.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1], sim.truth.pelvis_tilt_deg, atol=1e-5)
    assert table[:, 1].max() > 5.0 - 1e-5
