"""The MQTT bridge (firmware_bridge/mqtt/bridge.py) and its pieces, against a real mosquitto
(tests/mosquitto.py).

The payload codec round-trips and names what is wrong with each malformed batch; topics, ids and the
connection settings are checked before anything connects. A bridge publishes its descriptions and status
retained, and a raw subscriber decodes from its data exactly the samples the sensor links produced (no
loss, first_index contiguous) and its gaps. A bridge process that is SIGKILLed leaves the status offline
(its last will). A broker stopped for 3 s mid-session loses nothing: the subscriber (a persistent session)
ends with every sample index once after dropping duplicates. With a tiny buffer, the bridge drops the
oldest batches and says how many: exactly the indices the subscriber never got. Over TLS with a password
file the right user connects and a wrong password is refused with a clear error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np
import pytest
from mosquitto import Broker
from mqtt_helpers import Tap

from firmware_bridge.ble.reconnect import ReconnectPolicy
from firmware_bridge.ble.sensor import SensorGap
from firmware_bridge.errors import MqttConfigError, MqttConnectionError
from firmware_bridge.mqtt import codec, topics
from firmware_bridge.mqtt.bridge import BridgeStats, SensorChannel, run_bridge
from firmware_bridge.mqtt.codec import BatchError, PayloadError
from firmware_bridge.mqtt.settings import PASSWORD_ENV, MqttSettings, pseudonymous_id
from firmware_bridge.replay import ReplayedLink, ReplayGroup
from imu_core.frames import Segment
from imu_core.types import ImuSample, SensorStream

ROOT = Path(__file__).resolve().parent.parent
FAST = ReconnectPolicy(first_backoff_s=0.2, growth=2.0, max_backoff_s=1.0, jitter_fraction=0.3,
                       episode_timeout_s=math.inf, attempt_timeout_s=5.0)
"""The broker policy's shape with shorter waits, so an outage test ends soon after the broker is back."""


# ------------------------------------------------------------------------------------------- helpers
def samples(n: int, seed: int = 0, mag: bool = False, segment: Segment = Segment.THIGH) -> list[ImuSample]:
    rng = np.random.default_rng(seed)
    t = 1000.0 + np.arange(n) / 100.0
    a, g, m = rng.normal(size=(n, 3)) * 9.0, rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) * 40.0
    return [ImuSample(float(t[i]), segment, (a[i, 0], a[i, 1], a[i, 2]), (g[i, 0], g[i, 1], g[i, 2]),
                      (m[i, 0], m[i, 1], m[i, 2]) if mag else None) for i in range(n)]


