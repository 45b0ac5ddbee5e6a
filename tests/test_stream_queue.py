"""The bounded queue between sample producers and the pipeline: its stated drop policy."""

import asyncio

from firmware_bridge.stream_queue import SampleQueue
from imu_core.frames import Segment
from imu_core.types import ImuSample, Marker


def batch(t: float, n: int = 3) -> list[ImuSample | Marker]:
    return [ImuSample(t + i * 0.01, Segment.SHIN, (0.0, 0.0, 9.81), (0.0, 0.0, 0.0)) for i in range(n)]


def test_full_queue_drops_the_oldest_samples_never_markers() -> None:
    async def main() -> tuple[list[list[ImuSample | Marker]], int]:
        q = SampleQueue(max_batches=3)
        q.put([Marker(0.0, "calibration.static")])
        q.put(batch(1.0))
        q.put(batch(2.0))
        q.put(batch(3.0))  # full: the oldest sample-only batch (t=1) goes, the marker stays
        q.put(batch(4.0))  # full again: t=2 goes
        q.close()
        out = []
        while (b := await q.get()) is not None:
            out.append(b)
        return out, q.dropped_samples

    out, dropped = asyncio.run(main())
    assert dropped == 6
    assert isinstance(out[0][0], Marker)
    assert [b[0].t for b in out[1:]] == [3.0, 4.0]


def test_a_consumer_that_keeps_up_loses_nothing() -> None:
    async def main() -> int:
        q = SampleQueue(max_batches=4)
        got = 0

        async def consume() -> None:
            nonlocal got
            while (b := await q.get()) is not None:
                got += len(b)

        task = asyncio.create_task(consume())
        for k in range(200):
            q.put(batch(float(k)))
            await asyncio.sleep(0)
        q.close()
        await task
        assert q.dropped_samples == 0
        return got

    assert asyncio.run(main()) == 600
