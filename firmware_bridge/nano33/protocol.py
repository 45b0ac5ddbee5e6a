"""The hiptrack Nano 33 BLE protocol: GATT UUIDs, packet layout, codec, control commands.

The firmware (firmware_bridge/nano33_firmware/hiptrack_imu/) packs with `hiptrack_packet.h`; this
module mirrors it and firmware_bridge/nano33_firmware/README.md documents both. Change the three
together; tests/test_nano33_codec.py compiles the C header and checks that both sides agree.

Data packet (one notification, little-endian):

    off  size  field
      0     1  format version (1)
      1     1  n = samples in this packet (1..12)
      2     2  seq: sample counter of the first sample (u16, wraps)
      4     4  t0_us: device time of the first sample, us (u32, wraps after ~71.6 min)
      8     2  period_us: sample i was taken at t0_us + i * period_us, with counter seq + i
     10     1  board: 1 = Rev1 (LSM9DS1), 2 = Rev2 (BMI270 + BMM150)
     11     1  config: bits 0-1 acc range code, bits 2-3 gyro range code, bit 4 mag present
     12     2  mag_fresh: bit i set = sample i has a new magnetometer reading
     14  18*n  samples: ax ay az gx gy gz mx my mz, int16 raw counts, each chip's own axes
    14+18n  2  CRC-16/CCITT-FALSE of all bytes before it

`SampleDecoder` turns packets into `ImuSample`s: SI units, the magnetometer rotated into the
accelerometer's axes (per board revision, `MAG_TO_IMU_AXES`), sequence and device time unwrapped,
lost samples counted and reported as `SampleGap`s, device time mapped to host time by `DeviceClock`.
"""

from __future__ import annotations

import binascii
import math
import struct
from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.errors import PacketError
from firmware_bridge.nano33.clock import DeviceClock
from imu_core.frames import Segment
from imu_core.types import ImuSample

# ---- GATT ----------------------------------------------------------------------------------------
SERVICE_UUID = "5dfea600-02b3-4e26-abc8-2ffe8e34f80f"
DATA_UUID = "5dfea601-02b3-4e26-abc8-2ffe8e34f80f"
"""Notify: data packets."""
CONTROL_UUID = "5dfea602-02b3-4e26-abc8-2ffe8e34f80f"
"""Write (with or without response): START / STOP / IDENTIFY."""
STATUS_UUID = "5dfea603-02b3-4e26-abc8-2ffe8e34f80f"
"""Read + notify: streaming state and the result of the last control write."""
INFO_UUID = "5dfea604-02b3-4e26-abc8-2ffe8e34f80f"
"""Read: board revision, parts, firmware version, capabilities."""
DEVICE_NAME_PREFIX = "hiptrack-"
"""Advertised local name: prefix + last 4 hex digits of the board's BLE address."""

# ---- Packet layout -------------------------------------------------------------------------------
PACKET_VERSION = 1
HEADER_SIZE = 14
SAMPLE_SIZE = 18
CRC_SIZE = 2
MAX_SAMPLES = 12
_HEADER = struct.Struct("<BBHIHBBH")
_SAMPLE = struct.Struct("<9h")
CONFIG_MAG_PRESENT = 0x10

STANDARD_GRAVITY = 9.80665
"""m/s² per g."""


def packet_size(n: int) -> int:
    """Bytes of a packet with n samples."""
    return HEADER_SIZE + SAMPLE_SIZE * n + CRC_SIZE


MIN_PAYLOAD = packet_size(1)
"""34 bytes: the smallest notification payload that carries a packet (ATT MTU 37)."""
MAX_PACKET_SIZE = packet_size(MAX_SAMPLES)
"""232 bytes: fits the Nano's largest ATT MTU, 247 (payload 244)."""


