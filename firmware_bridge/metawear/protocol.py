"""The MetaWear GATT protocol (MetaMotion R/RL/C/S), as far as hiptrack uses it: pure, no I/O.

Every fact here comes from /work/shared/docs/ble-protocols.md ("the notes"), sections 1-4, which
paraphrase MbientLab's C++/Python/Android SDKs and their unit tests. Byte sequences the notes mark
**[test]** were checked there against the C++ SDK's tests; those marked **[derived]** (and the ones
this module derives from the register layouts itself) have no SDK test behind them. Each builder's
docstring says which. Nothing here was verified against a real board by this project.

Frames (notes §1.2): ``[module, register, (data id), payload...]``, little-endian, at most 20 bytes.
``register | 0x80`` reads once (the reply arrives on the notify characteristic with the same two
header bytes); ``| 0x40`` is the SDK's "silent" read (no reply), never used here. Commands are
written to the command characteristic *without* response (macro commands, module 0x0F, are the
exception; hiptrack sends none).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.errors import PacketError

# ---- GATT (notes §1.1) ----------------------------------------------------------------------------
SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
"""The MetaWear service; boards advertise it, so it works as a scan filter."""
COMMAND_UUID = "326a9001-85cb-9195-d9dd-464cfbbae75a"
"""Host writes commands here (write without response)."""
NOTIFY_UUID = "326a9006-85cb-9195-d9dd-464cfbbae75a"
"""Every reply and data packet arrives here."""
DIS_SERVICE_UUID = "0000180a-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"
HARDWARE_REVISION_UUID = "00002a27-0000-1000-8000-00805f9b34fb"
MANUFACTURER_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
METABOOT_SERVICE_UUID = "00001530-1212-efde-1523-785feabcd123"
"""Present only in bootloader ("MetaBoot") mode: then nothing but a firmware update is possible."""
DEFAULT_NAME = "MetaWear"

MAX_FRAME = 20
"""Largest command or notification (2 header bytes + 18 payload; notes §1.2)."""

READ = 0x80
"""Register bit: read once; the reply comes back with the same header (notes §1.2)."""
SILENT = 0x40
"""Register bit: the SDK's silent read (the board sends no reply). Not used by hiptrack."""


class Module(IntEnum):
    """Module ids (notes §1.4, from the C++ SDK's module.h)."""

    SWITCH = 0x01
    LED = 0x02
    ACCELEROMETER = 0x03
    TEMPERATURE = 0x04
    GPIO = 0x05
    NEOPIXEL = 0x06
    IBEACON = 0x07
    HAPTIC = 0x08
    DATA_PROCESSOR = 0x09
    EVENT = 0x0A
    LOGGING = 0x0B
    TIMER = 0x0C
    SERIAL_PASSTHROUGH = 0x0D
    MACRO = 0x0F
    CONDUCTANCE = 0x10
    SETTINGS = 0x11
    BAROMETER = 0x12
    GYRO = 0x13
    AMBIENT_LIGHT = 0x14
    MAGNETOMETER = 0x15
    HUMIDITY = 0x16
    COLOR_DETECTOR = 0x17
    PROXIMITY = 0x18
    SENSOR_FUSION = 0x19
    DEBUG = 0xFE


DISCOVERY_ORDER: tuple[Module, ...] = (
    Module.SWITCH, Module.LED, Module.ACCELEROMETER, Module.TEMPERATURE, Module.GPIO, Module.IBEACON,
    Module.HAPTIC, Module.DATA_PROCESSOR, Module.EVENT, Module.LOGGING, Module.TIMER, Module.SERIAL_PASSTHROUGH,
    Module.MACRO, Module.SETTINGS, Module.BAROMETER, Module.GYRO, Module.AMBIENT_LIGHT, Module.MAGNETOMETER,
    Module.HUMIDITY, Module.SENSOR_FUSION, Module.DEBUG,
)
"""The order in which the SDK reads module info (notes §1.5 step 3)."""

MODULE_INFO_REGISTER = 0x00
"""``[module, 0x80]`` reads a module's info (implementation, revision)."""


# Common layout of the accelerometer, gyro and magnetometer modules (notes §2.1-2.3).
POWER_MODE = 0x01
DATA_INTERRUPT_ENABLE = 0x02


class AccRegister(IntEnum):
    """Accelerometer (0x03) registers (notes §2.1)."""

    POWER_MODE = 0x01
    DATA_INTERRUPT_ENABLE = 0x02
    DATA_CONFIG = 0x03
    DATA = 0x04
    PACKED_BMI270 = 0x05
    PACKED_BMI160 = 0x1C
    """Also used by the BMA255."""


class GyroRegister(IntEnum):
    """Gyro (0x13) registers (notes §2.2); the data registers differ between the two chips."""

    POWER_MODE = 0x01
    DATA_INTERRUPT_ENABLE = 0x02
    CONFIG = 0x03
    DATA_BMI270 = 0x04
    DATA_BMI160 = 0x05
    PACKED_BMI270 = 0x05
    PACKED_BMI160 = 0x07


