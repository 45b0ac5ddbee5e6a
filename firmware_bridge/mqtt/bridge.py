"""The bridge: the sensors' samples published to an MQTT broker (docs/mqtt.md, 'Bridge topics').

`run_bridge(settings, bridge_id, links)` starts the sensor links (BLE drivers, or `ReplayedLink`s for
`--simulate`: anything implementing `firmware_bridge.ble.sensor.SensorLink`) and publishes, per sensor:

* `desc`, retained, before the sensor's first batch on every connection;
* `data`, QoS 1: every `batch_interval_s` (50 ms) the samples that arrived since, as one
  `hiptrack-imu-batch/1` batch whose `first_index` continues the stream's running sample number;
* `gap`, QoS 1: what the sensor did not deliver (lost packets, a disconnect), as its driver reports it;

and `status`, retained: on every connection, every `status_interval_s` (5 s) and whenever a sensor's
link, battery or the drop count changes; `"offline"` on a clean shutdown, and the same (with reason
'connection lost') as the last will, which the broker publishes if the bridge vanishes.

The buffer. Every data and gap message stays held by its sensor's `SensorChannel` until the broker
has acknowledged it (QoS 1 PUBACK). When the connection drops, the messages in flight go back to the
front of the queue, and after the reconnect everything held is sent again, oldest first, then the live
batches follow: a broker that was unreachable loses nothing the bridge still holds (a batch the broker
got but could not acknowledge arrives twice; consumers drop duplicates by `first_index`). The hold is
bounded: the newest `buffer_s` (120 s) of each sensor, by the samples' times; beyond it the *oldest*
messages are dropped (never one in flight), counted in `status.dropped_samples` and logged once per
outage, with the total when the broker is back. Consumers see the dropped indices as a 'broker' gap.

Reconnecting follows the project's written-down policy (`firmware_bridge.ble.reconnect`): `retry` with
`BROKER_POLICY`, i.e. jittered ('equal jitter', 30 %) exponential backoff from 0.5 s up to 30 s, an
attempt limited to 15 s, and no episode deadline: a bridge keeps trying until it is stopped. A broker
that refuses us (wrong user or password, not authorised, a certificate it or we reject) is fatal:
retrying cannot help, and the bridge stops with an `MqttConnectionError` that says what to check.

Tasks (one TaskGroup in `MqttBridge.run`): 'bridge-batcher' cuts batches, 'bridge-status' builds the
status, 'bridge-broker' connects and reconnects; per connection a nested TaskGroup holds 'mqtt-watch'
(notices the connection dropping), one 'mqtt-send-{segment}' per sensor and the publish tasks (at most
`max_in_flight` unacknowledged messages at a time, sent in order).

Shutdown (`stop` set): the links are stopped, the last samples batched, what is held is sent (within
`drain_timeout_s`, 5 s, reconnecting meanwhile if the broker is away), then the offline status, then a
clean disconnect (so no last will). Samples still held then are counted in
`BridgeStats.undelivered_samples` and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from firmware_bridge.ble.reconnect import AttemptReport, ErrorClass, ReconnectPolicy, Verdict, retry
from firmware_bridge.ble.sensor import SensorGap, SensorLink
from firmware_bridge.errors import MqttConfigError, MqttConnectionError, SensorFatalError
from firmware_bridge.mqtt import codec, topics
from firmware_bridge.mqtt.settings import PASSWORD_ENV, MqttSettings
from imu_core.frames import Segment
from imu_core.types import ImuSample

logger = logging.getLogger(__name__)

BROKER_POLICY = ReconnectPolicy(first_backoff_s=0.5, growth=2.0, max_backoff_s=30.0, jitter_fraction=0.3,
                                episode_timeout_s=math.inf, attempt_timeout_s=15.0, keep_reconnecting=True)
"""How the bridge (and the other MQTT clients) reconnect: docs/mqtt.md, 'The bridge's buffer'."""
BATCH_INTERVAL_S = 0.05
BUFFER_S = 120.0
STATUS_INTERVAL_S = 5.0
MAX_IN_FLIGHT = 20
"""Unacknowledged QoS 1 messages at a time (paho's and mosquitto's default window)."""


