"""Helpers of the MQTT session tests (tests/test_mqtt_run.py): a bridge (`run_bridge`'s `MqttBridge`)
playing a simulated person on its own skewed clock, a client that sends malformed payloads and
duplicates onto its topics, and the accounting of what a session stored against what the bridge got.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import numpy as np

from firmware_bridge.ble.reconnect import ReconnectPolicy
from firmware_bridge.ble.sensor import GapCallback, LinkStats, SampleCallback, SensorGap
from firmware_bridge.mqtt.bridge import BridgeStats, Held, MqttBridge, SensorChannel
from firmware_bridge.mqtt.codec import HEADER
from firmware_bridge.mqtt.settings import MqttSettings
from firmware_bridge.mqtt.topics import bridge_root, parse_stream_topic
from firmware_bridge.replay import ReplayedLink, ReplayGroup
from imu_core.frames import Segment
from imu_core.types import ImuSample, SensorStream

BRIDGE_OFFSET_S = 5000.0
BRIDGE_DRIFT = 20e-6
"""The bridge's clock: the host's monotonic clock, 5000 s ahead and 20 ppm fast."""
FAST = ReconnectPolicy(first_backoff_s=0.2, growth=2.0, max_backoff_s=1.0, jitter_fraction=0.3,
                       episode_timeout_s=float("inf"), attempt_timeout_s=5.0)
"""The bridge's reconnect policy with shorter waits, so an outage ends soon after the broker is back."""


def bridge_clock() -> float:
    return time.monotonic() * (1.0 + BRIDGE_DRIFT) + BRIDGE_OFFSET_S


def host_of_bridge(t: np.ndarray | float) -> np.ndarray | float:
    """When (host time) a sample stamped `t` by the bridge was taken."""
    return (t - BRIDGE_OFFSET_S) / (1.0 + BRIDGE_DRIFT)


class EpochGroup(ReplayGroup):
    """A `ReplayGroup` that remembers when the person started (bridge time)."""

    at: float | None = None

    def epoch(self, now: float) -> float:
        self.at = super().epoch(now)
        return self.at


