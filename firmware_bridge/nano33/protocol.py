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


@dataclass(frozen=True, slots=True)
class _Format:
    """What a packet's board and config bytes say, checked, with its scale factors to SI units."""

    board: Board
    acc_range: AccRange
    gyro_range: GyroRange
    has_mag: bool
    acc_m_s2_per_lsb: float
    gyr_rad_s_per_lsb: float
    mag_ut_per_lsb: float
    mag_sign: tuple[int, int, int]
    """Per axis: the sign that takes the magnetometer's axes to the accelerometer's (`MAG_TO_IMU_AXES`)."""


_FORMATS: dict[int, _Format] = {}
"""The valid (board code, config) pairs seen so far, by board code << 8 | config (at most 2 x 32)."""


def _format(board_code: int, config: int, period_us: int, length: int) -> _Format:
    """The checked format of a packet's header fields (the checks in the order `decode_packet` makes them);
    kept in `_FORMATS` once valid."""
    board = _board(board_code, length)
    if config & ~0x1F:
        raise PacketError(f"reserved config bits set (0x{config:02x})", length)
    if period_us == 0:
        raise PacketError("sample period 0", length)
    gyro_range = GyroRange((config >> 2) & 3)
    if GYRO_DPS_PER_LSB[board][gyro_range] == 0.0:
        raise PacketError(f"gyro range code {int(gyro_range)} does not exist on {board.name}", length)
    acc_range = AccRange(config & 3)
    fmt = _Format(board, acc_range, gyro_range, bool(config & CONFIG_MAG_PRESENT),
                  ACC_G_PER_LSB[board][acc_range] * STANDARD_GRAVITY, math.radians(GYRO_DPS_PER_LSB[board][gyro_range]),
                  MAG_UT_PER_LSB[board], MAG_TO_IMU_AXES[board])
    _FORMATS[board_code << 8 | config] = fmt
    return fmt


_SAMPLES = [struct.Struct(f"<{9 * n}h") for n in range(MAX_SAMPLES + 1)]
"""The samples of a packet of n samples, all at once."""


def _check(raw: bytes) -> tuple[tuple[int, ...], _Format]:
    """The header fields (version, n, seq, t0_us, period_us, board, config, mag_fresh) and format of a
    packet that passes every check; PacketError says what is wrong otherwise."""
    length = len(raw)
    if length < MIN_PAYLOAD:
        raise PacketError(f"truncated: shorter than the smallest packet ({MIN_PAYLOAD} bytes)", length)
    header = _HEADER.unpack_from(raw, 0)
    version, n, _, _, period_us, board_code, config, _ = header
    if version != PACKET_VERSION:
        raise PacketError(f"format version {version}, this hiptrack reads version {PACKET_VERSION}", length)
    if not 1 <= n <= MAX_SAMPLES:
        raise PacketError(f"sample count {n} outside 1..{MAX_SAMPLES}", length)
    body = HEADER_SIZE + SAMPLE_SIZE * n
    if length != body + CRC_SIZE:
        raise PacketError(
            f"{n} samples need {packet_size(n)} bytes (truncated notification: is the BLE MTU too small?)", length
        )
    if binascii.crc_hqx(raw[:body], 0xFFFF) != raw[body] | raw[body + 1] << 8:  # crc16, inlined
        raise PacketError("CRC mismatch (corrupted packet)", length)
    fmt = _FORMATS.get(board_code << 8 | config)
    if fmt is None or period_us == 0:
        fmt = _format(board_code, config, period_us, length)
    return header, fmt


