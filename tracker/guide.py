"""The guided flow of a live session: what the person is asked to do, and when.

The guide marks the phases on the session's clock (the markers of the recording format): a still phase
in the start posture, knee swings, then set after set (`exercise.start` .. `exercise.end`), each until
its reps are done (or the time cap, or the person stops), with a pain rating after each set and a rest
timer between sets. The pipeline calibrates from the first two phases by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from imu_core.types import Marker, MarkerLabel
from tracker.session import LiveState

AskPain = Callable[[int], Awaitable[int | None]]
"""Asks the person for their pain (0-10) after set N; None if they gave none."""


@dataclass(frozen=True, slots=True)
class GuidePlan:
    lead_in_s: float = 2.0
    """Time to settle into the start posture before the still phase, s."""
    still_s: float = 5.0
    """Still phase, s."""
    swing_s: float = 8.0
    """Knee swings, s."""
    settle_s: float = 2.0
    """Rest between the swings and the exercise, s."""
    max_exercise_s: float = 600.0
    """Each set ends at the latest after this long, s."""
    reps: int = 8
    """A set ends once this many reps are counted in it (a stretch: 1)."""
    after_last_rep_s: float = 1.0
    """Time kept after the last rep, s."""
    sets: int = 1
    rest_s: float = 60.0
    """Rest between sets, s."""


async def guide_session(plan: GuidePlan, state: LiveState, add_marker: Callable[[str], Marker],
                        stop: asyncio.Event | None = None, poll_s: float = 0.1,
                        now: Callable[[], float] | None = None, ask_pain: AskPain | None = None,
                        on_change: Callable[[], None] | None = None, start: asyncio.Event | None = None,
                        ready_prompt: str = "Get into the start position, then press Start.") -> None:
    """Issue the phase markers; returns after the last set's `exercise.end`.

    With `start`, the guide first waits for it (the person says they are in position; `ready_prompt`
    is shown meanwhile as state.awaiting_start) and times the phases from then.
    With `now` (the session clock, s from the session's start) the phases are placed on that clock, so
    time spent connecting shortens the lead-in rather than delaying everything; without it they are
    timed from the call. `ask_pain` is awaited after each set (the answer goes to state.pain);
    `on_change` is called when the rest timer ticks."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    t_call = loop.time()
    state.sets_total = plan.sets

    def clock() -> float:
        return now() if now is not None else loop.time() - t_call

    async def wait_until(t_target: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, t_target - clock()))

    t_begin = 0.0
    if start is not None:
        state.awaiting_start = ready_prompt
        if on_change is not None:
            on_change()
        await _first_of(start, stop)
        state.awaiting_start = None
        if stop.is_set():
            return
        t_begin = clock()
    t_static = t_begin + plan.lead_in_s
    t_swing = t_static + plan.still_s
    t_exercise = t_swing + plan.swing_s + plan.settle_s  # the settle belongs to the swing phase: no motion
    await wait_until(t_static)
    add_marker(MarkerLabel.CALIBRATION_STATIC)
    state.phase_started_at, state.phase_duration_s = clock(), plan.still_s
    await wait_until(t_swing)
    add_marker(MarkerLabel.CALIBRATION_SWING)
    state.phase_started_at, state.phase_duration_s = clock(), plan.swing_s + plan.settle_s
    await wait_until(t_exercise)
    state.phase_started_at = state.phase_duration_s = None
    for set_no in range(1, plan.sets + 1):
        add_marker(MarkerLabel.EXERCISE_START)
        reps_before, active_s = len(state.reps), 0.0
        while (not stop.is_set() and active_s < plan.max_exercise_s
               and len(state.reps) - reps_before < plan.reps):
            before = clock()
            await wait_until(before + poll_s)
            if not state.paused:  # a pause holds the set's time cap
                active_s += clock() - before
        if len(state.reps) - reps_before >= plan.reps:
            await wait_until(clock() + plan.after_last_rep_s)
        add_marker(MarkerLabel.EXERCISE_END)
        if stop.is_set():
            return
        if ask_pain is not None:
            state.pain.append(await ask_pain(set_no))
        if set_no < plan.sets:
            await _rest(plan.rest_s, state, clock, wait_until, stop, on_change)
            if stop.is_set():
                return


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _rest(rest_s: float, state: LiveState, clock: Callable[[], float],
                wait_until: Callable[[float], Awaitable[None]], stop: asyncio.Event,
                on_change: Callable[[], None] | None) -> None:
    left = rest_s
    while not stop.is_set() and left > 0:
        state.rest_remaining_s = left
        if on_change is not None:
            on_change()
        before = clock()
        await wait_until(before + min(left, 0.1))
        if not state.paused:  # a pause holds the rest timer
            left -= clock() - before
    state.rest_remaining_s = None
