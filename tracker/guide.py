"""The guided flow of a live session: what the person is asked to do, and when.

The guide marks the phases on the session's clock (the markers of the recording format): a still phase
in the start posture, knee swings, then the exercise until the prescribed reps are done (or the time
cap, or the person stops), then the end. The pipeline calibrates from the first two phases by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from imu_core.types import Marker, MarkerLabel
from tracker.session import LiveState


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
    """The set ends at the latest after this long, s."""
    reps: int = 8
    """The set ends once this many reps are counted."""
    after_last_rep_s: float = 1.0
    """Time kept after the last rep, s."""


async def guide_session(plan: GuidePlan, state: LiveState, add_marker: Callable[[str], Marker],
                        stop: asyncio.Event | None = None, poll_s: float = 0.1,
                        now: Callable[[], float] | None = None) -> None:
    """Issue the phase markers; returns after `exercise.end`.

    With `now` (the session clock, s from the session's start) the phases are placed on that clock, so
    time spent connecting shortens the lead-in rather than delaying everything; without it they are
    timed from the call."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    t_call = loop.time()

    def clock() -> float:
        return now() if now is not None else loop.time() - t_call

    async def wait_until(t_target: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, t_target - clock()))

    t_static = plan.lead_in_s
    t_swing = t_static + plan.still_s
    t_exercise = t_swing + plan.swing_s + plan.settle_s  # the settle belongs to the swing phase: no motion
    await wait_until(t_static)
    add_marker(MarkerLabel.CALIBRATION_STATIC)
    await wait_until(t_swing)
    add_marker(MarkerLabel.CALIBRATION_SWING)
    await wait_until(t_exercise)
    add_marker(MarkerLabel.EXERCISE_START)
    started = clock()
    while not stop.is_set() and clock() - started < plan.max_exercise_s and len(state.reps) < plan.reps:
        await wait_until(clock() + poll_s)
    if len(state.reps) >= plan.reps:
        await wait_until(clock() + plan.after_last_rep_s)
    add_marker(MarkerLabel.EXERCISE_END)
