"""MetaMotionSensor on the emulated MetaMotion board (bleak's public API, bumble's stack, virtual time),
and the timing it rests on (samples carry no timestamps: firmware_bridge/metawear/clock.py).

What these tests can show is agreement with the notes (/work/shared/docs/ble-protocols.md) as the
emulation implements them; a real board may differ where the notes are silent or [derived].
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from firmware_bridge.ble.emulation import REMOTE_USER_TERMINATED, RadioWorld, run_in_virtual_time
from firmware_bridge.ble.emulation.metamotion import (
    METAMOTION_R,
    METAMOTION_S,
    BoardProfile,
    EmulatedMetaMotion,
    SampleRecord,
)
from firmware_bridge.ble.reconnect import ReconnectPolicy
from firmware_bridge.ble.sensor import SensorGap
from firmware_bridge.errors import BridgeError, WrongSensorError
from firmware_bridge.metawear import MetaMotionSensor, choose_rate
from firmware_bridge.metawear.clock import GridTimeline, SampleAssembler, Timed
from firmware_bridge.simulator import simulate_session
from imu_core.frames import Segment
from imu_core.types import ImuSample, SensorStream

ADDRESS = "C4:00:00:00:00:01"
G = 9.80665


# =================================================================================== timing
def synthetic(rate: float, size: int, *, rate_error: float = 0.0, interval: float = 0.0, jitter: float = 0.0,
              drops: frozenset[tuple[int, int]] = frozenset(), stall: tuple[float, float] | None = None,
              spikes: tuple[tuple[float, float], ...] = (), seconds: float = 20.0, gyro_offset: int = 0,
              queue: int = 12, seed: int = 0) -> tuple[list[tuple[float, int, int]], dict[int, set[int]], float]:
    """Arrivals of acc (channel 0) and gyro (channel 1) notifications of `size` samples from a board
    whose oscillator is `rate_error` off: batched into connection events every `interval` s, with
    exponential OS jitter (mean `jitter` s), `drops` (channel, notification number) never sent, a
    link `stall` during which the board queues `queue` notifications per channel and drops the newest,
    host `spikes` that delay everything without loss. Returns (arrival, channel, first sample index),
    the samples truly lost per channel, and the true sample period."""
    rng = random.Random(seed)
    period = 1.0 / (rate * (1.0 + rate_error))
    made = []
    for channel in (0, 1):
        n, k = channel * gyro_offset, 0
        while (n + size) * period < seconds:
            made.append(((n + size - 1) * period, channel, n, k))
            n, k = n + size, k + 1
    made.sort()
    lost: dict[int, set[int]] = {0: set(), 1: set()}
    queued = {0: 0, 1: 0}
    out = []
    for t_made, channel, n, k in made:
        if (channel, k) in drops:
            lost[channel].update(range(n, n + size))
            continue
        t = t_made + 0.0005
        if stall is not None and stall[0] <= t < stall[1]:
            if queued[channel] >= queue:
                lost[channel].update(range(n, n + size))
                continue
            queued[channel] += 1
            t = stall[1]
        if interval:
            t = math.ceil(t / interval) * interval
        for a, b in spikes:
            if a <= t < b:
                t = b
        t += rng.expovariate(1.0 / jitter) if jitter else 0.0
        out.append([t, channel, n])
    out.sort(key=lambda e: (e[2], e[1]))
    last = 0.0
    for e in out:  # in order on the link
        e[0] = last = max(e[0], last)
    return [(float(t), int(c), int(n)) for t, c, n in out], lost, period


@dataclass
class Placement:
    lost: dict[int, int]
    mispaired: int
    """True instants where acc and gyro were put on different grid offsets."""
    offsets: dict[int, dict[int, int]] = field(default_factory=dict)
    time_errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Timestamp minus true sample time, minus its median, s, from 3 s on (before the rate is
    fitted, in the first 2 s, timestamps drift with the board's oscillator error: up to 16 ms at 0.8 %)."""


