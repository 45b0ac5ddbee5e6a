"""An emulated MetaMotion board (MetaWear firmware), byte for byte as /work/shared/docs/ble-protocols.md
("the notes") describes the protocol, on bumble's stack.

`EmulatedMetaMotion` is an `EmulatedPeripheral` with

* the MetaWear service (command characteristic: write and write without response; notify
  characteristic), the Device Information Service (model number "8" = MetaMotion S, "5" = R/RL,
  "6" = C; firmware, hardware revision, manufacturer, serial) and the battery service; it
  advertises the MetaWear service under the default name "MetaWear";
* a command interpreter for what hiptrack uses (notes §1.5, §2.1-2.7): module-info reads
  ``[id, 80]`` (replies from the board profile: the SDK test fixtures for MetaMotion R and S, the
  API tables for RL), accelerometer / gyro (BMI160 or BMI270 register sets) / BMM150 configuration,
  register subscribe, data-interrupt enable, power (start/stop), packed registers, the acc-config
  read ``03 83``, battery ``11 8C`` (and none for the silent ``11 CC``), MAC ``11 8B``, logging
  clock ``0B 84``, connection parameters ``11 09``, sensor fusion (mode ``19 02``, output enable
  ``19 03``, enable ``19 01``, subscribe ``19 04``-``19 0A``; only the quaternion ``19 07`` is
  produced, see below), the SDK tear-down ``09 08`` / ``0A 05`` / ``0B 0A`` (accepted, no
  state), soft reset ``FE 01`` / ``FE 05`` (state back to power-on, link dropped, advertising again) and
  ``FE 06`` (board-side disconnect). Anything else is logged in `unknown_commands`; a command written
  *with* response (only macro commands are, notes §1.2) or longer than 20 bytes in
  `protocol_violations`.
* a firmware loop: a sensor samples while powered, on its own grid (acc and gyro on one BMI chip
  grid ``epoch + n / (odr * (1 + rate_error))``, so equal rates give equal instants; the BMM150 on
  its own), and a sample is *sent* only while its data interrupt is enabled and its register is
  subscribed: raw registers one sample per notification (8 bytes), packed registers three (20
  bytes). Notifications leave in order through one queue (replies too, which is what makes a read a
  barrier), immediately or, with ``connection_interval_s``, at the next connection event (a reply
  never in the event that carried its request, so every read costs at least one event); a
  notification finds its way to the host only while connected and with the CCCD on. Sensor state and
  register subscriptions survive a disconnect (notes §1.3): a board keeps sampling while nobody
  listens and pours data at whoever enables notifications next.

What is the emulation's own choice rather than a documented fact (a real board may differ):

* power-on defaults (acc 100 Hz, ±2 g; gyro 100 Hz, ±2000 dps; mag 10 Hz; everything stopped);
* that acc and gyro at the same ODR sample at the same instants, and that packed samples are oldest
  first and 1/ODR apart (the notes' "natural reading", §3.1);
* the values: `source` is a `SensorStream` in SI units (e.g. a stream of `simulate_session`), read
  at the row nearest to the sample's board time on the source's grid (``source_rate_hz``,
  cyclically), converted to counts with the configured range (1 g = 9.80665 m/s²), rounded,
  saturating at int16;
* timing: no radio latency beyond the optional connection-event batching; an oscillator error
  ``rate_error`` for the BMI chip (``mag_rate_error`` for the BMM150);
* the modules a board has but hiptrack does not use (switch, LED, ...) answer module info as absent;
  the logging and debug modules answer as present, revision 0 [guessed];
* MetaMotion C's module table is MetaMotion R's [guessed; the notes give none].

Sensor fusion: no fusion algorithm runs here. While fusion is enabled in NDoF or IMUPlus mode with
the quaternion output on and its inputs running (acc and gyro, and in NDoF the magnetometer, powered
with their data interrupts enabled; without them the real fusion outputs nothing, notes §2.5), the
board emits a quaternion notification ``19 07 w x y z`` (float32 LE) on its own 100 Hz grid (with
``rate_error``), whose value is the *truth* supplied as ``source_quaternions`` (N x 4, w x y z, sensor
to earth, rows at ``source_rate_hz``, read like the other sources: nearest row, cyclically), rounded
to float32. With ``source_quaternions=None`` it streams the identity quaternion. The values are
therefore not what Bosch's filter would estimate (no drift, no convergence, no heading error).

Faults: ``stale_streaming=True`` powers on already streaming acc (100 Hz, ±4 g), gyro (100 Hz,
±500 dps) and mag (10 Hz), subscribed and enabled, as a crashed session would leave it;
``truncate_notifications`` (indices into the board's data notifications, 0-based over its life) are
cut to 5 bytes.

Everything is logged: `records` (every sample each sensor took, with its board time, source row,
counts, configuration session and whether it reached the host intact) and `notifications` (every
data notification and its fate), so tests can compare what a driver delivered with what was sent.
("Sent" means handed to bumble while connected and subscribed: a notification handed over at the
very instant of a disconnect is logged as sent but lost with the link.)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
from collections import deque
from collections.abc import Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from firmware_bridge.ble.emulation.peripheral import (
    CONNECTION_TIMEOUT,
    REMOTE_USER_TERMINATED,
    CharacteristicSpec,
    EmulatedPeripheral,
    ServiceSpec,
)
from firmware_bridge.metawear.protocol import (
    BATTERY_LEVEL_UUID,
    BATTERY_SERVICE_UUID,
    COMMAND_UUID,
    DIS_SERVICE_UUID,
    FIRMWARE_REVISION_UUID,
    HARDWARE_REVISION_UUID,
    MANUFACTURER_UUID,
    METABOOT_SERVICE_UUID,
    MODEL_NUMBER_UUID,
    NOTIFY_UUID,
    SERIAL_NUMBER_UUID,
    SERVICE_UUID,
)
from imu_core.types import SensorStream

SensorName = Literal["acc", "gyro", "mag"]
StreamName = Literal["acc", "gyro", "mag", "quaternion"]
G = 9.80665

# ---- The firmware's tables, from the notes (written independently of protocol.py's builders) ------
ACC, GYRO, MAG, FUSION, SETTINGS, LOGGING, DEBUG = 0x03, 0x13, 0x15, 0x19, 0x11, 0x0B, 0xFE
BMI_ODR = {i + 1: hz for i, hz in enumerate(
    (0.78125, 1.5625, 3.125, 6.25, 12.5, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0))}
BMI160_RANGE = {0x03: 2, 0x05: 4, 0x08: 8, 0x0C: 16}
BMI270_RANGE = {0: 2, 1: 4, 2: 8, 3: 16}
ACC_LSB_PER_G = {2: 16384, 4: 8192, 8: 4096, 16: 2048}
GYRO_ODR = {6: 25.0, 7: 50.0, 8: 100.0, 9: 200.0, 10: 400.0, 11: 800.0, 12: 1600.0, 13: 3200.0}
GYRO_RANGE = {0: 2000, 1: 1000, 2: 500, 3: 250, 4: 125}
GYRO_LSB_PER_DPS = {2000: 16.4, 1000: 32.8, 500: 65.6, 250: 131.2, 125: 262.4}
MAG_ODR = {0: 10.0, 1: 2.0, 2: 6.0, 3: 8.0, 4: 15.0, 5: 20.0, 6: 25.0, 7: 30.0}
MAG_LSB_PER_UT = 16
TICK_S = 48 / 32768
FUSION_RATE_HZ = 100.0


@dataclass(frozen=True)
class BoardProfile:
    """What a board model answers: DIS strings and module-info payloads (implementation, revision,
    extra bytes) after the ``[id, 80]`` header."""

    name: str
    model_number: str
    firmware: str
    hardware: str
    modules: Mapping[int, bytes]

    @property
    def bmi270(self) -> bool:
        return self.modules[ACC][0] == 4


METAMOTION_S = BoardProfile("MetaMotionS", "8", "1.7.2", "0.1", {
    ACC: b"\x04\x00", GYRO: b"\x01\x00", MAG: b"\x00\x02", FUSION: b"\x00\x03", SETTINGS: b"\x00\x0a\x07\x00",
    LOGGING: b"\x00\x00", DEBUG: b"\x00\x00"})
"""Notes §1.5: the SDK fixture / real MMS (BMI270 acc impl 4, gyro impl 1, mag rev 2, fusion rev 3,
settings rev 10)."""
METAMOTION_R = BoardProfile("MetaMotionR", "5", "1.5.0", "0.4", {
    ACC: b"\x01\x01", GYRO: b"\x00\x01", MAG: b"\x00\x01", FUSION: b"\x00\x00\x03\x00\x06\x00\x02\x00\x01\x00",
    SETTINGS: b"\x00\x03", LOGGING: b"\x00\x00", DEBUG: b"\x00\x00"})
"""Notes §1.5: the SDK's MetaMotion R fixture (BMI160 rev 1)."""
METAMOTION_RL = BoardProfile("MetaMotionRL", "5", "1.5.0", "0.4", {
    ACC: b"\x01\x02", GYRO: b"\x00\x01", MAG: b"\x00\x02", FUSION: b"\x00\x03", SETTINGS: b"\x00\x0a",
    LOGGING: b"\x00\x00", DEBUG: b"\x00\x00"})
