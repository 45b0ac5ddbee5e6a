"""An emulated Arduino Nano 33 BLE running hiptrack's firmware, byte for byte, on bumble's stack.

`EmulatedNano` is an `EmulatedPeripheral` with the firmware's GATT service (DATA notify, CONTROL write
and write without response, STATUS read + notify, INFO read; firmware_bridge/nano33_firmware/README.md)
and a port of the sketch's main loop (hiptrack_imu.ino): START / STOP / IDENTIFY applied from a command
queue a little after the write arrived (the sketch applies them in `loop()`, after ArduinoBLE has
already answered the write), STATUS published after every command and on connect, a sample grid on
the device clock, a 64-sample ring (oldest dropped when full), packets of up to `samples_per_packet`
consecutive samples sent only while DATA is subscribed (a short packet only before a gap), the counter
restarted by START, streaming stopped by a disconnect, ArduinoBLE's silent cut of a notification
longer than ATT_MTU - 3 (the firmware then shrinks its packets or stops with PAYLOAD_TOO_SMALL).

What is emulated rather than real:

* The device clock: ``device_us = (clock_offset_s + t * (1 + clock_drift_ppm * 1e-6)) * 1e6`` where t
  is the event loop's time (virtual under `run_in_virtual_time`), unwrapped internally and sent as u32,
  so a large offset exercises the 71.6-minute wrap.
* The sensor: `source` is a `SensorStream` in SI units (e.g. one stream of `simulate_session`). The
  sample taken at device time t reads the source row nearest to t on the source's own grid (counted
  from the board's first sample slot, cyclically), converted to int16 counts with the firmware's scale
  factors for the ranges START asked for (`source_counts`), saturating like a sensor. Every sample
  carries a fresh magnetometer reading (no 25/40 Hz sample-and-hold); Rev2 magnetometer readings are
  whole µT sent as 1/16 µT, as the BMM150 driver's fixed-point output is.
* The radio: notifications leave in order through one queue, each after ``notify_latency_s`` plus an
  exponential extra delay with mean ``notify_jitter_s`` (seeded by `seed`), never overtaking one another.
  The START wait for a first magnetometer reading (up to 100 ms on the board) is not modelled.
* Faults, by index of the data packet (0-based, counted over the board's life): `drop_packets` are
  never sent (the board believes they were), `corrupt_packets` have one byte flipped, `truncate_packets`
  are cut in half. `keep_streaming_on_disconnect` makes a buggy board that neither stops on a
  disconnect nor on the next connect (our firmware does both). `stale_streaming` makes a board that is
  already streaming when it powers on, as if a previous session's START were still in force (session 0,
  counter from `stale_first_seq`), ignoring that no central is connected, until a STOP or START.

Everything the board did is logged: `produced` (every sample slot it filled, with its device time, true
time and source row) and `packets` (every data packet, with its fate), so tests can compare what a
driver delivered with what the board sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import struct
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge.ble.emulation.peripheral import AttError, CharacteristicSpec, EmulatedPeripheral, ServiceSpec
from firmware_bridge.nano33.protocol import (
    ACC_G_PER_LSB,
    CONTROL_UUID,
    DATA_UUID,
    GYRO_DPS_PER_LSB,
    INFO_SIZE,
    INFO_UUID,
    MAG_TO_IMU_AXES,
    MAG_UT_PER_LSB,
    MAX_SAMPLES,
    PACKET_VERSION,
    RATES_HZ,
    SERVICE_UUID,
    STANDARD_GRAVITY,
    STATUS_SIZE,
    STATUS_UUID,
    AccRange,
    Board,
    DecodedPacket,
    GyroRange,
    Opcode,
    RawSample,
    Result,
    encode_packet,
    samples_per_packet,
)
from imu_core.types import SensorStream

RING_SIZE = 64
"""Samples the firmware buffers (320 ms at 200 Hz)."""
CTRL_QUEUE = 4
"""Control writes the firmware queues before it ignores more."""
CTRL_MAX = 20
"""Size of the CONTROL characteristic's value, bytes."""
START_SIZE = 8
FIRMWARE_VERSION = (1, 0, 0)
BATTERY_UNKNOWN = 0xFF
_INFO = struct.Struct("<BBBBBBBBBBBBBBH")
_STATUS = struct.Struct("<BBBBHBBI")
_ATT_INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
_U32 = 1 << 32
if _INFO.size != INFO_SIZE or _STATUS.size != STATUS_SIZE:  # pragma: no cover - the layouts are fixed
    raise ImportError("INFO/STATUS layouts disagree with firmware_bridge.nano33.protocol")