def place(rate: float, size: int, arrivals: list[tuple[float, int, int]], period: float) -> Placement:
    timeline: GridTimeline[int] = GridTimeline(rate, channels=2)
    placed: list[Timed[int]] = []
    for t, channel, n in arrivals:
        placed += timeline.push(channel, t, list(range(n, n + size)))
    placed += timeline.drain()
    offsets = {c: {p.value: p.index - p.value for p in placed if p.channel == c} for c in (0, 1)}
    both = sorted(set(offsets[0]) & set(offsets[1]))
    base = offsets[0][both[0]] - offsets[1][both[0]]
    mispaired = sum(1 for v in both if offsets[0][v] - offsets[1][v] != base)
    errors = np.array([p.t - p.value * period for p in placed if p.value * period >= 3.0])
    return Placement({c: timeline.lost(c) for c in (0, 1)}, mispaired, offsets, errors - np.median(errors))


def test_without_batching_times_and_losses_are_exact() -> None:
    arrivals, truth, period = synthetic(100, 1, drops=frozenset({(0, 500), (1, 900), (0, 1400), (0, 1401)}),
                                        stall=(15.0, 15.4), gyro_offset=2)
    result = place(100, 1, arrivals, period)
    assert result.lost == {0: len(truth[0]), 1: len(truth[1])} == {0: 31, 1: 29}
    assert result.mispaired == 0
    assert set(result.offsets[0].values()) == {0} and set(result.offsets[1].values()) == {0}
    assert np.abs(result.time_errors).max() < 1e-9


CONDITIONS = [(rate, size, interval, error, jitter)
              for rate, size in ((100, 1), (200, 3))
              for interval in (0.0075, 0.015, 0.03, 0.045)
              for error in (-0.008, -0.003, 0.0, 0.003, 0.008)
              for jitter in (0.0, 0.001)]


@pytest.mark.parametrize(("rate", "size", "interval", "error", "jitter"), CONDITIONS)
def test_batching_and_oscillator_error_cause_no_false_losses(rate: int, size: int, interval: float, error: float,
                                                              jitter: float) -> None:
    """Several notifications per connection event, a board 0.3-0.8 % off its nominal rate: the
    newest sample's delay slides and wraps by a notification period, which must not read as a loss."""
    arrivals, _, period = synthetic(rate, size, rate_error=error, interval=interval, jitter=jitter, seed=1)
    result = place(rate, size, arrivals, period)
    assert result.lost == {0: 0, 1: 0}
    assert result.mispaired == 0
    assert set(result.offsets[0].values()) == {0}
    # Timestamps: the arrival envelope, so within about a connection interval of the truth.
    assert np.percentile(np.abs(result.time_errors), 99) <= interval + 3 * jitter + 0.003