def samples_per_packet(max_payload: int) -> int:
    """Samples that fit a notification of at most `max_payload` bytes (ATT MTU - 3); 0 if none."""
    if max_payload < MIN_PAYLOAD:
        return 0
    return min(MAX_SAMPLES, (max_payload - HEADER_SIZE - CRC_SIZE) // SAMPLE_SIZE)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, no final xor); "123456789" -> 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


class Board(IntEnum):
    REV1 = 1
    """Nano 33 BLE / BLE Sense: ST LSM9DS1 (accelerometer, gyroscope and magnetometer)."""
    REV2 = 2
    """Nano 33 BLE Rev2 / BLE Sense Rev2: Bosch BMI270 (accelerometer, gyroscope) + BMM150 (magnetometer)."""


class AccRange(IntEnum):
    """Accelerometer range codes."""

    G2 = 0
    G4 = 1
    G8 = 2
    G16 = 3


class GyroRange(IntEnum):
    """Gyroscope range codes (the LSM9DS1's smallest is ±245 dps, and it has no ±1000)."""

    DPS250 = 0
    DPS500 = 1
    DPS1000 = 2
    DPS2000 = 3


RATES_HZ = (50, 100, 200)

# Scale factors, SI-ish units per LSB (datasheet sensitivities; the same tables as hiptrack_packet.h).
ACC_G_PER_LSB: dict[Board, tuple[float, float, float, float]] = {
    Board.REV1: (0.061e-3, 0.122e-3, 0.244e-3, 0.732e-3),
    Board.REV2: (1 / 16384, 1 / 8192, 1 / 4096, 1 / 2048),
}
GYRO_DPS_PER_LSB: dict[Board, tuple[float, float, float, float]] = {
    Board.REV1: (8.75e-3, 17.5e-3, 0.0, 70.0e-3),  # 0.0: no ±1000 dps on the LSM9DS1
    Board.REV2: (1 / 131.2, 1 / 65.6, 1 / 32.8, 1 / 16.4),
}
MAG_UT_PER_LSB: dict[Board, float] = {
    Board.REV1: 0.014,  # LSM9DS1 at ±4 gauss: 0.14 mgauss/LSB
    Board.REV2: 1 / 16,  # BMM150, compensated on the board, sent in 1/16 µT
}
MAG_TO_IMU_AXES: dict[Board, tuple[int, int, int]] = {
    Board.REV1: (-1, 1, 1),
    Board.REV2: (1, 1, 1),
}
"""Sign per axis taking the magnetometer's axes to the accelerometer/gyroscope axes.

Rev1: the LSM9DS1's magnetometer X axis points opposite to its accelerometer/gyro X axis (ST
datasheet, p. 10; PX4 DriverFramework PR #160 applies the same -mx). Rev2: the BMI270 and the BMM150
are both mounted with their axes along the board's silkscreen axes (Arduino_BMI270_BMM150 PR #68,
arduino/docs-content issue #1880), so no change. Neither was checked on hardware here; README.md
describes a one-minute check."""


def _board(value: int, length: int) -> Board:
    try:
        return Board(value)
    except ValueError:
        raise PacketError(f"unknown board revision {value}", length) from None


# ---- Decoding ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RawSample:
    """One sample as sent: int16 counts in each chip's own axes."""

    acc: tuple[int, int, int]
    gyr: tuple[int, int, int]
    mag: tuple[int, int, int]
    mag_fresh: bool


@dataclass(frozen=True, slots=True)
class DecodedPacket:
    seq: int
    """Counter of the first sample, 0..65535."""
    t0_us: int
    """Device time of the first sample, µs, 0..2**32-1."""
    period_us: int
    board: Board
    acc_range: AccRange
    gyro_range: GyroRange
    has_mag: bool
    samples: list[RawSample]

    @property
    def config(self) -> int:
        return int(self.acc_range) | int(self.gyro_range) << 2 | (CONFIG_MAG_PRESENT if self.has_mag else 0)


def decode_packet(data: bytes | bytearray | memoryview) -> DecodedPacket:
    """Check and unpack one data notification; PacketError says what is wrong with it."""
    raw = bytes(data)
    length = len(raw)
    if length < packet_size(1):
        raise PacketError(f"truncated: shorter than the smallest packet ({packet_size(1)} bytes)", length)
    version, n, seq, t0_us, period_us, board_code, config, mag_fresh = _HEADER.unpack_from(raw, 0)
    if version != PACKET_VERSION:
        raise PacketError(f"format version {version}, this hiptrack reads version {PACKET_VERSION}", length)
    if not 1 <= n <= MAX_SAMPLES:
        raise PacketError(f"sample count {n} outside 1..{MAX_SAMPLES}", length)
    if length != packet_size(n):
        raise PacketError(
            f"{n} samples need {packet_size(n)} bytes (truncated notification: is the BLE MTU too small?)", length
        )
    body = length - CRC_SIZE
    (sent_crc,) = struct.unpack_from("<H", raw, body)
    if crc16(raw[:body]) != sent_crc:
        raise PacketError("CRC mismatch (corrupted packet)", length)
    board = _board(board_code, length)
    if config & ~0x1F:
        raise PacketError(f"reserved config bits set (0x{config:02x})", length)
    if period_us == 0:
        raise PacketError("sample period 0", length)
    gyro_range = GyroRange((config >> 2) & 3)
    if GYRO_DPS_PER_LSB[board][gyro_range] == 0.0:
        raise PacketError(f"gyro range code {int(gyro_range)} does not exist on {board.name}", length)
    samples = []
    for i in range(n):
        v = _SAMPLE.unpack_from(raw, HEADER_SIZE + i * SAMPLE_SIZE)
        samples.append(RawSample((v[0], v[1], v[2]), (v[3], v[4], v[5]), (v[6], v[7], v[8]), bool(mag_fresh >> i & 1)))
    return DecodedPacket(
        seq=seq,
        t0_us=t0_us,
        period_us=period_us,
        board=board,
        acc_range=AccRange(config & 3),
        gyro_range=gyro_range,
        has_mag=bool(config & CONFIG_MAG_PRESENT),
        samples=samples,
    )


def encode_packet(p: DecodedPacket) -> bytes:
    """The bytes the firmware sends for this packet (for emulated sensors and tests; the real packing
    is hiptrack_pack_packet in C, and tests/test_nano33_codec.py checks that both give the same bytes)."""
    n = len(p.samples)
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"sample count {n} outside 1..{MAX_SAMPLES}")
    fresh = sum(1 << i for i, s in enumerate(p.samples) if s.mag_fresh)
    out = bytearray(_HEADER.pack(PACKET_VERSION, n, p.seq & 0xFFFF, p.t0_us & 0xFFFFFFFF, p.period_us,
                                 int(p.board), p.config, fresh))
    for s in p.samples:
        out += _SAMPLE.pack(*s.acc, *s.gyr, *s.mag)
    out += struct.pack("<H", crc16(bytes(out)))
    return bytes(out)


