"""`NanoSensor`: a `SensorLink` for an Arduino Nano 33 BLE running hiptrack's firmware, on bleak.

What it does (firmware_bridge/nano33_firmware/README.md is the other half):

* **Connect** with `firmware_bridge.ble.reconnect.retry` and the given `ReconnectPolicy`: one attempt
  is `BleakClient(device, disconnected_callback=..., backend=client_backend).connect()` plus the
  configuration below; a missing service, an unknown INFO or packet format, a refused START or a link
  too small for one packet are fatal (`WrongSensorError` / `SensorStartError`, no retry loop).
* **Configure**: read INFO (board revision, so `model` is e.g. 'Nano 33 BLE Rev2'), subscribe STATUS and
  DATA, write STOP and wait for its acknowledgement in STATUS (a board left streaming by a crashed
  session is brought to a known state), then write START with the notification payload limit
  (`client.mtu_size - 3`, or the DATA characteristic's `max_write_without_response_size` if larger, since
  BlueZ reports an MTU of 23; `max_payload=` overrides both) and wait for its acknowledgement.
* **Stale data**: the firmware applies commands in its main loop and publishes the result in STATUS, and
  all notifications of one link arrive in the order the board sent them. So every DATA notification
  after the STATUS notification acknowledging *our* START (opcode START, result OK, streaming) belongs
  to the stream we started (whose counter START reset to 0), and everything before it is dropped and
  counted in `stale_packets`. The gate opens inside the STATUS notification handler, so no packet of
  the new stream can slip past it. (Should STATUS notifications not arrive, STATUS is read after a
  timeout instead.)
* **Stream**: notifications are decoded by `SampleDecoder` (one per START); the device clock is mapped
  to the host clock (`clock()`, default `time.monotonic`) by a `DeviceClock` lower-envelope fit, so the
  samples' `t` is host time. A bad notification (CRC, length, format) is counted in
  `stats.packets_corrupt` and skipped; a jump in the sample counter is reported as one
  `SensorGap(reason='packet_loss')` from the last sample before to the first after. Nothing is ever
  interpolated and nothing raises out of the notification handler (a failing callback is logged and
  noted in `stats.errors`).
* **Disconnect**: `stats.connected` goes False and a background task (owned here, cancelled by
  `stop()`) reconnects by the policy, configures the board again (STOP, START, subscriptions) and
  resumes. Our firmware stops streaming on a disconnect and START restarts its counter, so the samples
  lost across a disconnect are counted on the board's clock, which keeps running: the number of sample
  periods between the last sample before the disconnect and the first after it, minus one (the u32
  microsecond wrap is resolved with the host clock; a board that was reset meanwhile is counted on the
  host clock). They are reported as one `SensorGap(reason='disconnect')`; the device-clock fit carries
  on across the reconnect. `stats.reconnects` counts successful reconnects. An episode that times out
  is followed by another until `stop()` (policy `keep_reconnecting`); a fatal error ends reconnecting.
  The last such error is kept in `failure` and every one in `stats.errors`.
* **Stop**: write STOP (and wait for its acknowledgement, briefly), unsubscribe, disconnect, cancel the
  reconnect task. Idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from firmware_bridge.ble.reconnect import AttemptReport, ReconnectPolicy, retry
from firmware_bridge.ble.sensor import GapCallback, LinkReport, LinkStats, SampleCallback, SensorGap, SensorLink
from firmware_bridge.errors import (
    BridgeError,
    PacketError,
    SensorFatalError,
    SensorStartError,
    SensorUnreachableError,
    WrongSensorError,
)
from firmware_bridge.nano33.clock import DeviceClock
from firmware_bridge.nano33.protocol import (
    CONTROL_UUID,
    DATA_UUID,
    INFO_UUID,
    MIN_PAYLOAD,
    PACKET_VERSION,
    RATES_HZ,
    RESULT_TEXT,
    SERVICE_UUID,
    STATUS_UUID,
    AccRange,
    DecodedPacket,
    DeviceInfo,
    GyroRange,
    Opcode,
    Result,
    SampleDecoder,
    StreamStatus,
    decode_packet,
    encode_control_start,
    encode_control_stop,
    parse_device_info,
    parse_status,
    samples_per_packet,
)
from imu_core.frames import Segment

logger = logging.getLogger(__name__)

_U32 = 1 << 32
_MTU_SETTLE_S = 1.0
"""Some stacks report the negotiated MTU a moment after connecting: wait this long before refusing."""

_FIRMWARE_ADVICE = ("Check that the address belongs to a hiptrack sensor, and flash it with the firmware from this "
                    "hiptrack version (firmware_bridge/nano33_firmware/, build steps in hardware.md).")


def _result_text(result: Result | int) -> str:
    try:
        return RESULT_TEXT[Result(result)]
    except ValueError:
        return f"result code {result} (unknown to this hiptrack)"


class _StreamClock(DeviceClock):
    """The `DeviceClock` a `SampleDecoder` sees: its stream's device time (0 at the stream's first sample),
    shifted onto one continuous device time base shared by all streams of a session, so the fit survives
    a reconnect (the decoder of each new START starts its own time at 0)."""

    def __init__(self, base: DeviceClock) -> None:
        super().__init__()
        self.base = base
        self.shift_s = 0.0
        """Device time of this stream's first sample on the base's time line, s."""

    @property
    def ready(self) -> bool:
        return self.base.ready

    @property
    def offset(self) -> float:
        return self.base.offset

    @property
    def reference(self) -> float:
        return self.base.reference - self.shift_s

    @property
    def drift(self) -> float:
        return self.base.drift

    def update(self, device_s: float, host_s: float) -> None:
        self.base.update(device_s + self.shift_s, host_s)

    def to_host(self, device_s: float) -> float:
        return self.base.to_host(device_s + self.shift_s)


class NanoSensor:
    """One Nano 33 BLE sensor: connect, configure, stream, reconnect, stop. See the module docstring."""

    def __init__(
        self,
        device: BLEDevice | str,
        segment: Segment,
        *,
        client_backend: type[BaseBleakClient] | None = None,
        policy: ReconnectPolicy | None = None,
        max_payload: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        acc_range: AccRange = AccRange.G4,
        gyro_range: GyroRange = GyroRange.DPS2000,
        samples_per_packet: int = 0,
        ack_timeout_s: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        """`device`: a `BLEDevice` from a scan, or an address (then bleak scans for it on connect).
        `client_backend`: bleak's `backend=` (None: the platform's; tests pass an emulated one).
        `policy`: reconnect policy (default `ReconnectPolicy()`). `max_payload`: notification payload limit
        to announce in START instead of the one read from the link. `clock`: the host clock samples are
        stamped with (s). `samples_per_packet`: 0 = the firmware's choice (about 25 notifications/s).
        `ack_timeout_s`: how long to wait for the firmware's STATUS answer to a command. `rng`: backoff
        jitter (tests)."""
        self.segment = segment
        self.address = device.address if isinstance(device, BLEDevice) else device
        self.model = "Nano 33 BLE"
        """'Nano 33 BLE Rev1' or 'Nano 33 BLE Rev2' once INFO has been read."""
        self.stats = LinkStats()
        self.info: DeviceInfo | None = None
        self.stale_packets = 0
        """DATA notifications dropped because they came before our START was acknowledged."""
        self.failure: BridgeError | None = None
        """Why the last reconnect episode gave up (None while all is well)."""
        self.last_status: StreamStatus | None = None
        self._device = device
        self._backend = client_backend
        self._policy = policy if policy is not None else ReconnectPolicy()
        self._max_payload = max_payload
        self._clock = clock
        self._acc_range = AccRange(acc_range)
        self._gyro_range = GyroRange(gyro_range)
        self._samples_per_packet = samples_per_packet
        self._ack_timeout_s = ack_timeout_s
        self._rng = rng if rng is not None else random.Random()
        self._name = f"{segment.value} sensor ({self.address})"

        self._rate = 0
        self._report = LinkReport(self.stats, logger, self._name)
        self._client: BleakClient | None = None
        self._live = False
        """Configured and streaming (a disconnect now means: reconnect)."""
        self._stopping = False
        self._accepting = False
        """The gate: DATA notifications are ours (our START was acknowledged)."""
        self._ack: tuple[int, asyncio.Future[StreamStatus]] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None

        self._base_clock = DeviceClock()
        self._stream_clock = _StreamClock(self._base_clock)
        self._decoder: SampleDecoder | None = None
        self._origin_raw_us: int | None = None
        """Device time (u32 µs, as sent) of the current stream's first sample; None before its first packet."""
        self._prev_last: tuple[int, float, float] | None = None
        """(u32 µs, base-clock device s, host s) of the last sample of the previous stream."""
        self._last_t: float | None = None
        """Host time of the newest sample delivered."""
        self._disconnect_pending = False
        self._pending_gap: tuple[int, str, float] | None = None
        """(samples lost, reason, sample period s) of a gap to report before the next samples."""

    # ------------------------------------------------------------------------ SensorLink
    async def start(self, rate_hz: float, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        rate = round(rate_hz) if math.isfinite(rate_hz) else 0
        if rate not in RATES_HZ or abs(rate - rate_hz) > 1e-9:
            raise SensorStartError(f"{self._name}: {rate_hz} Hz is not a rate the firmware offers",
                                   f"Use one of {', '.join(str(r) for r in RATES_HZ)} Hz.", sensor=self._name)
        if self._live or (self._reconnect_task is not None and not self._reconnect_task.done()):
            raise RuntimeError(f"{self._name} is already started")
        self._rate = rate
        self._report.restart(on_samples, on_gap)
        self._stopping = False
        self.failure = None
        self._base_clock = DeviceClock()
        self._stream_clock = _StreamClock(self._base_clock)
        self._decoder = None
        self._origin_raw_us = None
        self._prev_last = None
        self._last_t = None
        self._disconnect_pending = False
        self._pending_gap = None
        await retry(self._attempt, self._policy, rng=self._rng, on_attempt=self._on_attempt, sensor=self._name)

    async def stop(self) -> None:
        self._stopping = True
        self._live = False
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client = self._client
        if client is not None and client.is_connected:
            try:  # samples still arriving before the STOP is acknowledged are delivered
                await self._command(client, encode_control_stop(), Opcode.STOP)
            except (BleakError, TimeoutError, OSError, BridgeError) as error:
                self._report.note(f"STOP was not acknowledged: {error}")
            self._accepting = False
            for uuid in (DATA_UUID, STATUS_UUID):
                with contextlib.suppress(BleakError, TimeoutError, OSError):
                    await client.stop_notify(uuid)
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await client.disconnect()
        self._client = None
        self._accepting = False
        self.stats.connected = False

    # ------------------------------------------------------------------- connect/configure
    async def _attempt(self) -> None:
        """One attempt: connect and configure. On any failure the link is dropped again."""
        client = BleakClient(self._device, disconnected_callback=self._on_disconnected,
                             timeout=self._policy.attempt_timeout_s, backend=self._backend)
        self._client = client
        try:
            await client.connect()
            await self._configure(client)
            if self._stopping:
                raise SensorFatalError(f"{self._name}: stopped while connecting", sensor=self._name,
                                       reason="stopped")
            if not client.is_connected or self._client is not client:
                raise BleakError("disconnected while starting the stream")
        except BaseException:
            self._accepting = False
            if self._client is client:
                self._client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise
        self._live = True
        self.stats.connected = True

    async def _configure(self, client: BleakClient) -> None:
        service = client.services.get_service(SERVICE_UUID)
        if service is None:
            raise WrongSensorError(
                f"{self._name} has no hiptrack service ({SERVICE_UUID}): it is not a hiptrack Nano 33 BLE.",
                _FIRMWARE_ADVICE, sensor=self._name)
        for uuid, what in ((DATA_UUID, "DATA"), (CONTROL_UUID, "CONTROL"), (STATUS_UUID, "STATUS"),
                           (INFO_UUID, "INFO")):
            if service.get_characteristic(uuid) is None:
                raise WrongSensorError(f"{self._name}: the hiptrack service lacks its {what} characteristic "
                                       "(other firmware?).", _FIRMWARE_ADVICE, sensor=self._name)
        try:
            info = parse_device_info(await client.read_gatt_char(INFO_UUID))
        except PacketError as error:
            raise WrongSensorError(f"{self._name}: unreadable device info ({error.reason}).", _FIRMWARE_ADVICE,
                                   sensor=self._name) from error
        if info.packet_version != PACKET_VERSION:
            raise WrongSensorError(f"{self._name} sends data format {info.packet_version}; this hiptrack reads "
                                   f"format {PACKET_VERSION}.", _FIRMWARE_ADVICE, sensor=self._name)
        if info.board is None:
            raise SensorStartError(f"{self._name}: the firmware found no IMU on the board.",
                                   "Power-cycle the board; if this persists, its IMU is not answering (or it is "
                                   "not a Nano 33 BLE).", sensor=self._name)
        self.info = info
        self.model = f"Nano 33 BLE Rev{int(info.board)}"
        self.stats.battery_percent = info.battery_percent
        if self._rate not in info.rates_hz:
            raise SensorStartError(f"{self._name} does not offer {self._rate} Hz (it offers {info.rates_hz}).",
                                   "Choose another rate.", sensor=self._name)
        if self._gyro_range not in info.gyro_ranges or self._acc_range not in info.acc_ranges:
            raise SensorStartError(f"{self._name} ({self.model}) lacks the range asked for "
                                   f"({self._acc_range.name}, {self._gyro_range.name}).",
                                   "Choose a range the board has (the Rev1 LSM9DS1 has no ±1000 dps).",
                                   sensor=self._name)
        payload = await self._payload_limit(client)
        await client.start_notify(STATUS_UUID, self._on_status)
        await client.start_notify(DATA_UUID, self._on_data)
        await self._command(client, encode_control_stop(), Opcode.STOP)
        self._prepare_stream()
        start = encode_control_start(self._rate, self._acc_range, self._gyro_range, payload, self._samples_per_packet)
        status = await self._command(client, start, Opcode.START)
        if status.result != Result.OK or not status.streaming:
            raise SensorStartError(f"{self._name} refused START: {_result_text(status.result)}.",
                                   "Check the board's rate and ranges (README), or power-cycle it.",
                                   sensor=self._name)

    async def _payload_limit(self, client: BleakClient) -> int:
        """Largest notification the link carries: what START announces as max_payload."""
        if self._max_payload is not None:
            limit = self._max_payload
        else:
            data_char = client.services.get_characteristic(DATA_UUID)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + _MTU_SETTLE_S
            while True:
                limit = client.mtu_size - 3
                if data_char is not None:
                    limit = max(limit, data_char.max_write_without_response_size)
                if samples_per_packet(limit) > 0 or loop.time() >= deadline:
                    break
                await asyncio.sleep(0.1)
        if samples_per_packet(limit) == 0:
            raise SensorStartError(
                f"{self._name}: the BLE link carries {limit}-byte notifications; one data packet needs "
                f"{MIN_PAYLOAD} (ATT MTU {MIN_PAYLOAD + 3}). The firmware would refuse to stream "
                "(PAYLOAD_TOO_SMALL).",
                "Use a Bluetooth adapter/OS that negotiates a larger MTU (all current desktop stacks do); on "
                "BlueZ, where bleak cannot see the MTU, pass max_payload= explicitly.", sensor=self._name)
        return limit

    async def _command(self, client: BleakClient, data: bytes, opcode: Opcode) -> StreamStatus:
        """Write a control command and wait for the firmware's STATUS answer to it."""
        future: asyncio.Future[StreamStatus] = asyncio.get_running_loop().create_future()
        self._ack = (int(opcode), future)
        try:
            await client.write_gatt_char(CONTROL_UUID, data, response=True)
            try:
                async with asyncio.timeout(self._ack_timeout_s):
                    return await future
            except TimeoutError:
                pass
            # No STATUS notification: ask for it instead.
            status = parse_status(await client.read_gatt_char(STATUS_UUID))
            if status.opcode != opcode:
                raise TimeoutError(f"the firmware did not answer {opcode.name} within {self._ack_timeout_s} s")
            if opcode is Opcode.START and status.result == Result.OK and status.streaming:
                self._accepting = True  # the STOP before it was acknowledged, so nothing stale is in flight
            return status
        finally:
            self._ack = None

    def _on_attempt(self, report: AttemptReport) -> None:
        then = f"; next attempt in {report.next_delay_s:.2f} s" if report.next_delay_s is not None else ""
        self._report.note(f"connect attempt {report.attempt} failed: {report.classification.reason}{then}")

    # ------------------------------------------------------------------------ disconnects
    def _on_disconnected(self, client: BleakClient) -> None:
        if client is not self._client:
            return
        self._accepting = False
        self.stats.connected = False
        if not self._live or self._stopping:
            return  # during an attempt the attempt fails by itself; during stop() nothing is to be done
        self._live = False
        self._client = None
        self._disconnect_pending = True
        self._report.note("link lost; reconnecting")
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect(),
                                                                      name=f"reconnect-{self.segment.value}")

    async def _reconnect(self) -> None:
        """Episodes of `retry` until connected, a fatal error, or (keep_reconnecting False) one timeout."""
        while True:
            try:
                await retry(self._attempt, self._policy, rng=self._rng, on_attempt=self._on_attempt,
                            sensor=self._name)
            except SensorUnreachableError as error:
                self.failure = error
                if not self._policy.keep_reconnecting:
                    self._report.note(f"gave up reconnecting: {error}")
                    return
                self._report.note(f"{error} Still trying.")
                await asyncio.sleep(self._policy.max_backoff_s)
                continue
            except BridgeError as error:
                self.failure = error
                self._report.note(f"gave up reconnecting: {error}")
                return
            self.failure = None
            self.stats.reconnects += 1
            return

    # --------------------------------------------------------------------- notifications
    def _on_status(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            status = parse_status(data)
        except PacketError as error:
            self._report.note(f"unreadable STATUS notification: {error.reason}")
            return
        self.last_status = status
        ack = self._ack
        if ack is not None and status.opcode == ack[0] and not ack[1].done():
            if ack[0] == Opcode.START and status.result == Result.OK and status.streaming:
                self._accepting = True  # everything from here on is the stream our START started
            ack[1].set_result(status)
            return
        if self._live and status.opcode == Opcode.START:
            if status.result != Result.OK or not status.streaming:
                self._report.note(f"the firmware stopped streaming: {_result_text(status.result)}")
            else:
                self._report.note(f"the firmware now sends {status.samples_per_packet} samples per packet "
                                   "(the announced payload limit was too large)")

    def _on_data(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        if not self._accepting:
            if not self._stopping:
                self.stale_packets += 1
            return
        try:
            self._handle_packet(bytes(data), self._clock())
        except Exception as error:  # never out of the notification handler
            logger.exception("%s: handling a notification failed", self._name)
            self._report.note(f"handling a notification failed: {error!r}")

    def _prepare_stream(self) -> None:
        """A new decoder for the stream the next START begins (the previous one's end is remembered)."""
        decoder = self._decoder
        if decoder is not None and self._origin_raw_us is not None and self._last_t is not None:
            last_us = round(decoder.device_time * 1e6)
            self._prev_last = ((self._origin_raw_us + last_us) % _U32,
                               self._stream_clock.shift_s + decoder.device_time, self._last_t)
        self._stream_clock = _StreamClock(self._base_clock)
        self._decoder = SampleDecoder(self.segment, self._stream_clock)
        self._origin_raw_us = None

    def _open_stream(self, first: DecodedPacket, host_t: float) -> None:
        """The first good packet of a stream: place it on the session's device time line and, after a
        disconnect, count the samples lost meanwhile. START reset the counter to 0, so a first packet
        with a later counter means the stream's first samples were lost (the decoder cannot know)."""
        self._origin_raw_us = first.t0_us
        prev = self._prev_last
        if prev is None:
            if first.seq > 0:
                self._pending_gap = (first.seq, "packet_loss", first.period_us * 1e-6)
            return
        prev_raw, prev_device_s, prev_host = prev
        period_us = first.period_us
        # First sample of the new stream on the host clock (arrival minus the packet's span), from the last old one.
        host_gap_us = (host_t - prev_host - (len(first.samples) - 1) * period_us * 1e-6) * 1e6
        delta_mod = (first.t0_us - prev_raw) % _U32
        delta_us = delta_mod + round((host_gap_us - delta_mod) / _U32) * _U32
        if delta_us > 0 and abs(delta_us - host_gap_us) <= 0.5e6 + 0.05 * abs(host_gap_us):
            self._stream_clock.shift_s = prev_device_s + delta_us * 1e-6
            lost = round(delta_us / period_us) - 1
        else:
            # The board's clock does not fit the host's (it was reset): count on the host clock, refit.
            self._report.note("the board's clock jumped (was it reset?); counting the gap on the host clock")
            self._base_clock = DeviceClock()
            self._stream_clock.base = self._base_clock
            self._stream_clock.shift_s = 0.0
            lost = round(host_gap_us / period_us) - 1
        if self._disconnect_pending:
            self._pending_gap = (max(0, lost), "disconnect", period_us * 1e-6)

    def _handle_packet(self, data: bytes, host_t: float) -> None:
        decoder = self._decoder
        if decoder is None:
            return
        if self._origin_raw_us is None:
            try:
                first = decode_packet(data)
            except PacketError as error:
                decoder.stats.corrupt_packets += 1
                self._count_corrupt(error)
                return
            self._open_stream(first, host_t)
        corrupt_before = decoder.stats.corrupt_packets
        samples = decoder.feed(data, host_t)
        if decoder.stats.corrupt_packets != corrupt_before:
            self._count_corrupt(decoder.last_error)
            return
        gaps = decoder.pop_gaps()
        if self._pending_gap is not None and samples:
            lost, reason, period_s = self._pending_gap
            self._pending_gap = None
            # No sample before it (the session's first stream): from where the sample before the first lost
            # one would have been, i.e. the START.
            t_start = self._last_t if self._last_t is not None else samples[0].t - (lost + 1) * period_s
            self._report.gap(SensorGap(self.segment, t_start, samples[0].t, lost, reason))
        for gap in gaps:
            t_end = samples[0].t if samples else gap.host_time
            t_start = self._last_t if self._last_t is not None else gap.host_time
            self._report.gap(SensorGap(self.segment, t_start, t_end, gap.lost, "packet_loss"))
        if not samples:
            return
        self._disconnect_pending = False
        self._last_t = samples[-1].t
        self._report.deliver(samples)

    def _count_corrupt(self, error: PacketError | None) -> None:
        self.stats.packets_corrupt += 1
        self._report.note(f"bad packet skipped: {error.reason if error is not None else 'unknown'}")


if TYPE_CHECKING:
    def _is_a_sensor_link(sensor: NanoSensor) -> SensorLink:
        return sensor