# ------------------------------------------------------------------------------------- errors
_AUTH_ADVICE = (f"Check the user name (--mqtt-user) and the password in ${PASSWORD_ENV}, and that the broker's "
                "access list lets this user publish under the topic prefix.")
_TLS_ADVICE = ("The broker's certificate was not accepted: give the CA that signed it with --mqtt-ca FILE, and "
               "connect by the host name (or address) the certificate names.")
_AUTH_CODES = {4, 5, 134, 135, 138, 140}
"""MQTT 3.1.1 CONNACK 4 bad user name or password, 5 not authorised; MQTT 5: 134, 135, 138 banned, 140 bad
authentication method."""
_FATAL_CODES = {1, 2, 128, 129, 130, 132, 133}
"""Protocol version, client identifier refused, and MQTT 5's unspecified/malformed/protocol errors."""


def _rc_value(rc: int | ReasonCode | None) -> int | None:
    if isinstance(rc, ReasonCode):
        return int(rc.value)
    return rc


def classify_broker_error(error: BaseException) -> ErrorClass:
    """Retryable or fatal, for `firmware_bridge.ble.reconnect.retry` connecting to a broker."""
    if isinstance(error, MqttConfigError):
        return ErrorClass(Verdict.FATAL, error.message, "config", error.advice)
    if isinstance(error, MqttConnectError):
        code = _rc_value(error.rc)
        if code in _AUTH_CODES:
            return ErrorClass(Verdict.FATAL, f"the broker refused the login ({error})", "authentication",
                              _AUTH_ADVICE)
        if code in _FATAL_CODES:
            return ErrorClass(Verdict.FATAL, f"the broker refused the connection ({error})", "refused",
                              "Check the broker's configuration and the id (--mqtt-id).")
        return ErrorClass(Verdict.RETRYABLE, f"the broker refused the connection for now ({error})")
    if isinstance(error, aiomqtt.MqttError):
        text = str(error)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return ErrorClass(Verdict.FATAL, f"TLS: {text}", "tls", _TLS_ADVICE)
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return ErrorClass(Verdict.FATAL, f"TLS: {text}", "tls",
                              "The port does not speak TLS: use mqtt://HOST for a plain connection, or the "
                              "broker's TLS port (usually 8883).")
        return ErrorClass(Verdict.RETRYABLE, text or type(error).__name__)
    if isinstance(error, TimeoutError):
        return ErrorClass(Verdict.RETRYABLE, f"timed out{': ' + str(error) if str(error) else ''}")
    if isinstance(error, OSError):
        return ErrorClass(Verdict.RETRYABLE, f"operating-system error: {error}")
    return ErrorClass(Verdict.UNEXPECTED, f"{type(error).__name__}: {error}")


def connection_error(settings: MqttSettings, error: SensorFatalError) -> MqttConnectionError:
    """The fatal error `retry` raised, said as a broker problem."""
    cause = error.__cause__ if error.__cause__ is not None else error
    verdict = classify_broker_error(cause)
    return MqttConnectionError(f"MQTT broker {settings.url}: {verdict.reason}", verdict.advice or error.advice,
                               retryable=False)


async def connect_with_retry(settings: MqttSettings, make_client: Callable[[], aiomqtt.Client], *,
                             policy: ReconnectPolicy = BROKER_POLICY, rng: random.Random | None = None,
                             what: str = "MQTT") -> aiomqtt.Client:
    """Connect a fresh client per attempt (by `policy`) and return it entered (leave it with
    `close_client`). Fatal refusals raise MqttConnectionError; cancelling stops the attempts."""

    async def connect_once() -> aiomqtt.Client:
        client = make_client()
        await client.__aenter__()
        return client

    def on_attempt(report: AttemptReport) -> None:
        nxt = "" if report.next_delay_s is None else f"; next attempt in {report.next_delay_s:.1f} s"
        log = logger.warning if report.attempt == 1 or report.next_delay_s is None else logger.info
        log("%s: connecting to %s failed (attempt %d): %s%s", what, settings.url, report.attempt,
            report.classification.reason, nxt)

    try:
        return await retry(connect_once, policy, rng=rng, on_attempt=on_attempt, sensor=f"MQTT broker {settings.url}",
                           classify=classify_broker_error)
    except SensorFatalError as e:
        raise connection_error(settings, e) from e.__cause__


