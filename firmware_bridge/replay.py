"""Play a recording back as a live stream: samples and markers in time order, paced by the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from imu_core.types import ImuSample, Marker, Recording

Event = ImuSample | Marker


def merged_events(rec: Recording) -> list[Event]:
    """All markers and samples in time order; a marker comes before samples of the same instant."""
    keyed: list[tuple[float, int, Event]] = [(m.t, 0, m) for m in rec.markers]
    keyed.extend((s.t, 1, s) for s in rec.merged_samples())
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [e for _, _, e in keyed]


async def replay(rec: Recording, speed: float = 1.0, batch_s: float = 0.02) -> AsyncIterator[list[Event]]:
    """Yield the recording in batches of about `batch_s` recording-seconds, each when its last event is
    due at `speed` times real time (speed <= 0: as fast as possible)."""
    events = merged_events(rec)
    if not events:
        return
    t0 = events[0].t
    wall0 = time.monotonic()
    batch: list[Event] = []
    batch_end = t0 + batch_s
    for ev in events:
        if ev.t >= batch_end and batch:
            await _wait_until(wall0, (batch[-1].t - t0), speed)
            yield batch
            batch = []
            batch_end = ev.t + batch_s
        batch.append(ev)
    if batch:
        await _wait_until(wall0, (batch[-1].t - t0), speed)
        yield batch


async def _wait_until(wall0: float, rec_elapsed: float, speed: float) -> None:
    if speed <= 0:
        await asyncio.sleep(0)
        return
    delay = wall0 + rec_elapsed / speed - time.monotonic()
    await asyncio.sleep(max(0.0, delay))