@dataclass(frozen=True, slots=True)
class SampleGap:
    """Samples the sensor took but the host never got (a firmware overflow or a lost notification)."""

    first_missing: int
    """Unwrapped sample counter of the first missing sample."""
    lost: int
    """How many consecutive samples are missing."""
    device_time: float
    """Device time of the first missing sample, s (unwrapped, from the stream's start)."""
    host_time: float
    """The same instant on the host time base, s."""


@dataclass(slots=True)
class _Scale:
    acc: float
    gyr: float
    mag: float
    mag_sign: tuple[int, int, int]


def _scale(p: DecodedPacket) -> _Scale:
    return _Scale(
        acc=ACC_G_PER_LSB[p.board][p.acc_range] * STANDARD_GRAVITY,
        gyr=math.radians(GYRO_DPS_PER_LSB[p.board][p.gyro_range]),
        mag=MAG_UT_PER_LSB[p.board],
        mag_sign=MAG_TO_IMU_AXES[p.board],
    )


Vec3 = tuple[float, float, float]


def to_si(p: DecodedPacket, s: RawSample) -> tuple[Vec3, Vec3, Vec3 | None]:
    """(acc m/s², gyr rad/s, mag µT or None) of one sample, all in the accelerometer's axes."""
    k = _scale(p)
    return _si(k, p.has_mag, s)