class MagRegister(IntEnum):
    """BMM150 magnetometer (0x15) registers (notes §2.3)."""

    POWER_MODE = 0x01
    DATA_INTERRUPT_ENABLE = 0x02
    DATA_RATE = 0x03
    DATA_REPETITIONS = 0x04
    DATA = 0x05
    PACKED = 0x09


class FusionRegister(IntEnum):
    """Sensor fusion (0x19) registers (notes §2.5)."""

    ENABLE = 0x01
    MODE = 0x02
    OUTPUT_ENABLE = 0x03
    CORRECTED_ACC = 0x04
    CORRECTED_GYRO = 0x05
    CORRECTED_MAG = 0x06
    QUATERNION = 0x07
    EULER = 0x08
    GRAVITY = 0x09
    LINEAR_ACC = 0x0A
    CALIBRATION_STATE = 0x0B
    RESET_ORIENTATION = 0x0F


FUSION_OUTPUT_REGISTERS: tuple[int, ...] = tuple(range(FusionRegister.CORRECTED_ACC, FusionRegister.LINEAR_ACC + 1))
"""The fusion registers that stream data (0x04-0x0A)."""


class SettingsRegister(IntEnum):
    CONNECTION_PARAMETERS = 0x09
    MAC = 0x0B
    BATTERY = 0x0C


class DebugRegister(IntEnum):
    RESET = 0x01
    RESET_AFTER_GC = 0x05
    DISCONNECT = 0x06


class LoggingRegister(IntEnum):
    TIME = 0x04


# ---- Implementations (notes §1.5) -----------------------------------------------------------------
class AccImplementation(IntEnum):
    MMA8452Q = 0
    BMI160 = 1
    BMA255 = 3
    BMI270 = 4


class GyroImplementation(IntEnum):
    BMI160 = 0
    BMI270 = 1


MODEL_NAMES = {"5": "MetaMotionR", "6": "MetaMotionC", "8": "MetaMotionS"}
"""DIS model number -> board (notes §1.1). "5" covers both MetaMotion R and RL."""


def model_name(model_number: str) -> str:
    """'MetaMotionS' for "8" etc.; unknown numbers are named as such."""
    number = model_number.strip()
    return MODEL_NAMES.get(number, f"MetaWear (model {number or '?'})")


# ---- Scales (notes §3.1) --------------------------------------------------------------------------
STANDARD_GRAVITY = 9.80665
"""m/s² per g. The notes give accelerometer scales in LSB/g only; which g the firmware means is not
stated, so hiptrack converts with standard gravity."""
ACC_LSB_PER_G: dict[int, float] = {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}
"""Same for BMI160, BMI270 and BMA255."""
GYRO_LSB_PER_DPS: dict[int, float] = {2000: 16.4, 1000: 32.8, 500: 65.6, 250: 131.2, 125: 262.4}
MAG_LSB_PER_UT = 16.0
"""The firmware sends trim-compensated BMM150 values in 1/16 µT."""


def acc_to_si(counts: tuple[int, int, int], range_g: int) -> tuple[float, float, float]:
    """Raw accelerometer counts -> m/s²."""
    k = STANDARD_GRAVITY / ACC_LSB_PER_G[range_g]
    return (counts[0] * k, counts[1] * k, counts[2] * k)


def gyro_to_si(counts: tuple[int, int, int], range_dps: int) -> tuple[float, float, float]:
    """Raw gyro counts -> rad/s."""
    k = math.pi / 180.0 / GYRO_LSB_PER_DPS[range_dps]
    return (counts[0] * k, counts[1] * k, counts[2] * k)


def mag_to_si(counts: tuple[int, int, int]) -> tuple[float, float, float]:
    """Raw magnetometer counts -> µT."""
    return (counts[0] / MAG_LSB_PER_UT, counts[1] / MAG_LSB_PER_UT, counts[2] / MAG_LSB_PER_UT)


# ---- Rates and ranges (notes §2.1-2.3) ------------------------------------------------------------
BMI_ACC_ODR_HZ: tuple[float, ...] = (0.78125, 1.5625, 3.125, 6.25, 12.5, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0,
                                     1600.0)
"""BMI160/BMI270 accelerometer rates; the ODR code is index + 1 (100 Hz = enum 7 = code 8)."""
BMA255_ACC_ODR_HZ: tuple[float, ...] = (15.62, 31.26, 62.5, 125.0, 250.0, 500.0, 1000.0, 2000.0)
"""BMA255 rates; the code is index + 8. Not on any MetaMotion board (notes §2.1)."""
BMI160_ACC_RANGE: dict[int, int] = {2: 0x03, 4: 0x05, 8: 0x08, 16: 0x0C}
"""BMI160 (and BMA255) range bitmask."""
BMI270_ACC_RANGE: dict[int, int] = {2: 0, 4: 1, 8: 2, 16: 3}
GYRO_ODR_CODE: dict[float, int] = {25.0: 6, 50.0: 7, 100.0: 8, 200.0: 9, 400.0: 10, 800.0: 11, 1600.0: 12,
                                   3200.0: 13}