async def close_client(client: aiomqtt.Client, timeout_s: float = 3.0) -> None:
    """Leave an entered client: a clean disconnect if the connection still stands; never raises."""
    with contextlib.suppress(Exception, TimeoutError):
        async with asyncio.timeout(timeout_s):
            await client.__aexit__(None, None, None)


def broker_lost(error: BaseException) -> aiomqtt.MqttError | None:
    """The MqttError if `error` says the connection was lost (alone or every leaf of a task group's
    error), else None."""
    if isinstance(error, aiomqtt.MqttError):
        return error
    if isinstance(error, BaseExceptionGroup):
        leaves = [broker_lost(e) for e in error.exceptions]
        if leaves and all(leaf is not None for leaf in leaves):
            return leaves[0]
    return None


# ------------------------------------------------------------------------------------- buffer
@dataclass(eq=False, slots=True)
class Held:
    """One data or gap message held until the broker acknowledges it."""

    seq: int
    topic: str
    payload: bytes
    samples: int
    """Samples in a data batch; 0 for a gap."""
    t_last: float
    """Bridge time of its newest sample (a gap's t_end), s."""
    first_index: int | None = None


@dataclass(slots=True)
class ChannelStats:
    """One sensor's counters (a snapshot)."""

    segment: Segment
    model: str
    samples_in: int
    """Samples the link delivered."""
    batches: int
    """Batches made."""
    samples_acked: int
    """Samples the broker acknowledged (a resent batch counts once)."""
    buffered_samples: int
    """Samples held: not yet batched, or not yet acknowledged."""
    dropped_samples: int
    dropped_batches: int
    gaps: int
    next_index: int
    """first_index of the next batch = samples batched so far."""