def as_sent(s: ImuSample) -> ImuSample:
    """The sample as the wire carries it: t float64, the vectors float32."""
    def f32(v: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        return None if v is None else (float(np.float32(v[0])), float(np.float32(v[1])), float(np.float32(v[2])))
    acc, gyr = f32(s.acc), f32(s.gyr)
    assert acc is not None and gyr is not None
    return ImuSample(s.t, s.sensor, acc, gyr, f32(s.mag))


def stream(seconds: float, seed: int, missing: Sequence[int] = ()) -> SensorStream:
    n = round(seconds * 100)
    keep = np.ones(n, bool)
    keep[list(missing)] = False
    rng = np.random.default_rng(seed)
    return SensorStream((np.arange(n) / 100.0)[keep], rng.normal(size=(n, 3))[keep], rng.normal(size=(n, 3))[keep])


def taps(seconds: float, missing: dict[Segment, Sequence[int]] | None = None) -> list[Tap]:
    group = ReplayGroup()
    return [Tap(ReplayedLink(seg, stream(seconds, i, (missing or {}).get(seg, ())), model=f"test-{seg.value}",
                             group=group))
            for i, seg in enumerate((Segment.THIGH, Segment.SHIN))]


class Collector:
    """A raw subscriber to one bridge's topics; with `persistent`, a persistent session (clean_session
    False, QoS 1) that reconnects when the broker goes away, so the broker keeps its messages meanwhile."""

    def __init__(self, settings: MqttSettings, bridge: str, *, persistent: bool = False) -> None:
        self.settings = settings
        self.filter = topics.bridge_filter(settings.prefix, bridge)
        self.persistent = persistent
        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        self._task = asyncio.get_running_loop().create_task(self._run())
        async with asyncio.timeout(5.0):
            await self.subscribed.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with self.settings.client(identifier="test-collector" if self.persistent else None,
                                                clean_session=not self.persistent) as client:
                    await client.subscribe(self.filter, qos=1)
                    self.subscribed.set()
                    async for msg in client.messages:
                        assert isinstance(msg.payload, bytes)
                        self.messages.append((str(msg.topic), msg.payload, bool(msg.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def of(self, segment: Segment, kind: str) -> list[bytes]:
        out = []
        for topic, payload, _ in self.messages:
            parsed = topics.parse_stream_topic(topic, self.settings.prefix)
            if parsed is not None and parsed[1] is segment and parsed[2] == kind:
                out.append(payload)
        return out

    def indexed(self, segment: Segment) -> dict[int, ImuSample]:
        """Every sample received, by its index; a duplicate must equal the first copy."""
        got: dict[int, ImuSample] = {}
        for payload in self.of(segment, "data"):
            batch = codec.decode_batch(payload, segment)
            for k, s in enumerate(batch.samples):
                assert got.setdefault(batch.first_index + k, s) == s
        return got

    async def until(self, done: Any, timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not done():
                await asyncio.sleep(0.05)


async def retained(settings: MqttSettings, bridge: str, wait_s: float = 0.5) -> dict[str, bytes]:
    """What a subscriber connecting now is given at once: the retained messages, topic -> payload (live ones
    that arrive meanwhile are left out)."""
    got: dict[str, bytes] = {}
    async with settings.client() as client:
        await client.subscribe(topics.bridge_filter(settings.prefix, bridge), qos=1)
        try:
            async with asyncio.timeout(wait_s):
                async for msg in client.messages:
                    assert isinstance(msg.payload, bytes)
                    if msg.retain:
                        got[str(msg.topic)] = msg.payload
        except TimeoutError:
            pass
    return got


async def bridge_until_played(settings: MqttSettings, bridge: str, links: list[Tap], **options: Any) -> BridgeStats:
    stop = asyncio.Event()

    async def end() -> None:
        await asyncio.gather(*(t.link.finished.wait() for t in links))
        await asyncio.sleep(0.15)
        stop.set()

    ender = asyncio.get_running_loop().create_task(end())
    try:
        return await run_bridge(settings, bridge, links, stop=stop, **options)
    finally:
        ender.cancel()


# --------------------------------------------------------------------------------------- codec
@pytest.mark.parametrize("mag", [False, True])
def test_batch_round_trip(mag: bool) -> None:
    sent = samples(7, seed=3, mag=mag)
    payload = codec.encode_batch(sent, 123_456)
    assert payload[:4] == b"HTB1" and payload[4] == (1 if mag else 0)
    assert len(payload) == 16 + 7 * (44 if mag else 32)
    batch = codec.decode_batch(payload, Segment.THIGH)
    assert batch.first_index == 123_456 and batch.next_index == 123_463
    assert batch.samples == [as_sent(s) for s in sent]
    arrays = codec.decode_arrays(payload)
    assert arrays.t.tolist() == [s.t for s in sent]  # times exact (float64)
    again = codec.encode_arrays(arrays.t, arrays.acc, arrays.gyr, arrays.mag, 123_456)
    assert again == payload


def _header(magic: bytes = b"HTB1", flags: int = 0, reserved: int = 0, count: int = 1, first: int = 0,
            tail: bytes = b"\0\0\0\0") -> bytes:
    return struct.pack("<4sBBHI4s", magic, flags, reserved, count, first, tail)


GOOD = codec.encode_batch(samples(2), 5)


@pytest.mark.parametrize(("payload", "says"), [
    (b"", "too short"),
    (GOOD[:15], "too short"),
    (b"HTB2" + GOOD[4:], "wrong magic"),
    (_header(flags=0x02, count=2) + GOOD[16:], "unknown flags"),
    (_header(reserved=1, count=2) + GOOD[16:], "reserved"),
    (_header(count=2, tail=b"\0\0\0\1") + GOOD[16:], "reserved"),
    (_header(count=0), "count is 0"),
    (GOOD[:-1], "does not match count"),
    (GOOD + b"\0", "does not match count"),
    (_header(count=3) + GOOD[16:], "does not match count"),
    (_header(flags=1, count=2) + GOOD[16:], "with magnetometer"),
    (_header(count=1) + struct.pack("<d6f", float("nan"), 0, 0, 0, 0, 0, 0), "not finite"),
    (_header(count=1) + struct.pack("<d6f", 0.0, 0, float("inf"), 0, 0, 0, 0), "not finite"),
    (_header(count=2) + struct.pack("<d6f", 1.0, *[0.0] * 6) + struct.pack("<d6f", 0.5, *[0.0] * 6),
     "times go backwards"),
])
def test_malformed_batches_say_what_is_wrong(payload: bytes, says: str) -> None:
    with pytest.raises(BatchError, match=says):
        codec.decode_batch(payload, Segment.SHIN)


def test_encoding_refuses_what_the_format_cannot_carry() -> None:
    with pytest.raises(BatchError, match="at least one"):
        codec.encode_batch([], 0)
    with pytest.raises(BatchError, match="uint32"):
        codec.encode_batch(samples(1), 1 << 32)
    mixed = samples(2, mag=True)[:1] + samples(1)  # one sample without mag: the batch carries none
    assert codec.decode_batch(codec.encode_batch(mixed, 0), Segment.THIGH).samples[0].mag is None


def test_json_payloads_are_checked() -> None:
    desc = codec.stream_description(Segment.SHIN, "Nano 33 BLE Rev2", 100.0, True)
    assert codec.parse_description(codec.to_json(desc)) == desc
    for bad, says in [(b"{", "not valid JSON"), (b"[]", "not a JSON object"),
                      ({**desc, "format": "hiptrack-imu-batch/2"}, "unknown format"),
                      ({**desc, "segment": "arm"}, "unknown segment"), ({**desc, "rate_hz": 0}, "positive"),
                      ({**desc, "has_mag": "yes"}, "has_mag"), ({**desc, "units": {"acc": "g"}}, "units")]:
        with pytest.raises(PayloadError, match=says):
            codec.parse_description(bad if isinstance(bad, bytes) else codec.to_json(bad))
    gap = SensorGap(Segment.THIGH, 10.0, 10.5, 49, "disconnect")
    assert codec.parse_gap(codec.encode_gap(gap), Segment.THIGH) == gap
    for bad_gap, says in [({"t_start": 2, "t_end": 1, "samples_lost": 1, "reason": "broker"}, "before"),
                          ({"t_start": 1, "t_end": 2, "samples_lost": -1, "reason": "broker"}, "samples_lost"),
                          ({"t_start": 1, "t_end": 2, "samples_lost": 1, "reason": "cosmic"}, "reason")]:
        with pytest.raises(PayloadError, match=says):
            codec.parse_gap(codec.to_json(bad_gap), Segment.THIGH)
    will = codec.parse_status(codec.to_json(codec.WILL_STATUS))
    assert will["state"] == "offline" and will["sensors"] == [] and will["dropped_samples"] == 0
    with pytest.raises(PayloadError, match="state"):
        codec.parse_status(b'{"state": "dancing"}')


def test_topics_and_ids() -> None:
    p = "hiptrack/v1"
    assert topics.bridge_status(p, "ht-7f3a9c") == "hiptrack/v1/bridge/ht-7f3a9c/status"
    assert topics.stream_data(p, "ht-1", Segment.SHIN) == "hiptrack/v1/bridge/ht-1/shin/data"
    assert topics.session_event("lab/a/hiptrack", "ht-2") == "lab/a/hiptrack/session/ht-2/event"
    assert topics.parse_stream_topic("lab/x/bridge/ht-1/thigh/gap") == ("ht-1", Segment.THIGH, "gap")
    assert topics.parse_stream_topic("lab/x/bridge/ht-1/thigh/gap", "hiptrack/v1") is None
    for not_ours in ["hiptrack/v1/bridge/ht-1/status", "hiptrack/v1/bridge/ht-1/arm/data",
                     "hiptrack/v1/session/ht-1/thigh/data", "bridge/ht-1/thigh/data"]:
        assert topics.parse_stream_topic(not_ours) is None
    for bad in ["", "a/b", "a+", "#", "a b", "tab\t", "x" * 65]:
        with pytest.raises(MqttConfigError):
            topics.bridge_status(p, bad)
    for bad_prefix in ["", "/x", "x/", "a//b", "a/+/b", "a/#"]:
        with pytest.raises(MqttConfigError):
            topics.session_info(bad_prefix, "ht-1")


def test_settings_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    s = MqttSettings.from_url("mqtts://broker.example", user="mat1")
    assert (s.host, s.port, s.tls, s.username, s.password) == ("broker.example", 8883, True, "mat1", "s3cret")
    assert "s3cret" not in repr(s)
    plain = MqttSettings.from_url("mqtt://10.0.0.2:1884", prefix="lab/hip", client_id="ht-abc")
    assert (plain.port, plain.tls, plain.password, plain.prefix, plain.client_id) == (1884, False, None, "lab/hip",
                                                                                      "ht-abc")
    with pytest.raises(MqttConfigError, match="holds a password") as refused:
        MqttSettings.from_url("mqtt://me:hunter2@broker")
    assert "hunter2" not in str(refused.value) and PASSWORD_ENV in refused.value.advice
    for bad, says in [("broker:1883", "no scheme"), ("http://broker", "unknown scheme"), ("mqtt://", "no broker"),
                      ("mqtt://broker:99999", "port"), ("mqtt://broker:x", "not a valid"),
                      ("mqtt://broker/topic", "no path")]:
        with pytest.raises(MqttConfigError, match=says):
            MqttSettings.from_url(bad)
    with pytest.raises(MqttConfigError, match="does not exist"):
        MqttSettings.from_url("mqtts://broker", ca=tmp_path / "missing.pem")
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(MqttConfigError, match="both --mqtt-cert and --mqtt-key"):
        MqttSettings.from_url("mqtts://broker", cert=tmp_path / "c.pem")
    with pytest.raises(MqttConfigError, match="plain connection"):
        MqttSettings.from_url("mqtt://broker", ca=tmp_path / "c.pem")
    with pytest.raises(MqttConfigError, match="cannot be used"):
        MqttSettings.from_url("mqtts://broker", ca=tmp_path / "c.pem").ssl_context()
    first = pseudonymous_id(tmp_path / "store" / "mqtt-id")
    assert first.startswith("ht-") and len(first) == 9
    assert pseudonymous_id(tmp_path / "store" / "mqtt-id") == first
    assert MqttSettings.from_url("mqtt://b").resolved_id(tmp_path / "store" / "mqtt-id") == first


def test_channel_keeps_the_newest_and_never_drops_what_is_in_flight() -> None:
    link = ReplayedLink(Segment.THIGH, stream(1.0, 0))
    ch = SensorChannel(link, "hiptrack/v1", "ht-1", 100.0, buffer_s=0.1)
    all_samples = samples(60)
    for k in range(6):  # six batches of 10 samples, 0.1 s each
        ch.on_samples(all_samples[10 * k:10 * k + 10])
        ch.cut()
        if k == 0:
            first = ch.take()  # in flight while the others arrive
            assert first is not None and first.first_index == 0
    kept = [h.first_index for h in ch.unsent]
    assert kept == [40, 50] and list(ch.in_flight) == [first.seq]
    assert (ch.dropped_samples, ch.dropped_batches, ch.held_samples) == (30, 3, 30)
    ch.rewind()  # the connection dropped: the one in flight goes first again
    assert [h.first_index for h in ch.unsent] == [0, 40, 50]
    while (held := ch.take()) is not None:
        ch.ack(held)
    assert (ch.samples_acked, ch.held_samples, ch.next_index) == (30, 0, 60)


# --------------------------------------------------------------------------------------- with a broker
def test_bridge_publishes_every_sample_with_descriptions_and_status_retained() -> None:
    with Broker() as broker:
        settings = MqttSettings.from_url(broker.url)
        links = taps(2.0, missing={Segment.THIGH: range(100, 105)})

        async def main() -> tuple[BridgeStats, Collector, dict[str, bytes], dict[str, bytes]]:
            async with Collector(settings, "ht-b1") as collector:
                bridge = asyncio.get_running_loop().create_task(bridge_until_played(settings, "ht-b1", links))
                await collector.until(lambda: len(collector.of(Segment.SHIN, "data")) >= 5)
                during = await retained(settings, "ht-b1")
                stats = await bridge
                await collector.until(lambda: all(len(collector.indexed(t.segment)) == len(t.samples)
                                                  for t in links))
            return stats, collector, during, await retained(settings, "ht-b1")

        stats, collector, during, after = asyncio.run(main())

    for tap in links:
        seg = tap.segment
        got = collector.indexed(seg)
        assert sorted(got) == list(range(len(tap.samples)))  # no loss, indices contiguous from 0
        assert [got[i] for i in range(len(got))] == [as_sent(s) for s in tap.samples]
        firsts = [codec.decode_batch(p, seg).first_index for p in collector.of(seg, "data")]
        assert firsts == sorted(set(firsts))  # in order, no duplicates on a steady connection
        assert [codec.parse_gap(p, seg) for p in collector.of(seg, "gap")] == tap.gaps
        desc = codec.parse_description(during[topics.stream_desc(settings.prefix, "ht-b1", seg)])
        assert (desc["segment"], desc["model"], desc["rate_hz"], desc["has_mag"]) == (seg, f"test-{seg.value}",
                                                                                     100.0, False)
        assert stats.sensors[seg].samples_acked == len(tap.samples)
    assert len(links[0].gaps) == 1 and links[0].gaps[0].samples_lost == 5 and links[0].gaps[0].reason == "packet_loss"
    live = codec.parse_status(during[topics.bridge_status(settings.prefix, "ht-b1")])
    assert live["state"] == "online" and [s["segment"] for s in live["sensors"]] == [Segment.THIGH, Segment.SHIN]
    assert live["sensors"][0]["model"] == "test-thigh" and live["sensors"][0]["connected"] is True
    final = codec.parse_status(after[topics.bridge_status(settings.prefix, "ht-b1")])
    assert final["state"] == "offline" and final["reason"] == "shutdown"
    assert (final["buffered_samples"], final["dropped_samples"]) == (0, 0)
    assert (stats.connects, stats.dropped_samples, stats.undelivered_samples) == (1, 0, 0)


CHILD_STORE = "store/hiptrack.sqlite3"


def test_last_will_says_offline_when_the_bridge_process_is_killed(tmp_path: Path) -> None:
    with Broker() as broker:
        settings = MqttSettings.from_url(broker.url)
        status_topic = topics.bridge_status(settings.prefix, "ht-kill")
        child = subprocess.Popen(
            [sys.executable, "-m", "tracker.bridge_command", "--store", str(tmp_path / CHILD_STORE), "--mqtt",
             broker.url, "--mqtt-id", "ht-kill", "--simulate", "--seed", "2", "--reps", "1"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})

        async def main() -> list[dict[str, Any]]:
            seen: list[dict[str, Any]] = []
            async with settings.client() as client:
                await client.subscribe(status_topic, qos=1)
                async with asyncio.timeout(30.0):
                    async for msg in client.messages:
                        assert isinstance(msg.payload, bytes)
                        seen.append(codec.parse_status(msg.payload))
                        if seen[-1]["state"] == "online" and len(seen) == 1:
                            await asyncio.sleep(0.3)  # streaming for a moment
                            os.kill(child.pid, signal.SIGKILL)
                        if seen[-1]["state"] == "offline":
                            break
            return seen

        try:
            seen = asyncio.run(main())
        finally:
            child.kill()
            _, err = child.communicate(timeout=10)
        assert child.returncode == -signal.SIGKILL, err
        assert seen[0]["state"] == "online" and len(seen[0]["sensors"]) == 2
        assert seen[-1] == {**codec.WILL_STATUS, "since": None, "sensors": [], "buffered_samples": 0,
                            "dropped_samples": 0}
        kept = asyncio.run(retained(settings, "ht-kill"))
        assert json.loads(kept[status_topic]) == codec.WILL_STATUS
        assert (tmp_path / "store" / "mqtt-id").exists() is False  # --mqtt-id given: no id file made


def test_broker_restart_mid_session_loses_nothing() -> None:
    with Broker() as broker:
        settings = MqttSettings.from_url(broker.url)
        links = taps(5.0)

        async def main() -> tuple[BridgeStats, Collector]:
            async with Collector(settings, "ht-r1", persistent=True) as collector:
                bridge = asyncio.get_running_loop().create_task(
                    bridge_until_played(settings, "ht-r1", links, policy=FAST))
                await asyncio.sleep(1.0)
                await asyncio.to_thread(broker.stop)
                await asyncio.sleep(3.0)
                await asyncio.to_thread(broker.start)
                stats = await bridge
                await collector.until(lambda: all(len(collector.indexed(t.segment)) == len(t.samples)
                                                  for t in links), timeout_s=8.0)
            return stats, collector

        stats, collector = asyncio.run(main())

    assert stats.reconnects >= 1
    assert (stats.dropped_samples, stats.undelivered_samples) == (0, 0)
    for tap in links:
        got = collector.indexed(tap.segment)
        assert sorted(got) == list(range(len(tap.samples))) and len(tap.samples) >= 490
        assert [got[i] for i in range(len(got))] == [as_sent(s) for s in tap.samples]


def test_a_tiny_buffer_drops_the_oldest_and_counts_exactly_what_is_missing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="firmware_bridge.mqtt")
    with Broker() as broker:
        settings = MqttSettings.from_url(broker.url)
        links = taps(4.0)

        async def main() -> tuple[BridgeStats, Collector, dict[str, bytes]]:
            async with Collector(settings, "ht-d1", persistent=True) as collector:
                bridge = asyncio.get_running_loop().create_task(
                    bridge_until_played(settings, "ht-d1", links, policy=FAST, buffer_s=0.3))
                await asyncio.sleep(1.0)
                await asyncio.to_thread(broker.stop)
                await asyncio.sleep(1.5)
                await asyncio.to_thread(broker.start)
                stats = await bridge
                expected = {t.segment: len(t.samples) - stats.sensors[t.segment].dropped_samples for t in links}
                await collector.until(lambda: all(len(collector.indexed(seg)) >= n for seg, n in expected.items()),
                                      timeout_s=8.0)
            return stats, collector, await retained(settings, "ht-d1")

        stats, collector, after = asyncio.run(main())

    for tap in links:
        got = collector.indexed(tap.segment)
        missing = set(range(len(tap.samples))) - set(got)
        dropped = stats.sensors[tap.segment].dropped_samples
        assert dropped > 50 and len(missing) == dropped  # 1.5 s away, 0.3 s kept
        assert len(got) + len(missing) == len(tap.samples) and max(got) == len(tap.samples) - 1
        assert all(got[i] == as_sent(tap.samples[i]) for i in got)
    final = codec.parse_status(after[topics.bridge_status(settings.prefix, "ht-d1")])
    assert final["dropped_samples"] == stats.dropped_samples
    assert any("dropping the oldest" in r.getMessage() for r in caplog.records)
    assert any("samples were dropped while the broker was unreachable" in r.getMessage() for r in caplog.records)


def _bridge_to_reader(settings: MqttSettings, reader: MqttSettings, bridge_id: str) -> None:
    """One bridge session through a secured broker: every sample reaches a reader, one connection."""
    links = taps(1.0)

    async def run() -> tuple[BridgeStats, Collector]:
        async with Collector(reader, bridge_id) as collector:
            stats = await bridge_until_played(settings, bridge_id, links)
            await collector.until(lambda: all(len(collector.indexed(t.segment)) == len(t.samples) for t in links))
        return stats, collector

    stats, collector = asyncio.run(run())
    assert stats.connects == 1
    assert all(len(collector.indexed(t.segment)) == len(t.samples) >= 95 for t in links)


def test_tls_with_a_password_file(monkeypatch: pytest.MonkeyPatch) -> None:
    with Broker(tls=True, users={"mat1": "correct horse", "reader": "battery staple"}) as broker:
        assert broker.ca_file is not None
        monkeypatch.setenv(PASSWORD_ENV, "correct horse")
        settings = MqttSettings.from_url(broker.url, user="mat1", ca=broker.ca_file)
        reader = dataclasses.replace(settings, username="reader", password="battery staple")
        _bridge_to_reader(settings, reader, "ht-t1")

        async def refused(settings: MqttSettings) -> BaseException:
            started = time.monotonic()
            with pytest.raises(MqttConnectionError) as caught:
                await run_bridge(settings, "ht-t2", taps(5.0), stop=asyncio.Event())
            assert time.monotonic() - started < 5.0
            return caught.value

        monkeypatch.setenv(PASSWORD_ENV, "wrong")
        wrong = asyncio.run(refused(MqttSettings.from_url(broker.url, user="mat1", ca=broker.ca_file)))
        assert "refused the login" in str(wrong) and PASSWORD_ENV in str(wrong)
        no_ca = asyncio.run(refused(MqttSettings.from_url(broker.url, user="mat1")))
        assert "certificate" in str(no_ca) and "--mqtt-ca" in str(no_ca)


def test_client_certificates() -> None:
    """A broker that accepts only clients with a certificate from its CA: the bridge and a reader connect
    with theirs. (Without one the bridge keeps retrying: with TLS 1.3 the broker's refusal comes after
    the handshake, as a timeout, not as an error the bridge can tell apart. Noted in docs/mqtt.md.)"""
    from mosquitto import make_client_certificate

    with Broker(client_certificates=True) as broker:
        assert broker.ca_file is not None
        cert, key = make_client_certificate(broker.folder, "mat3")
        reader_cert, reader_key = make_client_certificate(broker.folder, "reader")
        settings = MqttSettings.from_url(broker.url, ca=broker.ca_file, cert=cert, key=key)
        reader = MqttSettings.from_url(broker.url, ca=broker.ca_file, cert=reader_cert, key=reader_key)
        _bridge_to_reader(settings, reader, "ht-c1")