"""Notes §1.5: the API table of a real MetaMotion RL."""
METAMOTION_C = BoardProfile("MetaMotionC", "6", "1.5.0", "0.2", METAMOTION_R.modules)
"""[guessed] MetaMotion R's modules (same BMI160 + BMM150)."""
PROFILES = {p.name: p for p in (METAMOTION_S, METAMOTION_R, METAMOTION_RL, METAMOTION_C)}


@dataclass
class SampleRecord:
    sensor: SensorName
    n: int
    """Sample number on the sensor's grid (board lifetime)."""
    t: float
    """Board (event-loop) time the sample was taken, s."""
    row: int
    """Source row it was read from."""
    counts: tuple[int, int, int]
    session: int
    """Which start of this sensor produced it (1 = first)."""
    sent: bool = False
    """Reached the host intact (in a notification sent while connected and subscribed)."""


@dataclass
class QuaternionRecord:
    """One fusion output."""

    n: int
    """Number on the fusion's 100 Hz grid (board lifetime)."""
    t: float
    """Board (event-loop) time, s."""
    row: int
    """Row of `source_quaternions` (0 for the identity)."""
    value: tuple[float, float, float, float]
    """w, x, y, z exactly as sent (float32 values)."""
    sent: bool = False


@dataclass
class NotificationRecord:
    index: int
    sensor: StreamName
    packed: bool
    samples: list[SampleRecord]
    data: bytes
    fate: str = "queued"
    """'sent', 'truncated' (sent cut short), 'unsubscribed' (CCCD off), 'disconnected'."""
    quaternion: QuaternionRecord | None = None