GYRO_RANGE_CODE: dict[int, int] = {2000: 0, 1000: 1, 500: 2, 250: 3, 125: 4}
MAG_ODR_CODE: dict[float, int] = {10.0: 0, 2.0: 1, 6.0: 2, 8.0: 3, 15.0: 4, 20.0: 5, 25.0: 6, 30.0: 7}
BOSCH_BWP_NORMAL = 2
"""Bandwidth parameter the SDK writes at rates >= 12.5 Hz (and always for the gyro)."""


def _rate_code(table: tuple[float, ...], odr_hz: float, first_code: int, what: str) -> int:
    for i, rate in enumerate(table):
        if math.isclose(rate, odr_hz, rel_tol=1e-3):
            return i + first_code
    raise ValueError(f"{what} has no {odr_hz:g} Hz rate (available: {', '.join(f'{r:g}' for r in table)})")


# ---- Commands -------------------------------------------------------------------------------------
def read_register(module: int, register: int) -> bytes:
    """``[module, 0x80 | register]``: read once, reply with the same header (never the silent bit)."""
    return bytes([module, READ | (register & 0x3F)])


def read_module_info(module: int) -> bytes:
    """``[module, 0x80]`` (notes §1.5) **[test]**."""
    return read_register(module, MODULE_INFO_REGISTER)


def subscribe(module: int, register: int, enable: bool = True) -> bytes:
    """Switch one register's notifications on/off: ``[module, register, 01/00]`` (notes §1.3).
    The acc/gyro/mag subscribe and unsubscribe sequences in §2.1-2.2 are **[test]**."""
    return bytes([module, register, 0x01 if enable else 0x00])


def power(module: int, on: bool) -> bytes:
    """Start ``[module, 01, 01]`` / stop ``[module, 01, 00]`` a sensor (notes §2.1-2.3; the
    gyro and mag forms are **[test]**, the accelerometer start in normal mode is from the SDK code)."""
    return bytes([module, POWER_MODE, 0x01 if on else 0x00])


def data_interrupt(module: int, enable: bool) -> bytes:
    """Enable ``[module, 02, 01, 00]`` / disable ``[module, 02, 00, 01]`` the data interrupt
    (byte 2 = bits to set, byte 3 = bits to clear) **[test]**."""
    return bytes([module, DATA_INTERRUPT_ENABLE, 0x01, 0x00] if enable else [module, DATA_INTERRUPT_ENABLE, 0x00, 0x01])


def acc_config(implementation: AccImplementation, odr_hz: float, range_g: int) -> bytes:
    """``[03 03 conf range]`` (notes §2.1).

    BMI160: conf = code | bwp << 4 | us << 7 with (bwp 2, us 0) at >= 12.5 Hz, else (0, 1); range
    bitmask 03/05/08/0C. BMI270: conf = code | 2 << 4 | perf << 7, perf = 1 at >= 12.5 Hz (the opposite
    sense to BMI160's us bit); range code 0-3. BMA255: conf = its own code (index + 8), BMI160 ranges.
    The conf bytes per rate are **[test]** for both Bosch IMUs (BMI160 0x25..0x2C, 0x81..0x84; BMI270
    0xA8 at 100 Hz, 0x21 at 0.78 Hz), as is ``03 03 29 08`` / ``03 03 A9 02`` (200 Hz, ±8 g); every
    other rate/range pair, ±16 g included, is **[derived]** from those layouts.
    """
    if implementation is AccImplementation.BMA255:
        if range_g not in BMI160_ACC_RANGE:
            raise ValueError(f"no ±{range_g} g range")
        return bytes([Module.ACCELEROMETER, AccRegister.DATA_CONFIG,
                      _rate_code(BMA255_ACC_ODR_HZ, odr_hz, 8, "the BMA255"), BMI160_ACC_RANGE[range_g]])
    code = _rate_code(BMI_ACC_ODR_HZ, odr_hz, 1, "the accelerometer")
    normal = odr_hz >= 12.5
    if implementation is AccImplementation.BMI160:
        if range_g not in BMI160_ACC_RANGE:
            raise ValueError(f"no ±{range_g} g range")
        conf = code | (BOSCH_BWP_NORMAL << 4 if normal else 0x80)
        return bytes([Module.ACCELEROMETER, AccRegister.DATA_CONFIG, conf, BMI160_ACC_RANGE[range_g]])
    if implementation is AccImplementation.BMI270:
        if range_g not in BMI270_ACC_RANGE:
            raise ValueError(f"no ±{range_g} g range")
        conf = code | BOSCH_BWP_NORMAL << 4 | (0x80 if normal else 0x00)
        return bytes([Module.ACCELEROMETER, AccRegister.DATA_CONFIG, conf, BMI270_ACC_RANGE[range_g]])
    raise ValueError(f"no accelerometer configuration for {implementation.name}")


