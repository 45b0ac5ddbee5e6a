"""Simulated seated-IR session: the motion script driven through the leg and two IMU models.

Random streams are split by purpose (script, placement, thigh sensor, shin sensor) from one seed, so
changing the error model does not change the motion, and the same seed always gives the same output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from firmware_bridge.simulator.imu_model import (
    EarthField,
    FieldFunction,
    ImuErrorModel,
    PoseFunction,
    SensorErrorDraw,
    SensorMount,
    apply_sensor_errors,
    default_mount,
    draw_sensor_errors,
    host_timestamps,
    ideal_signals,
    kept_samples,
    soft_tissue_rotation,
    true_sample_times,
)
from firmware_bridge.simulator.leg import LegGeometry, PelvisPose, leg_kinematics
from firmware_bridge.simulator.script import SeatedIrScript, TrueRep, TruthSeries, seated_ir_script
from imu_core import quaternion as quat
from imu_core.frames import Segment, Side
from imu_core.types import Recording, SensorStream

EXERCISE_ID = "seated-ir"
SIMULATED_SEGMENTS = (Segment.THIGH, Segment.SHIN)


@dataclass(eq=False)
class SimulatedSession:
    """A simulated recording together with everything that is true about it."""

    recording: Recording
    truth_reps: list[TrueRep]
    truth: TruthSeries
    """True joint angles on a regular grid at the nominal rate (true clock = the recording's clock)."""
    mounts: dict[Segment, SensorMount]
    seed: int
    script: SeatedIrScript
    side: Side
    pelvis: PelvisPose
    heading_rad: float
    """Direction the person faces, counter-clockwise from east, rad."""
    geometry: LegGeometry
    errors: ImuErrorModel
    sensor_errors: dict[Segment, SensorErrorDraw]
    true_sample_t: dict[Segment, np.ndarray]
    """True instants of the delivered samples, row for row with the recording's streams."""

    def sensor_pose(self, segment: Segment, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True sensor-to-earth quaternions (N, 4) and positions (N, 3) m at true times t (s)."""
        pose = sensor_pose_function(self.script, self.side, self.pelvis, self.geometry, segment,
                                    self.mounts[segment], self.errors, self.sensor_errors[segment])
        return pose(np.asarray(t, dtype=float))

    def segment_orientation(self, segment: Segment, t: np.ndarray) -> np.ndarray:
        """True segment-to-earth quaternions (N, 4) at true times t (s)."""
        leg = leg_kinematics(self.script.angles(np.asarray(t, dtype=float)), self.side, self.pelvis,
                             self.geometry)
        if segment is Segment.THIGH:
            return leg.q_thigh
        if segment is Segment.SHIN:
            return leg.q_shin
        raise ValueError(f"the simulated leg has no {segment.value} segment")


def sensor_pose_function(
    script: SeatedIrScript, side: Side, pelvis: PelvisPose, geometry: LegGeometry, segment: Segment,
    mount: SensorMount, errors: ImuErrorModel, draw: SensorErrorDraw,
) -> PoseFunction:
    """True time -> (sensor orientation, sensor position), including the thigh's soft-tissue artefact."""

    def pose(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        angles = script.angles(t)
        leg = leg_kinematics(angles, side, pelvis, geometry)
        if segment is Segment.THIGH:
            sta = soft_tissue_rotation(t, angles.hip_ir_deg, side, errors, draw)
            q_skin = quat.multiply(leg.q_thigh, sta)
            origin = leg.hip_centre_m
        else:
            q_skin = leg.q_shin
            origin = leg.knee_centre_m
        position = origin + quat.rotate(q_skin, mount.lever_arm)
        return quat.multiply(q_skin, mount.q), position

    return pose


def _field_function(errors: ImuErrorModel, pelvis: PelvisPose, earth: EarthField) -> FieldFunction:
    earth_enu = earth.enu()
    disturbance = errors.magnetic_disturbance

    def field(positions_m: np.ndarray) -> np.ndarray:
        base = np.broadcast_to(earth_enu, positions_m.shape)
        if disturbance is None:
            return base.copy()
        return np.asarray(base + disturbance.field_ut(positions_m, pelvis.q_pelvis, pelvis.position_m))

    return field


def simulate_session(
    seed: int = 0,
    side: Side = Side.LEFT,
    reps: int = 8,
    max_seconds: float | None = None,
    rate_hz: float = 100.0,
    errors: ImuErrorModel | None = None,
    with_magnetometer: bool = True,
) -> SimulatedSession:
    """Simulate a seated hip IR session with a thigh and a shin IMU.

    `errors` defaults to the realistic `ImuErrorModel()`; pass `ImuErrorModel.ideal()` for exact signals.
    `max_seconds` caps the session length (fewer reps if needed, at least one when one fits).
    """
    if rate_hz <= 0.0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    errors = ImuErrorModel() if errors is None else errors
    geometry = LegGeometry()
    script_seq, placement_seq, *sensor_seqs = np.random.SeedSequence(seed).spawn(2 + len(SIMULATED_SEGMENTS))
    script = seated_ir_script(np.random.default_rng(script_seq), reps=reps, max_seconds=max_seconds)
    placement_rng = np.random.default_rng(placement_seq)
    heading = float(placement_rng.uniform(0.0, 2.0 * np.pi))
    pelvis = PelvisPose.upright(heading)
    mounts = {seg: default_mount(seg, side, placement_rng, geometry) for seg in SIMULATED_SEGMENTS}
    field = _field_function(errors, pelvis, EarthField())

    streams: dict[Segment, SensorStream] = {}
    draws: dict[Segment, SensorErrorDraw] = {}
    true_t: dict[Segment, np.ndarray] = {}
    for seg, seq in zip(SIMULATED_SEGMENTS, sensor_seqs, strict=True):
        rng = np.random.default_rng(seq)
        draw = draw_sensor_errors(errors, rate_hz, rng)
        t_true = true_sample_times(script.duration_s, rate_hz, draw)
        pose = sensor_pose_function(script, side, pelvis, geometry, seg, mounts[seg], errors, draw)
        ideal = ideal_signals(pose, t_true, field)
        gyr, acc, mag = apply_sensor_errors(ideal, errors, draw, rate_hz, rng)
        host_t = host_timestamps(t_true, errors, rng)
        keep = kept_samples(t_true.shape[0], errors, rng)
        streams[seg] = SensorStream(host_t[keep], acc[keep], gyr[keep],
                                    mag[keep] if with_magnetometer else None)
        draws[seg] = draw
        true_t[seg] = t_true[keep]

    recording = Recording(
        side=side,
        exercise=EXERCISE_ID,
        streams=streams,
        markers=list(script.markers),
        sample_rate_hz=rate_hz,
        sensors_info={seg.value: {"model": "simulated", "placement": mounts[seg].placement}
                      for seg in SIMULATED_SEGMENTS},
        extra_meta={"simulator": {"seed": seed}},
    )
    truth = script.truth(np.arange(0.0, script.duration_s, 1.0 / rate_hz))
    return SimulatedSession(
        recording=recording, truth_reps=list(script.reps), truth=truth, mounts=mounts, seed=seed,
        script=script, side=side, pelvis=pelvis, heading_rad=heading, geometry=geometry, errors=errors,
        sensor_errors=draws, true_sample_t=true_t,
    )


def write_truth(sim: SimulatedSession, folder: str | Path) -> None:
    """Write truth.csv (true joint angles) and truth.json (reps, mounts, seed, drawn errors) into folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    np.savetxt(out / "truth.csv", sim.truth.as_matrix(), delimiter=",",
               header=",".join(TruthSeries.COLUMNS), comments="",
               fmt=["%.6f"] + ["%.5f"] * (len(TruthSeries.COLUMNS) - 1))
    doc = {
        "format": "hiptrack-simulator-truth/1",
        "seed": sim.seed,
        "side": sim.side.value,
        "exercise": sim.recording.exercise,
        "heading_deg": float(np.rad2deg(sim.heading_rad)),
        "duration_s": sim.script.duration_s,
        "reps": [asdict(r) for r in sim.truth_reps],
        "mounts": {
            seg.value: {"q_mount_wxyz": list(m.q_mount), "lever_arm_m": list(m.lever_arm_m),
                        "placement": m.placement}
            for seg, m in sim.mounts.items()
        },
        "sensor_errors": {seg.value: asdict(d) for seg, d in sim.sensor_errors.items()},
        "error_model": asdict(sim.errors),
        "geometry": asdict(sim.geometry),
    }
    (out / "truth.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
