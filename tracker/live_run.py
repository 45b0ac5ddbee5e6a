"""A live session with real (or emulated) sensors: connect, guide, measure, store.

The same pipeline, store and views as the demo; the samples come from BLE drivers through
`firmware_bridge.ble.live_source.LiveSource` and the phases from `tracker.guide`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from firmware_bridge.ble.live_source import LiveSource
from firmware_bridge.ble.sensor import SensorLink
from imu_core.frames import Segment, Side
from tracker.analysis import AnalysisResult
from tracker.errors import TrackerError
from tracker.exercise_model import Exercise
from tracker.guide import AskPain, GuidePlan, guide_session
from tracker.pipeline import SessionPipeline
from tracker.prompts import ready_prompt
from tracker.sensor_config import SensorAssignment
from tracker.session import LiveState, run_live_session
from tracker.store import SessionStore


def make_link(assignment: SensorAssignment, *, client_backend: type[Any] | None = None) -> SensorLink:
    """The driver for an assigned sensor (bleak's `backend=` passed through for emulated tests)."""
    if assignment.family == "nano33":
        from firmware_bridge.nano33.driver import NanoSensor

        return NanoSensor(assignment.address, assignment.segment, client_backend=client_backend)
    from firmware_bridge.metawear.driver import MetaMotionSensor

    return MetaMotionSensor(assignment.address, assignment.segment, client_backend=client_backend)


def pick_sensors(assignments: Sequence[SensorAssignment], side: Side | None) -> tuple[Side, list[SensorAssignment]]:
    """The assigned sensors of one leg: thigh and shin required, pelvis (side-independent) optional."""
    sides = [side] if side is not None else [Side.LEFT, Side.RIGHT]
    for s in sides:
        leg = {a.segment: a for a in assignments if a.side is s}
        if Segment.THIGH in leg and Segment.SHIN in leg:
            chosen = [leg[Segment.THIGH], leg[Segment.SHIN]]
            pelvis = [a for a in assignments if a.segment is Segment.PELVIS]
            return s, chosen + pelvis[:1]
    which = f"the {side.value} leg" if side is not None else "either leg"
    raise TrackerError(f"no thigh and shin sensors are assigned for {which}.",
                       "Run 'hiptrack scan', then 'hiptrack sensors assign ADDRESS thigh --side left' "
                       "(and the same for the shin).")


async def run_session_with_sensors(
    links: Sequence[SensorLink], exercise: Exercise, side: Side, store: SessionStore, plan: GuidePlan,
    *, rate_hz: float = 100.0, sensors_info: dict[str, dict[str, Any]] | None = None,
    on_change: Callable[[LiveState, list[str]], None] | None = None, stop: asyncio.Event | None = None,
    source_kwargs: dict[str, Any] | None = None, ask_pain: AskPain | None = None,
    start: asyncio.Event | None = None, leg: tuple[int, int] = (1, 1), person: str | None = None,
) -> tuple[int, AnalysisResult]:
    """Connect the sensors, guide the person through calibration and the sets, store everything
    (pain ratings included, as the person gave them).

    With `start`, the guide waits for it once the sensors stream, asking the person to get into the
    start position (state.awaiting_start); `leg` is this leg's place in a both-sides session."""
    extra: dict[str, Any] = {"guide": plan.reps}
    if exercise.prescription.band_level is not None:
        extra["band_level"] = exercise.prescription.band_level
    sid = store.create_session(exercise.id, side, "live", rate_hz, sensors_info or {}, extra, person=person)
    store.commit()
    pipeline = SessionPipeline(exercise, side, rate_hz)
    state = LiveState(exercise.name, side.value, plan.reps, exercise.prescription.hold_s, sets_total=plan.sets,
                      can_pause=True, leg=leg,
                      sensor_links=list(links))

    async def pain_then_store(set_no: int) -> int | None:
        assert ask_pain is not None
        pain = await ask_pain(set_no)
        if pain is not None:
            store.add_pain(sid, set_no, pain, state.t)
            store.commit()
        return pain

    def redraw() -> None:
        if on_change is not None:
            on_change(state, [])

    try:
        async with LiveSource(links, rate_hz, **(source_kwargs or {})) as source:
            async def guide_then_close() -> None:
                await guide_session(plan, state, source.add_marker, stop, now=source.now,
                                    ask_pain=pain_then_store if ask_pain is not None else None, on_change=redraw,
                                    start=start, ready_prompt=ready_prompt(exercise))
                source.close()

            async with asyncio.TaskGroup() as tg:
                tg.create_task(guide_then_close(), name="session-guide")
                result_task = tg.create_task(
                    run_live_session(source.batches(), pipeline, store, sid, state, on_change,
                                     take_gaps=source.take_gaps), name="session-run")
    except BaseException:
        store.commit()
        store.finish_session(sid, "interrupted")
        raise
    return sid, result_task.result()