def _si(k: _Scale, has_mag: bool, s: RawSample) -> tuple[Vec3, Vec3, Vec3 | None]:
    acc = (s.acc[0] * k.acc, s.acc[1] * k.acc, s.acc[2] * k.acc)
    gyr = (s.gyr[0] * k.gyr, s.gyr[1] * k.gyr, s.gyr[2] * k.gyr)
    mag = None
    if has_mag:
        sx, sy, sz = k.mag_sign
        mag = (sx * s.mag[0] * k.mag, sy * s.mag[1] * k.mag, sz * s.mag[2] * k.mag)
    return acc, gyr, mag


def _wrap_delta(value: int, reference: int, bits: int) -> int:
    """value - reference taken modulo 2**bits into [-2**(bits-1), 2**(bits-1))."""
    half = 1 << (bits - 1)
    return ((value - reference + half) % (1 << bits)) - half


@dataclass(slots=True)
class DecoderStats:
    packets: int = 0
    """Good packets decoded."""
    samples: int = 0
    """Samples delivered."""
    lost_samples: int = 0
    """Samples missing from the sequence (gaps between packets)."""
    corrupt_packets: int = 0
    """Notifications rejected by `decode_packet` (each may hide up to 12 samples)."""
    stale_samples: int = 0
    """Samples dropped because they were already delivered or older than the newest (duplicates)."""
    gaps: int = 0


class SampleDecoder:
    """Turns the notifications of one sensor's stream into ImuSamples on the host time base.

    Make one per START (the firmware restarts its counter then). `feed` never raises for a bad
    packet: it counts it in `stats.corrupt_packets` and keeps the error in `last_error`. Gaps in the
    sample counter are counted and queued for `pop_gaps`, so the session can mark them; the sample
    times already show them (one period per missing sample).
    """

    def __init__(self, sensor: Segment, clock: DeviceClock | None = None) -> None:
        self.sensor = sensor
        self.clock = clock if clock is not None else DeviceClock()
        self.stats = DecoderStats()
        self.last_error: PacketError | None = None
        self._gaps: list[SampleGap] = []
        self._next_index: int | None = None
        """Unwrapped counter the next sample should have; None before the first packet."""
        self._last_t_raw = 0
        """Device time (µs, as sent) of the newest sample delivered."""
        self._last_t_us = 0
        """The same, unwrapped, counted from the stream's first sample."""
        self._last_host_t = -math.inf

    def feed(self, data: bytes | bytearray | memoryview, host_time: float) -> list[ImuSample]:
        """Decode one notification received at `host_time` (s, the host's clock)."""
        try:
            p = decode_packet(data)
        except PacketError as e:
            self.stats.corrupt_packets += 1
            self.last_error = e
            return []
        n = len(p.samples)
        if self._next_index is None:
            # First packet: the stream's unwrapped device time starts at 0 here.
            t0 = 0
            index = p.seq
        else:
            t0 = self._last_t_us + _wrap_delta(p.t0_us, self._last_t_raw, 32)
            # Where the counter should be by the clock, then the counter value congruent to seq nearest it:
            # exact across any number of 16-bit wraps, as long as the device clock is roughly right.
            by_time = self._next_index - 1 + round((t0 - self._last_t_us) / p.period_us)
            index = by_time + _wrap_delta(p.seq, by_time % 65536, 16)
        skip = 0
        if self._next_index is not None:
            skip = max(0, self._next_index - index)
            if skip >= n:
                self.stats.stale_samples += n
                return []
            self.stats.stale_samples += skip
            lost = index - self._next_index
            if lost > 0:
                self.stats.lost_samples += lost
                self.stats.gaps += 1
                gap_t = t0 - lost * p.period_us
                self._gaps.append(SampleGap(self._next_index, lost, gap_t * 1e-6, self.clock.to_host(gap_t * 1e-6)))
        last_t = t0 + (n - 1) * p.period_us
        self.clock.update(last_t * 1e-6, host_time)
        k = _scale(p)
        out: list[ImuSample] = []
        for i in range(skip, n):
            acc, gyr, mag = _si(k, p.has_mag, p.samples[i])
            t = self.clock.to_host((t0 + i * p.period_us) * 1e-6)
            if t <= self._last_host_t:
                t = self._last_host_t + 1e-6  # keep time strictly increasing as the clock fit moves
            self._last_host_t = t
            out.append(ImuSample(t, self.sensor, acc, gyr, mag))
        self._next_index = index + n
        self._last_t_raw = (p.t0_us + (n - 1) * p.period_us) % (1 << 32)
        self._last_t_us = last_t
        self.stats.packets += 1
        self.stats.samples += len(out)
        return out

    def pop_gaps(self) -> list[SampleGap]:
        """Gaps seen since the last call, oldest first."""
        gaps, self._gaps = self._gaps, []
        return gaps

    @property
    def device_time(self) -> float:
        """Device time of the newest sample, s since the stream's first sample."""
        return self._last_t_us * 1e-6


