"""The session pipeline: samples and markers in, joint angles and rep events out.

One code path for live sessions and offline analysis: a live session feeds whatever has arrived
(`feed`, sample objects), an offline analysis feeds each sensor's arrays between two markers
(`feed_streams`), and both get the same angles and the same reps, bit for bit: the orientation filters,
the heading, the long-axis refits and the exercise engine are incremental, each block's angles are one
vectorised pass, and the work is cut only at markers (docs/performance.md).

Flow: per-sensor orientation filter (6D, so indoor magnetic disturbance cannot tilt the heading) ->
until calibrated, keep the samples -> at the end of the swing phase, calibrate and work out the angles
of everything kept -> from then on, angles per shin sample (the thigh's latest orientation paired with
it) -> the exercise's rep counter during the exercise phase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibration.calibrate import PhaseData, calibrate, still_phases
from calibration.errors import MissingPhaseError
from calibration.model import Calibration
from calibration.online import AlignmentSpan, OnlineAlignment
from calibration.still import StillPhase
from imu_core import kinematics as K
from imu_core import quaternion as Q
from imu_core.filters import VqfFilter, VqfParams
from imu_core.frames import Segment, Side
from imu_core.gaps import GapBridgingFilter
from imu_core.types import ImuSample, JointAngles, Marker, MarkerLabel, SensorStream
from tracker.analysis import AnalysisResult
from tracker.compensation import ThighAlignment
from tracker.engine import ExerciseEngine
from tracker.exercise_model import Exercise
from tracker.reps import RepCounter, RepEvent

LEG_SENSORS = (Segment.THIGH, Segment.SHIN)
SENSORS = (Segment.THIGH, Segment.SHIN, Segment.PELVIS)
"""The thigh and shin are needed; a sacrum (pelvis) sensor is optional."""

SESSION_VQF = VqfParams(rest_bias_estimation=False)
"""VQF's rest-bias learning takes an end-range hold (a slow creep with tremor) for rest and learns the
creep as gyro bias: about 2 deg/min of heading drift in the simulator with perfect sensors. The still
phase measures the bias instead, and VQF's motion-bias estimation stays on."""


@dataclass(slots=True)
class PipelineUpdate:
    """What one `feed` produced."""

    angles: JointAngles
    events: list[RepEvent] = field(default_factory=list)
    calibration: Calibration | None = None
    """Set on the feed that completed the calibration."""


@dataclass(slots=True)
class _Kept:
    """Samples and orientations kept for calibration, per sensor, in chunks."""

    t: list[np.ndarray] = field(default_factory=list)
    acc: list[np.ndarray] = field(default_factory=list)
    gyr: list[np.ndarray] = field(default_factory=list)
    mag: list[np.ndarray | None] = field(default_factory=list)
    quat: list[np.ndarray] = field(default_factory=list)

    def phase_data(self) -> PhaseData:
        mags = self.mag
        has_mag = bool(mags) and all(m is not None for m in mags)
        stream = SensorStream(
            np.concatenate(self.t) if self.t else np.zeros(0),
            np.concatenate(self.acc) if self.acc else np.zeros((0, 3)),
            np.concatenate(self.gyr) if self.gyr else np.zeros((0, 3)),
            np.concatenate([m for m in mags if m is not None]) if has_mag else None,
        )
        return PhaseData(stream, np.concatenate(self.quat) if self.quat else np.zeros((0, 4)))


