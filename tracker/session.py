"""A live session: samples from a source, through the pipeline, into the store and the live view.

Tasks (owned by one TaskGroup): the producer moves batches from the source into a bounded queue
(see firmware_bridge.stream_queue for the drop policy); the consumer feeds the pipeline, writes samples
and markers to the store and commits at least once a second; the view redraws a few times a second
from the shared state, dropping frames rather than samples.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from firmware_bridge.ble.sensor import LinkStats, SensorGap
from firmware_bridge.stream_queue import SampleQueue
from imu_core.frames import Segment
from imu_core.types import ImuSample, Marker
from tracker.analysis import AnalysisResult, Rep
from tracker.pipeline import PipelineUpdate, SessionPipeline
from tracker.reps import RepPhase
from tracker.store import SessionStore

Event = ImuSample | Marker


@dataclass(slots=True)
class LiveState:
    """Everything the live views show; updated by the consumer, read by the views."""

    exercise_name: str
    side: str
    target_reps: int
    target_hold_s: tuple[float, float]
    phase: str = ""
    t: float = 0.0
    hip_ir_deg: float | None = None
    knee_flexion_deg: float | None = None
    thigh_drift_deg: float | None = None
    rep_phase: RepPhase = RepPhase.REST
    hold_elapsed_s: float = 0.0
    reps: list[Rep] = field(default_factory=list)
    max_ir_deg: float | None = None
    calibration_score: float | None = None
    samples: int = 0
    dropped_samples: int = 0
    samples_lost: int = 0
    """Samples the sensors did not deliver (lost packets, disconnects)."""
    messages: list[str] = field(default_factory=list)
    finished: bool = False
    clean_reps: int = 0
    """Reps with no compensation; len(reps) - clean_reps had one."""
    partial_reps: int = 0
    alerts: dict[str, str] = field(default_factory=dict)
    """Active compensations: kind -> what to tell the person."""
    set_no: int = 0
    sets_total: int = 1
    rest_remaining_s: float | None = None
    """Counting down between sets; None when not resting."""
    time_at_target_s: float | None = None
    """Stretches: time at or beyond the target so far."""
    pain: list[int | None] = field(default_factory=list)
    """Pain after each set, 0-10, as the person reported it (None: not asked or not answered)."""
    paused: bool = False
    """The person paused the guide: a set's time cap and a rest timer stand still."""
    can_pause: bool = False
    """Whether this session's guide can pause (a replayed demo cannot)."""
    phase_started_at: float | None = None
    phase_duration_s: float | None = None
    """Session time the current timed phase (still phase, knee swings) began, and how long it lasts."""
    awaiting_start: str | None = None
    """The guide waits for the person to say they are in position: what they are asked to do."""
    sensor_links: list[SensorStatus] = field(default_factory=list)
    """Each sensor's link, as its driver counts it (empty for a replayed session)."""
    leg: tuple[int, int] = (1, 1)
    """This leg's place among the legs of the session (1 of 2 with --both-sides)."""


class SensorStatus(Protocol):
    """One sensor as the live views show it: a driver (`firmware_bridge.ble.sensor.SensorLink`), whose
    `stats` are its own running counters, or a replayed stream."""

    @property
    def segment(self) -> Segment: ...
    @property
    def model(self) -> str: ...
    @property
    def stats(self) -> LinkStats: ...


def apply_update(state: LiveState, pipe: SessionPipeline, update: PipelineUpdate) -> list[str]:
    """Copy the pipeline's news into the live state; return lines worth announcing."""
    news: list[str] = []
    if update.calibration is not None:
        state.calibration_score = update.calibration.score
        news.append(f"Calibrated (quality {update.calibration.score:.0%}).")
    t = state.t = pipe.last_sample_t
    latest = pipe.latest
    if latest is not None:
        _, state.hip_ir_deg, state.knee_flexion_deg, state.thigh_drift_deg = latest
    phase = pipe.phase
    if phase != state.phase:
        state.phase = phase
    engine = pipe.engine
    counter = engine.counter
    state.rep_phase = counter.phase
    state.hold_elapsed_s = engine.hold_elapsed(t)
    max_ir_deg = pipe.max_ir_deg
    state.max_ir_deg = None if max_ir_deg != max_ir_deg else max_ir_deg
    state.samples = pipe.samples_seen
    state.set_no = engine.current_set
    state.partial_reps = len(counter.partials)
    if engine.stretch is not None:
        state.time_at_target_s = engine.stretch.time_at_target_s
    if not update.events and not news:  # most updates: a few samples, nothing counted
        return news
    for ev in update.events:
        if ev.kind == "rep_completed" and ev.rep is not None:
            state.reps.append(ev.rep)
            record = next((r for r in reversed(engine.records) if r.number == ev.rep_no), None)
            kinds = [] if record is None else record.compensations
            state.clean_reps += not kinds
            note = " (with " + ", ".join(k.replace("_", " ") for k in kinds) + ")" if kinds else ""
            state.alerts.clear()
            news.append(f"Rep {ev.rep_no}: peak {ev.rep.peak_ir_deg:.1f} deg, held {ev.rep.hold_s:.1f} s{note}")
        elif ev.kind == "compensation_started" and ev.compensation is not None:
            state.alerts[ev.compensation.kind] = ev.message
            if ev.message:
                news.append(ev.message)
        elif ev.kind == "compensation_ended" and ev.compensation is not None:
            state.alerts.pop(ev.compensation.kind, None)
        elif ev.kind == "movement_abandoned":
            state.alerts.clear()
    state.messages.extend(news)
    return news


async def run_live_session(
    source: AsyncIterator[list[Event]],
    pipeline: SessionPipeline,
    store: SessionStore,
    session_id: int,
    state: LiveState,
    on_change: Callable[[LiveState, list[str]], None] | None = None,
    commit_interval_s: float = 1.0,
    take_gaps: Callable[[], list[SensorGap]] | None = None,
) -> AnalysisResult:
    """Run until the source ends; returns the session's analysis (also saved in the store).

    take_gaps: where a live source reports samples its sensors did not deliver; they are marked in the
    store (never filled in)."""
    queue = SampleQueue()

    async def produce() -> None:
        try:
            async for batch in source:
                queue.put(batch)
        finally:
            queue.close()

    async def consume() -> None:
        last_commit = time.monotonic()
        while (batch := await queue.get()) is not None:
            samples = [e for e in batch if isinstance(e, ImuSample)]
            store.add_samples(session_id, samples)
            for e in batch:
                if isinstance(e, Marker):
                    store.add_marker(session_id, e)
            if take_gaps is not None:
                for gap in take_gaps():
                    store.add_gap(session_id, gap.sensor, gap.t_start, gap.t_end, gap.samples_lost, gap.reason)
                    state.samples_lost += gap.samples_lost
            update = pipeline.feed(batch)
            if update.calibration is not None:
                cal = update.calibration
                store.save_calibration(session_id, cal.t_calibrated, cal.score, cal.to_json_dict())
            state.dropped_samples = queue.dropped_samples
            news = apply_update(state, pipeline, update)
            if on_change is not None:
                on_change(state, news)
            if time.monotonic() - last_commit >= commit_interval_s:
                store.commit()
                last_commit = time.monotonic()
        store.commit()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(produce(), name="sample-producer")
        tg.create_task(consume(), name="pipeline-consumer")
    result, final = pipeline.finish()
    news = apply_update(state, pipeline, final)
    state.finished = True
    if on_change is not None:
        on_change(state, news)
    store.save_results(session_id, result, pipeline.engine.details())
    store.finish_session(session_id, "complete")
    store.commit()
    return result
