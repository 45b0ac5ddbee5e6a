"""NanoSensor (firmware_bridge/nano33/driver.py) against emulated Nano 33 BLE boards running our firmware's
protocol (firmware_bridge/ble/emulation/nano33.py), through bleak's public API on bumble's in-process
stack. The driver is used exactly as in a session; only `client_backend=` and the host `clock=` (the
virtual loop's) differ.

The emulated boards stream one stream each of a ground-truth simulated session and log every sample
slot they filled (device time, true time, source row) and every packet (with its fate), so what the
driver delivered can be checked sample by sample against what the boards sent.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from bleak import BleakScanner

from firmware_bridge.ble.emulation import (
    CharacteristicSpec,
    EmulatedPeripheral,
    RadioWorld,
    ServiceSpec,
    run_in_virtual_time,
)
from firmware_bridge.ble.emulation.nano33 import EmulatedNano, ProducedSample
from firmware_bridge.ble.reconnect import ReconnectPolicy
from firmware_bridge.ble.sensor import SensorGap, SensorLink
from firmware_bridge.errors import (
    BridgeError,
    SensorStartError,
    SensorUnreachableError,
    WrongSensorError,
)
from firmware_bridge.nano33.driver import NanoSensor
from firmware_bridge.nano33.protocol import (
    ACC_G_PER_LSB,
    GYRO_DPS_PER_LSB,
    MAG_UT_PER_LSB,
    STANDARD_GRAVITY,
    AccRange,
    Board,
    GyroRange,
    Opcode,
)
from firmware_bridge.simulator import SimulatedSession, simulate_session
from imu_core.frames import Segment
from imu_core.types import ImuSample, SensorStream

THIGH_ADDRESS, SHIN_ADDRESS, OTHER_ADDRESS = "C4:00:00:00:01:01", "C4:00:00:00:01:02", "C4:00:00:00:01:03"
ACC, GYRO = AccRange.G4, GyroRange.DPS2000  # the driver's defaults
SETTLE_S = 10.0
"""Device-clock fit: seconds of stream after which host times must be within 2 ms of the truth."""


@functools.cache
def simulated() -> SimulatedSession:
    return simulate_session(seed=11, reps=2)


def source(segment: Segment) -> SensorStream:
    return simulated().recording.streams[segment]


def emulated(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test on the virtual-clock loop."""
    @functools.wraps(test)
    def run() -> None:
        run_in_virtual_time(test())
    return run


class Inbox:
    """The session's side of a link: what on_samples and on_gap received."""

    def __init__(self) -> None:
        self.samples: list[ImuSample] = []
        self.gaps: list[SensorGap] = []
        self.batches = 0

    def on_samples(self, batch: list[ImuSample]) -> None:
        self.batches += 1
        self.samples.extend(batch)

    def on_gap(self, gap: SensorGap) -> None:
        self.gaps.append(gap)


def board(segment: Segment, address: str, **kwargs: Any) -> EmulatedNano:
    return EmulatedNano(f"hiptrack-{address[-5:].replace(':', '')}", address, source(segment), **kwargs)


def driver(world: RadioWorld, device: Any, segment: Segment, **kwargs: Any) -> NanoSensor:
    return NanoSensor(device, segment, client_backend=world.client_backend, clock=asyncio.get_running_loop().time,
                      rng=random.Random(3), **kwargs)


@asynccontextmanager
async def one_board(**kwargs: Any) -> AsyncIterator[tuple[RadioWorld, EmulatedNano]]:
    async with RadioWorld() as world:
        yield world, await world.add(board(Segment.THIGH, THIGH_ADDRESS, **kwargs))


def lsb(b: Board) -> tuple[float, float, float]:
    return (ACC_G_PER_LSB[b][ACC] * STANDARD_GRAVITY, math.radians(GYRO_DPS_PER_LSB[b][GYRO]),
            MAG_UT_PER_LSB[b])