class SessionPipeline:
    """Turns one session's samples and markers into angles, reps and holds."""

    def __init__(self, exercise: Exercise, side: Side, rate_hz: float) -> None:
        self.exercise = exercise
        self.side = side
        self.rate_hz = rate_hz
        self.filters = {seg: GapBridgingFilter(VqfFilter(rate_hz, use_mag=False, params=SESSION_VQF), rate_hz)
                        for seg in SENSORS}
        self.engine = ExerciseEngine(exercise)
        self.calibration: Calibration | None = None
        self.markers: list[Marker] = []
        self.latest: tuple[float, float, float, float] | None = None
        """(t, hip_ir_deg, knee_flexion_deg, thigh_drift_deg) of the newest output instant."""
        self.samples_seen = 0
        self.last_sample_t = 0.0
        self._pending: dict[Segment, list[ImuSample]] = {seg: [] for seg in SENSORS}
        self._kept: dict[Segment, _Kept] = {seg: _Kept() for seg in SENSORS}
        self._newest: dict[Segment, np.ndarray] = {}
        """Newest orientation of the thigh and pelvis, for pairing with shin samples across batches."""
        self._pelvis_reference: np.ndarray | None = None
        self._still: dict[Segment, StillPhase] | None = None
        self.alignment: OnlineAlignment | None = None
        self._in_exercise = False
        self._last_t = 0.0

    @property
    def counter(self) -> RepCounter:
        return self.engine.counter

    @property
    def max_ir_deg(self) -> float:
        return self.engine.max_ir_deg

    # --- phases ---------------------------------------------------------------------------
    def _marker_time(self, label: str) -> float | None:
        for m in self.markers:
            if m.label == label:
                return m.t
        return None

    @property
    def phase(self) -> str:
        """The current marker phase: '' before any marker, else the latest marker's label."""
        return self.markers[-1].label if self.markers else ""

    # --- feeding --------------------------------------------------------------------------
    def feed(self, items: Iterable[ImuSample | Marker]) -> PipelineUpdate:
        """Process the next samples and markers, in time order."""
        parts: list[JointAngles] = []
        events: list[RepEvent] = []
        calibrated: Calibration | None = None
        for item in items:
            if isinstance(item, Marker):
                self._flush(parts, events)
                got = self._on_marker(item, parts, events)
                calibrated = calibrated or got
            elif item.sensor in self._pending:
                self._pending[item.sensor].append(item)
                self.samples_seen += 1
                self.last_sample_t = item.t
        self._flush(parts, events)
        return PipelineUpdate(JointAngles.concat(parts), events, calibrated)

    def _on_marker(self, marker: Marker, parts: list[JointAngles], events: list[RepEvent]) -> Calibration | None:
        # A phase lasts until the next marker, whatever its label.
        ended = self.markers[-1].label if self.markers else ""
        self.markers.append(marker)
        got: Calibration | None = None
        if ended == MarkerLabel.CALIBRATION_STATIC:
            self._analyse_still(marker.t)
        elif ended == MarkerLabel.CALIBRATION_SWING and self.calibration is None:
            got = self._calibrate(marker.t, parts)
        if marker.label == MarkerLabel.EXERCISE_START:
            self._in_exercise = True
            self.engine.start_set(marker.t)
        elif marker.label == MarkerLabel.EXERCISE_END and self._in_exercise:
            self._in_exercise = False
            events.extend(self.engine.end_set(marker.t))
        return got

    def _analyse_still(self, t_end: float) -> None:
        t_still = self._marker_time(MarkerLabel.CALIBRATION_STATIC)
        assert t_still is not None
        data = {seg: k.phase_data() for seg, k in self._kept.items() if k.t}
        self._still = still_phases(data, t_still, t_end)
        for seg, st in self._still.items():
            self.filters[seg].inner.set_gyro_bias(st.gyro_bias_rad_s)

    def _calibrate(self, t_end: float, parts: list[JointAngles]) -> Calibration:
        t_swing = self._marker_time(MarkerLabel.CALIBRATION_SWING)
        assert t_swing is not None
        if self._still is None:
            raise MissingPhaseError("the knee swings came before any still phase.",
                                    "Begin with the still phase (marker calibration.static), then the swings.")
        data = {seg: k.phase_data() for seg, k in self._kept.items() if k.t}
        cal = calibrate(self.exercise.posture, self.side, data, self._still, t_swing, t_end)
        pelvis_still = self._still.get(Segment.PELVIS)
        if Segment.PELVIS in data and pelvis_still is not None:
            p = data[Segment.PELVIS]
            sel = (p.stream.t >= pelvis_still.t_start) & (p.stream.t <= pelvis_still.t_end)
            self._pelvis_reference = K.mean_orientation(p.quat[sel])
        self.calibration = cal
        self.alignment = OnlineAlignment(self.exercise.posture, self.side, cal,
                                         self._still[Segment.THIGH].up_sensor,
                                         self._still[Segment.SHIN].up_sensor, self.rate_hz,
                                         rotation_sign=self.engine.direction,
                                         learn_axes=self.exercise.learn_long_axes)
        self._kept = {seg: _Kept() for seg in SENSORS}
        # angles for everything seen so far (before the exercise: no reps from these)
        blocks = {seg: (d.stream.t, d.quat) for seg, d in data.items()}
        parts.append(self._angles(blocks, []))
        return cal

    def feed_streams(self, streams: Mapping[Segment, SensorStream]) -> PipelineUpdate:
        """Process the next samples of each sensor as arrays: every one after what came before and
        before the next marker (the offline analysis feeds a recording this way, a slice between two
        markers at a time; the same as feeding those samples one by one)."""
        parts: list[JointAngles] = []
        events: list[RepEvent] = []
        self._flush(parts, events)
        blocks = {seg: s for seg, s in streams.items() if seg in self._pending and len(s)}
        for s in blocks.values():
            self.samples_seen += len(s)
            self.last_sample_t = max(self.last_sample_t, float(s.t[-1]))
        self._process(blocks, parts, events)
        return PipelineUpdate(JointAngles.concat(parts), events, None)

    def _flush(self, parts: list[JointAngles], events: list[RepEvent]) -> None:
        blocks: dict[Segment, SensorStream] = {}
        for seg in SENSORS:
            batch = self._pending[seg]
            if batch:
                self._pending[seg] = []
                blocks[seg] = SensorStream.from_samples(batch)
        self._process(blocks, parts, events)

    def _process(self, blocks: Mapping[Segment, SensorStream], parts: list[JointAngles],
                 events: list[RepEvent]) -> None:
        """Orientation of each sensor's block; kept until calibrated, then angles and reps."""
        out: dict[Segment, tuple[np.ndarray, np.ndarray]] = {}
        for seg in SENSORS:
            stream = blocks.get(seg)
            if stream is None:
                continue
            quat = self.filters[seg].update(stream.t, stream.gyr, stream.acc)
            out[seg] = (stream.t, quat)
            if self.calibration is None:
                kept = self._kept[seg]
                kept.t.append(stream.t)
                kept.acc.append(stream.acc)
                kept.gyr.append(stream.gyr)
                kept.mag.append(stream.mag)
                kept.quat.append(quat)
        if self.calibration is not None and out:
            parts.append(self._angles(out, events))

    # --- angles ---------------------------------------------------------------------------
    def _paired(self, seg: Segment, block: tuple[np.ndarray, np.ndarray] | None, t_out: np.ndarray) -> np.ndarray:
        """Orientation of `seg` at each of t_out: its newest sample at or before (NaN rows where none)."""
        t_src, q_src = block if block is not None else (np.zeros(0), np.zeros((0, 4)))
        idx = np.searchsorted(t_src, t_out, side="right") - 1
        prev = self._newest.get(seg, np.full(4, np.nan))
        paired: np.ndarray = np.vstack([prev[None, :], q_src])[idx + 1]
        if len(t_src):
            self._newest[seg] = q_src[-1]
        return paired

    def _angles(self, blocks: dict[Segment, tuple[np.ndarray, np.ndarray]], events: list[RepEvent]) -> JointAngles:
        """Angles at each shin sample, the thigh (and pelvis) paired with their newest sample before it."""
        align = self.alignment
        assert align is not None
        if Segment.SHIN not in blocks:  # no output instant: only note the newest thigh and pelvis orientations
            for seg in (Segment.THIGH, Segment.PELVIS):
                block = blocks.get(seg)
                if block is not None and len(block[0]):
                    self._newest[seg] = block[1][-1]
            return JointAngles.empty()
        t_shin, q_shin = blocks[Segment.SHIN]
        thigh_all = self._paired(Segment.THIGH, blocks.get(Segment.THIGH), t_shin)
        pelvis_all = self._paired(Segment.PELVIS, blocks.get(Segment.PELVIS), t_shin)
        keep = ~np.isnan(thigh_all[:, 0])
        t = t_shin[keep]
        if len(t) == 0:
            return JointAngles.empty()
        thigh_q, shin_q = thigh_all[keep], q_shin[keep]
        pelvis = np.full(len(t), np.nan)
        if self._pelvis_reference is not None:
            pq = pelvis_all[keep]
            ok = ~np.isnan(pq[:, 0])
            pelvis[ok] = np.degrees(Q.angle(Q.multiply(Q.conjugate(self._pelvis_reference), pq[ok])))
        evidence = align.evidence_mask(shin_q) if self._in_exercise else np.zeros(len(t), dtype=bool)
        spans = align.advance(thigh_q, shin_q, evidence)

        def per_sample(value: Callable[[AlignmentSpan], np.ndarray]) -> np.ndarray:
            if len(spans) == 1:
                return value(spans[0])
            return np.repeat(np.stack([value(s) for s in spans]), [s.end - s.start for s in spans], axis=0)

        shin_seg = K.segment_orientation(shin_q, per_sample(lambda s: s.shin_mount))
        thigh_own = K.segment_orientation(thigh_q, per_sample(lambda s: s.thigh_mount))
        thigh_seg = K.with_heading(thigh_own, align.track_heading(thigh_own, shin_seg, spans))
        flex = K.knee_flexion_rad(thigh_seg, shin_seg)
        femur = K.femur_from_shin(shin_seg, flex)
        ir = np.degrees(K.hip_internal_rotation_rad(femur, per_sample(lambda s: s.femur_reference), self.side))
        drift = np.degrees(K.long_axis_drift_rad(thigh_seg, per_sample(lambda s: s.thigh_reference)))
        angles = JointAngles(t, ir, np.degrees(flex), drift, pelvis)
        thigh_alignment: list[ThighAlignment] = []
        for s in spans:
            current = (s.thigh_long_axis, s.refits, s.thigh_axis_known, s.thigh_axis_fitted)
            thigh_alignment += [current] * (s.end - s.start)
        self._count(angles, events, thigh_q, thigh_alignment)
        return angles

    def _count(self, angles: JointAngles, events: list[RepEvent], thigh_quat: np.ndarray,
               thigh_alignment: list[ThighAlignment]) -> None:
        """Feed the exercise engine; thigh_quat (N, 4): the thigh filter's orientation at each instant;
        thigh_alignment: the alignment current at each instant (see ThighPose)."""
        self.latest = (float(angles.t[-1]), float(angles.hip_ir_deg[-1]),
                       float(angles.knee_flexion_deg[-1]), float(angles.thigh_drift_deg[-1]))
        self._last_t = float(angles.t[-1])
        if not self._in_exercise:
            return
        sel = angles.t >= self.engine.sets[-1].start
        if not sel.any():
            return
        first = int(np.argmax(sel))  # sel is the instants from the set's start on
        if first:
            angles = JointAngles(*(x[first:] for x in (angles.t, angles.hip_ir_deg, angles.knee_flexion_deg,
                                                         angles.thigh_drift_deg, angles.pelvis_motion_deg)))
        events.extend(self.engine.update_block(angles, thigh_quat[first:], thigh_alignment[first:]))

    # --- end ------------------------------------------------------------------------------
    def finish(self) -> tuple[AnalysisResult, PipelineUpdate]:
        """Flush, calibrate if the recording ended in the swing phase, close the exercise."""
        parts: list[JointAngles] = []
        events: list[RepEvent] = []
        calibrated: Calibration | None = None
        self._flush(parts, events)
        if self.calibration is None:
            if self._marker_time(MarkerLabel.CALIBRATION_STATIC) is None:
                raise MissingPhaseError(
                    "the session has no calibration phases (markers calibration.static and calibration.swing).",
                    "Record the still phase and the knee swings before the exercise.",
                )
            if self._marker_time(MarkerLabel.CALIBRATION_SWING) is None:
                raise MissingPhaseError("the session has a still phase but no knee swings "
                                        "(marker calibration.swing).",
                                        "Swing the lower leg a few times after the still phase.")
            calibrated = self._calibrate(self.last_sample_t, parts)
        if self._in_exercise:
            self._in_exercise = False
            events.extend(self.engine.end_set(self._last_t))
        result = AnalysisResult(
            exercise=self.exercise.id,
            side=self.side.value,
            max_ir_deg=self.engine.result_max_ir_deg,
            reps=self.engine.reps,
            holds=self.engine.holds,
            compensations=self.engine.compensations,
        )
        return result, PipelineUpdate(JointAngles.concat(parts), events, calibrated)