def decode_packet(data: bytes | bytearray | memoryview) -> DecodedPacket:
    """Check and unpack one data notification; PacketError says what is wrong with it."""
    raw = bytes(data)
    (_, n, seq, t0_us, period_us, _, _, mag_fresh), fmt = _check(raw)
    v = _SAMPLES[n].unpack_from(raw, HEADER_SIZE)
    samples = [RawSample((v[j], v[j + 1], v[j + 2]), (v[j + 3], v[j + 4], v[j + 5]), (v[j + 6], v[j + 7], v[j + 8]),
                         bool(mag_fresh >> i & 1)) for i, j in enumerate(range(0, 9 * n, 9))]
    return DecodedPacket(
        seq=seq,
        t0_us=t0_us,
        period_us=period_us,
        board=fmt.board,
        acc_range=fmt.acc_range,
        gyro_range=fmt.gyro_range,
        has_mag=fmt.has_mag,
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


Vec3 = tuple[float, float, float]


def to_si(p: DecodedPacket, s: RawSample) -> tuple[Vec3, Vec3, Vec3 | None]:
    """(acc m/s², gyr rad/s, mag µT or None) of one sample, all in the accelerometer's axes."""
    k_acc = ACC_G_PER_LSB[p.board][p.acc_range] * STANDARD_GRAVITY
    k_gyr = math.radians(GYRO_DPS_PER_LSB[p.board][p.gyro_range])
    mag = None
    if p.has_mag:
        k_mag = MAG_UT_PER_LSB[p.board]
        sx, sy, sz = MAG_TO_IMU_AXES[p.board]
        mag = (sx * s.mag[0] * k_mag, sy * s.mag[1] * k_mag, sz * s.mag[2] * k_mag)
    return ((s.acc[0] * k_acc, s.acc[1] * k_acc, s.acc[2] * k_acc),
            (s.gyr[0] * k_gyr, s.gyr[1] * k_gyr, s.gyr[2] * k_gyr), mag)


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
        raw = bytes(data)
        try:
            (_, n, seq, t0_us, period_us, _, _, _), fmt = _check(raw)
        except PacketError as e:
            self.stats.corrupt_packets += 1
            self.last_error = e
            return []
        next_index = self._next_index
        skip = 0
        if next_index is None:
            # First packet: the stream's unwrapped device time starts at 0 here.
            t0 = 0
            index = seq
        else:
            last_t_us = self._last_t_us
            # (a - b + 2**(k-1)) % 2**k - 2**(k-1): a - b taken modulo 2**k into [-2**(k-1), 2**(k-1))
            t0 = last_t_us + ((t0_us - self._last_t_raw + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000
            # Where the counter should be by the clock, then the counter value congruent to seq nearest it:
            # exact across any number of 16-bit wraps, as long as the device clock is roughly right.
            by_time = next_index - 1 + round((t0 - last_t_us) / period_us)
            index = by_time + ((seq - (by_time & 0xFFFF) + 0x8000) & 0xFFFF) - 0x8000
            if index < next_index:
                skip = next_index - index
                if skip >= n:
                    self.stats.stale_samples += n
                    return []
                self.stats.stale_samples += skip
            elif index > next_index:
                lost = index - next_index
                self.stats.lost_samples += lost
                self.stats.gaps += 1
                gap_t = t0 - lost * period_us
                self._gaps.append(SampleGap(next_index, lost, gap_t * 1e-6, self.clock.to_host(gap_t * 1e-6)))
        last_t = t0 + (n - 1) * period_us
        clock = self.clock
        clock.update(last_t * 1e-6, host_time)
        counts = _SAMPLES[n].unpack_from(raw, HEADER_SIZE)
        k_acc, k_gyr = fmt.acc_m_s2_per_lsb, fmt.gyr_rad_s_per_lsb
        k_mag, (sx, sy, sz) = fmt.mag_ut_per_lsb, fmt.mag_sign
        has_mag = fmt.has_mag
        sensor = self.sensor
        last_host_t = self._last_host_t
        out: list[ImuSample] = []
        for i in range(skip, n):
            j = 9 * i
            ax, ay, az, gx, gy, gz, mx, my, mz = counts[j:j + 9]
            t = clock.to_host((t0 + i * period_us) * 1e-6)
            if t <= last_host_t:
                t = last_host_t + 1e-6  # keep time strictly increasing as the clock fit moves
            last_host_t = t
            out.append(ImuSample(t, sensor, (ax * k_acc, ay * k_acc, az * k_acc), (gx * k_gyr, gy * k_gyr, gz * k_gyr),
                                 (sx * mx * k_mag, sy * my * k_mag, sz * mz * k_mag) if has_mag else None))
        self._last_host_t = last_host_t
        self._next_index = index + n
        self._last_t_raw = (t0_us + (n - 1) * period_us) & 0xFFFF_FFFF
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