@pytest.mark.parametrize(("rate", "size"), [(100, 1), (200, 3)])
@pytest.mark.parametrize("interval", [0.0, 0.0075, 0.015, 0.045])
@pytest.mark.parametrize("error", [-0.005, 0.0, 0.005])
def test_single_drops_and_a_stall_are_counted(rate: int, size: int, interval: float, error: float) -> None:
    drops = frozenset({(0, 500 // size), (1, 900 // size), (0, 1400 // size), (0, 1400 // size + 1)})
    arrivals, truth, period = synthetic(rate, size, rate_error=error, interval=interval, jitter=0.0005, drops=drops,
                                        stall=(20.0, 20.4), seconds=26.0, seed=2)
    result = place(rate, size, arrivals, period)
    for channel in (0, 1):  # whole notifications; exact here, at worst one notification off in general
        assert abs(result.lost[channel] - len(truth[channel])) <= size
    assert result.lost[1] - result.lost[0] == len(truth[1]) - len(truth[0])  # single drops: exact
    assert result.mispaired <= 0.6 * rate  # only around a drop, while it is being resolved (settle_s 0.5 s)


def test_host_delay_spikes_are_not_losses() -> None:
    spikes = ((3.0, 3.12), (7.5, 7.65), (11.0, 11.06))
    arrivals, _, period = synthetic(100, 1, interval=0.015, jitter=0.001, spikes=spikes, rate_error=0.002)
    result = place(100, 1, arrivals, period)
    assert result.lost == {0: 0, 1: 0} and result.mispaired == 0


def test_assembler_pairs_on_the_grid_holds_the_magnetometer_and_reports_gaps() -> None:
    asm = SampleAssembler(Segment.SHIN, 100.0, expect_mag=True)
    period = 0.01
    events: list[ImuSample | SensorGap] = []
    for n in range(300):
        t = n * period + 0.002
        if n % 4 == 0:
            events += asm.push_mag(t, [(float(n), 0.0, 0.0)])
        if n != 150:  # acc sample 150 lost
            events += asm.push_acc(t, [(float(n), 0.0, G)])
        events += asm.push_gyro(t, [(0.0, float(n), 0.0)])
    events += asm.flush()
    samples = [e for e in events if isinstance(e, ImuSample)]
    gaps = [e for e in events if isinstance(e, SensorGap)]
    assert [g.samples_lost for g in gaps] == [1] and gaps[0].reason == "packet_loss"
    assert len(samples) == 299 and asm.lost == 1
    assert all(s.acc[0] == s.gyr[1] for s in samples)  # acc n with gyro n
    assert gaps[0].t_start == pytest.approx(149 * period + 0.002) and gaps[0].t_end == pytest.approx(1.512)
    assert np.allclose(np.diff([s.t for s in samples if s.acc[0] < 149]), period)
    # The magnetometer reading of instant n arrives after the acc/gyro of instant n: each sample
    # carries the newest reading that had arrived, i.e. repeated until the next one.
    for s in samples[1:]:
        assert s.mag is not None and s.acc[0] - 4 <= s.mag[0] <= s.acc[0]
    assert samples[0].mag == (0.0, 0.0, 0.0)


# =========================================================================== emulated board
def emulated(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def run() -> None:
        run_in_virtual_time(test())
    return run


@functools.cache
def minute_of_motion() -> SensorStream:
    """A simulated seated-IR session's thigh stream (SI units, 100 Hz), about a minute."""
    return simulate_session(seed=3, max_seconds=62.0).recording.streams[Segment.THIGH]


class Inbox:
    def __init__(self) -> None:
        self.samples: list[ImuSample] = []
        self.gaps: list[SensorGap] = []

    def on_samples(self, batch: list[ImuSample]) -> None:
        self.samples += batch

    def on_gap(self, gap: SensorGap) -> None:
        self.gaps.append(gap)


def sensor(world: RadioWorld, **kwargs: Any) -> MetaMotionSensor:
    loop = asyncio.get_running_loop()
    return MetaMotionSensor(ADDRESS, Segment.THIGH, client_backend=world.client_backend, clock=loop.time, **kwargs)


def pairs(board: EmulatedMetaMotion, session: int | None = None) -> list[tuple[SampleRecord, SampleRecord]]:
    """(acc, gyro) records of the instants whose acc and gyro both reached the host intact."""
    acc = {r.n: r for r in board.sent("acc", session)}
    gyro = {r.n: r for r in board.sent("gyro", session)}
    return [(acc[n], gyro[n]) for n in sorted(acc.keys() & gyro.keys())]


def assert_values(samples: list[ImuSample], expected: list[tuple[SampleRecord, SampleRecord]],
                  board: EmulatedMetaMotion, acc_g: int = 16, gyro_dps: int = 2000) -> None:
    """Delivered values: exactly the counts the board sent, and within one LSB of its source."""
    assert len(samples) == len(expected)
    got_acc = np.array([s.acc for s in samples])
    got_gyr = np.array([s.gyr for s in samples])
    want_acc = np.array([a.counts for a, _ in expected]) / (32768 / acc_g) * G
    lsb_per_dps = {2000: 16.4, 1000: 32.8, 500: 65.6}[gyro_dps]
    want_gyr = np.radians(np.array([g.counts for _, g in expected]) / lsb_per_dps)
    assert np.allclose(got_acc, want_acc, rtol=0, atol=1e-9) and np.allclose(got_gyr, want_gyr, rtol=0, atol=1e-12)
    source_acc = np.array([board.source_row("acc", a.row) for a, _ in expected])
    source_gyr = np.array([board.source_row("gyro", g.row) for _, g in expected])
    assert np.abs(got_acc - source_acc).max() <= G / (32768 / acc_g)
    assert np.abs(got_gyr - source_gyr).max() <= math.radians(1 / lsb_per_dps)


def assert_idle(board: EmulatedMetaMotion) -> None:
    assert not board.is_streaming and not board.sensors_running
    assert all(not s.subscribed and not s.interrupt for s in board.sensors.values())
    assert board.unknown_commands == [] and board.protocol_violations == []


@emulated
async def test_streams_a_simulated_minute_at_100_hz_without_loss() -> None:
    source = minute_of_motion()
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, profile=METAMOTION_S, source=source))
        link, inbox = sensor(world), Inbox()
        await link.start(100.0, inbox.on_samples, inbox.on_gap)
        assert (link.model, link.firmware, link.rate_hz, link.stats.connected) == ("MetaMotionS", "1.7.2", 100.0, True)
        assert link.stats.battery_percent == 99
        assert (board.acc_conf, board.acc_range, board.gyro_conf, board.gyro_range) == (0xA8, 0x03, 0x28, 0x00)
        assert (board.mag_rate, board.mag_xy, board.mag_z) == (0x06, 0x04, 0x0E)
        assert board.sensors["acc"].subscribed == {0x04} and board.sensors["gyro"].subscribed == {0x04}
        assert board.connection_parameters == (6, 12, 0, 600)
        await asyncio.sleep(60.0)
        rate_while_streaming = link.stats.rate_hz
        await link.stop()
        assert_idle(board)

    expected = pairs(board)
    assert len(expected) >= 5990 and inbox.gaps == []
    assert_values(inbox.samples, expected, board)
    stats = link.stats
    assert (stats.samples, stats.samples_lost, stats.packets_corrupt, stats.reconnects) == (len(expected), 0, 0, 0)
    assert rate_while_streaming == pytest.approx(100.0, abs=0.5) and not stats.connected
    # Times: the emulated link has no latency, so the envelope is the sampling instants themselves.
    t = np.array([s.t for s in inbox.samples])
    assert np.allclose(t - np.array([a.t for a, _ in expected]), 0.0, atol=1e-6)
    # Magnetometer (25 Hz, BMM150 counts / 16): each sample carries the newest reading received.
    mags = board.sent("mag")
    mag_t = np.array([r.t for r in mags])
    mag_si = np.array([r.counts for r in mags]) / 16.0
    for sample, (a, _) in zip(inbox.samples[8:], expected[8:], strict=True):
        recent = (mag_t >= a.t - 0.04 - 1e-9) & (mag_t <= a.t + 1e-9)
        assert sample.mag is not None and np.any(np.all(mag_si[recent] == sample.mag, axis=1))


@functools.cache
def thigh_orientation() -> np.ndarray:
    """True thigh-sensor-to-earth quaternions (w, x, y, z) of a simulated session, 100 Hz, 10 s."""
    session = simulate_session(seed=3, max_seconds=12.0)
    return session.sensor_pose(Segment.THIGH, np.arange(1000) / 100.0)[0]


@pytest.mark.parametrize("profile", [METAMOTION_S, METAMOTION_R])
def test_fusion_quaternions_stream_the_boards_orientation_at_100_hz(profile: BoardProfile) -> None:
    """fusion_quaternions=True: the SDK's NDoF recipe byte for byte, quaternions only (the notes: the
    fusion owns acc/gyro/mag, so no raw streams), at 100 Hz, equal to the emulation's truth to float32,
    timed on the host clock; a truncated quaternion is counted and skipped; stop() turns fusion off."""
    truth = thigh_orientation()

    async def scenario() -> None:
        async with RadioWorld() as world:
            board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, profile=profile,
                                                       source_quaternions=truth, truncate_notifications={150}))
            link, inbox = sensor(world, fusion_quaternions=True), Inbox()
            got: list[tuple[float, tuple[float, float, float, float]]] = []
            link.on_orientation = got.extend
            await link.start(200.0, inbox.on_samples, inbox.on_gap)  # fusion runs at its own 100 Hz
            assert link.rate_hz == 100.0
            assert board.fusion_enabled and board.fusion_mode == (0x01, 0x12) and board.fusion_outputs == 0x08
            assert board.fusion_subscribed == {0x07} and board.is_streaming
            assert all(s.powered and s.interrupt and not s.subscribed for s in board.sensors.values())
            fusion_commands = [c for c in board.commands if c[0] == 0x19 and c[1] in (0x01, 0x02, 0x03, 0x07)
                               and c[2:] not in (b"\x00", b"\x00\x7f")]
            assert fusion_commands == [bytes.fromhex(x) for x in ("19 02 01 12", "19 07 01", "19 03 08 00", "19 01 01")]
            await asyncio.sleep(5.0)
            rate = link.stats.rate_hz
            await link.stop()
            assert_idle(board)
            assert not board.fusion_enabled and board.fusion_outputs == 0 and not board.fusion_subscribed
            assert not board.fusion_producing
            produced = len(board.quaternions)
            await asyncio.sleep(1.0)
            assert len(board.quaternions) == produced  # fusion off: nothing more

            sent = [q for q in board.quaternions if q.sent]
            assert 495 <= len(sent) <= 502 and inbox.samples == [] and inbox.gaps == []
            truncated = board.notifications[150]
            assert truncated.fate == "truncated" and truncated.quaternion is not None and not truncated.quaternion.sent
            assert link.stats.packets_corrupt == 1 and link.stats.samples == len(got) == len(sent)
            assert rate == pytest.approx(100.0, abs=0.5)
            t = np.array([t for t, _ in got])
            q = np.array([q for _, q in got])
            assert np.allclose(np.diff(t)[np.diff(t) < 0.015], 0.01, atol=1e-6)
            assert np.allclose(t, [r.t for r in sent], rtol=0, atol=1e-6)  # no link latency: host time = board time
            assert np.array_equal(q, np.array([r.value for r in sent]))
            want = truth[[r.row for r in sent]]
            assert np.abs(q - want).max() <= 1e-7  # float32 of the truth
            rows = np.array([r.row for r in sent])  # consecutive truth rows, but for the truncated one
            assert sorted(np.diff(rows).tolist()) == [1] * (len(rows) - 2) + [2]

    run_in_virtual_time(scenario())