def analyse_samples(exercise: Exercise, side: Side, rate_hz: float,
                    items: Sequence[ImuSample | Marker]) -> tuple[AnalysisResult, JointAngles, Calibration]:
    """Offline: run a whole session through the pipeline at once."""
    result, angles, cal, _ = analyse_samples_in_detail(exercise, side, rate_hz, items)
    return result, angles, cal


def analyse_samples_in_detail(
    exercise: Exercise, side: Side, rate_hz: float, items: Sequence[ImuSample | Marker]
) -> tuple[AnalysisResult, JointAngles, Calibration, dict[str, Any]]:
    """`analyse_samples`, plus the exercise engine's details (sets, tempo, partial reps, ...)."""
    pipe = SessionPipeline(exercise, side, rate_hz)
    first = pipe.feed(items)
    result, last = pipe.finish()
    assert pipe.calibration is not None
    return result, JointAngles.concat([first.angles, last.angles]), pipe.calibration, pipe.engine.details()


def analyse_streams_in_detail(
    exercise: Exercise, side: Side, rate_hz: float, streams: Mapping[Segment, SensorStream],
    markers: Sequence[Marker],
) -> tuple[AnalysisResult, JointAngles, Calibration, dict[str, Any]]:
    """`analyse_samples_in_detail` on a recording's arrays: each sensor's samples between two markers
    fed as one block, in the order `merged_events` gives (a marker before samples of its instant)."""
    pipe = SessionPipeline(exercise, side, rate_hz)
    ordered = {seg: _time_sorted(s) for seg, s in streams.items()}
    start = dict.fromkeys(ordered, 0)
    parts: list[JointAngles] = []
    for marker in sorted(markers, key=lambda m: m.t):
        cut = {seg: int(np.searchsorted(s.t, marker.t, side="left")) for seg, s in ordered.items()}
        parts.append(pipe.feed_streams({seg: _rows(s, start[seg], cut[seg]) for seg, s in ordered.items()}).angles)
        parts.append(pipe.feed([marker]).angles)
        start = cut
    parts.append(pipe.feed_streams({seg: _rows(s, start[seg], len(s)) for seg, s in ordered.items()}).angles)
    result, last = pipe.finish()
    assert pipe.calibration is not None
    return result, JointAngles.concat([*parts, last.angles]), pipe.calibration, pipe.engine.details()


def _time_sorted(s: SensorStream) -> SensorStream:
    if len(s) < 2 or bool(np.all(np.diff(s.t) >= 0)):
        return s
    order = np.argsort(s.t, kind="stable")
    return SensorStream(s.t[order], s.acc[order], s.gyr[order], None if s.mag is None else s.mag[order])


def _rows(s: SensorStream, a: int, b: int) -> SensorStream:
    return SensorStream(s.t[a:b], s.acc[a:b], s.gyr[a:b], None if s.mag is None else s.mag[a:b])