class SensorChannel:
    """One sensor's stream to the broker: batches with a running first_index, the buffer, the counts.

    Synchronous and without I/O (the bridge's tasks drive it), so it can be tested on its own."""

    def __init__(self, link: SensorLink, prefix: str, bridge_id: str, rate_hz: float,
                 buffer_s: float = BUFFER_S) -> None:
        self.link = link
        self.segment = link.segment
        self.rate_hz = rate_hz
        self.buffer_s = buffer_s
        self.desc_topic = topics.stream_desc(prefix, bridge_id, self.segment)
        self.data_topic = topics.stream_data(prefix, bridge_id, self.segment)
        self.gap_topic = topics.stream_gap(prefix, bridge_id, self.segment)
        self.pending: list[ImuSample] = []
        self.unsent: deque[Held] = deque()
        self.in_flight: dict[int, Held] = {}
        self.has_mag: bool | None = None
        """Known once the first batch is made (the description says it)."""
        self.next_index = 0
        self.samples_in = 0
        self.batches = 0
        self.samples_acked = 0
        self.held_samples = 0
        self.dropped_samples = 0
        self.dropped_batches = 0
        self.dropped_gaps = 0
        self.gaps = 0
        self.wakeup = asyncio.Event()
        """Set when a message is added."""
        self._seq = itertools.count()
        self._dropping = False
        self._dropped_reported = 0

    # ---- inputs (link callbacks, the batcher)
    def on_samples(self, samples: list[ImuSample]) -> None:
        self.pending.extend(samples)
        self.samples_in += len(samples)

    def on_gap(self, gap: SensorGap) -> None:
        self.gaps += 1
        self._add(Held(next(self._seq), self.gap_topic, codec.encode_gap(gap), 0, gap.t_end))

    def cut(self) -> int:
        """Batch the samples that arrived since the last cut; the number of batches made."""
        if not self.pending:
            return 0
        pending, self.pending = self.pending, []
        made = 0
        for start in range(0, len(pending), codec.MAX_COUNT):
            chunk = pending[start:start + codec.MAX_COUNT]
            has_mag = all(s.mag is not None for s in chunk)
            self.has_mag = has_mag if self.has_mag is None else (self.has_mag and has_mag)
            index = self.next_index % codec.INDEX_MODULUS
            payload = codec.encode_batch(chunk, index)
            self.next_index += len(chunk)
            self.batches += 1
            made += 1
            self._add(Held(next(self._seq), self.data_topic, payload, len(chunk), chunk[-1].t, index))
        return made

    def _add(self, held: Held) -> None:
        self.unsent.append(held)
        self.held_samples += held.samples
        self._trim(held.t_last)
        self.wakeup.set()

    def _trim(self, newest_t: float) -> None:
        """Drop the oldest messages not in flight that are older than the newest buffer_s."""
        limit = newest_t - self.buffer_s
        while self.unsent and self.unsent[0].t_last < limit:
            old = self.unsent.popleft()
            self.held_samples -= old.samples
            if old.samples:
                self.dropped_samples += old.samples
                self.dropped_batches += 1
            else:
                self.dropped_gaps += 1
            if not self._dropping:
                self._dropping = True
                logger.warning("%s: the broker has not taken this sensor's batches for more than %.0f s: "
                               "dropping the oldest (the live view resumes on current data; the record shows "
                               "a broker gap)", self.segment.value, self.buffer_s)

    # ---- the sender
    def take(self) -> Held | None:
        """The oldest message not yet sent on this connection (now in flight), or None."""
        if not self.unsent:
            return None
        held = self.unsent.popleft()
        self.in_flight[held.seq] = held
        return held

    def ack(self, held: Held) -> None:
        """The broker acknowledged `held`."""
        if self.in_flight.pop(held.seq, None) is not None:
            self.held_samples -= held.samples
            self.samples_acked += held.samples

    def rewind(self) -> None:
        """The connection is gone: what was in flight is sent again first (in its order)."""
        if self.in_flight:
            for held in sorted(self.in_flight.values(), key=lambda h: h.seq, reverse=True):
                self.unsent.appendleft(held)
            self.in_flight.clear()
            self.wakeup.set()

    def report_drops(self) -> None:
        """Log what was dropped since the last report (after a reconnect, and at the end)."""
        new = self.dropped_samples - self._dropped_reported
        if new:
            logger.warning("%s: %d samples were dropped while the broker was unreachable (%d in all)",
                           self.segment.value, new, self.dropped_samples)
        self._dropped_reported = self.dropped_samples
        self._dropping = False

    # ---- views
    @property
    def held_messages(self) -> int:
        return len(self.unsent) + len(self.in_flight)

    @property
    def buffered_samples(self) -> int:
        return self.held_samples + len(self.pending)

    def description(self) -> dict[str, Any] | None:
        """The stream's `desc`, once the first batch is made (None before)."""
        if self.has_mag is None:
            return None
        return codec.stream_description(self.segment, self.link.model or "unknown", self.rate_hz, self.has_mag)

    def stats(self) -> ChannelStats:
        return ChannelStats(self.segment, self.link.model, self.samples_in, self.batches, self.samples_acked,
                            self.buffered_samples, self.dropped_samples, self.dropped_batches, self.gaps,
                            self.next_index)


@dataclass(slots=True)
class BridgeStats:
    """What a bridge did (a snapshot; `run_bridge` returns the last one)."""

    bridge_id: str
    broker: str
    connected: bool
    connects: int
    """Successful connections (the first and every reconnect)."""
    sensors: dict[Segment, ChannelStats]
    status: dict[str, Any] = field(default_factory=dict)
    """The status last built (what is, or would be, retained on the broker)."""
    undelivered_samples: int = 0
    """Samples still held when the bridge stopped (the broker was unreachable at the end)."""

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)

    @property
    def buffered_samples(self) -> int:
        return sum(s.buffered_samples for s in self.sensors.values())

    @property
    def dropped_samples(self) -> int:
        return sum(s.dropped_samples for s in self.sensors.values())


