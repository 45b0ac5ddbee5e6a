"""Play a recording back as a live stream: samples and markers in time order, paced by the clock; or one
sensor's stream as a live `SensorLink` (`ReplayedLink`, `simulated_links`)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from firmware_bridge.ble.sensor import GapCallback, LinkStats, SampleCallback, SensorGap
from imu_core.frames import Segment, Side
from imu_core.types import ImuSample, Marker, Recording, SensorStream

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


class ReplayedLink:
    """One sensor's recorded (or simulated) stream played in real time as a live `SensorLink`.

    For `hiptrack bridge --simulate` and tests: it delivers the stream's samples as a BLE driver does,
    every `notify_interval_s` the ones now due, on the host clock (`clock`, default `time.monotonic`):
    a sample recorded at `s.t` arrives with `t = epoch + (s.t - t_first) / speed`, where `epoch` is when
    the first link of its group started, so the thigh and the shin of one person stay in step. Samples
    the stream lacks (the simulator drops some, as a radio does) are reported as `SensorGap`s with reason
    'packet_loss', as a driver reports lost packets. `finished` is set when the stream has been played.
    """

    def __init__(self, segment: Segment, stream: SensorStream, *, model: str = "simulated",
                 address: str | None = None, speed: float = 1.0, notify_interval_s: float = 0.02,
                 clock: Callable[[], float] = time.monotonic, group: ReplayGroup | None = None) -> None:
        if speed <= 0.0:
            raise ValueError("speed must be positive")
        self.segment = segment
        self.address = address or f"replay:{segment.value}"
        self.model = model
        self.stats = LinkStats()
        self.stream = stream
        self.speed = speed
        self.notify_interval_s = notify_interval_s
        self.clock = clock
        self.group = group if group is not None else ReplayGroup()
        self.finished = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, rate_hz: float, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        if self._task is not None:
            return
        epoch = self.group.epoch(self.clock())
        self.stats.connected = True
        self._task = asyncio.get_running_loop().create_task(self._play(epoch, rate_hz, on_samples, on_gap),
                                                            name=f"replay-{self.segment.value}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.stats.connected = False

    async def _play(self, epoch: float, rate_hz: float, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        stream = self.stream
        n = len(stream)
        if n == 0:
            self.finished.set()
            return
        host_t = epoch + (stream.t - stream.t[0]) / self.speed
        period = 1.0 / rate_hz if rate_hz > 0 else float(np.median(np.diff(stream.t))) if n > 1 else 0.01
        recent: collections.deque[tuple[float, int]] = collections.deque()
        i = 0
        while i < n:
            now = self.clock()
            j = int(np.searchsorted(host_t, now, side="right"))
            if j > i:
                samples = [ImuSample(float(host_t[k]), self.segment,
                                     (float(stream.acc[k, 0]), float(stream.acc[k, 1]), float(stream.acc[k, 2])),
                                     (float(stream.gyr[k, 0]), float(stream.gyr[k, 1]), float(stream.gyr[k, 2])),
                                     None if stream.mag is None else
                                     (float(stream.mag[k, 0]), float(stream.mag[k, 1]), float(stream.mag[k, 2])))
                           for k in range(i, j)]
                if i > 0:
                    self._report_losses(stream.t[i - 1:j], host_t[i - 1:j], period, on_gap)
                self.stats.samples += j - i
                recent.append((now, j - i))
                while recent and recent[0][0] < now - 2.0:
                    recent.popleft()
                span = now - recent[0][0]
                self.stats.rate_hz = (sum(c for _, c in recent) - recent[0][1]) / span if span > 0.5 else rate_hz
                on_samples(samples)
                i = j
            if i < n:
                await asyncio.sleep(max(self.notify_interval_s, min(1.0, float(host_t[i]) - self.clock())))
        self.finished.set()

    def _report_losses(self, rec_t: np.ndarray, host_t: np.ndarray, period: float, on_gap: GapCallback) -> None:
        steps = np.diff(rec_t)
        for k in np.nonzero(steps > 1.5 * period)[0]:
            lost = round(float(steps[k]) / period) - 1
            if lost > 0:
                self.stats.samples_lost += lost
                on_gap(SensorGap(self.segment, float(host_t[k]), float(host_t[k + 1]), lost, "packet_loss"))


class ReplayGroup:
    """Links that play one person together: they share the epoch the first of them started at."""

    def __init__(self) -> None:
        self._epoch: float | None = None

    def epoch(self, now: float) -> float:
        if self._epoch is None:
            self._epoch = now
        return self._epoch


def simulated_links(seed: int = 0, *, exercise: str | None = None, reps: int | None = None, sets: int = 1,
                    side: Side = Side.LEFT, rate_hz: float = 100.0, speed: float = 1.0,
                    with_pelvis_sensor: bool = False,
                    clock: Callable[[], float] = time.monotonic) -> list[ReplayedLink]:
    """A simulated person (`firmware_bridge.simulator.simulate_session`) as live sensor links, one per
    sensor, playing in step in real time (times `speed`)."""
    from firmware_bridge.simulator import simulate_session

    if exercise is None:
        sim = simulate_session(seed=seed, side=side, reps=reps, rate_hz=rate_hz, sets=sets,
                               with_pelvis_sensor=with_pelvis_sensor)
    else:
        sim = simulate_session(seed=seed, side=side, reps=reps, rate_hz=rate_hz, sets=sets,
                               with_pelvis_sensor=with_pelvis_sensor, exercise=exercise)
    group = ReplayGroup()
    return [ReplayedLink(seg, stream, model="simulated", address=f"simulated:{seed}:{seg.value}", speed=speed,
                         clock=clock, group=group)
            for seg, stream in sim.recording.streams.items()]