@emulated
async def test_fusion_quaternions_on_a_board_without_fusion_is_refused() -> None:
    modules = {k: v for k, v in METAMOTION_S.modules.items() if k != 0x19}
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, profile=BoardProfile(
            "NoFusion", "8", "1.7.2", "0.1", modules)))
        link = sensor(world, fusion_quaternions=True)
        with pytest.raises(BridgeError, match="no sensor-fusion module"):
            await link.start(100.0, lambda _: None, lambda _: None)
        await link.stop()
        assert not board.is_streaming and board.unknown_commands == []


@emulated
async def test_200_hz_streams_packed_notifications_over_batched_connection_events() -> None:
    source = minute_of_motion()
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, source, profile=METAMOTION_R,
                                                   source_rate_hz=200.0, connection_interval_s=0.0075,
                                                   rate_error=0.004))
        link, inbox = sensor(world), Inbox()
        await link.start(200.0, inbox.on_samples, inbox.on_gap)
        assert board.sensors["acc"].subscribed == {0x1C} and board.sensors["gyro"].subscribed == {0x07}
        assert (board.acc_conf, board.acc_range, board.gyro_conf) == (0x29, 0x0C, 0x29)
        await asyncio.sleep(15.0)
        await link.stop()
        assert_idle(board)
    data = [n for n in board.notifications if n.sensor != "mag"]
    assert data and all(n.packed and len(n.data) == 20 and n.fate == "sent" for n in data)
    expected = pairs(board)
    assert len(expected) >= 2990 and inbox.gaps == [] and link.stats.samples_lost == 0
    assert_values(inbox.samples, expected, board)
    # Board 0.4 % fast, notifications leaving at 7.5 ms connection events: times within one event.
    error = np.array([s.t for s in inbox.samples]) - np.array([a.t for a, _ in expected])
    assert np.ptp(error[500:]) <= 0.0076


