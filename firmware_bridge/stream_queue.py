"""The bounded queue between sample producers (BLE callbacks, replay) and the session pipeline.

Drop policy: producers never block. When the queue is full the OLDEST queued sample batch is dropped
and counted, so the pipeline stays current; markers are never dropped. A consumer that keeps up never
sees a drop; the count tells when it did not.
"""

from __future__ import annotations

import asyncio
from collections import deque

from imu_core.types import ImuSample, Marker

Event = ImuSample | Marker


class SampleQueue:
    def __init__(self, max_batches: int = 512) -> None:
        self.max_batches = max_batches
        self._items: deque[list[Event] | None] = deque()
        self._ready = asyncio.Event()
        self.dropped_samples = 0

    def put(self, batch: list[Event]) -> None:
        """Queue a batch (never blocks); drop the oldest sample-only batch if full."""
        if len(self._items) >= self.max_batches:
            for i, old in enumerate(self._items):
                if old is not None and not any(isinstance(e, Marker) for e in old):
                    del self._items[i]
                    self.dropped_samples += len(old)
                    break
        self._items.append(batch)
        self._ready.set()

    def close(self) -> None:
        """No more batches: the consumer's `get` returns None once the queue is empty."""
        self._items.append(None)
        self._ready.set()

    async def get(self) -> list[Event] | None:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def qsize(self) -> int:
        return len(self._items)