def gyro_codes(board: Board) -> int:
    """Bit k set: gyro range code k exists on this board (the LSM9DS1 has no ±1000 dps)."""
    return 0x0B if board is Board.REV1 else 0x0F


def source_counts(stream: SensorStream, board: Board, acc_range: AccRange, gyro_range: GyroRange) -> np.ndarray:
    """(N, 9) int16 raw counts (ax ay az gx gy gz mx my mz, each chip's own axes) the firmware would
    send for the SI samples of `stream`: the inverse of `protocol.to_si`, rounded and saturated.
    Rev2 magnetometer: whole µT (the BMM150 driver's output) sent as 1/16 µT, clamped to ±2047 µT."""
    acc_lsb = ACC_G_PER_LSB[board][acc_range] * STANDARD_GRAVITY
    gyr_lsb = math.radians(GYRO_DPS_PER_LSB[board][gyro_range])
    if gyr_lsb == 0.0:
        raise ValueError(f"gyro range {gyro_range.name} does not exist on {board.name}")
    n = len(stream)
    out = np.zeros((n, 9), dtype=np.float64)
    out[:, 0:3] = np.rint(np.asarray(stream.acc, dtype=float) / acc_lsb)
    out[:, 3:6] = np.rint(np.asarray(stream.gyr, dtype=float) / gyr_lsb)
    if stream.mag is not None:
        chip = np.asarray(stream.mag, dtype=float) * np.asarray(MAG_TO_IMU_AXES[board], dtype=float)
        if board is Board.REV2:
            out[:, 6:9] = np.clip(np.rint(chip), -2047, 2047) * 16
        else:
            out[:, 6:9] = np.rint(chip / MAG_UT_PER_LSB[board])
    return np.clip(out, -32768, 32767).astype(np.int16)


def encode_status(streaming: bool, result: int, opcode: int, samples: int, rate_hz: int, config: int,
                  dropped: int) -> bytes:
    """The 12 STATUS bytes (README, "STATUS")."""
    return _STATUS.pack(1 if streaming else 0, result, opcode, samples if streaming else 0,
                        rate_hz if streaming else 0, config, 0, dropped & 0xFFFFFFFF)


def encode_info(board: Board | None, has_mag: bool, firmware_version: tuple[int, int, int] = FIRMWARE_VERSION,
                packet_version: int = PACKET_VERSION) -> bytes:
    """The 16 INFO bytes (README, "INFO"); `board` None = the firmware found no IMU."""
    if board is None:
        return _INFO.pack(1, packet_version, 0, 0, 0, 0, *firmware_version, BATTERY_UNKNOWN, MAX_SAMPLES, 0, 0, 0, 0)
    sensors = 0x03 | (0x04 if has_mag else 0)
    imu_part = 1 if board is Board.REV1 else 2
    mag_part = 0 if not has_mag else (1 if board is Board.REV1 else 2)
    return _INFO.pack(1, packet_version, int(board), sensors, imu_part, mag_part, *firmware_version, BATTERY_UNKNOWN,
                      MAX_SAMPLES, 0x07, 0x0F, gyro_codes(board), 0)


def nano_services(info: bytes, status: bytes) -> tuple[ServiceSpec, ...]:
    """The firmware's GATT service (README, "GATT"), with these INFO and initial STATUS values."""
    return (ServiceSpec(SERVICE_UUID, (
        CharacteristicSpec(DATA_UUID, ("notify",)),
        CharacteristicSpec(CONTROL_UUID, ("write", "write-without-response")),
        CharacteristicSpec(STATUS_UUID, ("read", "notify"), status),
        CharacteristicSpec(INFO_UUID, ("read",), info),
    )),)


@dataclass(slots=True)
class ProducedSample:
    """One sample slot the board filled."""

    session: int
    """0 = a stale stream (stale_streaming), 1.. = the n-th START this board accepted."""
    seq: int
    """Counter as sent (u16)."""
    t_device_us: int
    """Scheduled device time, µs, unwrapped (sent modulo 2**32)."""
    t_true: float
    """The same instant on the event loop's clock, s (what a perfect host clock would stamp)."""
    row: int
    """Source row the sensor read."""
    counts: tuple[int, ...]
    """The nine int16 counts sent."""
    packet: int | None = None
    """Index into `EmulatedNano.packets` of the packet that carried it (None: never packed)."""