def acc_start(implementation: AccImplementation, odr_hz: float) -> bytes:
    """``[03 01 01]``; on the BMI270 below 12.5 Hz the SDK starts in low-power mode ``[03 01 02]``
    (notes §2.1, from the SDK code; no test)."""
    if implementation is AccImplementation.BMI270 and odr_hz < 12.5:
        return bytes([Module.ACCELEROMETER, POWER_MODE, 0x02])
    return power(Module.ACCELEROMETER, True)


def acc_packed_register(implementation: AccImplementation) -> int:
    """0x1C on BMI160/BMA255, 0x05 on BMI270 (notes §2.1) **[test]**."""
    return AccRegister.PACKED_BMI270 if implementation is AccImplementation.BMI270 else AccRegister.PACKED_BMI160


def gyro_config(odr_hz: float, range_dps: int) -> bytes:
    """``[13 03 b0 b1]``: b0 = ODR code | bwp 2 << 4, b1 = range code (notes §2.2). ``13 03 28 00``
    (100 Hz, ±2000 dps) is **[test]** for the BMI160; the notes say the BMI270 uses the same struct
    (no test), and other rates (200 Hz = ``13 03 29 00``) are **[derived]**."""
    codes = [code for rate, code in GYRO_ODR_CODE.items() if math.isclose(rate, odr_hz, rel_tol=1e-3)]
    if not codes:
        raise ValueError(f"the gyro has no {odr_hz:g} Hz rate")
    code = codes[0]
    if range_dps not in GYRO_RANGE_CODE:
        raise ValueError(f"the gyro has no ±{range_dps} dps range")
    return bytes([Module.GYRO, GyroRegister.CONFIG, code | BOSCH_BWP_NORMAL << 4, GYRO_RANGE_CODE[range_dps]])


def gyro_data_register(implementation: GyroImplementation) -> int:
    """0x05 on BMI160 (**[test]**), 0x04 on BMI270 (register table; notes §2.2)."""
    return GyroRegister.DATA_BMI270 if implementation is GyroImplementation.BMI270 else GyroRegister.DATA_BMI160


def gyro_packed_register(implementation: GyroImplementation) -> int:
    """0x07 on BMI160 (**[test]**), 0x05 on BMI270 (register table; notes §2.2)."""
    return GyroRegister.PACKED_BMI270 if implementation is GyroImplementation.BMI270 else GyroRegister.PACKED_BMI160


@dataclass(frozen=True, slots=True)
class MagPreset:
    """BMM150 repetitions and rate (notes §2.3)."""

    xy_repetitions: int
    z_repetitions: int
    odr_hz: float


MAG_LOW_POWER = MagPreset(3, 3, 10.0)
MAG_REGULAR = MagPreset(9, 15, 10.0)
MAG_ENHANCED = MagPreset(15, 27, 10.0)
MAG_HIGH_ACCURACY = MagPreset(47, 83, 20.0)


