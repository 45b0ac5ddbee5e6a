"""Simulated session: the motion script driven through the leg and the IMU models (thigh, shin and an
optional sacrum sensor).

Random streams are split by purpose from one seed (`_Streams`), so changing the error model does not
change the motion, adding the pelvis sensor or compensations does not change the other sensors or reps,
and the same seed always gives the same output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path

import numpy as np

from firmware_bridge.simulator.exercise_model import Compensation, TrueCompensation, TrueFidget
from firmware_bridge.simulator.exercises import SEATED_IR, exercise_profile
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
from firmware_bridge.simulator.script import ExerciseScript, TrueRep, TruthSeries, exercise_script
from imu_core import quaternion as quat
from imu_core.frames import Segment, Side
from imu_core.types import Recording, SensorStream

EXERCISE_ID = SEATED_IR.exercise_id
"""The default exercise."""
SIMULATED_SEGMENTS = (Segment.THIGH, Segment.SHIN)
"""The sensors every session has; `with_pelvis_sensor` adds Segment.PELVIS."""
_Z = np.array([0.0, 0.0, 1.0])


class _Streams(IntEnum):
    """Index of each purpose's child of `SeedSequence(seed)` (children do not depend on how many are
    spawned, so new purposes are appended without changing the old ones)."""

    SCRIPT = 0
    PLACEMENT = 1
    THIGH_SENSOR = 2
    SHIN_SENSOR = 3
    PELVIS_SENSOR = 4
    PELVIS_PLACEMENT = 5
    COMPENSATIONS = 6


_SENSOR_STREAM = {Segment.THIGH: _Streams.THIGH_SENSOR, Segment.SHIN: _Streams.SHIN_SENSOR,
                  Segment.PELVIS: _Streams.PELVIS_SENSOR}


@dataclass(eq=False)
class SimulatedSession:
    """A simulated recording together with everything that is true about it."""

    recording: Recording
    truth_reps: list[TrueRep]
    truth: TruthSeries
    """True joint angles on a regular grid at the nominal rate (true clock = the recording's clock)."""
    mounts: dict[Segment, SensorMount]
    seed: int
    script: ExerciseScript
    side: Side
    pelvis: PelvisPose
    """The pelvis at rest (it only moves where a pelvis_motion compensation was injected)."""
    heading_rad: float
    """Direction the person faces, counter-clockwise from east, rad (lying: the direction of the head)."""
    geometry: LegGeometry
    errors: ImuErrorModel
    sensor_errors: dict[Segment, SensorErrorDraw]
    true_sample_t: dict[Segment, np.ndarray]
    """True instants of the delivered samples, row for row with the recording's streams."""
    truth_compensations: list[TrueCompensation] = field(default_factory=list)
    """The injected compensations as they happened, in rep order."""
    truth_fidgets: list[TrueFidget] = field(default_factory=list)
    """Dips during stretch holds, in time order."""

    @property
    def exercise(self) -> str:
        return self.script.exercise

    def sensor_pose(self, segment: Segment, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True sensor-to-earth quaternions (N, 4) and positions (N, 3) m at true times t (s)."""
        pose = sensor_pose_function(self.script, self.side, self.pelvis, self.geometry, segment,
                                    self.mounts[segment], self.errors, self.sensor_errors[segment])
        return pose(np.asarray(t, dtype=float))

    def pelvis_pose(self, t: np.ndarray) -> PelvisPose:
        """The pelvis at true times t (s)."""
        return self.script.pelvis_pose(self.pelvis, self.side, np.asarray(t, dtype=float))

    def segment_orientation(self, segment: Segment, t: np.ndarray) -> np.ndarray:
        """True segment-to-earth quaternions (N, 4) at true times t (s)."""
        t = np.asarray(t, dtype=float)
        pelvis = self.pelvis_pose(t)
        if segment is Segment.PELVIS:
            return np.asarray(np.broadcast_to(pelvis.q_pelvis, (t.shape[0], 4)).copy())
        leg = leg_kinematics(self.script.angles(t), self.side, pelvis, self.geometry)
        if segment is Segment.THIGH:
            return leg.q_thigh
        if segment is Segment.SHIN:
            return leg.q_shin
        raise ValueError(f"the simulated leg has no {segment.value} segment")

    def thigh_drift_deg(self, t: np.ndarray) -> np.ndarray:
        """Angle between the femur's long axis at t and its mean direction over `calibration.static`, deg
        (what `JointAngles.thigh_drift_deg` estimates)."""
        t0 = self.script.markers[0].t
        static = np.linspace(t0, t0 + 3.0, 301)
        axis = quat.rotate(self.segment_orientation(Segment.THIGH, static), _Z).mean(axis=0)
        axis /= np.linalg.norm(axis)
        now = quat.rotate(self.segment_orientation(Segment.THIGH, np.asarray(t, dtype=float)), _Z)
        return np.asarray(np.rad2deg(np.arccos(np.clip(now @ axis, -1.0, 1.0))))


def sensor_pose_function(
    script: ExerciseScript, side: Side, pelvis: PelvisPose, geometry: LegGeometry, segment: Segment,
    mount: SensorMount, errors: ImuErrorModel, draw: SensorErrorDraw,
) -> PoseFunction:
    """True time -> (sensor orientation, sensor position), including the thigh's soft-tissue artefact.
    `pelvis` is the pelvis at rest; the script moves it where it injects pelvis motion."""

    def pose(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        moving_pelvis = script.pelvis_pose(pelvis, side, t)
        if segment is Segment.PELVIS:
            q_skin = np.broadcast_to(moving_pelvis.q_pelvis, (t.shape[0], 4))
            origin = np.broadcast_to(moving_pelvis.position_m, (t.shape[0], 3))
        else:
            angles = script.angles(t)
            leg = leg_kinematics(angles, side, moving_pelvis, geometry)
            if segment is Segment.THIGH:
                sta = soft_tissue_rotation(t, angles.hip_ir_deg - script.posture.hip_ir_rest_deg, side,
                                           errors, draw)
                q_skin = quat.multiply(leg.q_thigh, sta)
                origin = leg.hip_centre_m
            else:
                q_skin = leg.q_shin
                origin = leg.knee_centre_m
        position = origin + quat.rotate(q_skin, mount.lever_arm)
        return quat.multiply(q_skin, mount.q), position

    return pose


def _field_function(errors: ImuErrorModel, pelvis: PelvisPose, earth: EarthField) -> FieldFunction:
    """Earth field plus the disturbance, which is fixed to the furniture (the pelvis at rest)."""
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
    reps: int | None = None,
    max_seconds: float | None = None,
    rate_hz: float = 100.0,
    errors: ImuErrorModel | None = None,
    with_magnetometer: bool = True,
    *,
    exercise: str = EXERCISE_ID,
    compensations: Sequence[Compensation] = (),
    with_pelvis_sensor: bool = False,
    sets: int = 1,
) -> SimulatedSession:
    """Simulate a session of `exercise` (a catalog id, profiles.EXERCISES) with a thigh and a shin IMU.

    `sets` sets of `reps` reps each; `reps` defaults to the exercise's usual count per set (seated-ir 8,
    prone-ir-test 3, a stretch 1 hold). `errors` defaults to the realistic `ImuErrorModel()`; pass
    `ImuErrorModel.ideal()` for exact signals. `max_seconds` caps the session length (fewer reps and sets
    if needed, at least one rep when one fits). `compensations` are injected into the reps they name
    (numbered from 1 across the sets); `with_pelvis_sensor` adds a sacrum sensor (Segment.PELVIS).
    """
    if rate_hz <= 0.0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    profile = exercise_profile(exercise)
    errors = ImuErrorModel() if errors is None else errors
    geometry = LegGeometry()
    seqs = np.random.SeedSequence(seed).spawn(len(_Streams))
    script = exercise_script(profile, np.random.default_rng(seqs[_Streams.SCRIPT]), reps=reps,
                             max_seconds=max_seconds, compensations=compensations,
                             compensation_rng=np.random.default_rng(seqs[_Streams.COMPENSATIONS]),
                             sets=sets, geometry=geometry)
    placement_rng = np.random.default_rng(seqs[_Streams.PLACEMENT])
    heading = float(placement_rng.uniform(0.0, 2.0 * np.pi))
    pelvis = script.posture.pelvis_pose(heading, side)
    mounts = {seg: default_mount(seg, side, placement_rng, geometry) for seg in SIMULATED_SEGMENTS}
    segments: tuple[Segment, ...] = SIMULATED_SEGMENTS
    if with_pelvis_sensor:
        segments = (*SIMULATED_SEGMENTS, Segment.PELVIS)
        mounts[Segment.PELVIS] = default_mount(
            Segment.PELVIS, side, np.random.default_rng(seqs[_Streams.PELVIS_PLACEMENT]), geometry)
    field = _field_function(errors, pelvis, EarthField())

    streams: dict[Segment, SensorStream] = {}
    draws: dict[Segment, SensorErrorDraw] = {}
    true_t: dict[Segment, np.ndarray] = {}
    for seg in segments:
        rng = np.random.default_rng(seqs[_SENSOR_STREAM[seg]])
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
        exercise=profile.exercise_id,
        streams=streams,
        markers=list(script.markers),
        sample_rate_hz=rate_hz,
        sensors_info={seg.value: {"model": "simulated", "placement": mounts[seg].placement}
                      for seg in segments},
        extra_meta={"simulator": {"seed": seed}},
    )
    truth = script.truth(np.arange(0.0, script.duration_s, 1.0 / rate_hz))
    return SimulatedSession(
        recording=recording, truth_reps=list(script.reps), truth=truth, mounts=mounts, seed=seed,
        script=script, side=side, pelvis=pelvis, heading_rad=heading, geometry=geometry, errors=errors,
        sensor_errors=draws, true_sample_t=true_t, truth_compensations=list(script.compensations),
        truth_fidgets=list(script.fidgets),
    )


def write_truth(sim: SimulatedSession, folder: str | Path) -> None:
    """Write truth.csv (true joint angles), truth_pelvis.csv (pelvis motion) and truth.json (reps,
    compensations, stretch fidgets, sets, posture, mounts, seed, drawn errors) into folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    np.savetxt(out / "truth.csv", sim.truth.as_matrix(), delimiter=",",
               header=",".join(TruthSeries.COLUMNS), comments="",
               fmt=["%.6f"] + ["%.5f"] * (len(TruthSeries.COLUMNS) - 1))
    np.savetxt(out / "truth_pelvis.csv", sim.truth.pelvis_matrix(), delimiter=",",
               header=",".join(TruthSeries.PELVIS_COLUMNS), comments="",
               fmt=["%.6f"] + ["%.5f"] * (len(TruthSeries.PELVIS_COLUMNS) - 1))
    doc = {
        "format": "hiptrack-simulator-truth/1",
        "seed": sim.seed,
        "side": sim.side.value,
        "exercise": sim.recording.exercise,
        "heading_deg": float(np.rad2deg(sim.heading_rad)),
        "duration_s": sim.script.duration_s,
        "posture": asdict(sim.script.posture),
        "reps": [asdict(r) for r in sim.truth_reps],
        "compensations": [asdict(c) for c in sim.truth_compensations],
        "fidgets": [asdict(f) for f in sim.truth_fidgets],
        "sets": [{"start": a, "end": b} for a, b in sim.script.sets],
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