@dataclass(slots=True)
class PacketRecord:
    index: int
    session: int
    seq: int
    n: int
    samples: list[int]
    """Indices into `EmulatedNano.produced`."""
    fate: str
    """'sent' | 'dropped' | 'corrupt' | 'truncated' | 'cut' (ArduinoBLE cut it to the MTU) | 'lost_link'."""
    size: int
    t_sent: float | None = None
    """Loop time the notification left, s (None: it never did)."""


@dataclass(slots=True)
class _Outgoing:
    release: float
    uuid: str
    data: bytes
    packet: PacketRecord | None = None


@dataclass(slots=True)
class _RingEntry:
    seq: int
    t_us: int
    counts: tuple[int, ...]
    produced: int


@dataclass(slots=True)
class _Stream:
    session: int
    rate_hz: int
    period_us: int
    acc_range: AccRange
    gyro_range: GyroRange
    per_packet: int
    counts: np.ndarray
    next_seq: int
    next_due_us: int
    ring: collections.deque[_RingEntry] = field(default_factory=collections.deque)


class EmulatedNano(EmulatedPeripheral):
    """See the module docstring."""

    def __init__(
        self,
        name: str,
        address: str,
        source: SensorStream,
        *,
        board: Board | None = Board.REV2,
        source_rate_hz: float | None = None,
        clock_offset_s: float = 0.0,
        clock_drift_ppm: float = 0.0,
        notify_latency_s: float = 0.0,
        notify_jitter_s: float = 0.0,
        command_delay_s: float = 0.002,
        drop_packets: Collection[int] = (),
        corrupt_packets: Collection[int] = (),
        truncate_packets: Collection[int] = (),
        keep_streaming_on_disconnect: bool = False,
        stale_streaming: bool = False,
        source_epoch: float | None = None,
        hold_first_pose: bool = False,
        stale_rate_hz: int = 100,
        stale_first_seq: int = 40000,
        firmware_version: tuple[int, int, int] = FIRMWARE_VERSION,
        packet_version: int = PACKET_VERSION,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        """`board` None: a board whose firmware found no IMU (INFO board 0; START answers SENSOR_ERROR).
        `hold_first_pose`: the person holds the source's first pose until `begin_motion_at` (a person
        who waits to be told to start).
        Other keyword arguments go to `EmulatedPeripheral` (max_mtu, rssi, advertising_interval_ms...)."""
        if len(source) == 0:
            raise ValueError("the source stream is empty")
        has_mag = board is not None and source.mag is not None
        super().__init__(name, address, services=nano_services(
            encode_info(board, has_mag, firmware_version, packet_version),
            encode_status(False, Result.OK, 0, 0, 0, 0, 0)), **kwargs)
        if stale_rate_hz not in RATES_HZ:
            raise ValueError(f"stale_rate_hz must be one of {RATES_HZ}")
        self.source = source
        self.board = board
        self.has_mag = has_mag
        if source_rate_hz is None:
            step = float(np.median(np.diff(source.t))) if len(source) > 1 else 0.01
            source_rate_hz = round(1.0 / step)
        self.source_period_us = round(1e6 / source_rate_hz)
        self.clock_offset_s = clock_offset_s
        self.clock_drift_ppm = clock_drift_ppm
        self.notify_latency_s = notify_latency_s
        self.notify_jitter_s = notify_jitter_s
        self.command_delay_s = command_delay_s
        self.drop_packets = frozenset(drop_packets)
        self.corrupt_packets = frozenset(corrupt_packets)
        self.truncate_packets = frozenset(truncate_packets)
        self.keep_streaming_on_disconnect = keep_streaming_on_disconnect
        self.stale_streaming = stale_streaming
        self.stale_rate_hz = stale_rate_hz
        self.stale_first_seq = stale_first_seq
        self._rng = random.Random(seed)

        self.produced: list[ProducedSample] = []
        self.packets: list[PacketRecord] = []
        self.commands: list[tuple[float, bytes]] = []
        """(loop time applied, bytes) of every control command the firmware applied."""
        self.session = 0
        """STARTs accepted so far (the current stream's session number)."""
        self.dropped = 0
        """The firmware's count of samples dropped since START (as in STATUS)."""
        self.identify_until: float | None = None
        self.last_result: int = Result.OK
        self.last_opcode = 0
        self.config_byte = 0
        self._stream: _Stream | None = None
        self._origin_us: int | None = None
        self.source_epoch = source_epoch
        """Loop time of the source's first row (None: the first START)."""
        self.hold_first_pose = hold_first_pose
        self._counts_cache: dict[tuple[AccRange, GyroRange], np.ndarray] = {}
        self._commands: collections.deque[tuple[float, bytes]] = collections.deque()
        self._radio: collections.deque[_Outgoing] = collections.deque()
        self._last_release = -math.inf
        self._wake = asyncio.Event()
        self._radio_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ----------------------------------------------------------------------------- queries
    @property
    def streaming(self) -> bool:
        return self._stream is not None

    @property
    def rate_hz(self) -> int:
        return self._stream.rate_hz if self._stream is not None else 0

    @property
    def samples_per_packet(self) -> int:
        return self._stream.per_packet if self._stream is not None else 0

    def device_us(self, t: float) -> int:
        """Unwrapped device time, µs, at loop time t."""
        return math.floor((self.clock_offset_s + t * (1.0 + self.clock_drift_ppm * 1e-6)) * 1e6)

    def true_time(self, device_us: int) -> float:
        """Loop time at which the device clock reads `device_us` (unwrapped)."""
        return (device_us * 1e-6 - self.clock_offset_s) / (1.0 + self.clock_drift_ppm * 1e-6)

    def delivered(self, session: int | None = None) -> list[ProducedSample]:
        """Samples in packets that left intact ('sent'), in order; only of `session` if given."""
        return [s for s in self.produced if s.packet is not None and self.packets[s.packet].fate == "sent"
                and (session is None or s.session == session)]

    def counts_of_row(self, row: int, acc_range: AccRange, gyro_range: GyroRange) -> tuple[int, ...]:
        counts = self._counts(acc_range, gyro_range)
        return tuple(int(v) for v in counts[row % counts.shape[0]])

    def begin_motion_at(self, t: float) -> None:
        """The person starts the source's script at loop time t (before it: its first pose)."""
        self.source_epoch = t
        self.hold_first_pose = False
        self._origin_us = self.device_us(t)

    # ------------------------------------------------------------------- world interface
    async def attach(self, link: Any) -> None:
        await super().attach(link)
        loop = asyncio.get_running_loop()
        if self.stale_streaming and self.board is not None:
            self._begin_stream(0, self.stale_rate_hz, AccRange.G4, GyroRange.DPS2000,
                               (self.stale_rate_hz + 24) // 25, first_seq=self.stale_first_seq)
        self._tasks = [loop.create_task(self._firmware_loop(), name=f"{self.name}-firmware"),
                       loop.create_task(self._radio_loop(), name=f"{self.name}-radio")]

    async def detach(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().detach()

    # --------------------------------------------------------------------------- hooks
    def on_connect(self) -> None:
        # applyEvents(), pendingConnect: a new central finds the board idle (unless it is buggy or stale).
        stale = self._stream is not None and (self._stream.session == 0 or self.keep_streaming_on_disconnect)
        if not stale:
            self._stop_streaming()
        self.last_result = Result.OK
        self.last_opcode = 0
        self._publish_status()
        self._wake.set()

    def on_disconnect(self, reason: int) -> None:
        # applyEvents(), pendingDisconnect: never stream without a host (unless buggy), forget commands.
        if not self.keep_streaming_on_disconnect and not (self._stream is not None and self._stream.session == 0):
            self._stop_streaming()
        self.identify_until = None
        self._commands.clear()
        for item in self._radio:
            if item.packet is not None and item.packet.fate == "sent":
                item.packet.fate = "lost_link"
        self._radio.clear()
        self._wake.set()

    def on_subscribe(self, uuid: str, enabled: bool) -> None:
        self._wake.set()

    def on_write(self, uuid: str, data: bytes, with_response: bool) -> None:
        super().on_write(uuid, data, with_response)
        if uuid != CONTROL_UUID:
            return
        if len(data) > CTRL_MAX:
            raise AttError(_ATT_INVALID_ATTRIBUTE_VALUE_LENGTH)
        if len(self._commands) >= CTRL_QUEUE:
            return  # the host writes faster than the firmware applies: ignored, as on the board
        loop = asyncio.get_running_loop()
        self._commands.append((loop.time() + self.command_delay_s, bytes(data)))
        self._wake.set()

    # -------------------------------------------------------------------------- firmware
    def _counts(self, acc_range: AccRange, gyro_range: GyroRange) -> np.ndarray:
        key = (acc_range, gyro_range)
        if key not in self._counts_cache:
            assert self.board is not None
            self._counts_cache[key] = source_counts(self.source, self.board, acc_range, gyro_range)
        return self._counts_cache[key]

    def _publish_status(self) -> None:
        s = self._stream
        value = encode_status(s is not None, self.last_result, self.last_opcode, s.per_packet if s else 0,
                              s.rate_hz if s else 0, self.config_byte, self.dropped)
        self.set_value(STATUS_UUID, value)
        if self.is_connected:
            self._transmit(STATUS_UUID, value)

    def _stop_streaming(self) -> None:
        self._stream = None

    def _begin_stream(self, session: int, rate_hz: int, acc: AccRange, gyro: GyroRange, per_packet: int,
                      first_seq: int = 0) -> None:
        loop = asyncio.get_running_loop()
        period_us = 1_000_000 // rate_hz
        next_due = self.device_us(loop.time()) + period_us
        self.config_byte = int(acc) | int(gyro) << 2 | (0x10 if self.has_mag else 0)
        self.dropped = 0
        self._stream = _Stream(session, rate_hz, period_us, acc, gyro, per_packet, self._counts(acc, gyro),
                               first_seq & 0xFFFF, next_due)
        if self._origin_us is None and not self.hold_first_pose:
            # the person's motion runs on the world's clock from `source_epoch` if given (several boards on
            # one person), else from this first START
            self._origin_us = next_due if self.source_epoch is None else self.device_us(self.source_epoch)

    def _start(self, data: bytes) -> int:
        """startStreaming() with hiptrack_parse_start(): the result code."""
        if self.board is None:
            return Result.SENSOR_ERROR
        if len(data) != START_SIZE:
            return Result.BAD_LENGTH
        _op, rate, acc, gyro, max_payload, per = struct.unpack("<BHBBHB", data)
        if rate not in RATES_HZ:
            return Result.BAD_RATE
        if acc > 3:
            return Result.BAD_ACC_RANGE
        if gyro > 3 or not gyro_codes(self.board) >> gyro & 1:
            return Result.BAD_GYRO_RANGE
        fit = samples_per_packet(max_payload)
        if fit == 0:
            return Result.PAYLOAD_TOO_SMALL
        if per == 0:
            per = (rate + 24) // 25
        self._stop_streaming()
        self.session += 1
        self._begin_stream(self.session, rate, AccRange(acc), GyroRange(gyro), min(per, fit))
        return Result.OK

    def _handle_control(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.commands.append((loop.time(), data))
        result: int = Result.OK
        if not data:
            result = Result.BAD_LENGTH
        elif data[0] == Opcode.START:
            result = self._start(data) if self.is_connected else Result.NOT_CONNECTED
        elif data[0] == Opcode.STOP:
            result = Result.OK if len(data) == 1 else Result.BAD_LENGTH
            self._stop_streaming()
        elif data[0] == Opcode.IDENTIFY:
            if len(data) == 2:
                self.identify_until = loop.time() + data[1] if data[1] else None
            else:
                result = Result.BAD_LENGTH
        else:
            result = Result.UNKNOWN_OPCODE
        self.last_opcode = data[0] if data else 0
        self.last_result = result
        self._publish_status()

    def _sample_if_due(self, now_us: int) -> None:
        s = self._stream
        if s is None:
            return
        late = now_us - s.next_due_us
        if late < 0:
            return
        if late >= s.period_us:  # slots missed: lost, not faked
            missed = late // s.period_us
            s.next_due_us += missed * s.period_us
            s.next_seq = (s.next_seq + missed) & 0xFFFF
            self.dropped += missed
        origin = self._origin_us if self._origin_us is not None else s.next_due_us
        row = (s.next_due_us - origin + self.source_period_us // 2) // self.source_period_us
        row = max(row, 0) % s.counts.shape[0]  # before the motion begins: its first pose
        counts = tuple(int(v) for v in s.counts[row])
        self.produced.append(ProducedSample(s.session, s.next_seq, s.next_due_us, self.true_time(s.next_due_us),
                                            row, counts))
        if len(s.ring) == RING_SIZE:
            s.ring.popleft()
            self.dropped += 1
        s.ring.append(_RingEntry(s.next_seq, s.next_due_us, counts, len(self.produced) - 1))
        s.next_seq = (s.next_seq + 1) & 0xFFFF
        s.next_due_us += s.period_us

    def _send_if_ready(self) -> bool:
        """sendIfReady(): hand one packet to the radio; False when there is none to send."""
        s = self._stream
        if s is None or not s.ring or not self.is_connected or not self.is_subscribed(DATA_UUID):
            return False
        ring = s.ring
        n = 1
        while n < s.per_packet and n < len(ring) and ring[n].seq == (ring[0].seq + n) & 0xFFFF:
            n += 1
        if n < s.per_packet and n == len(ring):
            return False  # wait for more (a gap after n samples sends the short packet at once)
        batch = [ring.popleft() for _ in range(n)]
        assert self.board is not None
        packet = encode_packet(DecodedPacket(
            seq=batch[0].seq, t0_us=batch[0].t_us % _U32, period_us=s.period_us, board=self.board,
            acc_range=s.acc_range, gyro_range=s.gyro_range, has_mag=self.has_mag,
            samples=[RawSample((e.counts[0], e.counts[1], e.counts[2]), (e.counts[3], e.counts[4], e.counts[5]),
                               (e.counts[6], e.counts[7], e.counts[8]), self.has_mag) for e in batch]))
        index = len(self.packets)
        record = PacketRecord(index, s.session, batch[0].seq, n, [e.produced for e in batch], "sent", len(packet))
        self.packets.append(record)
        for e in batch:
            self.produced[e.produced].packet = index
        limit = self.mtu - 3
        if len(packet) > limit:
            # ArduinoBLE cuts the notification to the link's payload without telling the caller; the firmware
            # sees the short count, shrinks its batches (or stops) and says so in STATUS.
            packet = packet[:limit]
            record.fate = "cut"
            fit = samples_per_packet(limit)
            self.last_opcode = Opcode.START
            if fit == 0:
                self.last_result = Result.PAYLOAD_TOO_SMALL
                self._stop_streaming()
            else:
                s.per_packet = fit
            self._transmit(DATA_UUID, packet, record)
            self._publish_status()
            return True
        if index in self.drop_packets:
            record.fate = "dropped"
            return True
        if index in self.corrupt_packets:
            record.fate = "corrupt"
            flip = len(packet) // 2
            packet = packet[:flip] + bytes([packet[flip] ^ 0x5A]) + packet[flip + 1:]
        elif index in self.truncate_packets:
            record.fate = "truncated"
            packet = packet[:len(packet) // 2]
        self._transmit(DATA_UUID, packet, record)
        return True

    def _transmit(self, uuid: str, data: bytes, record: PacketRecord | None = None) -> None:
        """Queue a notification; the radio sends them in order, each after its latency."""
        now = asyncio.get_running_loop().time()
        delay = self.notify_latency_s
        if self.notify_jitter_s > 0.0:
            delay += self._rng.expovariate(1.0 / self.notify_jitter_s)
        release = max(now + delay, self._last_release)
        self._last_release = release
        self._radio.append(_Outgoing(release, uuid, data, record))
        self._radio_wake.set()

    async def _firmware_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = loop.time()
            while self._commands and self._commands[0][0] <= now:
                _, data = self._commands.popleft()
                self._handle_control(data)
            if self.identify_until is not None and now >= self.identify_until:
                self.identify_until = None
            self._sample_if_due(self.device_us(now))
            while self._send_if_ready():
                pass
            wake_at = math.inf
            if self._stream is not None:
                # 1 µs after the slot's instant, so the floor of the device clock has surely reached it
                wake_at = self.true_time(self._stream.next_due_us) + 1e-6
            if self._commands:
                wake_at = min(wake_at, self._commands[0][0])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(None if math.isinf(wake_at) else max(wake_at, now)):
                    await self._wake.wait()

    async def _radio_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._radio:
                self._radio_wake.clear()
                await self._radio_wake.wait()
                continue
            item = self._radio[0]
            if item.release > loop.time():
                self._radio_wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(item.release):
                        await self._radio_wake.wait()
                continue
            self._radio.popleft()
            sent = False
            if self.is_connected:
                try:
                    sent = await self.notify(item.uuid, item.data)
                except RuntimeError:  # the link dropped in between
                    sent = False
            if item.packet is not None:
                if sent:
                    item.packet.t_sent = loop.time()
                elif item.packet.fate == "sent":
                    item.packet.fate = "lost_link"