class Tap:
    """A SensorLink around a `ReplayedLink` that keeps every sample and gap it gives the bridge."""

    def __init__(self, link: ReplayedLink) -> None:
        self.link = link
        self.segment = link.segment
        self.address = link.address
        self.model = link.model
        self.samples: list[ImuSample] = []
        self.gaps: list[SensorGap] = []

    @property
    def stats(self) -> LinkStats:
        return self.link.stats

    async def start(self, rate_hz: float, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        def got_samples(batch: list[ImuSample]) -> None:
            self.samples.extend(batch)
            on_samples(batch)

        def got_gap(gap: SensorGap) -> None:
            self.gaps.append(gap)
            on_gap(gap)

        await self.link.start(rate_hz, got_samples, got_gap)

    async def stop(self) -> None:
        await self.link.stop()


@dataclass
class SimulatedBridge:
    """A bridge (`MqttBridge`, as `run_bridge` runs it) whose sensors play `streams` in real time on the
    bridge clock from when it starts. `publish_time` notes when each batch was handed to the client."""

    settings: MqttSettings
    bridge_id: str
    streams: dict[Segment, SensorStream]
    options: dict[str, Any] = field(default_factory=dict)
    group: EpochGroup = field(default_factory=EpochGroup)
    taps: dict[Segment, Tap] = field(default_factory=dict)
    publish_time: dict[tuple[Segment, int], float] = field(default_factory=dict)
    stats: BridgeStats | None = None
    bridge: MqttBridge | None = None

    async def run(self, stop: asyncio.Event) -> BridgeStats:
        self.taps = {seg: Tap(ReplayedLink(seg, stream, model="simulated", clock=bridge_clock, group=self.group))
                     for seg, stream in self.streams.items()}
        bridge = MqttBridge(self.settings, self.bridge_id, list(self.taps.values()), rate_hz=100.0,
                            **{"policy": FAST, **self.options})
        self.bridge = bridge
        inner = bridge._publish

        async def publish(client: aiomqtt.Client, ch: SensorChannel, held: Held, window: asyncio.Semaphore) -> None:
            if held.first_index is not None:
                self.publish_time.setdefault((ch.segment, held.first_index), time.monotonic())
            await inner(client, ch, held, window)

        bridge._publish = publish  # type: ignore[method-assign]
        async with bridge:
            self.stats = await bridge.run(stop)
        return self.stats

    def channel(self, segment: Segment) -> SensorChannel:
        assert self.bridge is not None
        return next(ch for ch in self.bridge.channels if ch.segment is segment)


class Meddler:
    """Another client on the broker: sends the given payloads to the bridge's topics at the given times
    (s after `go`), and sends again (duplicates) the data batches whose first_index is in `repeat`."""

    def __init__(self, settings: MqttSettings, bridge_id: str, *, bad: Sequence[tuple[float, str, bytes]] = (),
                 repeat: Sequence[int] = ()) -> None:
        self.settings = settings
        self.bridge_id = bridge_id
        self.bad = sorted(bad)
        self.repeat = set(repeat)
        self.sent_bad = 0
        self.repeated: dict[Segment, int] = {}

    async def run(self, go: asyncio.Event) -> None:
        async with self.settings.client(identifier=f"meddler-{self.bridge_id}") as client:
            await client.subscribe(f"{bridge_root(self.settings.prefix, self.bridge_id)}/+/data", qos=1)

            async def send_bad() -> None:
                await go.wait()
                t0 = time.monotonic()
                for at, topic, payload in self.bad:
                    await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
                    await client.publish(topic, payload, qos=1)
                    self.sent_bad += 1

            sender = asyncio.get_running_loop().create_task(send_bad())
            done: set[tuple[Segment, int]] = set()
            try:
                async for message in client.messages:
                    payload = message.payload
                    parsed = parse_stream_topic(message.topic.value)
                    if not isinstance(payload, bytes) or parsed is None or len(payload) < HEADER.size:
                        continue
                    first_index = HEADER.unpack_from(payload)[4]
                    if first_index in self.repeat and (parsed[1], first_index) not in done:
                        done.add((parsed[1], first_index))  # once: we receive our own copy too
                        await client.publish(message.topic.value, payload, qos=1)
                        self.repeated[parsed[1]] = self.repeated.get(parsed[1], 0) + 1
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender


def f32(v: Sequence[float]) -> tuple[float, ...]:
    """As the wire carries it: float32."""
    return tuple(float(x) for x in np.asarray(v, np.float32))


def account(published: Sequence[ImuSample], stored_acc: np.ndarray, stored_gyr: np.ndarray
            ) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Match stored samples to the samples the bridge got (exact values after float32, in order): the runs
    of the bridge's samples missing from the store up to the last one stored, as (first, count), and per
    stored sample its index among the bridge's."""
    keys = [f32(s.acc) + f32(s.gyr) for s in published]
    matched = np.empty(len(stored_acc), int)
    j = 0
    for i, row in enumerate(np.hstack([stored_acc, stored_gyr])):
        key = tuple(float(v) for v in row)
        while j < len(keys) and keys[j] != key:
            j += 1
        assert j < len(keys), f"stored sample {i} was never published"
        matched[i] = j
        j += 1
    missing = [(int(a) + 1, int(b - a - 1)) for a, b in itertools.pairwise(matched) if b - a > 1]
    return missing, matched


def lag_spread(stored_t: np.ndarray, published: Sequence[ImuSample], matched: np.ndarray,
               settle_s: float = 10.0) -> tuple[float, float]:
    """The spread of (stored time - when the sample was taken), over all samples and after the first
    `settle_s` (the first batches settle the clock), s; stored times must increase."""
    assert np.all(np.diff(stored_t) > 0)
    taken = np.asarray(host_of_bridge(np.array([s.t for s in published])))[matched]
    lag = stored_t - taken
    settled = lag[stored_t > stored_t[0] + settle_s]
    return float(np.ptp(lag)), float(np.ptp(settled))


def without(stream: SensorStream, drop: slice) -> SensorStream:
    """The stream without the samples of `drop` (lost on the radio: the bridge reports a packet_loss gap)."""
    keep = np.ones(len(stream.t), bool)
    keep[drop] = False
    return SensorStream(stream.t[keep], stream.acc[keep], stream.gyr[keep],
                        None if stream.mag is None else stream.mag[keep])

