"""Several sensors streaming at once, merged into one time-ordered stream for a session.

Each driver delivers its own samples in time order, but the sensors' notifications interleave in
arrival order, which is not time order (one board batches 4 samples per notification, another 2). The
pipeline pairs each shin sample with the newest thigh sample before it, so the merge releases samples
only up to a watermark: the oldest of the sensors' newest timestamps. Everything before the watermark
can no longer be overtaken. A sensor that stops delivering (a disconnect) holds the watermark back at
most `max_hold_s`; after that the others flow on and the silent sensor's gap is reported by its driver.
Markers from the session guide enter at the current host time and are merged the same way, so a live
session sees exactly the order an offline analysis of its export sees.

Times are shifted so the session starts at t = 0 on the host clock.

Drop policy: see `firmware_bridge.stream_queue` (the merged batches go through a bounded queue there).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from types import TracebackType

from firmware_bridge.ble.sensor import SensorGap, SensorLink
from imu_core.frames import Segment
from imu_core.types import ImuSample, Marker

Event = ImuSample | Marker


class LiveSource:
    """Starts the links, merges their samples and the guide's markers, yields time-ordered batches."""

    def __init__(self, links: Sequence[SensorLink], rate_hz: float, *, clock: Callable[[], float] = time.monotonic,
                 max_hold_s: float = 0.3, batch_interval_s: float = 0.02) -> None:
        self.links = list(links)
        self.rate_hz = rate_hz
        self.clock = clock
        self.max_hold_s = max_hold_s
        self.batch_interval_s = batch_interval_s
        self.t0 = 0.0
        self._heap: list[tuple[float, int, int, Event]] = []
        self._order = itertools.count()
        self._newest: dict[Segment, float] = {}
        self._newest_wall: dict[Segment, float] = {}
        self._gaps: list[SensorGap] = []
        self._closed = False
        self._released_t = float("-inf")

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> LiveSource:
        self.t0 = self.clock()
        try:
            async with asyncio.TaskGroup() as tg:
                for link in self.links:
                    tg.create_task(link.start(self.rate_hz, self._samples_of(link.segment), self._on_gap),
                                   name=f"start-{link.segment.value}")
        except BaseException:
            # one sensor failed: the ones already streaming must not be left so
            await asyncio.gather(*(link.stop() for link in self.links), return_exceptions=True)
            raise
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        # stop every link even if one fails to stop cleanly: a board must never keep streaming
        results = await asyncio.gather(*(link.stop() for link in self.links), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures and et is None:
            raise failures[0]

    # --- inputs ---------------------------------------------------------------------------
    def _samples_of(self, segment: Segment) -> Callable[[list[ImuSample]], None]:
        def on_samples(samples: list[ImuSample]) -> None:
            if not samples or self._closed:  # after close: the session is over, the links are being stopped
                return
            t0, heap, order = self.t0, self._heap, self._order
            for s in samples:
                t = s.t - t0
                heapq.heappush(heap, (t, 1, next(order), ImuSample(t, segment, s.acc, s.gyr, s.mag)))
            self._newest[segment] = samples[-1].t - t0
            self._newest_wall[segment] = self.clock()
        return on_samples

    def _on_gap(self, gap: SensorGap) -> None:
        self._gaps.append(gap)

    def now(self) -> float:
        """Session time now, s."""
        return self.clock() - self.t0

    def add_marker(self, label: str) -> Marker:
        """Mark the start of a phase at the current time."""
        marker = Marker(max(self.now(), self._released_t), label)
        heapq.heappush(self._heap, (marker.t, 0, next(self._order), marker))
        return marker

    def close(self) -> None:
        """The session is over: later samples are ignored, `batches` drains what is held and ends."""
        self._closed = True

    def take_gaps(self) -> list[SensorGap]:
        """Gaps reported since the last call, on session time."""
        gaps = list(self._gaps)
        self._gaps.clear()
        return [replace(g, t_start=g.t_start - self.t0, t_end=g.t_end - self.t0) for g in gaps]

    # --- output ---------------------------------------------------------------------------
    def _watermark(self) -> float:
        wall = self.clock()
        if self._closed:
            return float("inf")
        newest_wall, max_hold_s = self._newest_wall, self.max_hold_s
        mark, any_live = float("inf"), False
        for seg, t in self._newest.items():
            if wall - newest_wall[seg] <= max_hold_s:
                any_live = True
                if t < mark:
                    mark = t
        if len(self._newest) < len(self.links) or not any_live:
            # not every sensor has spoken yet (or all are silent): hold, but never longer than max_hold_s
            return self.now() - self.max_hold_s
        return mark

    def _release(self) -> list[Event]:
        mark = self._watermark()
        heap = self._heap
        out: list[Event] = []
        if not heap or heap[0][0] > mark:
            return out
        released_t = self._released_t
        while heap and heap[0][0] <= mark:
            t, _, _, ev = heapq.heappop(heap)
            if t > released_t:
                released_t = t
            out.append(ev)
        self._released_t = released_t
        return out

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Time-ordered batches until `close()` has been called and everything was released."""
        while True:
            batch = self._release()
            if batch:
                yield batch
            elif self._closed and not self._heap:
                return
            await asyncio.sleep(self.batch_interval_s)