# ---- Control characteristic ----------------------------------------------------------------------
class Opcode(IntEnum):
    START = 0x01
    STOP = 0x02
    IDENTIFY = 0x03


def encode_control_start(rate_hz: int, acc_range: AccRange, gyro_range: GyroRange, max_payload: int,
                         samples: int = 0) -> bytes:
    """START: stream at `rate_hz` (50/100/200) with these ranges.

    `max_payload` is the largest notification the link carries (ATT MTU - 3; in bleak
    `char.max_write_without_response_size`); `samples` per packet, 0 = firmware's choice (about 25
    notifications per second), capped by the firmware to what fits `max_payload`.
    """
    if rate_hz not in RATES_HZ:
        raise ValueError(f"rate {rate_hz} Hz: the firmware supports {RATES_HZ}")
    if not 0 <= max_payload <= 0xFFFF:
        raise ValueError(f"max_payload {max_payload} out of range")
    if not 0 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples per packet {samples} outside 0..{MAX_SAMPLES}")
    return struct.pack("<BHBBHB", Opcode.START, rate_hz, AccRange(acc_range), GyroRange(gyro_range), max_payload,
                       samples)


def encode_control_stop() -> bytes:
    return bytes([Opcode.STOP])


def encode_control_identify(seconds: int = 5) -> bytes:
    """Blink the board's orange LED for `seconds` (to tell two sensors apart)."""
    if not 0 <= seconds <= 255:
        raise ValueError("seconds must be 0..255")
    return bytes([Opcode.IDENTIFY, seconds])


# ---- Status characteristic -----------------------------------------------------------------------
class Result(IntEnum):
    OK = 0
    UNKNOWN_OPCODE = 1
    BAD_LENGTH = 2
    BAD_RATE = 3
    BAD_ACC_RANGE = 4
    BAD_GYRO_RANGE = 5
    PAYLOAD_TOO_SMALL = 6
    SENSOR_ERROR = 7
    NOT_CONNECTED = 8


RESULT_TEXT: dict[Result, str] = {
    Result.OK: "ok",
    Result.UNKNOWN_OPCODE: "the firmware does not know this command",
    Result.BAD_LENGTH: "the command has the wrong length",
    Result.BAD_RATE: "unsupported sample rate (50, 100 or 200 Hz)",
    Result.BAD_ACC_RANGE: "unsupported accelerometer range",
    Result.BAD_GYRO_RANGE: "unsupported gyroscope range for this board",
    Result.PAYLOAD_TOO_SMALL: f"the BLE link carries under {MIN_PAYLOAD} bytes per notification (ATT MTU too small)",
    Result.SENSOR_ERROR: "the IMU did not answer or could not be configured",
    Result.NOT_CONNECTED: "no central connected",
}

