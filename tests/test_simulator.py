"""Physics and bookkeeping of the ground-truth IMU simulator (firmware_bridge.simulator)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest
from sim_sessions import angle_between_deg, phase

from firmware_bridge.simulator import (
    EarthField,
    ImuErrorModel,
    LegAngles,
    LegGeometry,
    MagneticDisturbance,
    PelvisPose,
    SimulatedSession,
    ideal_signals,
    leg_kinematics,
    simulate_session,
    write_truth,
)
from firmware_bridge.simulator.generate import sensor_pose_function
from imu_core import quaternion as quat
from imu_core.frames import GRAVITY_M_S2, Segment, Side, ir_sign
from imu_core.types import MarkerLabel

pytestmark = pytest.mark.timeout(60)

UP = np.array([0.0, 0.0, 1.0])
Z = np.array([0.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def ideal_left() -> SimulatedSession:
    return simulate_session(seed=11, side=Side.LEFT, errors=ImuErrorModel.ideal())


@pytest.fixture(scope="module")
def realistic_right() -> SimulatedSession:
    return simulate_session(seed=5, side=Side.RIGHT)


def integrate_gyro(gyr: np.ndarray, t: np.ndarray, q0: np.ndarray) -> np.ndarray:
    """Body-rate quaternion integration with the trapezoidal mean rate of each interval."""
    steps = quat.from_rotation_vector(0.5 * (gyr[1:] + gyr[:-1]) * np.diff(t)[:, None])
    out = np.empty((t.shape[0], 4))
    out[0] = q0
    for k in range(steps.shape[0]):
        out[k + 1] = quat.multiply(out[k], steps[k])
    return out




# --- kinematic chain ------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
def test_seated_posture_axes(side: Side) -> None:
    heading = 0.7
    pelvis = PelvisPose.upright(heading)
    leg = leg_kinematics(LegAngles.of(), side, pelvis)
    forward = quat.rotate(pelvis.q_pelvis, np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(quat.rotate(leg.q_thigh, np.array([1.0, 0, 0])), UP, atol=1e-12)
    np.testing.assert_allclose(quat.rotate(leg.q_thigh, Z), -forward, atol=1e-12)
    np.testing.assert_allclose(quat.rotate(leg.q_shin, Z), UP, atol=1e-12)
    np.testing.assert_allclose(quat.rotate(leg.q_shin, np.array([1.0, 0, 0])), forward, atol=1e-12)
    # knee in front of the hip at the same height, ankle straight below the knee
    np.testing.assert_allclose(leg.knee_centre_m - leg.hip_centre_m, 0.42 * forward, atol=1e-12)
    np.testing.assert_allclose(leg.ankle_centre_m - leg.knee_centre_m, -0.40 * UP, atol=1e-12)


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
@pytest.mark.parametrize("hip_flexion_deg", [0.0, 90.0])
def test_positive_adduction_moves_knee_toward_midline(side: Side, hip_flexion_deg: float) -> None:
    pelvis = PelvisPose.upright(0.0, (0.0, 0.0, 0.0))
    leg = leg_kinematics(LegAngles.of(hip_flexion_deg, [0.0, 10.0], 0.0, 90.0), side, pelvis)
    knee_move_y = leg.knee_centre_m[1, 1] - leg.knee_centre_m[0, 1]
    midline_direction = -1.0 if side is Side.LEFT else 1.0  # pelvis y points to the person's left
    assert knee_move_y * midline_direction > 0.42 * np.sin(np.deg2rad(10.0)) * 0.99


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
@pytest.mark.parametrize(("hip_flexion_deg", "hip_adduction_deg"), [(90.0, 0.0), (70.0, 8.0), (0.0, -5.0)])
def test_hip_ir_is_thigh_twist_relative_to_calibration(
    side: Side, hip_flexion_deg: float, hip_adduction_deg: float
) -> None:
    rng = np.random.default_rng(1)
    ir = np.concatenate([[0.0], rng.uniform(-60.0, 60.0, 50)])
    pelvis = PelvisPose.upright(rng.uniform(0, 2 * np.pi))
    leg = leg_kinematics(LegAngles.of(hip_flexion_deg, hip_adduction_deg, ir, rng.uniform(0, 120, 51)),
                         side, pelvis)
    rel = quat.multiply(quat.conjugate(leg.q_thigh[0]), leg.q_thigh)
    measured = ir_sign(side) * np.rad2deg(quat.twist_angle(rel, Z))
    np.testing.assert_allclose(measured, ir - ir[0], atol=1e-9)


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
@pytest.mark.parametrize("ir_deg", [15.0, 35.0])
def test_seated_ir_moves_foot_laterally_and_tilts_shin(side: Side, ir_deg: float) -> None:
    pelvis = PelvisPose.upright(2.2)
    leg = leg_kinematics(LegAngles.of(hip_ir_deg=[0.0, ir_deg, -ir_deg]), side, pelvis)
    foot_move = quat.rotate(quat.conjugate(pelvis.q_pelvis), leg.ankle_centre_m - leg.ankle_centre_m[0])
    lateral = 1.0 if side is Side.LEFT else -1.0  # a left foot moves out to the person's left (+y)
    expected = 0.40 * np.sin(np.deg2rad(ir_deg))
    assert foot_move[1, 1] * lateral == pytest.approx(expected, rel=1e-9)
    assert foot_move[2, 1] * lateral == pytest.approx(-expected, rel=1e-9)  # ER: foot inward
    tilt = angle_between_deg(quat.rotate(leg.q_shin, Z), UP)
    np.testing.assert_allclose(tilt, [0.0, ir_deg, ir_deg], atol=1e-6)
    # the thigh's long axis does not move: IR is a pure axial rotation of the femur
    np.testing.assert_allclose(leg.knee_centre_m, np.broadcast_to(leg.knee_centre_m[0], (3, 3)), atol=1e-12)


def test_session_truth_matches_thigh_twist(ideal_left: SimulatedSession) -> None:
    sim = ideal_left
    q = sim.segment_orientation(Segment.THIGH, sim.truth.t)
    rel = quat.multiply(quat.conjugate(q[100]), q)
    twist_ir = ir_sign(sim.side) * np.rad2deg(quat.twist_angle(rel, Z))
    np.testing.assert_allclose(twist_ir, sim.truth.hip_ir_deg - sim.truth.hip_ir_deg[100], atol=0.02)


# --- ideal signals ------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
def test_still_sensor_reads_gravity_only(side: Side) -> None:
    rng = np.random.default_rng(2)
    pelvis = PelvisPose.upright(1.0)
    still = LegAngles.of(85.0, 3.0, 12.0, 80.0, 2.0)
    q_mount = quat.normalize(rng.standard_normal(4))
    lever = np.array([0.03, 0.02, -0.2])

    def pose(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        leg = leg_kinematics(still, side, pelvis)
        q = np.broadcast_to(quat.multiply(leg.q_shin, q_mount), (t.shape[0], 4))
        p = np.broadcast_to(leg.knee_centre_m + quat.rotate(leg.q_shin, lever), (t.shape[0], 3))
        return q, p

    t = np.arange(0.0, 2.0, 0.01)
    sig = ideal_signals(pose, t, lambda p: np.broadcast_to(EarthField().enu(), p.shape))
    np.testing.assert_allclose(np.linalg.norm(sig.acc, axis=1), GRAVITY_M_S2, atol=1e-6)
    acc_earth = quat.rotate(sig.q_sensor, sig.acc)
    np.testing.assert_allclose(acc_earth, np.broadcast_to(GRAVITY_M_S2 * UP, (200, 3)), atol=1e-6)
    np.testing.assert_allclose(sig.gyr, 0.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(sig.mag, axis=1), 49.0, atol=1e-9)


def test_static_phase_gravity_along_segment_axes(ideal_left: SimulatedSession) -> None:
    sim = ideal_left
    for seg, axis in ((Segment.SHIN, Z), (Segment.THIGH, np.array([1.0, 0.0, 0.0]))):
        sel = phase(sim, seg, MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING)
        acc_segment = quat.rotate(sim.mounts[seg].q, sim.recording.streams[seg].acc[sel])
        # the shin's proximal axis (thigh: anterior axis) points up while seated still
        assert np.max(angle_between_deg(acc_segment, axis)) < 0.3
        assert np.max(np.abs(np.linalg.norm(acc_segment, axis=1) - GRAVITY_M_S2)) < 0.05
        mean_tilt = angle_between_deg(acc_segment.mean(axis=0), axis)
        assert mean_tilt < 0.05


@pytest.mark.parametrize("errors", [ImuErrorModel.ideal(),
                                    dataclasses.replace(ImuErrorModel.ideal(), sta_ir_fraction=0.3,
                                                        sta_wobble_deg=0.5)])
def test_gyro_integration_reproduces_orientation(errors: ImuErrorModel) -> None:
    sim = simulate_session(seed=4, side=Side.RIGHT, errors=errors)
    for seg in (Segment.THIGH, Segment.SHIN):
        stream = sim.recording.streams[seg]
        sel = stream.t < 60.0
        t = sim.true_sample_t[seg][sel]
        q_true, _ = sim.sensor_pose(seg, t)
        q_est = integrate_gyro(stream.gyr[sel], t, q_true[0])
        err_deg = np.rad2deg(quat.angle(quat.multiply(quat.conjugate(q_true), q_est)))
        assert t[-1] > 59.0
        assert np.max(err_deg) < 0.5
        assert np.max(np.abs(stream.gyr)) > 0.5  # it really moved


def test_knee_swing_specific_force_includes_centripetal(ideal_left: SimulatedSession) -> None:
    sim = ideal_left
    seg = Segment.SHIN
    sel = phase(sim, seg, MarkerLabel.CALIBRATION_SWING, MarkerLabel.EXERCISE_START)
    t = sim.true_sample_t[seg][sel]
    acc = sim.recording.streams[seg].acc[sel]
    gyr = sim.recording.streams[seg].gyr[sel]
    q, p = sim.sensor_pose(seg, t)
    # independent estimate: second finite difference of the sensor's positions at the 100 Hz samples
    p_ddot = np.gradient(np.gradient(p, t, axis=0), t, axis=0)
    acc_fd = quat.rotate(quat.conjugate(q), p_ddot + GRAVITY_M_S2 * UP)
    np.testing.assert_allclose(acc[2:-2], acc_fd[2:-2], atol=0.1)

    # at the fastest instant of the swing the motion part of the specific force is centripetal
    k = int(np.argmax(np.linalg.norm(gyr, axis=1)))
    dynamic_world = quat.rotate(q[k], acc[k]) - GRAVITY_M_S2 * UP
    leg = leg_kinematics(sim.script.angles(t[k : k + 1]), sim.side, sim.pelvis, sim.geometry)
    knee_axis = quat.rotate(leg.q_thigh[0], np.array([0.0, 1.0, 0.0]))
    r = p[k] - leg.knee_centre_m[0]
    r_perp = r - np.dot(r, knee_axis) * knee_axis
    omega = np.linalg.norm(gyr[k])
    centripetal = omega**2 * np.linalg.norm(r_perp)
    assert centripetal > 0.5
    assert np.linalg.norm(dynamic_world) == pytest.approx(centripetal, rel=0.05)
    assert angle_between_deg(dynamic_world, -r_perp) < 5.0


def test_magnetometer_field_and_dip(ideal_left: SimulatedSession) -> None:
    sim = ideal_left
    for seg in (Segment.THIGH, Segment.SHIN):
        stream = sim.recording.streams[seg]
        assert stream.mag is not None
        np.testing.assert_allclose(np.linalg.norm(stream.mag, axis=1), 49.0, atol=1e-6)
        sel = phase(sim, seg, MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING)
        # field points 65 deg below the horizontal, the specific force straight up: 155 deg apart
        assert np.abs(angle_between_deg(stream.acc[sel], stream.mag[sel]) - 155.0).max() < 0.3
    no_mag = simulate_session(seed=11, reps=1, errors=ImuErrorModel.ideal(), with_magnetometer=False)
    assert all(s.mag is None for s in no_mag.recording.streams.values())
    chair = dataclasses.replace(ImuErrorModel.ideal(),
                                magnetic_disturbance=MagneticDisturbance(dipole_moment_am2=(0.0, 0.0, 1.0)))
    disturbed = simulate_session(seed=11, reps=1, errors=chair)
    mag = disturbed.recording.streams[Segment.THIGH].mag
    assert mag is not None
    assert np.abs(np.linalg.norm(mag, axis=1) - 49.0).max() > 1.0


# --- error model, timing ------------------------------------------------------------------------


def test_realistic_errors_match_model(realistic_right: SimulatedSession) -> None:
    sim = realistic_right
    model = sim.errors
    rate = sim.recording.sample_rate_hz
    for seg in (Segment.THIGH, Segment.SHIN):
        draw = sim.sensor_errors[seg]
        t = sim.true_sample_t[seg]
        pose = sensor_pose_function(sim.script, sim.side, sim.pelvis, sim.geometry, seg, sim.mounts[seg],
                                    model, draw)
        ideal = ideal_signals(pose, t, lambda p: np.broadcast_to(EarthField().enu(), p.shape))
        stream = sim.recording.streams[seg]
        gyr_residual = stream.gyr - ideal.gyr * (1.0 + np.array(draw.gyro_scale_error))
        np.testing.assert_allclose(np.rad2deg(gyr_residual.mean(axis=0)), draw.gyro_bias_dps, atol=0.03)
        white = np.rad2deg(np.diff(gyr_residual, axis=0).std(axis=0) / np.sqrt(2.0))
        expected = model.gyro_noise_density_dps_rthz * np.sqrt(rate / 2.0)
        np.testing.assert_allclose(white, expected, rtol=0.1)
        acc_residual = stream.acc - ideal.acc * (1.0 + np.array(draw.acc_scale_error))
        np.testing.assert_allclose(acc_residual.mean(axis=0), draw.acc_bias_m_s2, atol=0.002)
        acc_expected = model.acc_noise_density_ug_rthz * 1e-6 * GRAVITY_M_S2 * np.sqrt(rate / 2.0)
        np.testing.assert_allclose(acc_residual.std(axis=0), acc_expected, rtol=0.1)
        assert stream.mag is not None
        np.testing.assert_allclose((stream.mag - ideal.mag).std(axis=0), model.mag_noise_ut_rms, rtol=0.1)
        delay = stream.t - t
        assert delay.min() >= 0.0
        assert delay.max() < model.host_jitter_max_s + 1e-9
        assert np.abs(draw.clock_drift_ppm) <= model.clock_drift_max_ppm
    assert np.max(np.abs(sim.sensor_errors[Segment.THIGH].gyro_bias_dps)) > 0.0


@pytest.mark.parametrize(
    "errors",
    [ImuErrorModel(), ImuErrorModel(host_jitter_max_s=0.03, packet_loss_probability=0.1,
                                    packet_loss_mean_burst=4.0)],
)
def test_timestamps_strictly_increasing_and_losses_in_bursts(errors: ImuErrorModel) -> None:
    sim = simulate_session(seed=8, errors=errors)
    for seg, stream in sim.recording.streams.items():
        assert np.all(np.diff(stream.t) > 0.0)
        assert np.all(np.diff(sim.true_sample_t[seg]) > 0.0)
        assert len(stream) == stream.acc.shape[0] == stream.gyr.shape[0]
        period = 1.0 / (100.0 * (1.0 + 1e-6 * sim.sensor_errors[seg].clock_drift_ppm))
        gaps = np.rint(np.diff(sim.true_sample_t[seg]) / period).astype(int) - 1
        expected_n = int(np.ceil((sim.script.duration_s - sim.sensor_errors[seg].start_offset_s) / period))
        lost_fraction = 1.0 - len(stream) / expected_n
        if errors.packet_loss_probability == 0.0:
            assert lost_fraction == 0.0
        else:
            assert lost_fraction == pytest.approx(0.1, abs=0.04)
            bursts = gaps[gaps > 0]
            assert bursts.mean() == pytest.approx(4.0, rel=0.4)


def test_deterministic_by_seed() -> None:
    a = simulate_session(seed=21, reps=2)
    b = simulate_session(seed=21, reps=2)
    c = simulate_session(seed=22, reps=2)
    for seg in (Segment.THIGH, Segment.SHIN):
        sa, sb, sc = (s.recording.streams[seg] for s in (a, b, c))
        for name in ("t", "acc", "gyr", "mag"):
            np.testing.assert_array_equal(getattr(sa, name), getattr(sb, name))
        assert sa.acc.shape != sc.acc.shape or not np.allclose(sa.acc, sc.acc)
    assert a.truth_reps == b.truth_reps
    assert a.truth_reps != c.truth_reps
    # the motion does not depend on the error model
    ideal = simulate_session(seed=21, reps=2, errors=ImuErrorModel.ideal())
    assert ideal.truth_reps == a.truth_reps
    assert ideal.mounts == a.mounts


# --- script, truth, output ------------------------------------------------------------------------


def test_reps_and_markers(realistic_right: SimulatedSession) -> None:
    sim = realistic_right
    rec = sim.recording
    assert rec.exercise == "seated-ir"
    assert rec.side is Side.RIGHT
    assert set(rec.streams) == {Segment.THIGH, Segment.SHIN}
    assert rec.sensors_info["thigh"]["model"] == "simulated"
    assert [m.label for m in rec.markers] == [MarkerLabel.CALIBRATION_STATIC, MarkerLabel.CALIBRATION_SWING,
                                               MarkerLabel.EXERCISE_START, MarkerLabel.EXERCISE_END]
    assert rec.markers[0].t == pytest.approx(0.5)
    assert len(sim.truth_reps) == 8
    start, end = rec.marker_time(MarkerLabel.EXERCISE_START), rec.marker_time(MarkerLabel.EXERCISE_END)
    assert start is not None and end is not None
    previous_end = start
    for rep in sim.truth_reps:
        assert previous_end <= rep.start < rep.peak < rep.end <= end
        assert 2.0 <= rep.hold_s <= 5.0
        assert 19.7 <= rep.peak_ir_deg <= 40.3
        in_rep = (sim.truth.t >= rep.start) & (sim.truth.t <= rep.end)
        assert sim.truth.hip_ir_deg[in_rep].max() <= rep.peak_ir_deg + 1e-9
        previous_end = rep.end
    truth = sim.truth
    # sway + hold tremor on top of the commanded minimum-jerk IR path stay within 0.3 deg
    assert np.abs(truth.hip_ir_deg - sim.script.ir_path(truth.t)).max() <= 0.3
    assert np.all(np.abs(truth.knee_flexion_deg[truth.t >= start] - 90.0) <= 2.0)
    assert np.all(np.abs(truth.hip_flexion_deg - 90.0) < 0.3)
    assert np.all(np.abs(truth.hip_adduction_deg) < 0.3)
    static = (truth.t >= 0.5) & (truth.t < 3.5)
    assert np.abs(truth.hip_ir_deg[static]).max() < 0.5
    assert abs(truth.hip_ir_deg[static].mean()) < 0.01
    swing = (truth.t >= 3.5) & (truth.t < start)
    assert 30.0 <= truth.knee_flexion_deg[swing].min() <= 50.5
    assert 60.0 < sim.script.duration_s < 120.0


def test_max_seconds_caps_reps() -> None:
    full = simulate_session(seed=3, reps=8, errors=ImuErrorModel.ideal())
    capped = simulate_session(seed=3, reps=8, max_seconds=35.0, errors=ImuErrorModel.ideal())
    assert 1 <= len(capped.truth_reps) < 8
    assert capped.truth_reps == full.truth_reps[: len(capped.truth_reps)]
    assert capped.script.duration_s <= 35.0
    assert all(s.t[-1] < 35.0 for s in capped.recording.streams.values())
    assert capped.recording.marker_time(MarkerLabel.EXERCISE_END) is not None
    tiny = simulate_session(seed=3, reps=8, max_seconds=5.0, errors=ImuErrorModel.ideal())
    assert tiny.truth_reps == []
    assert tiny.recording.marker_time(MarkerLabel.EXERCISE_START) is None


def test_write_truth(tmp_path: Path) -> None:
    sim = simulate_session(seed=1, reps=2, errors=ImuErrorModel.ideal())
    write_truth(sim, tmp_path / "rec")
    lines = (tmp_path / "rec" / "truth.csv").read_text().splitlines()
    assert lines[0] == "t,hip_ir_deg,knee_flexion_deg,hip_flexion_deg,hip_adduction_deg,tibial_rotation_deg"
    assert len(lines) == 1 + len(sim.truth.t)
    table = np.loadtxt(tmp_path / "rec" / "truth.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 1], sim.truth.hip_ir_deg, atol=1e-5)
    doc = json.loads((tmp_path / "rec" / "truth.json").read_text())
    assert doc["seed"] == 1
    assert len(doc["reps"]) == 2
    assert doc["reps"][0]["peak_ir_deg"] == pytest.approx(sim.truth_reps[0].peak_ir_deg)
    q = np.array(doc["mounts"]["shin"]["q_mount_wxyz"])
    assert np.linalg.norm(q) == pytest.approx(1.0)
    assert not (tmp_path / "rec" / "meta.json").exists()


def test_default_session_is_fast() -> None:
    begin = time.perf_counter()
    sim = simulate_session(seed=0)
    elapsed = time.perf_counter() - begin
    assert len(sim.truth_reps) == 8
    assert all(len(s) > 7000 for s in sim.recording.streams.values())
    assert elapsed < 2.0


def test_geometry_defaults() -> None:
    geometry = LegGeometry()
    assert (geometry.femur_length_m, geometry.tibia_length_m) == (0.42, 0.40)