def assert_values_match_source(got: list[ImuSample], sent: list[ProducedSample], stream: SensorStream,
                               b: Board) -> None:
    """Each delivered sample equals the source row its board read, within one LSB of the firmware's scale
    (Rev2 magnetometer: within 0.5 µT, as the BMM150 driver's output is whole µT)."""
    rows = np.array([p.row for p in sent])
    acc = np.array([s.acc for s in got])
    gyr = np.array([s.gyr for s in got])
    mag = np.array([s.mag for s in got], dtype=float)
    acc_lsb, gyr_lsb, mag_lsb = lsb(b)
    assert np.abs(acc - stream.acc[rows]).max() <= acc_lsb
    assert np.abs(gyr - stream.gyr[rows]).max() <= gyr_lsb
    assert stream.mag is not None
    assert np.abs(mag - stream.mag[rows]).max() <= (0.5 + 1e-9 if b is Board.REV2 else mag_lsb)


def assert_same_samples(got: list[ImuSample], sent: list[ProducedSample], b: EmulatedNano) -> None:
    """`got` are exactly the board's `sent` samples, one for one, in order (same counts)."""
    assert len(got) == len(sent)
    for s, p in zip(got, sent, strict=True):
        assert b.board is not None
        acc_lsb, gyr_lsb, _ = lsb(b.board)
        assert round(s.acc[0] / acc_lsb) == p.counts[0] and round(s.gyr[2] / gyr_lsb) == p.counts[5]


def time_errors(got: list[ImuSample], sent: list[ProducedSample]) -> np.ndarray:
    return np.array([s.t - p.t_true for s, p in zip(got, sent, strict=True)])


# ------------------------------------------------------------------------------- streaming
@emulated
async def test_two_sensors_for_a_minute_lossless_exact_and_on_the_host_clock() -> None:
    async with RadioWorld() as world:
        # The thigh board's clock is near the u32 wrap (it wraps ~5 s in) and 50 ppm fast; the shin board is a
        # Rev1 whose clock is 30 ppm slow. Notifications arrive with exponential latency (mean 2 ms).
        thigh = await world.add(board(Segment.THIGH, THIGH_ADDRESS, board=Board.REV2, clock_offset_s=4290.0,
                                      clock_drift_ppm=50.0, notify_jitter_s=0.002, seed=1))
        shin = await world.add(board(Segment.SHIN, SHIN_ADDRESS, board=Board.REV1, clock_offset_s=17.3,
                                     clock_drift_ppm=-30.0, notify_jitter_s=0.002, seed=2))
        found = await BleakScanner.find_device_by_address(THIGH_ADDRESS, timeout=2.0, backend=world.scanner_backend)
        assert found is not None
        links: dict[Segment, NanoSensor] = {
            Segment.THIGH: driver(world, found, Segment.THIGH),  # a BLEDevice from a scan ...
            Segment.SHIN: driver(world, SHIN_ADDRESS, Segment.SHIN),  # ... or just the address
        }
        inboxes = {seg: Inbox() for seg in links}
        _: list[SensorLink] = list(links.values())  # NanoSensor is a SensorLink
        await asyncio.gather(*(link.start(100, inboxes[seg].on_samples, inboxes[seg].on_gap)
                               for seg, link in links.items()))
        assert (links[Segment.THIGH].model, links[Segment.SHIN].model) == ("Nano 33 BLE Rev2", "Nano 33 BLE Rev1")
        assert all(link.stats.connected for link in links.values())
        await asyncio.sleep(60.0)
        rates = {seg: link.stats.rate_hz for seg, link in links.items()}
        await asyncio.gather(*(link.stop() for link in links.values()))

        for seg, b in ((Segment.THIGH, thigh), (Segment.SHIN, shin)):
            link, inbox = links[seg], inboxes[seg]
            sent = b.delivered(session=1)
            assert {p.fate for p in b.packets} == {"sent"}
            assert len(sent) >= 5990 and b.samples_per_packet == 0  # 4 per packet at 100 Hz, then stopped
            assert {p.n for p in b.packets} == {4}
            # every sample once, in order: counters 0, 1, 2, ... and source rows 0, 1, 2, ... (cyclic)
            assert [p.seq for p in sent] == list(range(len(sent)))
            assert [p.row for p in sent] == [k % len(source(seg)) for k in range(len(sent))]
            assert_same_samples(inbox.samples, sent, b)
            assert b.board is not None
            assert_values_match_source(inbox.samples, sent, source(seg), b.board)
            assert inbox.gaps == [] and all(s.sensor is seg for s in inbox.samples)
            assert (link.stats.samples, link.stats.samples_lost, link.stats.packets_corrupt) == (len(sent), 0, 0)
            assert link.stale_packets == 0 and link.stats.reconnects == 0
            assert rates[seg] == pytest.approx(100.0, rel=0.01)
            t = np.array([s.t for s in inbox.samples])
            assert np.all(np.diff(t) > 0)
            errors = time_errors(inbox.samples, sent)
            settled = np.array([p.t_true for p in sent]) >= sent[0].t_true + SETTLE_S
            assert np.abs(errors[settled]).max() < 0.002
            assert np.abs(errors).max() < 0.005
            assert not b.streaming and not link.stats.connected