@emulated
async def test_corrupt_truncated_and_unknown_notifications_are_counted_and_skipped() -> None:
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, minute_of_motion(),
                                                   truncate_notifications={700}))
        link, inbox = sensor(world), Inbox()
        await link.start(100.0, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(2.0)
        for junk in (b"\x03", b"\x7f\x01\x02", b"\x13\x04\x01\x02\x03\x04\x05\x06\x07"):  # short, unknown, too long
            await world.inject_notification(board, "326a9006-85cb-9195-d9dd-464cfbbae75a", junk)
        await asyncio.sleep(8.0)
        await link.stop()
    truncated = board.notifications[700]
    assert truncated.fate == "truncated" and len(truncated.data) == 5
    assert link.stats.packets_corrupt == 4
    assert any("dropped notification" in e for e in link.stats.errors)
    # The truncated notification's sample is missing; everything else arrived, exactly.
    expected = pairs(board)
    assert_values(inbox.samples, expected, board)
    (gap,) = inbox.gaps
    lost = truncated.samples[0]
    assert (gap.samples_lost, gap.reason) == (1, "packet_loss")
    assert gap.t_start == pytest.approx(lost.t - 0.01, abs=1e-6) and gap.t_end == pytest.approx(lost.t + 0.01, abs=1e-6)
    assert link.stats.samples_lost == 1 and link.stats.samples == len(expected)


@pytest.mark.parametrize("how", ["board_disconnects", "link_lost"])
def test_disconnect_mid_stream_reconnects_resumes_and_reports_the_gap(how: str) -> None:
    async def scenario() -> None:
        async with RadioWorld() as world:
            board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, source=minute_of_motion()))
            link, inbox = sensor(world), Inbox()
            await link.start(100.0, inbox.on_samples, inbox.on_gap)
            await asyncio.sleep(5.0)
            first_session = board.sensors["acc"].session
            dropped_at = asyncio.get_running_loop().time()
            if how == "board_disconnects":
                await world.disconnect(board, REMOTE_USER_TERMINATED)
            else:
                await world.lose_link(board)
            assert not link.stats.connected
            await asyncio.sleep(8.0)
            assert link.stats.connected and link.stats.reconnects == 1
            assert board.sensors["acc"].session == first_session + 1  # stopped and configured again
            await link.stop()
            assert_idle(board)

            (gap,) = inbox.gaps
            assert gap.reason == "disconnect"
            # (The board logs as sent what it handed to its stack at the very instant of the
            # disconnect; bumble loses those with the link.)
            before = [p for p in pairs(board, first_session) if p[0].t < dropped_at - 1e-9]
            after = pairs(board, first_session + 1)
            assert_values(inbox.samples, before + after, board)
            # The board kept sampling; what it took between the last sample before the drop and
            # the first after is the gap (counted from time and rate, so +-1).
            missed = after[0][0].n - before[-1][0].n - 1
            assert abs(gap.samples_lost - missed) <= 1 and link.stats.samples_lost == gap.samples_lost
            assert gap.t_start == pytest.approx(before[-1][0].t, abs=1e-6)
            assert gap.t_end == pytest.approx(after[0][0].t, abs=1e-6)
            assert link.stats.samples == len(before) + len(after)
    run_in_virtual_time(scenario())