STATUS_SIZE = 12
_STATUS = struct.Struct("<BBBBHBBI")


@dataclass(frozen=True, slots=True)
class StreamStatus:
    streaming: bool
    result: Result | int
    """Result of the last control write (an int if this hiptrack does not know the code)."""
    opcode: int
    """Opcode that result belongs to, 0 = none yet."""
    samples_per_packet: int
    rate_hz: int
    acc_range: AccRange
    gyro_range: GyroRange
    has_mag: bool
    dropped: int
    """Samples the firmware dropped since START."""


def parse_status(data: bytes | bytearray | memoryview) -> StreamStatus:
    raw = bytes(data)
    if len(raw) < STATUS_SIZE:
        raise PacketError(f"status needs {STATUS_SIZE} bytes", len(raw))
    state, result, opcode, spp, rate, config, _reserved, dropped = _STATUS.unpack_from(raw, 0)
    try:
        res: Result | int = Result(result)
    except ValueError:
        res = result
    return StreamStatus(state == 1, res, opcode, spp, rate, AccRange(config & 3), GyroRange(config >> 2 & 3),
                        bool(config & CONFIG_MAG_PRESENT), dropped)


# ---- Device-info characteristic ------------------------------------------------------------------
INFO_SIZE = 16
INFO_VERSION = 1
_INFO = struct.Struct("<BBBBBBBBBBBBBBH")


class ImuPart(IntEnum):
    NONE = 0
    LSM9DS1 = 1
    BMI270 = 2


class MagPart(IntEnum):
    NONE = 0
    LSM9DS1 = 1
    BMM150 = 2


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    board: Board | None
    """None: the firmware found no IMU it knows."""
    has_acc: bool
    has_gyro: bool
    has_mag: bool
    imu_part: ImuPart
    mag_part: MagPart
    firmware_version: tuple[int, int, int]
    battery_percent: int | None
    """None: unknown (a Nano 33 BLE has no battery gauge)."""
    packet_version: int
    max_samples: int
    rates_hz: tuple[int, ...]
    acc_ranges: tuple[AccRange, ...]
    gyro_ranges: tuple[GyroRange, ...]

    @property
    def description(self) -> str:
        if self.board is None:
            return "Nano 33 BLE, no IMU found"
        parts = self.imu_part.name
        if self.mag_part is MagPart.BMM150:
            parts += " + BMM150"
        v = ".".join(str(x) for x in self.firmware_version)
        return f"Nano 33 BLE {self.board.name} ({parts}), firmware {v}"


def parse_device_info(data: bytes | bytearray | memoryview) -> DeviceInfo:
    raw = bytes(data)
    if len(raw) < INFO_SIZE:
        raise PacketError(f"device info needs {INFO_SIZE} bytes", len(raw))
    (ver, pkt_ver, board, sensors, imu, mag, major, minor, patch, battery, max_n, rates, acc_codes, gyro_codes,
     _reserved) = _INFO.unpack_from(raw, 0)
    if ver != INFO_VERSION:
        raise PacketError(f"device info version {ver}, this hiptrack reads version {INFO_VERSION}", len(raw))
    return DeviceInfo(
        board=Board(board) if board in (1, 2) else None,
        has_acc=bool(sensors & 1),
        has_gyro=bool(sensors & 2),
        has_mag=bool(sensors & 4),
        imu_part=ImuPart(imu) if imu in (0, 1, 2) else ImuPart.NONE,
        mag_part=MagPart(mag) if mag in (0, 1, 2) else MagPart.NONE,
        firmware_version=(major, minor, patch),
        battery_percent=None if battery == 0xFF else battery,
        packet_version=pkt_ver,
        max_samples=max_n,
        rates_hz=tuple(r for i, r in enumerate(RATES_HZ) if rates >> i & 1),
        acc_ranges=tuple(a for a in AccRange if acc_codes >> a & 1),
        gyro_ranges=tuple(g for g in GyroRange if gyro_codes >> g & 1),
    )
