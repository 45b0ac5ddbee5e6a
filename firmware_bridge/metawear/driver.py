"""`MetaMotionSensor`: a MetaMotion R/RL/C/S (MetaWear firmware) as a `SensorLink`, on bleak.

Session of one board (protocol facts: firmware_bridge/metawear/protocol.py and the notes it cites):

1. Connect (``BleakClient(..., backend=client_backend)``) through the shared reconnect policy
   (`firmware_bridge.ble.reconnect.retry`), the first time and after every unexpected disconnect.
2. Enable notifications on the notify characteristic. A board left streaming by a crashed session
   pours data in at once (subscriptions and sensor state outlive the link, notes §1.3, §5.1-5.2):
   until step 7 every notification that is not the reply we wait for is counted as stale and dropped.
3. Read the model number and firmware revision (Device Information Service); refuse a board in
   bootloader (MetaBoot) mode.
4. Module discovery: ``[id, 80]`` for the accelerometer, gyro, magnetometer, sensor fusion and
   settings, each reply awaited before the next command (notes §1.5); refuse a board without a
   BMI160/BMI270.
5. Known idle state: fusion off, every sensor stopped, its interrupt disabled, every data register
   unsubscribed (`protocol.idle_commands`).
6. Ask for a 7.5-15 ms connection interval (``11 09``; the central may refuse; 15 ms is what Apple
   hosts accept, notes §2.6) and wait ``connection_settle_s`` as the SDK's examples do; configure
   acc ±16 g and gyro ±2000 dps at 100 or 200 Hz, the magnetometer with regular repetitions at 25 Hz.
7. Barrier: read ``[03 80]`` again. The board answers on the same characteristic, after every
   notification it sent before, so once the reply is in, nothing stale can follow. From here on the
   data registers of *this* configuration are accepted.
8. Subscribe, enable interrupts, start (notes §2.4). 100 Hz streams unpacked (one sample per
   notification); 200 Hz (or ``packed=True``) packed (three per notification), when the board has
   packed registers (BMI270 always; BMI160 revision >= 1; firmware >= 1.2.3), otherwise unpacked.
   Read the battery (``11 8C``, settings revision >= 3) now and every ``battery_interval_s``.

Samples: acc and gyro notifications go through `clock.SampleAssembler`, which places them on the
chip's sample grid from arrival times (lower envelope; there are no board timestamps in streaming
mode), pairs acc and gyro by grid index, adds the newest magnetometer reading, and reports losses as
gaps. The BMM150 runs at 25 Hz: its reading is *repeated* on the acc/gyro samples until the next one
(rather than mag=None between readings), because a recording keeps the magnetometer only if every
sample has one (`SensorStream.from_samples`); it becomes None only if the magnetometer stops.
Corrupt (wrong length) or unknown notifications are counted in ``stats.packets_corrupt`` and
skipped; the handler never raises.

Unexpected disconnect: the samples already received are delivered, the board is reconnected by the
policy (one episode after another until `stop()`), brought to idle, configured and started again,
and the time without samples is reported as a ``'disconnect'`` gap before the first new sample
(its sample count estimated from the time and the rate).

Sensor-fusion quaternions (``fusion_quaternions=True``): the board's own Bosch fusion (module 0x19,
notes §2.5) in NDoF mode (acc ±8 g, gyro ±2000 dps, mag regular at 25 Hz; IMUPlus on a board without
a magnetometer) streams w, x, y, z at its fixed 100 Hz (whatever `start` is asked for) to
`on_orientation` as ``[(host time, (w, x, y, z)), ...]``; the host time is the notification's arrival
(``clock``), nothing is re-gridded. The notes say the fusion owns the acc/gyro/mag configuration and
the host must not drive those sensors while it runs, so in this mode the *raw streams are not
delivered*: `on_samples` receives nothing and the raw data registers stay unsubscribed. Corrupt
quaternion notifications are counted in ``stats.packets_corrupt`` and skipped; ``stats.samples`` and
``stats.rate_hz`` count quaternions; no gaps are reported for them. A board without a fusion module is
refused with `WrongSensorError` (a `BridgeError`). The idle/stop sequence already switches fusion off.

`stop()`: the same idle sequence (acc/gyro/mag stopped, interrupts off, unsubscribed), a barrier read
(so the board has executed them before the link goes), then a normal disconnect. If the link is down
at that moment, one connection attempt is made just to stop the board. Idempotent. (Calling it while
`start()` is still connecting is not supported: cancel that task instead.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError, BleakGATTProtocolError

from firmware_bridge.ble.reconnect import AttemptReport, ReconnectPolicy, retry
from firmware_bridge.ble.sensor import GapCallback, LinkStats, SampleCallback, SensorGap
from firmware_bridge.errors import (
    PacketError,
    SensorFatalError,
    SensorLinkError,
    SensorUnreachableError,
    WrongSensorError,
)
from firmware_bridge.metawear import protocol as mw
from firmware_bridge.metawear.clock import Event, SampleAssembler
from imu_core.frames import Segment
from imu_core.types import ImuSample

SUPPORTED_RATES_HZ: tuple[float, ...] = (100.0, 200.0)
REPLY_TIMEOUT_S = 1.0
"""How long a read may take to be answered (the Python SDK's per-response timeout, notes §1.5)."""
CONNECTION_INTERVAL_MS = (7.5, 15.0)
SUPERVISION_TIMEOUT_MS = 6000.0
CONNECTION_SETTLE_S = 1.0
"""Wait after the connection-parameter request (the SDK examples wait 1-1.5 s, notes §2.4, §7)."""
BATTERY_INTERVAL_S = 60.0
RATE_WINDOW_S = 5.0
MAX_ERRORS = 10
MAG_PRESET = mw.MagPreset(9, 15, 25.0)
"""BMM150 regular repetitions at 25 Hz, what the SDK's sensor fusion uses (notes §2.3, §2.5). The
magnetometer is slower than acc/gyro: each sample carries the newest reading, repeated until the next."""

_Kind = Literal["acc", "gyro", "mag", "quaternion"]
Quaternion = tuple[float, float, float, float]
"""w, x, y, z."""
OrientationCallback = Callable[[list[tuple[float, Quaternion]]], None]
"""Receives batches of (host time s, (w, x, y, z)) from the board's sensor fusion."""


def choose_rate(rate_hz: float) -> float:
    """The supported rate nearest to `rate_hz` (100 or 200 Hz; a tie goes to the lower)."""
    if not rate_hz > 0.0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    return min(SUPPORTED_RATES_HZ, key=lambda r: (abs(r - rate_hz), r))


class MetaMotionSensor:
    """One MetaMotion board streaming acc + gyro (+ mag) for a session (module docstring)."""

    def __init__(self, device: BLEDevice | str, segment: Segment, *,
                 client_backend: type[BaseBleakClient] | None = None,
                 clock: Callable[[], float] = time.monotonic, policy: ReconnectPolicy | None = None,
                 packed: bool | None = None, use_magnetometer: bool = True,
                 connection_settle_s: float = CONNECTION_SETTLE_S,
                 battery_interval_s: float = BATTERY_INTERVAL_S, fusion_quaternions: bool = False) -> None:
        self._device = device
        self.segment = segment
        self.address = device.address if isinstance(device, BLEDevice) else device
        self.model = "MetaMotion"
        """'MetaMotionS', 'MetaMotionR', 'MetaMotionC' once connected (DIS model number)."""
        self.stats = LinkStats()
        self.firmware = ""
        self.parts: mw.BoardParts | None = None
        self.plan: mw.StreamPlan | None = None
        self.stale_notifications = 0
        """Notifications dropped as expected: a previous session's stream while (re)configuring, late
        replies."""
        self._backend = client_backend
        self._clock = clock
        self._policy = policy if policy is not None else ReconnectPolicy()
        self._packed = packed
        self._use_mag = use_magnetometer
        self._settle_s = connection_settle_s
        self._battery_interval_s = battery_interval_s
        self.fusion_quaternions = fusion_quaternions
        """Stream the board's fusion quaternions instead of raw samples (module docstring)."""
        self.on_orientation: OrientationCallback | None = None
        """Set before `start`: receives the fusion quaternions (only with ``fusion_quaternions``)."""
        self.quaternions_received = 0
        self._client: BleakClient | None = None
        self._replies: dict[tuple[int, int], asyncio.Future[bytes]] = {}
        self._routes: dict[tuple[int, int], tuple[_Kind, bool]] = {}
        self._accepting = False
        self._assembler: SampleAssembler | None = None
        self._on_samples: SampleCallback | None = None
        self._on_gap: GapCallback | None = None
        self._odr = SUPPORTED_RATES_HZ[0]
        self._running = False
        self._stopping = False
        self._ever_started = False
        """Start commands were sent at least once: the board may be streaming."""
        self._reconnect_task: asyncio.Task[None] | None = None
        self._battery_task: asyncio.Task[None] | None = None
        self._last_t: float | None = None
        self._disconnect_from: float | None = None
        """Host time of the last sample before a disconnect, until the first sample after it."""
        self._recent: deque[float] = deque()

    @property
    def name(self) -> str:
        return f"{self.segment.value} sensor {self.address}"

    @property
    def rate_hz(self) -> float:
        """The rate the board streams at (after `start`)."""
        return self._odr

    # ------------------------------------------------------------------ SensorLink
    async def start(self, rate_hz: float, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        """Connect (retrying by the reconnect policy), bring the board to idle, configure and start it.
        Raises `SensorUnreachableError` or `SensorFatalError` (e.g. `WrongSensorError`)."""
        if self._running:
            raise RuntimeError(f"{self.name} is already started")
        self._odr = choose_rate(rate_hz)
        if self.fusion_quaternions:
            self._odr = mw.FUSION_RATE_HZ  # the fusion's fixed output rate
        self._on_samples, self._on_gap = on_samples, on_gap
        self._stopping = False
        self._last_t = self._disconnect_from = None
        self._recent.clear()
        await retry(self._connect_once, self._policy, on_attempt=self._note_attempt, sensor=self.name)
        self._running = True
        self._battery_task = asyncio.get_running_loop().create_task(self._battery_loop(),
                                                                     name=f"{self.name} battery")
        if not self._is_connected():
            self._schedule_reconnect()

    async def stop(self) -> None:
        """Stop the board's streams, unsubscribe, disconnect; never leaves the board streaming when
        it can be reached. Idempotent."""
        if self._stopping or not (self._running or self._client is not None or self._ever_started):
            return
        self._stopping = True
        try:
            for task in (self._reconnect_task, self._battery_task):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            self._reconnect_task = self._battery_task = None
            client = self._client
            if client is not None and client.is_connected:
                await self._teardown(client)
            elif self._ever_started:
                await self._teardown_unconnected()
            self._end_stream(disconnected=False)
        finally:
            self._running = False
            self._ever_started = False
            self._client = None
            self.stats.connected = False
            self._fail_replies(BleakError("stopped"))

    async def read_battery(self) -> mw.Battery | None:
        """Read the battery now (None when not connected or the board has no battery read)."""
        if not self._is_connected() or self.parts is None or not self.parts.battery_available:
            return None
        battery = mw.parse_battery(await self._request(mw.read_battery()))
        self.stats.battery_percent = battery.percent
        return battery

    # ------------------------------------------------------------------ connecting
    async def _connect_once(self) -> None:
        """One attempt: connect and set up the stream (retry() calls this)."""
        if self._stopping:
            raise SensorFatalError(f"{self.name}: stopped while connecting", sensor=self.name, reason="stopped")
        client = BleakClient(self._device, disconnected_callback=self._on_disconnected, backend=self._backend,
                             timeout=self._policy.attempt_timeout_s)
        self._client = client
        try:
            await client.connect()
            await self._setup(client)
        except BaseException:
            # Samples of this attempt's stream may already have been delivered: end it like a drop,
            # so the next stream starts with the gap.
            self._end_stream(disconnected=True)
            if self._client is client:
                self._client = None
            await self._abandon(client)
            raise
        self.stats.connected = True

    async def _abandon(self, client: BleakClient) -> None:
        """A failed attempt: if the board may already be streaming, try to stop it; disconnect."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                if client.is_connected and self.parts is not None:
                    for command in mw.idle_commands(self.parts):
                        await client.write_gatt_char(mw.COMMAND_UUID, command, response=False)
                await client.disconnect()

    async def _setup(self, client: BleakClient) -> None:
        services = client.services
        if services.get_service(mw.METABOOT_SERVICE_UUID) is not None:
            raise WrongSensorError(f"{self.name} is in bootloader (MetaBoot) mode",
                                   "Only a firmware update is possible in this mode: update or restore the "
                                   "firmware with MbientLab's app, then try again.", sensor=self.name)
        if services.get_characteristic(mw.COMMAND_UUID) is None or services.get_characteristic(mw.NOTIFY_UUID) is None:
            raise WrongSensorError(f"{self.name} has no MetaWear service",
                                   "Check that the address belongs to a MetaMotion board.", sensor=self.name)
        self._accepting = False
        self._routes = {}
        self._fail_replies(BleakError("new connection"))
        await client.start_notify(mw.NOTIFY_UUID, self._on_notification)
        model_number = await self._read_text(client, mw.MODEL_NUMBER_UUID)
        self.firmware = await self._read_text(client, mw.FIRMWARE_REVISION_UUID)
        self.model = mw.model_name(model_number) if model_number else "MetaWear"

        infos = {}
        for module in (mw.Module.ACCELEROMETER, mw.Module.GYRO, mw.Module.MAGNETOMETER, mw.Module.SENSOR_FUSION,
                       mw.Module.SETTINGS):
            infos[module] = mw.parse_module_info(await self._request(mw.read_module_info(module)))
        try:
            parts = mw.board_parts(infos[mw.Module.ACCELEROMETER], infos[mw.Module.GYRO],
                                   infos[mw.Module.MAGNETOMETER], infos[mw.Module.SENSOR_FUSION],
                                   infos[mw.Module.SETTINGS])
        except ValueError as error:
            raise WrongSensorError(f"{self.name} ({self.model}): {error}",
                                   "hiptrack needs a MetaMotion board (BMI160 or BMI270 IMU).",
                                   sensor=self.name) from error
        self.parts = parts
        if self.fusion_quaternions and not parts.fusion:
            raise WrongSensorError(f"{self.name} ({self.model}) has no sensor-fusion module",
                                   "Fusion quaternions need a MetaMotion R/RL/C/S; connect one, or start "
                                   "without fusion_quaternions to stream raw samples.", sensor=self.name)

        for command in mw.idle_commands(parts):
            await self._write(command)
        if parts.settings_revision is not None and parts.settings_revision >= 1:
            await self._write(mw.connection_parameters(*CONNECTION_INTERVAL_MS, 0, SUPERVISION_TIMEOUT_MS))
            await asyncio.sleep(self._settle_s)
        if self.fusion_quaternions:
            configure = mw.fusion_configure_commands(parts)
            start = mw.fusion_start_commands(parts)
        else:
            plan = self._plan(parts)
            configure, start = mw.configure_commands(parts, plan), mw.start_commands(parts, plan)
        for command in configure:
            await self._write(command)
        # Barrier: everything the board sent before this reply (a stale stream) is behind us now.
        await self._request(mw.read_module_info(mw.Module.ACCELEROMETER))
        if self.fusion_quaternions:
            self._begin_fusion_stream()
        else:
            self._begin_stream(parts, plan)
        self._ever_started = True
        for command in start:
            await self._write(command)
        if parts.battery_available:
            try:
                await self.read_battery()
            except (TimeoutError, PacketError) as error:
                self._note(f"battery read failed: {error}")

    def _plan(self, parts: mw.BoardParts) -> mw.StreamPlan:
        packed = self._odr > 100.0 if self._packed is None else self._packed
        if packed and not parts.packed_available(mw.parse_firmware_version(self.firmware)):
            self._note(f"{self.model} firmware {self.firmware or '?'} has no packed mode: streaming unpacked at "
                       f"{self._odr:g} Hz (more notifications; losses are likelier)")
            packed = False
        mag = MAG_PRESET if (self._use_mag and parts.has_mag) else None
        return mw.StreamPlan(self._odr, packed, mag=mag)

    def _begin_stream(self, parts: mw.BoardParts, plan: mw.StreamPlan) -> None:
        acc, gyro, mag = mw.Module.ACCELEROMETER, mw.Module.GYRO, mw.Module.MAGNETOMETER
        routes: dict[tuple[int, int], tuple[_Kind, bool]] = {
            (acc, mw.acc_data_register(parts, plan.packed)): ("acc", plan.packed),
            (gyro, mw.gyro_stream_register(parts, plan.packed)): ("gyro", plan.packed),
        }
        if plan.mag is not None:
            routes[(mag, mw.MagRegister.DATA)] = ("mag", False)
        self.plan = plan
        self._routes = routes
        self._assembler = SampleAssembler(self.segment, plan.odr_hz, expect_mag=plan.mag is not None)
        self._accepting = True

    def _begin_fusion_stream(self) -> None:
        """Only the quaternion register is accepted; no raw samples, no assembler."""
        self.plan = None
        self._routes = {(mw.Module.SENSOR_FUSION, mw.FusionRegister.QUATERNION): ("quaternion", False)}
        self._assembler = None
        self._accepting = True

    def _end_stream(self, *, disconnected: bool) -> None:
        """The stream ended: deliver what is complete; a disconnect makes the next sample start with a gap."""
        self._accepting = False
        assembler, self._assembler = self._assembler, None
        self._routes = {}
        if assembler is not None:
            self._deliver(assembler.flush())
        if disconnected and self._last_t is not None:
            self._disconnect_from = self._last_t

    async def _teardown(self, client: BleakClient) -> None:
        try:
            if self.parts is None:
                raise BleakError("the board's parts are unknown")
            for command in mw.idle_commands(self.parts):
                await self._write(command)
            # Barrier: the board has executed the stops (a stack may drop queued write commands
            # at a disconnect) and the samples it sent before them are delivered.
            await self._request(mw.read_module_info(mw.Module.ACCELEROMETER))
        except (BleakError, TimeoutError, OSError) as error:
            self._note(f"stopping the board failed: {error}")
        self._end_stream(disconnected=False)
        self._client = None
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            async with asyncio.timeout(5.0):
                await client.disconnect()

    async def _teardown_unconnected(self) -> None:
        """stop() while the link is down: one attempt to reach the board, only to stop it."""
        client = BleakClient(self._device, disconnected_callback=self._on_disconnected, backend=self._backend,
                             timeout=self._policy.attempt_timeout_s)
        self._client = client  # _stopping is set: a drop now starts no reconnect
        try:
            async with asyncio.timeout(self._policy.attempt_timeout_s):
                await client.connect()
                await client.start_notify(mw.NOTIFY_UUID, self._on_notification)
                await self._teardown(client)
        except Exception as error:  # anything: stop() must return
            self._note(f"could not reach the board to stop it ({type(error).__name__}: {error}); it may still be "
                       "streaming: switch it off or reset it")
            with contextlib.suppress(Exception):
                await client.disconnect()

    # ------------------------------------------------------------------ reconnecting
    def _on_disconnected(self, client: BleakClient) -> None:
        if client is not self._client:
            return  # an attempt we gave up on, or our own disconnect
        self._client = None
        self.stats.connected = False
        self._fail_replies(BleakError("disconnected"))
        if self._running and not self._stopping:
            self._note("link lost")
            self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        if self._reconnect_task is not None and not self._reconnect_task.done():
            return  # the running reconnect sees the drop through its own failure
        self._end_stream(disconnected=True)
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect(), name=f"{self.name} reconnect")

    async def _reconnect(self) -> None:
        # The shared policy (firmware_bridge.ble.reconnect): one `retry` episode after another. When an
        # episode runs out of time (SensorUnreachableError) the next starts after max_backoff_s, until
        # stop(): a person who walked out of range comes back. A fatal error ends reconnecting (it is
        # in stats.errors and stats.connected stays False).
        while not self._stopping:
            try:
                await retry(self._connect_once, self._policy, on_attempt=self._note_attempt, sensor=self.name)
            except SensorUnreachableError as error:
                self._note(str(error))
                await asyncio.sleep(self._policy.max_backoff_s)
                continue
            except SensorLinkError as error:
                self._note(f"giving up reconnecting: {error}")
                return
            if self._is_connected():
                self.stats.reconnects += 1
                return
            self._end_stream(disconnected=True)

    async def _battery_loop(self) -> None:
        while True:
            await asyncio.sleep(self._battery_interval_s)
            try:
                await self.read_battery()
            except (BleakError, TimeoutError, PacketError) as error:
                self._note(f"battery read failed: {error}")

    # ------------------------------------------------------------------ I/O helpers
    def _is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    async def _write(self, command: bytes) -> None:
        client = self._client
        if client is None:
            raise BleakError("Not connected")
        # Write without response, awaited one by one (the SDK serialises writes, notes §5.5-5.6).
        await client.write_gatt_char(mw.COMMAND_UUID, command, response=False)

    async def _request(self, command: bytes, timeout: float = REPLY_TIMEOUT_S) -> bytes:
        """Write a read command and wait for the reply with the same header."""
        key = (command[0], command[1])
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        previous = self._replies.get(key)
        if previous is not None and not previous.done():
            previous.cancel()
        self._replies[key] = future
        try:
            await self._write(command)
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                raise TimeoutError(f"{self.name}: no reply to {command.hex(' ')} within {timeout:g} s") from None
        finally:
            if self._replies.get(key) is future:
                del self._replies[key]

    def _fail_replies(self, error: BaseException) -> None:
        for future in self._replies.values():
            if not future.done():
                future.set_exception(error)
        self._replies.clear()

    async def _read_text(self, client: BleakClient, uuid: str) -> str:
        """A Device Information string; "" when the characteristic is missing or refuses the read
        (streaming does not need it; a dropped link still raises)."""
        if client.services.get_characteristic(uuid) is None:
            return ""
        try:
            value = await client.read_gatt_char(uuid)
        except BleakGATTProtocolError as error:
            self._note(f"reading {uuid} failed: {error}")
            return ""
        return bytes(value).decode("utf-8", "replace").strip("\x00 ")

    # ------------------------------------------------------------------ notifications
    def _on_notification(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            self._handle(bytes(data), self._clock())
        except Exception as error:  # never raise into bleak's dispatch
            self.stats.packets_corrupt += 1
            self._note(f"notification {bytes(data[:20]).hex(' ')} not handled: {type(error).__name__}: {error}")

    def _handle(self, data: bytes, arrival: float) -> None:
        if len(data) < 2:
            self._corrupt(data, "shorter than a header")
            return
        key = (data[0], data[1])
        future = self._replies.get(key)
        if future is not None and not future.done():
            future.set_result(data)
            return
        if not self._accepting or data[1] & mw.READ:
            # A previous session's stream while we configure, or a reply nobody waits for any more
            # (its read timed out or was cancelled): expected, not corrupt.
            self.stale_notifications += 1
            return
        route = self._routes.get(key)
        if route is not None and route[0] == "quaternion":
            try:
                q = mw.parse_quaternion(data)
            except PacketError as error:
                self._corrupt(data, error.reason)
                return
            self._deliver_orientation([(arrival, q)])
            return
        assembler = self._assembler
        if route is None or assembler is None:
            self._corrupt(data, "unknown header")
            return
        kind, packed = route
        try:
            counts = mw.parse_packed(data) if packed else [mw.parse_vector(data)]
        except PacketError as error:
            self._corrupt(data, error.reason)
            return
        plan = self.plan
        assert plan is not None
        if kind == "acc":
            events = assembler.push_acc(arrival, [mw.acc_to_si(c, plan.acc_range_g) for c in counts])
        elif kind == "gyro":
            events = assembler.push_gyro(arrival, [mw.gyro_to_si(c, plan.gyro_range_dps) for c in counts])
        else:
            events = assembler.push_mag(arrival, [mw.mag_to_si(c) for c in counts])
        self._deliver(events)

    def _corrupt(self, data: bytes, reason: str) -> None:
        self.stats.packets_corrupt += 1
        self._note(f"dropped notification {data[:20].hex(' ') or '(empty)'}: {reason}")

    def _deliver(self, events: list[Event]) -> None:
        batch: list[ImuSample] = []
        for event in events:
            if isinstance(event, SensorGap):
                self._flush(batch)
                batch = []
                self._gap(event)
                continue
            if self._disconnect_from is not None:
                self._flush(batch)
                batch = []
                lost = max(0, round((event.t - self._disconnect_from) * self._odr) - 1)
                self._gap(SensorGap(self.segment, self._disconnect_from, event.t, lost, "disconnect"))
                self._disconnect_from = None
            batch.append(event)
            self._last_t = event.t
        self._flush(batch)

    def _flush(self, batch: list[ImuSample]) -> None:
        if not batch:
            return
        self.stats.samples += len(batch)
        for sample in batch:
            self._recent.append(sample.t)
        newest = self._recent[-1]
        while self._recent and newest - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) >= 2 and newest > self._recent[0]:
            self.stats.rate_hz = (len(self._recent) - 1) / (newest - self._recent[0])
        if self._on_samples is not None:
            try:
                self._on_samples(batch)
            except Exception as error:  # the session's callback failed: say so, keep streaming
                self._note(f"on_samples failed: {type(error).__name__}: {error}")

    def _deliver_orientation(self, batch: list[tuple[float, Quaternion]]) -> None:
        self.quaternions_received += len(batch)
        self.stats.samples += len(batch)
        self._recent.extend(t for t, _ in batch)
        newest = self._recent[-1]
        while self._recent and newest - self._recent[0] > RATE_WINDOW_S:
            self._recent.popleft()
        if len(self._recent) >= 2 and newest > self._recent[0]:
            self.stats.rate_hz = (len(self._recent) - 1) / (newest - self._recent[0])
        if self.on_orientation is not None:
            try:
                self.on_orientation(batch)
            except Exception as error:  # the caller's callback failed: say so, keep streaming
                self._note(f"on_orientation failed: {type(error).__name__}: {error}")

    def _gap(self, gap: SensorGap) -> None:
        self.stats.samples_lost += gap.samples_lost
        if self._on_gap is not None:
            try:
                self._on_gap(gap)
            except Exception as error:
                self._note(f"on_gap failed: {type(error).__name__}: {error}")

    # ------------------------------------------------------------------ bookkeeping
    def _note(self, message: str) -> None:
        self.stats.errors.append(message)
        del self.stats.errors[:-MAX_ERRORS]

    def _note_attempt(self, report: AttemptReport) -> None:
        self._note(f"connect attempt {report.attempt} failed: {report.classification.reason}")