@emulated
async def test_a_board_left_streaming_by_a_crashed_session_is_taken_over() -> None:
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, minute_of_motion(), stale_streaming=True,
                                                   connection_interval_s=0.03))
        await asyncio.sleep(3.0)
        assert board.is_streaming and (board.acc_odr_hz, board.acc_range_g, board.gyro_range_dps) == (100.0, 4, 500)
        link, inbox = sensor(world), Inbox()
        await link.start(100.0, inbox.on_samples, inbox.on_gap)
        assert link.stale_notifications > 10  # the old stream poured in as soon as notifications were on
        assert (board.acc_odr_hz, board.acc_range_g, board.gyro_odr_hz, board.gyro_range_dps, board.mag_odr_hz) == (
            100.0, 16, 100.0, 2000, 25.0)
        await asyncio.sleep(5.0)
        await link.stop()
        assert_idle(board)
    ours = board.sensors["acc"].session
    assert ours == 2 and board.sensors["gyro"].session == 2
    assert any(r.sent for r in board.records["acc"] if r.session == 1)  # stale samples did reach the host ...
    expected = pairs(board, ours)  # ... and none of them was delivered
    assert_values(inbox.samples, expected, board)
    assert inbox.gaps == [] and link.stats.packets_corrupt == 0
    # 30 ms connection events: the timestamps are within one of the sampling instants.
    error = np.array([s.t for s in inbox.samples]) - np.array([a.t for a, _ in expected])
    assert np.ptp(error) <= 0.0301