@dataclass
class _Sensor:
    name: SensorName
    powered: bool = False
    interrupt: bool = False
    subscribed: set[int] = field(default_factory=set)
    session: int = 0
    next_n: int = 0
    pack: list[SampleRecord] = field(default_factory=list)


@dataclass
class _Outgoing:
    data: bytes
    record: NotificationRecord | None = None


class EmulatedMetaMotion(EmulatedPeripheral):
    """See the module docstring. ``name`` is the advertised local name (a MetaWear board's default is
    "MetaWear"); ``source`` None streams a board lying still (1 g on +z, no rotation, a constant
    field). Other keyword arguments go to `EmulatedPeripheral` (rssi, advertising_interval_ms, ...);
    ``max_mtu`` defaults to 23 here."""

    def __init__(self, name: str, address: str, source: SensorStream | None = None, *,
                 profile: BoardProfile | str = METAMOTION_S, source_rate_hz: float = 100.0, rate_error: float = 0.0,
                 mag_rate_error: float = 0.0, connection_interval_s: float | None = None,
                 stale_streaming: bool = False, truncate_notifications: Collection[int] = (),
                 battery: tuple[int, int] = (99, 4148), serial: str = "0C1D2E", metaboot: bool = False,
                 source_quaternions: np.ndarray | None = None, **kwargs: Any) -> None:
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        p = self.profile
        services: tuple[ServiceSpec, ...]
        if metaboot:
            services = (ServiceSpec(METABOOT_SERVICE_UUID, (
                CharacteristicSpec("00001531-1212-efde-1523-785feabcd123", ("write", "notify")),)),)
        else:
            services = (
                ServiceSpec(SERVICE_UUID, (
                    CharacteristicSpec(COMMAND_UUID, ("write", "write-without-response")),
                    CharacteristicSpec(NOTIFY_UUID, ("notify",)))),
                ServiceSpec(DIS_SERVICE_UUID, (
                    CharacteristicSpec(MANUFACTURER_UUID, ("read",), b"MbientLab Inc"),
                    CharacteristicSpec(MODEL_NUMBER_UUID, ("read",), p.model_number.encode()),
                    CharacteristicSpec(SERIAL_NUMBER_UUID, ("read",), serial.encode()),
                    CharacteristicSpec(FIRMWARE_REVISION_UUID, ("read",), p.firmware.encode()),
                    CharacteristicSpec(HARDWARE_REVISION_UUID, ("read",), p.hardware.encode()))),
                ServiceSpec(BATTERY_SERVICE_UUID, (
                    CharacteristicSpec(BATTERY_LEVEL_UUID, ("read",), bytes([battery[0]])),)),
            )
        kwargs.setdefault("max_mtu", 23)  # MetaWear frames are <= 20 bytes (notes §1.2)
        super().__init__(name, address, services=services,
                         advertised_service_uuids=[METABOOT_SERVICE_UUID if metaboot else SERVICE_UUID], **kwargs)
        self.source_rate_hz = source_rate_hz
        self.rate_error = rate_error
        self.mag_rate_error = mag_rate_error
        self.connection_interval_s = connection_interval_s
        self.truncate_notifications = set(truncate_notifications)
        self.battery = battery
        self.stale_streaming = stale_streaming
        self._source = self._source_arrays(source)
        if source_quaternions is None:
            self._quaternions = np.array([[1.0, 0.0, 0.0, 0.0]])
        else:
            self._quaternions = np.asarray(source_quaternions, dtype=float)
            if self._quaternions.ndim != 2 or self._quaternions.shape[1] != 4 or len(self._quaternions) == 0:
                raise ValueError("source_quaternions must be an (N, 4) array of w, x, y, z")
        self.quaternions: list[QuaternionRecord] = []
        """Every fusion quaternion the board produced (whether or not it reached the host)."""
        self.records: dict[SensorName, list[SampleRecord]] = {"acc": [], "gyro": [], "mag": []}
        self.notifications: list[NotificationRecord] = []
        self.commands: list[bytes] = []
        """Every command written to the command characteristic, in order."""
        self.unknown_commands: list[bytes] = []
        self.protocol_violations: list[str] = []
        self.connection_parameters: tuple[int, int, int, int] | None = None
        self.resets = 0
        self.reset_uid = 0
        self._epoch = 0.0
        self._boot = 0.0
        self._outbox: deque[_Outgoing] = deque()
        self._last_event = -1
        self._outbox_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._power_on_state()

    # ------------------------------------------------------------------ state
    def _power_on_state(self) -> None:
        self.sensors: dict[SensorName, _Sensor] = {
            "acc": _Sensor("acc"), "gyro": _Sensor("gyro"), "mag": _Sensor("mag")}
        bmi270 = self.profile.bmi270
        self.acc_conf, self.acc_range = (0xA8, 0x00) if bmi270 else (0x28, 0x03)
        self.gyro_conf, self.gyro_range = 0x28, 0x00
        self.mag_rate, self.mag_xy, self.mag_z = 0x00, 0x04, 0x0E
        self.fusion_enabled = False
        self.fusion_mode = (0, 0)
        self.fusion_outputs = 0
        self.fusion_subscribed: set[int] = set()
        self._fusion_next_n = 0
        self._fusion_running = False

    def _make_stale(self) -> None:
        """A previous session's stream: acc 100 Hz ±4 g, gyro 100 Hz ±500 dps, mag 10 Hz, all on."""
        self.acc_conf, self.acc_range = (0xA8, 0x01) if self.profile.bmi270 else (0x28, 0x05)
        self.gyro_conf, self.gyro_range = 0x28, 0x02
        self.mag_rate = 0x00
        for sensor in self.sensors.values():
            sensor.subscribed = {self._raw_register(sensor.name)}
            sensor.interrupt = True
            self._power(sensor, True)

    @staticmethod
    def _source_arrays(source: SensorStream | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if source is None:
            return (np.array([[0.0, 0.0, G]]), np.zeros((1, 3)), np.array([[20.0, 0.0, -40.0]]))
        mag = source.mag if source.mag is not None else np.tile([20.0, 0.0, -40.0], (len(source), 1))
        return (np.asarray(source.acc, dtype=float), np.asarray(source.gyr, dtype=float), np.asarray(mag, dtype=float))

    def _raw_register(self, name: SensorName) -> int:
        if name == "acc":
            return 0x04
        if name == "gyro":
            return 0x04 if self.profile.bmi270 else 0x05
        return 0x05

    def _packed_register(self, name: SensorName) -> int:
        if name == "acc":
            return 0x05 if self.profile.bmi270 else 0x1C
        if name == "gyro":
            return 0x05 if self.profile.bmi270 else 0x07
        return 0x09

    # ------------------------------------------------------------------ decoded configuration
    @property
    def acc_odr_hz(self) -> float:
        return BMI_ODR[self.acc_conf & 0x0F]

    @property
    def acc_range_g(self) -> int:
        return (BMI270_RANGE if self.profile.bmi270 else BMI160_RANGE)[self.acc_range]

    @property
    def gyro_odr_hz(self) -> float:
        return GYRO_ODR[self.gyro_conf & 0x0F]

    @property
    def gyro_range_dps(self) -> int:
        return GYRO_RANGE[self.gyro_range]

    @property
    def mag_odr_hz(self) -> float:
        return MAG_ODR[self.mag_rate]

    def odr_hz(self, name: SensorName) -> float:
        return {"acc": self.acc_odr_hz, "gyro": self.gyro_odr_hz, "mag": self.mag_odr_hz}[name]

    def _period(self, name: SensorName) -> float:
        error = self.mag_rate_error if name == "mag" else self.rate_error
        return 1.0 / (self.odr_hz(name) * (1.0 + error))

    # ------------------------------------------------------------------ queries for tests
    def sending(self, name: SensorName) -> bool:
        """The sensor samples and its data would go out (interrupt on, a data register subscribed)."""
        s = self.sensors[name]
        return s.powered and s.interrupt and bool(s.subscribed)

    @property
    def is_streaming(self) -> bool:
        """Any stream would send data to a subscribed host (sensors, or fusion outputs)."""
        fusion = self.fusion_enabled and self.fusion_outputs != 0 and bool(self.fusion_subscribed)
        return fusion or any(self.sending(n) for n in self.sensors)

    @property
    def sensors_running(self) -> bool:
        """Any sensor powered (sampling, draining the battery)."""
        return any(s.powered for s in self.sensors.values()) or self.fusion_enabled

    def sent(self, name: SensorName, session: int | None = None) -> list[SampleRecord]:
        """Samples of `name` that reached the host intact (of one session of that sensor, or all)."""
        return [r for r in self.records[name] if r.sent and (session is None or r.session == session)]

    def counts_to_si(self, name: SensorName, counts: tuple[int, int, int], *, range_value: int) -> np.ndarray:
        c = np.asarray(counts, dtype=float)
        if name == "acc":
            return c / ACC_LSB_PER_G[range_value] * G
        if name == "gyro":
            return np.radians(c / GYRO_LSB_PER_DPS[range_value])
        return c / MAG_LSB_PER_UT

    def source_row(self, name: SensorName, row: int) -> np.ndarray:
        """The SI source value of one row (for comparing with what a driver delivered)."""
        arrays = {"acc": self._source[0], "gyro": self._source[1], "mag": self._source[2]}
        return np.asarray(arrays[name][row])

    # ------------------------------------------------------------------ lifecycle
    async def attach(self, link: Any) -> None:
        await super().attach(link)
        loop = asyncio.get_running_loop()
        self._epoch = self._boot = loop.time()
        if self.stale_streaming:
            self._make_stale()
        self._tasks = [loop.create_task(self._firmware_loop(), name=f"{self.name} firmware"),
                       loop.create_task(self._radio_loop(), name=f"{self.name} radio")]

    async def detach(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await super().detach()

    def on_disconnect(self, reason: int) -> None:
        # The SoftDevice's queue goes with the link; sensors and subscriptions stay (notes §1.3).
        while self._outbox:
            item = self._outbox.popleft()
            if item.record is not None:
                item.record.fate = "disconnected"

    # ------------------------------------------------------------------ commands
    def on_write(self, uuid: str, data: bytes, with_response: bool) -> None:
        super().on_write(uuid, data, with_response)
        if uuid != COMMAND_UUID:
            return
        self.commands.append(data)
        if len(data) > 20:
            self.protocol_violations.append(f"{data.hex(' ')}: longer than 20 bytes")
        if with_response and (not data or data[0] != 0x0F):
            self.protocol_violations.append(f"{data.hex(' ')}: written with response (only macro commands are)")
        if len(data) < 2:
            self.unknown_commands.append(data)
            return
        if not self._command(data):
            self.unknown_commands.append(data)
        self._wake.set()  # any command may start or stop a stream

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reply(self, data: bytes) -> None:
        self._outbox.append(_Outgoing(data))
        self._outbox_ready.set()

    def _command(self, data: bytes) -> bool:
        """Apply one command; False if this firmware does not know it."""
        module, register, payload = data[0], data[1], data[2:]
        if register & 0x80:
            return self._read(module, register & 0x3F, silent=bool(register & 0x40))
        if module in (ACC, GYRO, MAG):
            return self._sensor_command(module, register, payload)
        if module == FUSION:
            return self._fusion_command(register, payload)
        if module == SETTINGS and register == 0x09 and len(payload) == 8:
            lo, hi, latency, timeout = struct.unpack("<4H", payload)
            self.connection_parameters = (lo, hi, latency, timeout)
            return True
        if (module, register) in ((0x09, 0x08), (0x0A, 0x05), (LOGGING, 0x0A)) and not payload:
            return True  # remove processors / events / loggers: none here
        if module == DEBUG and not payload and register in (0x01, 0x05):
            self._reset()
            return True
        if module == DEBUG and register == 0x06 and not payload:
            self._spawn(self.disconnect(REMOTE_USER_TERMINATED))
            return True
        return False

    def _read(self, module: int, register: int, silent: bool) -> bool:
        reply: bytes | None = None
        header = bytes([module, 0x80 | register])
        if register == 0x00:
            reply = header + self.profile.modules.get(module, b"")
        elif (module, register) == (ACC, 0x03):
            reply = header + bytes([self.acc_conf, self.acc_range])
        elif (module, register) == (SETTINGS, 0x0C):
            reply = header + bytes([self.battery[0]]) + self.battery[1].to_bytes(2, "little")
        elif (module, register) == (SETTINGS, 0x0B):
            reply = header + b"\x01" + bytes(int(b, 16) for b in reversed(self.address.split(":")))
        elif (module, register) == (LOGGING, 0x04):
            tick = int((asyncio.get_running_loop().time() - self._boot) / TICK_S) & 0xFFFFFFFF
            reply = header + tick.to_bytes(4, "little") + bytes([self.reset_uid])
        if reply is None:
            return False
        if not silent:
            self._reply(reply)
        return True

    def _sensor_command(self, module: int, register: int, payload: bytes) -> bool:
        name: SensorName = "acc" if module == ACC else "gyro" if module == GYRO else "mag"
        sensor = self.sensors[name]
        if register == 0x01 and len(payload) == 1:
            mode = payload[0]
            if mode in (0, 1):
                self._power(sensor, mode == 1)
            elif mode == 2 and name == "acc" and self.profile.bmi270:
                self._power(sensor, True)  # low-power start (BMI270 below 12.5 Hz)
            elif mode == 2 and name == "mag":
                self._power(sensor, False)  # suspend (mag revision >= 2)
            else:
                return False
            return True
        if register == 0x02 and len(payload) == 2:
            set_bits, clear_bits = payload
            if set_bits & 1:
                sensor.interrupt = True
            if clear_bits & 1:
                sensor.interrupt = False
            return True
        if register in (self._raw_register(name), self._packed_register(name)) and len(payload) == 1:
            if payload[0] == 1:
                sensor.subscribed.add(register)
            elif payload[0] == 0:
                sensor.subscribed.discard(register)
            else:
                return False
            if register == self._packed_register(name) and payload[0] == 0:
                sensor.pack.clear()
            return True
        if name == "acc" and register == 0x03 and len(payload) == 2:
            ranges = BMI270_RANGE if self.profile.bmi270 else BMI160_RANGE
            if payload[0] & 0x0F not in BMI_ODR or payload[1] not in ranges:
                return False
            self.acc_conf, self.acc_range = payload
            self._regrid(sensor)
            return True
        if name == "gyro" and register == 0x03 and len(payload) == 2:
            if payload[0] & 0x0F not in GYRO_ODR or payload[1] not in GYRO_RANGE:
                return False
            self.gyro_conf, self.gyro_range = payload
            self._regrid(sensor)
            return True
        if name == "mag" and register == 0x03 and len(payload) == 1 and payload[0] in MAG_ODR:
            self.mag_rate = payload[0]
            self._regrid(sensor)
            return True
        if name == "mag" and register == 0x04 and len(payload) == 2:
            self.mag_xy, self.mag_z = payload
            return True
        return False

    def _fusion_command(self, register: int, payload: bytes) -> bool:
        if register == 0x01 and len(payload) == 1 and payload[0] in (0, 1):
            self.fusion_enabled = payload[0] == 1
            return True
        if register == 0x02 and len(payload) == 2:
            mode, ranges = payload
            # mode 0-4; acc range 0-3 in the low nibble, gyro enum + 1 (1-4) in the high one (§2.5).
            if mode > 4 or ranges & 0x0F > 3 or not 1 <= ranges >> 4 <= 4:
                return False
            self.fusion_mode = (mode, ranges)
            return True
        if register == 0x03 and len(payload) == 2:
            self.fusion_outputs = (self.fusion_outputs | payload[0]) & ~payload[1] & 0x7F
            return True
        if 0x04 <= register <= 0x0A and len(payload) == 1 and payload[0] in (0, 1):
            if payload[0]:
                self.fusion_subscribed.add(register)
            else:
                self.fusion_subscribed.discard(register)
            return True
        return False

    def _power(self, sensor: _Sensor, on: bool) -> None:
        if on and not sensor.powered:
            sensor.session += 1
            sensor.pack.clear()
            sensor.powered = True
            self._regrid(sensor)
        elif not on:
            sensor.powered = False
            sensor.pack.clear()
        self._wake.set()

    def _regrid(self, sensor: _Sensor) -> None:
        """The next sample is the first grid instant after now (the grid changes with the rate)."""
        with contextlib.suppress(RuntimeError):
            now = asyncio.get_running_loop().time()
            period = self._period(sensor.name)
            sensor.next_n = math.floor((now - self._epoch) / period + 1e-9) + 1
            self._wake.set()

    def _fusion_regrid(self) -> None:
        with contextlib.suppress(RuntimeError):
            now = asyncio.get_running_loop().time()
            self._fusion_next_n = math.floor((now - self._epoch) / self._fusion_period + 1e-9) + 1

    @property
    def _fusion_period(self) -> float:
        return 1.0 / (FUSION_RATE_HZ * (1.0 + self.rate_error))

    @property
    def fusion_producing(self) -> bool:
        """Fusion runs in NDoF/IMUPlus with the quaternion output on and its inputs running."""
        mode = self.fusion_mode[0]
        if not (self.fusion_enabled and mode in (1, 2) and self.fusion_outputs & 0x08):
            return False
        inputs: tuple[SensorName, ...] = ("acc", "gyro", "mag") if mode == 1 else ("acc", "gyro")
        return all(self.sensors[n].powered and self.sensors[n].interrupt for n in inputs)

    def _fusion_sample(self) -> None:
        t = self._epoch + self._fusion_next_n * self._fusion_period
        row = round((t - self._epoch) * self.source_rate_hz) % self._quaternions.shape[0]
        body = struct.pack("<4f", *(float(v) for v in self._quaternions[row]))
        w, x, y, z = struct.unpack("<4f", body)
        record = QuaternionRecord(self._fusion_next_n, t, row, (w, x, y, z))
        self.quaternions.append(record)
        self._fusion_next_n += 1
        if 0x07 not in self.fusion_subscribed:
            return
        self._queue(NotificationRecord(len(self.notifications), "quaternion", False, [],
                                       bytes([FUSION, 0x07]) + body, quaternion=record))

    def _reset(self) -> None:
        """FE 01 / FE 05: reboot (sensor and route state cleared), the link drops, advertising again."""
        self.resets += 1
        self.reset_uid = (self.reset_uid + 1) & 0x07
        self._power_on_state()
        loop = asyncio.get_running_loop()
        self._boot = loop.time()
        self._wake.set()
        self._spawn(self.lose_link(CONNECTION_TIMEOUT))

    # ------------------------------------------------------------------ firmware and radio
    def _due(self) -> float | None:
        times = [self._epoch + s.next_n * self._period(s.name) for s in self.sensors.values() if s.powered]
        if self.fusion_producing:
            times.append(self._epoch + self._fusion_next_n * self._fusion_period)
        return min(times) if times else None

    async def _firmware_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            producing = self.fusion_producing
            if producing and not self._fusion_running:
                self._fusion_regrid()  # the first output is the first grid instant after it starts
            self._fusion_running = producing
            due = self._due()
            if due is None:
                await self._wake.wait()
                continue
            delay = due - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            for name in ("acc", "gyro", "mag"):
                sensor = self.sensors[name]
                while sensor.powered and self._epoch + sensor.next_n * self._period(name) <= loop.time() + 1e-12:
                    self._sample(sensor)
            if self.fusion_producing:
                while self._epoch + self._fusion_next_n * self._fusion_period <= loop.time() + 1e-12:
                    self._fusion_sample()

    def _sample(self, sensor: _Sensor) -> None:
        name = sensor.name
        t = self._epoch + sensor.next_n * self._period(name)
        arrays = {"acc": self._source[0], "gyro": self._source[1], "mag": self._source[2]}[name]
        row = round((t - self._epoch) * self.source_rate_hz) % arrays.shape[0]
        value = arrays[row]
        if name == "acc":
            raw = value / G * ACC_LSB_PER_G[self.acc_range_g]
        elif name == "gyro":
            raw = np.degrees(value) * GYRO_LSB_PER_DPS[self.gyro_range_dps]
        else:
            raw = value * MAG_LSB_PER_UT
        counts = tuple(int(c) for c in np.clip(np.rint(raw), -32768, 32767))
        record = SampleRecord(name, sensor.next_n, t, row, (counts[0], counts[1], counts[2]), sensor.session)
        self.records[name].append(record)
        sensor.next_n += 1
        if not sensor.interrupt:
            return
        if self._raw_register(name) in sensor.subscribed:
            module = {"acc": ACC, "gyro": GYRO, "mag": MAG}[name]
            self._send_data(name, False, [record], bytes([module, self._raw_register(name)]) + struct.pack(
                "<3h", *record.counts))
        if self._packed_register(name) in sensor.subscribed:
            sensor.pack.append(record)
            if len(sensor.pack) == 3:
                module = {"acc": ACC, "gyro": GYRO, "mag": MAG}[name]
                body = b"".join(struct.pack("<3h", *r.counts) for r in sensor.pack)
                self._send_data(name, True, list(sensor.pack), bytes([module, self._packed_register(name)]) + body)
                sensor.pack.clear()

    def _send_data(self, name: SensorName, packed: bool, samples: list[SampleRecord], data: bytes) -> None:
        self._queue(NotificationRecord(len(self.notifications), name, packed, samples, data))

    def _queue(self, record: NotificationRecord) -> None:
        data = record.data
        self.notifications.append(record)
        if record.index in self.truncate_notifications:
            record.data = data[:5]
        if not self.is_connected:
            record.fate = "disconnected"
            return
        self._outbox.append(_Outgoing(record.data, record))
        self._outbox_ready.set()

    async def _radio_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._outbox:
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            interval = self.connection_interval_s
            if interval:
                # The next connection event, and never twice in one: a reply to a request that
                # came in an event leaves in a later one.
                now = loop.time() - self._epoch
                event = max(math.ceil(now / interval - 1e-9), self._last_event + 1) * interval
                self._last_event = round(event / interval)
                if event - now > 1e-9:
                    await asyncio.sleep(event - now)
            batch = list(self._outbox)
            self._outbox.clear()
            for item in batch:
                await self._transmit(item)

    async def _transmit(self, item: _Outgoing) -> None:
        record = item.record
        if not self.is_connected:
            if record is not None:
                record.fate = "disconnected"
            return
        try:
            delivered = await self.notify(NOTIFY_UUID, item.data)
        except RuntimeError:  # the link went in the meantime
            delivered = False
        if record is None:
            return
        if not delivered:
            record.fate = "unsubscribed" if self.is_connected else "disconnected"
        elif record.index in self.truncate_notifications:
            record.fate = "truncated"
        else:
            record.fate = "sent"
            for sample in record.samples:
                sample.sent = True
            if record.quaternion is not None:
                record.quaternion.sent = True