@emulated
async def test_200_hz_is_batched_and_lossless() -> None:
    async with one_board(clock_drift_ppm=20.0, notify_jitter_s=0.002) as (world, b):
        link = driver(world, b.address, Segment.THIGH)
        inbox = Inbox()
        await link.start(200, inbox.on_samples, inbox.on_gap)
        assert b.rate_hz == 200 and b.samples_per_packet == 8  # the firmware's choice: ~25 notifications/s
        await asyncio.sleep(15.0)
        await link.stop()
        sent = b.delivered(session=1)
        assert len(sent) >= 2990 and {p.fate for p in b.packets} == {"sent"}
        assert [p.seq for p in sent] == list(range(len(sent)))
        assert_same_samples(inbox.samples, sent, b)
        assert inbox.gaps == [] and link.stats.samples_lost == 0
        assert link.stats.rate_hz == pytest.approx(200.0, rel=0.01)
        assert inbox.batches == len(b.packets)  # one callback per notification
        t = np.array([s.t for s in inbox.samples])
        assert np.diff(t).mean() == pytest.approx(0.005, rel=1e-3)


@emulated
async def test_lost_packets_are_counted_exactly_and_reported_as_gaps() -> None:
    dropped = {20, 21, 50}  # packets of 4 samples: 8 consecutive samples, then 4
    async with one_board(drop_packets=dropped) as (world, b):
        link = driver(world, b.address, Segment.THIGH)
        inbox = Inbox()
        await link.start(100, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(5.0)
        await link.stop()
        assert [p.fate for p in b.packets if p.index in dropped] == ["dropped"] * 3
        sent = b.delivered(session=1)
        assert_same_samples(inbox.samples, sent, b)  # nothing interpolated: only what came
        missing = {i for p in b.packets if p.fate == "dropped" for i in p.samples}
        assert {p.seq for p in sent}.isdisjoint({b.produced[i].seq for i in missing})
        assert link.stats.samples_lost == len(missing) == 12
        assert [(g.samples_lost, g.reason) for g in inbox.gaps] == [(8, "packet_loss"), (4, "packet_loss")]
        times = [s.t for s in inbox.samples]
        for gap in inbox.gaps:
            before = times.index(gap.t_start)  # the last sample before and the first after, exactly
            assert times[before + 1] == gap.t_end
            assert (gap.t_end - gap.t_start) * 100 == pytest.approx(gap.samples_lost + 1, abs=0.01)
        first_lost = b.produced[min(missing)]
        assert inbox.gaps[0].t_start == pytest.approx(first_lost.t_true - 0.01, abs=0.002)


@emulated
async def test_corrupt_and_truncated_notifications_are_counted_and_skipped() -> None:
    async with one_board(corrupt_packets={15, 40}, truncate_packets={30}) as (world, b):
        link = driver(world, b.address, Segment.THIGH)
        inbox = Inbox()
        await link.start(100, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(2.0)
        await world.inject_notification(b, "5dfea601-02b3-4e26-abc8-2ffe8e34f80f", b"\x01\x02\x03")  # garbage
        await asyncio.sleep(3.0)
        assert link.stats.connected
        await link.stop()
        assert sorted(p.fate for p in b.packets if p.fate != "sent") == ["corrupt", "corrupt", "truncated"]
        assert link.stats.packets_corrupt == 4
        sent = b.delivered(session=1)
        assert_same_samples(inbox.samples, sent, b)
        assert link.stats.samples_lost == 12
        assert [(g.samples_lost, g.reason) for g in inbox.gaps] == [(4, "packet_loss")] * 3
        assert sent[-1].packet is not None and sent[-1].packet > 100  # the stream went on
        assert any("CRC" in e for e in link.stats.errors) and any("truncated" in e for e in link.stats.errors)


@emulated
async def test_an_overstated_payload_limit_makes_the_firmware_shrink_its_packets() -> None:
    """README: if the host announces more than the link carries, ArduinoBLE cuts the notification; the
    firmware shrinks its batches and says so in STATUS; the cut packet is a bad packet on the host."""
    async with one_board(max_mtu=100) as (world, b):  # 97-byte notifications: 4 samples fit, not 8
        link = driver(world, b.address, Segment.THIGH, max_payload=244)
        inbox = Inbox()
        await link.start(200, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(3.0)
        await link.stop()
        assert [p.fate for p in b.packets[:2]] == ["cut", "sent"] and {p.n for p in b.packets[1:]} == {4}
        assert link.stats.packets_corrupt == 1 and link.stats.samples_lost == 8
        # the stream's first 8 samples: START reset the counter, so the first packet's counter 8 says so
        [gap] = inbox.gaps
        assert (gap.samples_lost, gap.reason, gap.t_end) == (8, "packet_loss", inbox.samples[0].t)
        assert gap.t_start == pytest.approx(gap.t_end - 9 * 0.005)
        assert_same_samples(inbox.samples, b.delivered(session=1), b)
        assert any("4 samples per packet" in e for e in link.stats.errors)


# ------------------------------------------------------------------------------ disconnects
@pytest.mark.parametrize("how", ["lose_link", "disconnect"])
def test_reconnects_after_a_dropped_link_and_reports_one_gap(how: str) -> None:
    async def scenario() -> None:
        async with one_board(clock_offset_s=4293.0, clock_drift_ppm=50.0, notify_jitter_s=0.002) as (world, b):
            link = driver(world, b.address, Segment.THIGH)
            inbox = Inbox()
            await link.start(100, inbox.on_samples, inbox.on_gap)
            await asyncio.sleep(12.0)
            await (world.lose_link(b) if how == "lose_link" else world.disconnect(b))
            assert not link.stats.connected and not b.streaming  # our firmware stops on a disconnect
            await world.wait_until(lambda: link.stats.connected, timeout=10.0)
            await asyncio.sleep(8.0)
            await link.stop()

            assert link.stats.reconnects == 1 and b.connection_count == 2 and b.session == 2
            first, second = b.delivered(session=1), b.delivered(session=2)
            assert_same_samples(inbox.samples, first + second, b)
            [gap] = inbox.gaps
            assert gap.reason == "disconnect"
            before, after = first[-1], second[0]
            assert second[0].seq == 0  # START restarted the counter
            # What the board's sensor saw meanwhile: the source rows (on the device clock) between the last
            # sample before and the first after; the same count as the device-clock periods between them.
            assert gap.samples_lost == after.row - before.row - 1
            assert gap.samples_lost == round((after.t_device_us - before.t_device_us) / 10_000) - 1
            unsent = [p for p in b.produced if p.session == 1 and p.t_device_us > before.t_device_us]
            assert 0 < len(unsent) <= gap.samples_lost  # the ring's samples that died with the link, and more
            assert link.stats.samples_lost == gap.samples_lost
            assert gap.t_start == inbox.samples[len(first) - 1].t and gap.t_end == inbox.samples[len(first)].t
            errors = time_errors(inbox.samples, first + second)
            assert np.abs(errors[len(first):]).max() < 0.002  # the clock fit carried on across the reconnect
            assert gap.t_end - gap.t_start == pytest.approx(after.t_true - before.t_true, abs=0.002)

    run_in_virtual_time(scenario())


@emulated
async def test_a_board_that_keeps_streaming_across_a_disconnect_is_restarted_cleanly() -> None:
    async with one_board(keep_streaming_on_disconnect=True) as (world, b):
        link = driver(world, b.address, Segment.THIGH)
        inbox = Inbox()
        await link.start(100, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(3.0)
        await world.stop_advertising(b)  # out of range for a while
        await world.lose_link(b)
        lost_at = asyncio.get_running_loop().time()
        await asyncio.sleep(2.0)
        assert b.streaming  # the buggy board streams into its ring with nobody listening
        await world.start_advertising(b)
        await world.wait_until(lambda: link.stats.connected, timeout=10.0)
        await asyncio.sleep(3.0)
        await link.stop()
        assert not b.streaming

        def sent_before_the_loss(p: ProducedSample) -> bool:
            t_sent = b.packets[p.packet].t_sent if p.packet is not None else None
            return t_sent is not None and t_sent <= lost_at

        first = [p for p in b.delivered(session=1) if sent_before_the_loss(p)]
        late = [p for p in b.delivered(session=1) if not sent_before_the_loss(p)]
        assert late and link.stale_packets == len({p.packet for p in late})  # sent after the reconnect: dropped
        second = b.delivered(session=2)
        assert_same_samples(inbox.samples, first + second, b)
        [gap] = inbox.gaps
        assert gap.reason == "disconnect" and gap.samples_lost == second[0].row - first[-1].row - 1
        assert link.stats.reconnects == 1


@pytest.mark.parametrize("keep_reconnecting", [True, False])
def test_a_sensor_away_for_longer_than_one_episode(keep_reconnecting: bool) -> None:
    """Out of range for 100 s (one episode is 60 s): by default the driver keeps trying and the gap is
    counted on the board's clock when it is back; with keep_reconnecting=False it gives up after one."""
    async def scenario() -> None:
        async with one_board() as (world, b):
            link = driver(world, b.address, Segment.THIGH, policy=ReconnectPolicy(keep_reconnecting=keep_reconnecting))
            inbox = Inbox()
            await link.start(100, inbox.on_samples, inbox.on_gap)
            await asyncio.sleep(2.0)
            await world.stop_advertising(b)
            await world.lose_link(b)
            await asyncio.sleep(100.0)
            assert isinstance(link.failure, SensorUnreachableError) and not link.stats.connected
            await world.start_advertising(b)
            await asyncio.sleep(10.0)
            await link.stop()
            if not keep_reconnecting:
                assert b.connection_count == 1 and link.stats.reconnects == 0 and inbox.gaps == []
                assert any("gave up reconnecting" in e for e in link.stats.errors)
                return
            assert b.connection_count == 2 and link.stats.reconnects == 1 and link.failure is None
            first, second = b.delivered(session=1), b.delivered(session=2)
            assert_same_samples(inbox.samples, first + second, b)
            [gap] = inbox.gaps
            assert gap.samples_lost == round((second[0].t_device_us - first[-1].t_device_us) / 10_000) - 1
            assert gap.samples_lost > 10_000 and gap.t_end - gap.t_start > 100.0

    run_in_virtual_time(scenario())


@pytest.mark.parametrize(("outage_s", "clock_jump_s"), [(4500.0, 0.0), (30.0, -1000.0)])
def test_disconnect_gap_across_the_clock_wrap_and_after_a_board_reset(outage_s: float, clock_jump_s: float) -> None:
    """75 minutes away: the u32 µs device time wrapped meanwhile, which the host clock resolves. A board whose
    clock jumped (it was reset) is counted on the host clock instead."""
    async def scenario() -> None:
        async with one_board(clock_drift_ppm=40.0) as (world, b):
            link = driver(world, b.address, Segment.THIGH)
            inbox = Inbox()
            await link.start(100, inbox.on_samples, inbox.on_gap)
            await asyncio.sleep(2.0)
            await world.stop_advertising(b)
            await world.lose_link(b)
            await asyncio.sleep(outage_s)
            b.clock_offset_s += clock_jump_s
            await world.start_advertising(b)
            await asyncio.sleep(5.0)
            await link.stop()
            first, second = b.delivered(session=1), b.delivered(session=2)
            assert_same_samples(inbox.samples, first + second, b)
            [gap] = inbox.gaps
            if clock_jump_s == 0.0:  # device periods (the device clock is 40 ppm fast: 18 more than true ones)
                assert gap.samples_lost == round((second[0].t_device_us - first[-1].t_device_us) / 10_000) - 1
                assert gap.samples_lost - (round((second[0].t_true - first[-1].t_true) * 100) - 1) == 18
            else:
                assert gap.samples_lost == round((second[0].t_true - first[-1].t_true) * 100) - 1
                assert any("clock jumped" in e for e in link.stats.errors)
            assert abs(inbox.samples[len(first)].t - second[0].t_true) < 0.002

    run_in_virtual_time(scenario())


@emulated
async def test_a_board_left_streaming_delivers_nothing_from_before_our_start() -> None:
    async with one_board(stale_streaming=True, stale_rate_hz=200) as (world, b):
        await asyncio.sleep(1.0)  # streaming since power-on, as if a crashed session had left it so
        assert b.streaming and b.session == 0
        link = driver(world, b.address, Segment.THIGH)
        inbox = Inbox()
        await link.start(100, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(3.0)
        await link.stop()
        stale_sent = [p for p in b.packets if p.session == 0 and p.fate == "sent"]
        assert stale_sent, "the stale stream should have reached the driver (this test would prove nothing)"
        assert link.stale_packets == len(stale_sent)
        assert [op for _, (op, *_) in b.commands] == [Opcode.STOP, Opcode.START, Opcode.STOP]
        sent = b.delivered(session=1)
        assert sent[0].seq == 0
        assert_same_samples(inbox.samples, sent, b)
        assert inbox.gaps == [] and link.stats.samples_lost == 0
        assert np.diff([s.t for s in inbox.samples]).mean() == pytest.approx(0.01, rel=1e-3)  # 100 Hz, not 200


# ------------------------------------------------------------------------ refusals and stop
@emulated
async def test_wrong_device_fails_clearly_without_a_retry_loop() -> None:
    async with RadioWorld() as world:
        other = await world.add(EmulatedPeripheral("heart-rate", OTHER_ADDRESS, services=(ServiceSpec(
            "180d", (CharacteristicSpec("2a37", ("notify",)), CharacteristicSpec("2a38", ("read",), b"\x01"))),)))
        link = driver(world, OTHER_ADDRESS, Segment.THIGH)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(BridgeError, match="no hiptrack service") as caught:
            await link.start(100, Inbox().on_samples, Inbox().on_gap)
        assert isinstance(caught.value, WrongSensorError) and "firmware" in caught.value.advice
        assert other.connection_count == 1 and loop.time() - start < 1.0
        await world.wait_until(lambda: not other.is_connected)
        assert not link.stats.connected
        assert link.stats.errors and "no hiptrack service" in link.stats.errors[-1]


@emulated
async def test_other_firmware_or_a_too_small_link_is_refused_without_retrying() -> None:
    async with RadioWorld() as world:
        newer = await world.add(board(Segment.THIGH, THIGH_ADDRESS, packet_version=2))
        small = await world.add(board(Segment.SHIN, SHIN_ADDRESS, max_mtu=23))  # no MTU exchange
        with pytest.raises(WrongSensorError, match="data format 2"):
            await driver(world, THIGH_ADDRESS, Segment.THIGH).start(100, Inbox().on_samples, Inbox().on_gap)
        with pytest.raises(SensorStartError, match="20-byte notifications"):
            await driver(world, SHIN_ADDRESS, Segment.SHIN).start(100, Inbox().on_samples, Inbox().on_gap)
        assert newer.connection_count == small.connection_count == 1
        assert not newer.streaming and not small.streaming and small.commands == []
        rev1 = await world.add(board(Segment.SHIN, OTHER_ADDRESS, board=Board.REV1))
        with pytest.raises(SensorStartError, match="lacks the range"):
            await driver(world, OTHER_ADDRESS, Segment.SHIN, gyro_range=GyroRange.DPS1000).start(
                100, Inbox().on_samples, Inbox().on_gap)
        assert rev1.connection_count == 1
        await world.remove(rev1)
        no_imu = await world.add(board(Segment.SHIN, OTHER_ADDRESS, board=None))
        with pytest.raises(SensorStartError, match="found no IMU"):
            await driver(world, OTHER_ADDRESS, Segment.SHIN).start(100, Inbox().on_samples, Inbox().on_gap)
        assert no_imu.connection_count == 1


@emulated
async def test_an_absent_sensor_is_unreachable_after_the_policy_timeout() -> None:
    async with RadioWorld() as world:
        policy = ReconnectPolicy(episode_timeout_s=8.0, attempt_timeout_s=2.0)
        link = driver(world, "C4:00:00:00:01:99", Segment.THIGH, policy=policy)
        loop = asyncio.get_running_loop()
        with pytest.raises(SensorUnreachableError) as caught:
            await link.start(100, Inbox().on_samples, Inbox().on_gap)
        assert caught.value.attempts >= 3 and loop.time() <= 8.0 + 1e-6
        assert "C4:00:00:00:01:99" in str(caught.value)


@emulated
async def test_stop_leaves_the_board_idle_and_is_idempotent() -> None:
    async with one_board(keep_streaming_on_disconnect=True) as (world, b):  # would stream on without a STOP
        link = driver(world, b.address, Segment.THIGH)
        inbox = Inbox()
        await link.start(50, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(2.0)
        await link.stop()
        assert not b.streaming and not b.is_connected and not link.stats.connected
        assert b.commands[-1][1] == bytes([Opcode.STOP])
        count = len(inbox.samples)
        await link.stop()
        await asyncio.sleep(1.0)
        assert len(inbox.samples) == count and count >= 95
        # and it can be started again, as a new session
        await link.start(50, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(1.0)
        await link.stop()
        assert b.session == 2 and not b.streaming and len(inbox.samples) > count


@emulated
async def test_stop_during_a_reconnect_cancels_it() -> None:
    async with one_board() as (world, b):
        link = driver(world, b.address, Segment.THIGH)
        await link.start(100, Inbox().on_samples, Inbox().on_gap)
        await world.stop_advertising(b)
        await world.lose_link(b)
        await asyncio.sleep(12.0)  # attempts failing (the first scans for 10 s, then device not found)
        assert any("attempt" in e for e in link.stats.errors)
        await link.stop()
        await world.start_advertising(b)
        await asyncio.sleep(5.0)
        assert b.connection_count == 1 and not b.is_connected and not b.streaming
        assert link.stats.reconnects == 0 and link.failure is None


def test_pairs_of_a_packet_and_its_samples_are_consistent() -> None:
    """The emulation's own bookkeeping, which the tests above rely on."""
    async def scenario() -> None:
        async with one_board(drop_packets={3}) as (world, b):
            link = driver(world, b.address, Segment.THIGH)
            await link.start(100, Inbox().on_samples, Inbox().on_gap)
            await asyncio.sleep(1.0)
            await link.stop()
            for p in b.packets:
                assert [b.produced[i].packet for i in p.samples] == [p.index] * p.n
                assert [b.produced[i].seq for i in p.samples] == [(p.seq + k) & 0xFFFF for k in range(p.n)]
            seqs = [p.seq for p in b.produced]
            assert seqs == list(range(len(seqs)))
            assert all(q.t_device_us - p.t_device_us == 10_000 for p, q in itertools.pairwise(b.produced))

    run_in_virtual_time(scenario())