@emulated
async def test_stop_is_idempotent_and_the_emulation_tracks_streaming_from_commands() -> None:
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS))
        link, inbox = sensor(world), Inbox()
        await link.stop()  # never started: nothing to do
        assert board.commands == []
        await link.start(100.0, inbox.on_samples, inbox.on_gap)
        assert board.is_streaming and board.sending("acc") and board.sending("gyro") and board.sending("mag")
        await asyncio.sleep(1.0)
        await link.stop()
        assert_idle(board)
        written = len(board.commands)
        await link.stop()
        assert len(board.commands) == written and not link.stats.connected
        assert not board.is_connected
        # Started again after a stop: a fresh session.
        await link.start(100.0, inbox.on_samples, inbox.on_gap)
        await asyncio.sleep(1.0)
        assert board.is_streaming and board.sensors["acc"].session == 2
        await link.stop()
        assert_idle(board)
    assert 195 <= len(inbox.samples) <= 202


@emulated
async def test_stop_while_the_link_is_down_reaches_the_board_to_stop_it() -> None:
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS))
        link, inbox = sensor(world), Inbox()
        await link.start(100.0, inbox.on_samples, inbox.on_gap)
        await world.stop_advertising(board)  # out of range: the link goes, the board streams on
        await world.lose_link(board)
        await asyncio.sleep(3.0)  # the driver is trying to reconnect
        assert board.is_streaming and not link.stats.connected
        await world.start_advertising(board)  # back in range just as the session ends
        await link.stop()
        assert_idle(board)
        assert link.stats.reconnects == 0 and not board.is_connected


@emulated
async def test_start_retries_until_the_board_advertises() -> None:
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS))
        await world.stop_advertising(board)
        link, inbox = sensor(world, policy=ReconnectPolicy(attempt_timeout_s=3.0)), Inbox()
        async def back_in_range() -> None:
            await asyncio.sleep(2.5)
            await world.start_advertising(board)

        later = asyncio.get_running_loop().create_task(back_in_range())
        await link.start(100.0, inbox.on_samples, inbox.on_gap)
        await later
        assert link.stats.connected and any("connect attempt" in e for e in link.stats.errors)
        await link.stop()