def mag_repetitions(xy: int, z: int) -> bytes:
    """``[15 04 (xy-1)/2 z-1]`` (notes §2.3) **[test]** for the four presets."""
    if xy < 1 or xy % 2 == 0 or z < 1:
        raise ValueError("xy repetitions must be odd and >= 1, z repetitions >= 1")
    return bytes([Module.MAGNETOMETER, MagRegister.DATA_REPETITIONS, (xy - 1) // 2, z - 1])


def mag_rate(odr_hz: float) -> bytes:
    """``[15 03 code]`` (notes §2.3) **[test]** for 10/20/25 Hz."""
    for rate, code in MAG_ODR_CODE.items():
        if math.isclose(rate, odr_hz, rel_tol=1e-3):
            return bytes([Module.MAGNETOMETER, MagRegister.DATA_RATE, code])
    raise ValueError(f"the BMM150 has no {odr_hz:g} Hz rate")


def mag_configure(xy: int, z: int, odr_hz: float, revision: int) -> list[bytes]:
    """The SDK's configure helper: on mag revision >= 2 a stop ``15 01 00`` first, then repetitions,
    then rate (notes §2.3). Regular repetitions at 25 Hz (what the SDK's fusion uses) give
    ``15 04 04 0E``, ``15 03 06`` **[test]**."""
    commands = [power(Module.MAGNETOMETER, False)] if revision >= 2 else []
    return [*commands, mag_repetitions(xy, z), mag_rate(odr_hz)]


def connection_parameters(min_interval_ms: float, max_interval_ms: float, latency: int,
                          supervision_timeout_ms: float) -> bytes:
    """``[11 09 min max latency timeout]``, u16 each: intervals in 1.25 ms, timeout in 10 ms (notes
    §2.6). 750/1000/128/16384 -> ``11 09 58 02 20 03 80 00 66 06`` is **[test]**; a request the central
    may refuse."""
    return bytes([Module.SETTINGS, SettingsRegister.CONNECTION_PARAMETERS]) + struct.pack(
        "<4H", round(min_interval_ms / 1.25), round(max_interval_ms / 1.25), latency,
        round(supervision_timeout_ms / 10.0))


def read_battery() -> bytes:
    """``11 8C`` -> ``11 8C pct mv_lo mv_hi`` (settings revision >= 3; notes §2.7) **[test]**."""
    return read_register(Module.SETTINGS, SettingsRegister.BATTERY)


def read_mac() -> bytes:
    """``11 8B`` (settings revision >= 2; notes §2.7) **[test]**."""
    return read_register(Module.SETTINGS, SettingsRegister.MAC)


def read_logging_time() -> bytes:
    """``0B 84`` -> board tick and reset uid (notes §4)."""
    return read_register(Module.LOGGING, LoggingRegister.TIME)


def read_acc_config() -> bytes:
    """``03 83`` -> ``03 83 conf range`` (notes §2.1 table; no test)."""
    return read_register(Module.ACCELEROMETER, AccRegister.DATA_CONFIG)


def debug_reset() -> bytes:
    """``FE 01``: soft reset (reboots and drops the link) **[test]**."""
    return bytes([Module.DEBUG, DebugRegister.RESET])


def debug_disconnect() -> bytes:
    """``FE 06``: the board drops the link **[test]**."""
    return bytes([Module.DEBUG, DebugRegister.DISCONNECT])


def fusion_stop() -> list[bytes]:
    """``19 01 00`` (fusion off), ``19 03 00 7F`` (clear every output bit) (notes §2.5) **[test]**."""
    return [bytes([Module.SENSOR_FUSION, FusionRegister.ENABLE, 0x00]),
            bytes([Module.SENSOR_FUSION, FusionRegister.OUTPUT_ENABLE, 0x00, 0x7F])]


class FusionMode(IntEnum):
    """Sensor-fusion modes (notes §2.5, sensor_fusion.h)."""

    SLEEP = 0
    NDOF = 1
    """acc + gyro + mag, absolute heading."""
    IMU_PLUS = 2
    """acc + gyro, relative heading (no magnetometer)."""
    COMPASS = 3
    M4G = 4


FUSION_ACC_RANGE: dict[int, int] = {2: 0, 4: 1, 8: 2, 16: 3}
FUSION_GYRO_RANGE: dict[int, int] = {2000: 0, 1000: 1, 500: 2, 250: 3}
"""The fusion's gyro enum; the mode byte carries it *plus one* (notes §2.5)."""
FUSION_OUTPUT_QUATERNION = 0x08
"""Output-enable bit of the quaternion (bit = data enum; notes §2.5)."""
FUSION_RATE_HZ = 100.0
"""NDoF / IMUPlus output rate: the algorithm runs at a fixed 100 Hz (notes §2.5)."""
FUSION_ACC_RANGE_G = 8
FUSION_GYRO_RANGE_DPS = 2000
FUSION_MAG = MagPreset(9, 15, 25.0)
"""What the SDK's fusion drives: acc 100 Hz ±8 g, gyro 100 Hz ±2000 dps, mag regular at 25 Hz."""


def fusion_mode_config(mode: FusionMode, acc_range_g: int, gyro_range_dps: int) -> bytes:
    """``[19 02 mode ranges]``, ranges = acc_range | (gyro_enum + 1) << 4 (notes §2.5). NDoF at ±8 g /
    ±2000 dps = ``19 02 01 12`` **[test]**; the range table is **[test]** (config_masks)."""
    if acc_range_g not in FUSION_ACC_RANGE:
        raise ValueError(f"sensor fusion has no ±{acc_range_g} g range")
    if gyro_range_dps not in FUSION_GYRO_RANGE:
        raise ValueError(f"sensor fusion has no ±{gyro_range_dps} dps range")
    ranges = FUSION_ACC_RANGE[acc_range_g] | (FUSION_GYRO_RANGE[gyro_range_dps] + 1) << 4
    return bytes([Module.SENSOR_FUSION, FusionRegister.MODE, mode, ranges])


def fusion_output_enable(mask: int) -> bytes:
    """``[19 03 set clear]`` with clear = 0: quaternion = ``19 03 08 00`` **[test]**."""
    return bytes([Module.SENSOR_FUSION, FusionRegister.OUTPUT_ENABLE, mask & 0x7F, 0x00])


def fusion_enable(on: bool) -> bytes:
    """Start ``19 01 01`` / stop ``19 01 00`` the fusion (notes §2.5) **[test]**."""
    return bytes([Module.SENSOR_FUSION, FusionRegister.ENABLE, 0x01 if on else 0x00])


def fusion_subscribe_quaternion(enable: bool = True) -> bytes:
    """``19 07 01`` / ``19 07 00`` (notes §2.5) **[test]**."""
    return subscribe(Module.SENSOR_FUSION, FusionRegister.QUATERNION, enable)


def fusion_mode_for(parts: BoardParts) -> FusionMode:
    """NDoF with a magnetometer, else IMUPlus (notes §2.5)."""
    return FusionMode.NDOF if parts.has_mag else FusionMode.IMU_PLUS


def fusion_configure_commands(parts: BoardParts) -> list[bytes]:
    """The SDK's fusion configuration: mode (NDoF, ±8 g, ±2000 dps; IMUPlus without a magnetometer),
    then the acc / gyro / mag configurations the fusion needs (notes §2.5 table: ``19 02 01 12``,
    ``03 03 28 08`` or ``03 03 A8 02``, ``13 03 28 00``, [``15 01 00``,] ``15 04 04 0E``, ``15 03 06``).
    The sequence is **[test]** (test_sensor_fusion.py), the BMI160 acc bytes within it **[derived]**."""
    commands = [fusion_mode_config(fusion_mode_for(parts), FUSION_ACC_RANGE_G, FUSION_GYRO_RANGE_DPS),
                acc_config(parts.acc, FUSION_RATE_HZ, FUSION_ACC_RANGE_G),
                gyro_config(FUSION_RATE_HZ, FUSION_GYRO_RANGE_DPS)]
    if parts.mag_revision is not None:
        commands += mag_configure(FUSION_MAG.xy_repetitions, FUSION_MAG.z_repetitions, FUSION_MAG.odr_hz,
                                  parts.mag_revision)
    return commands


def fusion_start_commands(parts: BoardParts) -> list[bytes]:
    """Subscribe the quaternion, enable the sensors' interrupts, start them, enable the quaternion
    output, start the fusion, in the SDK's order (notes §2.5) **[test]**: ``19 07 01``, ``03 02 01 00``,
    ``13 02 01 00``, [``15 02 01 00``,] ``03 01 01``, ``13 01 01``, [``15 01 01``,] ``19 03 08 00``,
    ``19 01 01``."""
    sensors: list[int] = [Module.ACCELEROMETER, Module.GYRO]
    if parts.has_mag:
        sensors.append(Module.MAGNETOMETER)
    return [fusion_subscribe_quaternion(), *(data_interrupt(m, True) for m in sensors),
            *(power(m, True) for m in sensors), fusion_output_enable(FUSION_OUTPUT_QUATERNION), fusion_enable(True)]


def fusion_stop_commands(parts: BoardParts) -> list[bytes]:
    """The SDK's fusion stop (notes §2.5) **[test]**: ``19 01 00``, ``19 03 00 7F``, the sensors
    stopped, their interrupts disabled, then ``19 07 00``. (hiptrack's driver stops with
    `idle_commands`, which sends these same commands and more, in the §2.4 order.)"""
    sensors: list[int] = [Module.ACCELEROMETER, Module.GYRO]
    if parts.has_mag:
        sensors.append(Module.MAGNETOMETER)
    return [*fusion_stop(), *(power(m, False) for m in sensors), *(data_interrupt(m, False) for m in sensors),
            fusion_subscribe_quaternion(False)]


# ---- Notifications --------------------------------------------------------------------------------
_ADVICE = ("A single bad MetaWear notification is dropped and counted. If they keep coming, power-cycle the "
           "board; if that does not help its firmware may be one hiptrack does not know.")
_VEC = struct.Struct("<3h")


def _bad(reason: str, data: bytes) -> PacketError:
    return PacketError(f"MetaWear: {reason} ({data[:MAX_FRAME].hex(' ')})", len(data), _ADVICE)


def header(data: bytes) -> tuple[int, int]:
    """(module, register) of a frame."""
    if len(data) < 2:
        raise _bad("shorter than a header", data)
    return data[0], data[1]


def parse_vector(data: bytes) -> tuple[int, int, int]:
    """x, y, z int16 of a raw acc/gyro/mag notification (exactly 2 + 6 bytes; notes §3.1)."""
    if len(data) != 8:
        raise _bad(f"a sensor sample has 8 bytes, not {len(data)}", data)
    x, y, z = _VEC.unpack_from(data, 2)
    return (x, y, z)


def parse_packed(data: bytes) -> list[tuple[int, int, int]]:
    """Three x, y, z int16 samples of a packed notification (exactly 20 bytes; split in 6-byte steps
    from byte 2, in byte order; notes §3.1). The notes read them as oldest first, 1/ODR apart, which
    no source states outright."""
    if len(data) != 20:
        raise _bad(f"a packed notification has 20 bytes, not {len(data)}", data)
    out: list[tuple[int, int, int]] = []
    for offset in (2, 8, 14):
        x, y, z = _VEC.unpack_from(data, offset)
        out.append((x, y, z))
    return out


_QUATERNION = struct.Struct("<4f")


def parse_quaternion(data: bytes) -> tuple[float, float, float, float]:
    """w, x, y, z float32 LE of a fusion quaternion notification ``19 07 ...`` (exactly 18 bytes;
    notes §3.2). The notes' test vector ``19 07 1B 9B 70 3F ...`` starts with w = 0.940 **[test]**."""
    if len(data) != 18 or data[0] != Module.SENSOR_FUSION or data[1] != FusionRegister.QUATERNION:
        raise _bad(f"a quaternion notification is 19 07 + 16 bytes, not {len(data)} bytes", data)
    w, x, y, z = _QUATERNION.unpack_from(data, 2)
    if not all(math.isfinite(v) for v in (w, x, y, z)):
        raise _bad("a quaternion with a non-finite component", data)
    return (w, x, y, z)


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    """Reply to ``[module, 0x80]``: ``[module, 0x80, implementation, revision, extra...]``; a bare
    2-byte reply means the module is absent (notes §1.5)."""

    module: int
    present: bool
    implementation: int = 0
    revision: int = 0
    extra: bytes = b""


def parse_module_info(data: bytes) -> ModuleInfo:
    if len(data) < 2 or data[1] != READ:
        raise _bad("not a module-info reply", data)
    if len(data) == 2:
        return ModuleInfo(data[0], False)
    if len(data) < 4:
        raise _bad("module-info reply without implementation and revision", data)
    return ModuleInfo(data[0], True, data[2], data[3], bytes(data[4:]))


@dataclass(frozen=True, slots=True)
class Battery:
    percent: int
    millivolts: int


def parse_battery(data: bytes) -> Battery:
    """``11 8C pct mv_lo mv_hi`` (notes §2.7) **[test]**: ``11 8C 63 34 10`` = 99 %, 4148 mV."""
    if len(data) != 5 or data[0] != Module.SETTINGS or data[1] != (READ | SettingsRegister.BATTERY):
        raise _bad("not a battery reply", data)
    return Battery(data[2], int.from_bytes(data[3:5], "little"))


@dataclass(frozen=True, slots=True)
class LoggingTime:
    tick: int
    """Board ticks since boot (48/32768 s each; notes §4)."""
    reset_uid: int

    @property
    def seconds(self) -> float:
        return self.tick * TICK_S


TICK_S = 48.0 / 32768.0
"""One board tick, s (1.46484375 ms; notes §4)."""


def parse_logging_time(data: bytes) -> LoggingTime:
    """``0B 84 t0 t1 t2 t3 uid`` (notes §4; from the SDK's test fixture)."""
    if len(data) < 7 or data[0] != Module.LOGGING or data[1] != (READ | LoggingRegister.TIME):
        raise _bad("not a logging-time reply", data)
    return LoggingTime(int.from_bytes(data[2:6], "little"), data[6])


def parse_mac(data: bytes) -> str:
    """``11 8B [type] b0..b5`` (address least significant byte first; older firmware omits the type
    byte) -> "E8:C9:8F:52:7B:07" (notes §2.7) **[test]**."""
    if data[:2] != bytes([Module.SETTINGS, READ | SettingsRegister.MAC]) or len(data) not in (8, 9):
        raise _bad("not a MAC reply", data)
    raw = data[-6:]
    return ":".join(f"{b:02X}" for b in reversed(raw))


def parse_firmware_version(text: str) -> tuple[int, ...] | None:
    """"1.7.2" -> (1, 7, 2); None when not dotted numbers."""
    try:
        return tuple(int(part) for part in text.strip().lstrip("v").split("."))
    except ValueError:
        return None


PACKED_MIN_FIRMWARE = (1, 2, 3)
"""Packed sensor modes need firmware >= 1.2.3 (notes §1.5)."""


# ---- Board description and command plans ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BoardParts:
    """What module discovery found (only the modules hiptrack uses)."""

    acc: AccImplementation
    acc_revision: int
    gyro: GyroImplementation
    gyro_revision: int
    mag_revision: int | None
    """None: no magnetometer."""
    fusion: bool
    settings_revision: int | None
    """None: no settings module (then no battery read, no connection parameters)."""

    @property
    def has_mag(self) -> bool:
        return self.mag_revision is not None

    def packed_available(self, firmware: tuple[int, ...] | None) -> bool:
        """Packed acc and gyro: BMI160 needs acc and gyro revision >= 1, the BMI270 always has them;
        both need firmware >= 1.2.3 (notes §1.5). An unreadable firmware version counts as new enough."""
        if firmware is not None and firmware < PACKED_MIN_FIRMWARE:
            return False
        acc_ok = self.acc is AccImplementation.BMI270 or self.acc_revision >= 1
        gyro_ok = self.gyro is GyroImplementation.BMI270 or self.gyro_revision >= 1
        return acc_ok and gyro_ok

    @property
    def battery_available(self) -> bool:
        """The MetaWear battery read needs settings revision >= 3 (notes §1.5)."""
        return self.settings_revision is not None and self.settings_revision >= 3


def board_parts(acc: ModuleInfo, gyro: ModuleInfo, mag: ModuleInfo, fusion: ModuleInfo,
                settings: ModuleInfo) -> BoardParts:
    """Combine the module-info replies; raises ValueError for a board without a Bosch BMI160/BMI270
    accelerometer and gyro (every MetaMotion has one)."""
    if not acc.present or acc.implementation not in (AccImplementation.BMI160, AccImplementation.BMI270):
        found = f"implementation {acc.implementation}" if acc.present else "none"
        raise ValueError(f"no BMI160/BMI270 accelerometer (found {found})")
    if not gyro.present or gyro.implementation not in (GyroImplementation.BMI160, GyroImplementation.BMI270):
        found = f"implementation {gyro.implementation}" if gyro.present else "none"
        raise ValueError(f"no BMI160/BMI270 gyro (found {found})")
    return BoardParts(AccImplementation(acc.implementation), acc.revision, GyroImplementation(gyro.implementation),
                      gyro.revision, mag.revision if mag.present else None, fusion.present,
                      settings.revision if settings.present else None)


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What hiptrack streams: acc + gyro at one rate, the magnetometer at its own."""

    odr_hz: float
    packed: bool
    acc_range_g: int = 16
    gyro_range_dps: int = 2000
    mag: MagPreset | None = MagPreset(9, 15, 25.0)
    """Regular repetitions at 25 Hz, the SDK's fusion setting (notes §2.3); None: no magnetometer."""


def acc_data_register(parts: BoardParts, packed: bool) -> int:
    return acc_packed_register(parts.acc) if packed else AccRegister.DATA


def gyro_stream_register(parts: BoardParts, packed: bool) -> int:
    return gyro_packed_register(parts.gyro) if packed else gyro_data_register(parts.gyro)


def idle_commands(parts: BoardParts) -> list[bytes]:
    """Everything that could still be streaming from an earlier (crashed) session, stopped: fusion off
    and its outputs cleared (if the board has fusion), then each sensor stopped and its interrupt
    disabled in the SDK's order, then every data register of those modules unsubscribed, raw and
    packed (notes §2.4 step 6, §2.5 stop, §7 step 3). The stop/disable bytes are **[test]**; sending
    the unsubscribes for registers nobody subscribed, and for fusion outputs other than the quaternion,
    is **[derived]** from the per-register subscribe rule (§1.3). Processors, events, loggers and
    macros are left alone (hiptrack creates none; removing them would also remove other apps' ones).
    """
    acc, gyro, mag = Module.ACCELEROMETER, Module.GYRO, Module.MAGNETOMETER
    commands: list[bytes] = fusion_stop() if parts.fusion else []
    commands += [power(acc, False), data_interrupt(acc, False), power(gyro, False), data_interrupt(gyro, False)]
    if parts.has_mag:
        commands += [power(mag, False), data_interrupt(mag, False)]
    commands += [subscribe(acc, AccRegister.DATA, False), subscribe(acc, acc_packed_register(parts.acc), False),
                 subscribe(gyro, gyro_data_register(parts.gyro), False),
                 subscribe(gyro, gyro_packed_register(parts.gyro), False)]
    if parts.has_mag:
        commands += [subscribe(mag, MagRegister.DATA, False), subscribe(mag, MagRegister.PACKED, False)]
    if parts.fusion:
        commands += [subscribe(Module.SENSOR_FUSION, reg, False) for reg in FUSION_OUTPUT_REGISTERS]
    return commands


def configure_commands(parts: BoardParts, plan: StreamPlan) -> list[bytes]:
    """Acc, gyro and magnetometer configuration (notes §2.4 step 2)."""
    commands = [acc_config(parts.acc, plan.odr_hz, plan.acc_range_g), gyro_config(plan.odr_hz, plan.gyro_range_dps)]
    if plan.mag is not None and parts.mag_revision is not None:
        commands += mag_configure(plan.mag.xy_repetitions, plan.mag.z_repetitions, plan.mag.odr_hz,
                                  parts.mag_revision)
    return commands


def start_commands(parts: BoardParts, plan: StreamPlan) -> list[bytes]:
    """Subscribe, enable the data interrupts, start (notes §2.4 steps 3-5, the SDK's order). The
    magnetometer always streams unpacked: at 25 Hz packing would add 80 ms of delay for nothing."""
    acc, gyro, mag = Module.ACCELEROMETER, Module.GYRO, Module.MAGNETOMETER
    with_mag = plan.mag is not None and parts.has_mag
    commands = [subscribe(acc, acc_data_register(parts, plan.packed)),
                subscribe(gyro, gyro_stream_register(parts, plan.packed))]
    if with_mag:
        commands.append(subscribe(mag, MagRegister.DATA))
    commands += [data_interrupt(acc, True), data_interrupt(gyro, True)]
    if with_mag:
        commands.append(data_interrupt(mag, True))
    commands += [acc_start(parts.acc, plan.odr_hz), power(gyro, True)]
    if with_mag:
        commands.append(power(mag, True))
    return commands
