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
                        stop: asyncio.Event | None = None, poll_s: float = 0.1) -> None:
    """Issue the phase markers; returns after `exercise.end`."""
    stop = stop or asyncio.Event()

    async def wait(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    await wait(plan.lead_in_s)
    add_marker(MarkerLabel.CALIBRATION_STATIC)
    await wait(plan.still_s)
    add_marker(MarkerLabel.CALIBRATION_SWING)
    await wait(plan.swing_s + plan.settle_s)  # the settle belongs to the swing phase: it adds no motion
    add_marker(MarkerLabel.EXERCISE_START)
    elapsed = 0.0
    while not stop.is_set() and elapsed < plan.max_exercise_s and len(state.reps) < plan.reps:
        await wait(poll_s)
        elapsed += poll_s
    if len(state.reps) >= plan.reps:
        await wait(plan.after_last_rep_s)
    add_marker(MarkerLabel.EXERCISE_END)