@pytest.mark.parametrize("board_kwargs", [
    {"metaboot": True},
    {"profile": BoardProfile("NoGyro", "8", "1.7.2", "0.1", {0x03: b"\x04\x00", 0x11: b"\x00\x0a"})},
])
def test_boards_it_cannot_use_are_refused_at_once(board_kwargs: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with RadioWorld() as world:
            await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, **board_kwargs))
            link = sensor(world)
            start = asyncio.get_running_loop().time()
            with pytest.raises(WrongSensorError):
                await link.start(100.0, lambda _: None, lambda _: None)
            assert asyncio.get_running_loop().time() - start < 1.0  # fatal: no retries
            await link.stop()
    run_in_virtual_time(scenario())


@emulated
async def test_battery_reads_and_a_failing_callback_does_not_stop_the_stream() -> None:
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, battery=(57, 3790)))
        link = sensor(world, battery_interval_s=2.0)
        calls: list[int] = []

        def failing(batch: list[ImuSample]) -> None:
            calls.append(len(batch))
            raise RuntimeError("consumer bug")

        await link.start(100.0, failing, lambda _: None)
        assert link.stats.battery_percent == 57
        board.battery = (56, 3770)
        await asyncio.sleep(3.0)
        assert link.stats.battery_percent == 56
        battery = await link.read_battery()
        assert battery is not None and (battery.percent, battery.millivolts) == (56, 3770)
        await link.stop()
    assert sum(calls) >= 290 and link.stats.samples == sum(calls)
    assert any("on_samples failed" in e for e in link.stats.errors)


def test_rate_choice() -> None:
    assert [choose_rate(r) for r in (50, 100, 120, 150, 151, 200, 400)] == [100, 100, 100, 100, 200, 200, 200]
    with pytest.raises(ValueError):
        choose_rate(0)


@emulated
async def test_hiptracks_scanner_recognises_the_emulated_board() -> None:
    from firmware_bridge.ble.scan import scan

    async with RadioWorld() as world:
        await world.add(EmulatedMetaMotion("MetaWear", ADDRESS, rssi=-55))
        found = await scan(1.0, scanner_backend=world.scanner_backend)
    assert [(f.address, f.name, f.family, f.rssi_dbm) for f in found] == [(ADDRESS, "MetaWear", "metamotion", -55)]


@emulated
async def test_emulated_board_reset_and_board_side_disconnect() -> None:
    """FE 01 reboots (sensor and route state cleared, link dropped, advertising again); FE 06 drops the
    link and leaves the state alone (notes §2.7)."""
    from bleak import BleakClient

    command = "326a9001-85cb-9195-d9dd-464cfbbae75a"
    async with RadioWorld() as world:
        board = await world.add(EmulatedMetaMotion("MetaWear", ADDRESS))
        async with BleakClient(ADDRESS, backend=world.client_backend) as client:
            for frame in ("03 03 A8 03", "03 04 01", "03 02 01 00", "03 01 01"):
                await client.write_gatt_char(command, bytes.fromhex(frame), response=False)
            await world.wait_until(lambda: board.is_streaming)
            assert board.acc_range_g == 16
            await client.write_gatt_char(command, bytes.fromhex("FE 06"), response=False)
            await world.wait_until(lambda: not client.is_connected)
        assert board.is_streaming and board.resets == 0  # still streaming into the void
        await world.wait_until(lambda: board.is_advertising)
        async with BleakClient(ADDRESS, backend=world.client_backend) as client:
            await client.write_gatt_char(command, bytes.fromhex("FE 01"), response=False)
            await world.wait_until(lambda: not client.is_connected)
        assert board.resets == 1 and not board.is_streaming and not board.sensors_running
        assert board.acc_range_g == 2 and board.reset_uid == 1
        await world.wait_until(lambda: board.is_advertising)