# ------------------------------------------------------------------------------------- the bridge
class MqttBridge:
    """Links in, MQTT out. `async with` starts and stops the links; `run(stop)` publishes until `stop`."""

    def __init__(self, settings: MqttSettings, bridge_id: str, links: Sequence[SensorLink], *,
                 rate_hz: float = 100.0, buffer_s: float = BUFFER_S, batch_interval_s: float = BATCH_INTERVAL_S,
                 status_interval_s: float = STATUS_INTERVAL_S, policy: ReconnectPolicy = BROKER_POLICY,
                 max_in_flight: int = MAX_IN_FLIGHT, drain_timeout_s: float = 5.0, publish_timeout_s: float = 15.0,
                 keepalive_s: int = 15, on_status: Callable[[BridgeStats], None] | None = None,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self.bridge_id = topics.validate_id(bridge_id, "bridge id")
        segments = [link.segment for link in links]
        if len(set(segments)) != len(segments):
            raise MqttConfigError(f"two sensors on one segment: {', '.join(s.value for s in segments)}",
                                  "A bridge publishes one sensor per segment (thigh, shin, pelvis).")
        if not links:
            raise MqttConfigError("a bridge needs at least one sensor", "Assign the sensors, or use --simulate.")
        self.links = list(links)
        self.rate_hz = rate_hz
        self.channels = [SensorChannel(link, settings.prefix, self.bridge_id, rate_hz, buffer_s) for link in links]
        self.status_topic = topics.bridge_status(settings.prefix, self.bridge_id)
        self.batch_interval_s = batch_interval_s
        self.status_interval_s = status_interval_s
        self.policy = policy
        self.max_in_flight = max_in_flight
        self.drain_timeout_s = drain_timeout_s
        self.publish_timeout_s = publish_timeout_s
        self.keepalive_s = keepalive_s
        self.on_status = on_status
        self.rng = rng
        self.connects = 0
        self._client: aiomqtt.Client | None = None
        self._since = codec.iso_utc()
        self._closing = asyncio.Event()
        self._close_deadline = math.inf
        self._acked = asyncio.Event()
        self._desc_sent: dict[Segment, dict[str, Any]] = {}
        self._publishing: set[asyncio.Task[None]] = set()
        self._last_status: dict[str, Any] = {}
        self._lost_at: float | None = None
        self._undelivered = 0

    # ---- lifecycle
    async def __aenter__(self) -> MqttBridge:
        try:
            async with asyncio.TaskGroup() as tg:
                for link, ch in zip(self.links, self.channels, strict=True):
                    tg.create_task(link.start(self.rate_hz, ch.on_samples, ch.on_gap),
                                   name=f"start-{link.segment.value}")
        except BaseException:
            await self._stop_links()  # the ones already streaming must not be left so
            raise
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._stop_links()

    async def _stop_links(self) -> None:
        results = await asyncio.gather(*(link.stop() for link in self.links), return_exceptions=True)
        for link, result in zip(self.links, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("%s: stopping the sensor failed: %s", link.segment.value, result)

    @property
    def connected(self) -> bool:
        return self._client is not None

    def will(self) -> aiomqtt.Will:
        return aiomqtt.Will(self.status_topic, codec.to_json(codec.WILL_STATUS), qos=1, retain=True)

    def stats(self) -> BridgeStats:
        return BridgeStats(self.bridge_id, self.settings.url, self.connected, self.connects,
                           {ch.segment: ch.stats() for ch in self.channels}, dict(self._last_status),
                           self._undelivered)

    def status(self, state: str = "online", **extra: Any) -> dict[str, Any]:
        sensors = [codec.sensor_status(ch.segment, ch.link.model, ch.link.stats.connected, ch.link.stats.rate_hz,
                                       ch.link.stats.samples, ch.link.stats.samples_lost,
                                       ch.link.stats.battery_percent) for ch in self.channels]
        return codec.bridge_status(state, self._since, sensors, sum(ch.buffered_samples for ch in self.channels),
                                   sum(ch.dropped_samples for ch in self.channels), **extra)

    def _signature(self) -> tuple[Any, ...]:
        return (self.connected, sum(ch.dropped_samples for ch in self.channels),
                tuple((ch.link.model, ch.link.stats.connected, ch.link.stats.battery_percent)
                      for ch in self.channels))

    # ---- running
    async def run(self, stop: asyncio.Event | None = None) -> BridgeStats:
        """Publish until `stop` is set (or the task is cancelled); then shut down cleanly (module docstring)."""
        stop = stop if stop is not None else asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            batcher = tg.create_task(self._batch_loop(), name="bridge-batcher")
            status = tg.create_task(self._status_loop(), name="bridge-status")
            broker = tg.create_task(self._broker_loop(), name="bridge-broker")
            await stop.wait()
            await self._stop_links()
            for ch in self.channels:
                ch.cut()
            self._close_deadline = asyncio.get_running_loop().time() + self.drain_timeout_s
            self._closing.set()
            done, _ = await asyncio.wait({broker}, timeout=self.drain_timeout_s + 3.0)
            if not done:
                broker.cancel()
            batcher.cancel()
            status.cancel()
        self._undelivered = sum(ch.buffered_samples for ch in self.channels)
        for ch in self.channels:
            ch.report_drops()
        if self._undelivered:
            logger.warning("bridge %s: %d samples held were not delivered (the broker was unreachable at the end)",
                           self.bridge_id, self._undelivered)
        stats = self.stats()
        if self.on_status is not None:
            self.on_status(stats)
        return stats

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_cut = loop.time()
        while True:
            next_cut += self.batch_interval_s
            await asyncio.sleep(max(0.0, next_cut - loop.time()))
            if loop.time() - next_cut > self.batch_interval_s:  # fell behind (a busy loop): do not catch up
                next_cut = loop.time()
            for ch in self.channels:
                ch.cut()

    async def _status_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_signature: tuple[Any, ...] | None = None
        last_time = -math.inf
        while True:
            await asyncio.sleep(min(0.25, self.status_interval_s))
            signature = self._signature()
            if signature == last_signature and loop.time() - last_time < self.status_interval_s:
                continue
            last_signature, last_time = signature, loop.time()
            self._last_status = self.status()
            client = self._client
            if client is not None and not self._closing.is_set():
                with contextlib.suppress(aiomqtt.MqttError):  # a lost connection is the watch's business
                    await client.publish(self.status_topic, codec.to_json(self._last_status), qos=1, retain=True,
                                         timeout=self.publish_timeout_s)
            if self.on_status is not None:
                self.on_status(self.stats())

    def _make_client(self) -> aiomqtt.Client:
        return self.settings.client(identifier=f"hiptrack-bridge-{self.bridge_id}", will=self.will(),
                                    clean_session=True, keepalive=self.keepalive_s, timeout=self.publish_timeout_s,
                                    max_inflight_messages=self.max_in_flight)

    async def _broker_loop(self) -> None:
        while True:
            client = await connect_with_retry(self.settings, self._make_client, policy=self.policy, rng=self.rng,
                                              what=f"bridge {self.bridge_id}")
            try:
                await self._serve(client)
                return
            except BaseException as error:  # a lost connection is handled, everything else re-raised
                lost = broker_lost(error)
                if lost is None:
                    await self._say_offline(client)  # cancelled or failed: the status must not stay online
                    raise
                self._lost_at = time.monotonic()
                logger.warning("bridge %s: lost the broker %s (%s); holding up to %.0f s of samples per sensor "
                               "and reconnecting", self.bridge_id, self.settings.url, lost,
                               self.channels[0].buffer_s)
            finally:
                self._client = None
                for ch in self.channels:
                    ch.rewind()
                await close_client(client)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """One connection: status and descriptions, then send everything held and everything new."""
        self.connects += 1
        self._since = codec.iso_utc()
        self._desc_sent = {}
        held = sum(ch.held_samples for ch in self.channels)
        if self.connects == 1:
            logger.info("bridge %s: connected to %s", self.bridge_id, self.settings.url)
        else:
            away = "" if self._lost_at is None else f" after {time.monotonic() - self._lost_at:.1f} s"
            logger.info("bridge %s: reconnected to %s%s; sending the %d samples held", self.bridge_id,
                        self.settings.url, away, held)
        for ch in self.channels:
            ch.report_drops()
        self._client = client
        self._last_status = self.status()
        await client.publish(self.status_topic, codec.to_json(self._last_status), qos=1, retain=True,
                             timeout=self.publish_timeout_s)
        window = asyncio.Semaphore(self.max_in_flight)
        async with asyncio.TaskGroup() as tg:
            watch = tg.create_task(self._watch(client), name="mqtt-watch")
            senders = [tg.create_task(self._send_loop(client, ch, window, tg), name=f"mqtt-send-{ch.segment.value}")
                       for ch in self.channels]
            await self._closing.wait()
            await self._drain()
            for task in (*senders, *self._publishing):
                task.cancel()
            await client.publish(self.status_topic, codec.to_json(self.status("offline", reason="shutdown")),
                                 qos=1, retain=True, timeout=self.publish_timeout_s)
            watch.cancel()

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """Publish the offline status on the way out of an error or a cancellation (a clean disconnect
        follows, so the broker would not publish the last will)."""
        with contextlib.suppress(Exception, TimeoutError):
            async with asyncio.timeout(1.0):
                await client.publish(self.status_topic, codec.to_json(self.status("offline", reason="stopped")),
                                     qos=1, retain=True)

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Return never: raise MqttError when the connection drops (we subscribe to nothing)."""
        async for _ in client.messages:
            pass
        raise aiomqtt.MqttError("the message stream ended")

    async def _send_loop(self, client: aiomqtt.Client, ch: SensorChannel, window: asyncio.Semaphore,
                         tg: asyncio.TaskGroup) -> None:
        while True:
            desc = ch.description()
            if desc is not None and self._desc_sent.get(ch.segment) != desc:
                await client.publish(ch.desc_topic, codec.to_json(desc), qos=1, retain=True,
                                     timeout=self.publish_timeout_s)
                self._desc_sent[ch.segment] = desc
            await window.acquire()
            held = ch.take()
            if held is None:
                window.release()
                ch.wakeup.clear()
                await ch.wakeup.wait()
                continue
            task = tg.create_task(self._publish(client, ch, held, window), name=f"mqtt-publish-{ch.segment.value}")
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, client: aiomqtt.Client, ch: SensorChannel, held: Held, window: asyncio.Semaphore) -> None:
        try:
            await client.publish(held.topic, held.payload, qos=1, timeout=self.publish_timeout_s)
        finally:
            window.release()
        ch.ack(held)
        self._acked.set()

    async def _drain(self) -> None:
        """Wait until the broker acknowledged everything held (until drain_timeout_s after the stop)."""
        try:
            async with asyncio.timeout_at(self._close_deadline):
                while any(ch.held_messages for ch in self.channels):
                    self._acked.clear()
                    await self._acked.wait()
        except TimeoutError:
            logger.warning("bridge %s: the broker did not take everything held within %.1f s", self.bridge_id,
                           self.drain_timeout_s)


async def run_bridge(settings: MqttSettings, bridge_id: str, links: Sequence[SensorLink], *, rate_hz: float = 100.0,
                     stop: asyncio.Event | None = None, on_status: Callable[[BridgeStats], None] | None = None,
                     **options: Any) -> BridgeStats:
    """Start the links and publish their samples until `stop` is set (see the module docstring).

    `on_status` gets a `BridgeStats` snapshot whenever the status changes and every status interval, and
    once at the end. `options` go to `MqttBridge` (buffer_s, batch_interval_s, status_interval_s, policy,
    max_in_flight, drain_timeout_s, publish_timeout_s, keepalive_s, rng). Returns the final counts."""
    bridge = MqttBridge(settings, bridge_id, links, rate_hz=rate_hz, on_status=on_status, **options)
    try:
        async with bridge:
            return await bridge.run(stop)
    except BaseExceptionGroup as group:  # one of the tasks failed: raise its error as it is
        leaves = _leaves(group)
        if len(leaves) == 1 and isinstance(leaves[0], Exception):
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out.extend(_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])
    return out
