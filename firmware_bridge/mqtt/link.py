"""`MqttSensorLink`: a `SensorLink` whose samples come from a bridge through an MQTT broker (docs/mqtt.md).

To `LiveSource`, the guide, the pipeline and the store it is a sensor like a BLE one: `start` returns once
the stream is there, samples arrive in time order on the host's clock through `on_samples`, and every
sample that never arrives is reported through `on_gap`, never filled in.

**One connection per bridge.** The links of one bridge share an `MqttBridgeSubscription`: one MQTT
client subscribed to `{p}/bridge/{b}/#` (QoS 1), opened when the first of its links starts and closed
when the last one stops. Its messages are dispatched by topic:

* `status` (retained): the bridge online or offline, and per sensor connected, rate and battery; shown
  in each link's `stats` (`connected` is: broker reachable, bridge online, the sensor connected to it).
* `{seg}/desc` (retained): `start` waits for it (and for the bridge to be online) and refuses a stream
  whose rate is not the rate the session asked for, or that is not described at all.
* `{seg}/data`: batches, decoded (`codec.decode_batch`). `first_index` drops what QoS 1 delivers twice
  (counted in the link's `duplicates`), and a jump in it is a `SensorGap(reason='broker')` of exactly the samples never
  received. The first batch after `start` sets the baseline (what the bridge sent before is not part
  of the session). A stream that starts again from a lower index with later times (the bridge was
  restarted) is counted on the bridge's clock.
* `{seg}/gap`: the bridge's own gaps (the sensor did not deliver: `packet_loss`, `disconnect`), passed
  on with their times mapped to the host's clock.

A payload that does not parse (wrong magic, wrong length, bad JSON, unknown format) is counted in the
link's `stats.packets_corrupt` (bridge status: `MqttBridgeSubscription.payloads_corrupt`), described
in `stats.errors` and otherwise ignored.

**Time.** The samples carry the bridge's monotonic clock; the session runs on the host's (markers from
the guide are host time). `BridgeClock` maps one onto the other from the arrival times of the batches:
host = bridge + offset, the offset the smallest (arrival - newest sample's bridge time) of the last 30 s,
so network and broker delays do not stretch the timeline, and a backlog sent late (after a broker
outage) is recognised and leaves it alone. One clock serves all sensors of a bridge, so their alignment
is the bridge's. A sensor's times never go backwards: should the offset drop between two batches by
more than a sample period (only while the first batches arrive), the samples are stamped just after
the previous one.

**Reconnecting.** A lost broker connection is retried with jittered exponential backoff (0.25 s up to
30 s, as `firmware_bridge.ble.reconnect.ReconnectPolicy`), resubscribing each time; a refusal retrying
cannot help (credentials, certificate: `firmware_bridge.mqtt.bridge.classify_broker_error`) ends it, and
`start` raises it. The client keeps a persistent session (MQTT 3.1.1, clean_session False, a random
client id per run), so the broker queues the bridge's batches for us while we are away, also across
its own restart when it has persistence on; whatever is still missing shows up as a `broker` gap when
the next batch arrives. While disconnected the links show `connected False` ('reconnecting'). When the
last link stops, the session is ended (a clean-session connect under the same id). A run that is killed
leaves its session behind: a broker's `persistent_client_expiration` bounds how long it is kept.

Callbacks run in the event loop and must be quick; an exception from one is logged and noted, never
raised into the MQTT client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiomqtt

from firmware_bridge.ble.reconnect import ReconnectPolicy
from firmware_bridge.ble.sensor import GapCallback, LinkReport, LinkStats, SampleCallback, SensorGap, SensorLink
from firmware_bridge.errors import MqttConnectionError, MqttError, SensorLinkError, SensorStartError
from firmware_bridge.mqtt.bridge import classify_broker_error
from firmware_bridge.mqtt.codec import (
    INDEX_MODULUS,
    PayloadError,
    decode_batch,
    parse_description,
    parse_gap,
    parse_status,
)
from firmware_bridge.mqtt.settings import PASSWORD_ENV, MqttSettings
from firmware_bridge.mqtt.topics import bridge_filter, bridge_status, parse_stream_topic, validate_id
from imu_core.frames import Segment, Side
from imu_core.types import ImuSample

if TYPE_CHECKING:
    from tracker.sensor_config import SensorAssignment

logger = logging.getLogger(__name__)

BROKER_GAP = "broker"
"""Reason of a gap of samples the bridge published but this computer never received."""
FAMILY = "mqtt"
"""`SensorAssignment.family` of a stream taken from a bridge (`mqtt_assignments`)."""
DEFAULT_POLICY = ReconnectPolicy(first_backoff_s=0.25, growth=2.0, max_backoff_s=30.0, jitter_fraction=0.3,
                                 episode_timeout_s=15.0, attempt_timeout_s=10.0)
"""Broker reconnects: 0.25, 0.5, 1, ... up to 30 s (equal jitter 30 %). `episode_timeout_s` is how long
`start` waits for the broker, the stream's description and the bridge to be online."""

_RATE_TOLERANCE = 1e-6
_MIN_STEP_S = 1e-6


class BridgeClock:
    """Bridge time -> host time, from the arrival times of batches (see the module docstring).

    Every batch gives a point (bridge time of its newest sample, host arrival time); the arrival is later
    than the sample by the delays of the bridge (a batch waits up to 50 ms), the network and the broker,
    never earlier. The offset host - bridge is the smallest (arrival - bridge time) of the last `window_s`
    of bridge time, kept as per-`bin_s` minima so points of several sensors may come in any order: a
    lower envelope, so delays and their jitter do not move the timeline. It follows a drift between the
    clocks with a lag of at most the drift times `window_s` (20 ppm: 0.6 ms), and never needs a fit that
    noise could tilt. A point more than `late_s` above the offset is not used: it is a backlog sent after
    an outage, or a stall, and once the older points left the window it would otherwise become the
    minimum. Only when such points go on for `step_confirm_s` on both clocks (a backlog is a burst: much
    bridge time in little host time) has the delay, or the bridge's clock, really changed (its machine
    restarted): the envelope starts again from them.
    """

    def __init__(self, window_s: float = 30.0, bin_s: float = 1.0, late_s: float = 0.02,
                 step_confirm_s: float = 10.0) -> None:
        if bin_s <= 0.0 or window_s < bin_s:
            raise ValueError("need 0 < bin_s <= window_s")
        self.window_s = window_s
        self.bin_s = bin_s
        self.late_s = late_s
        self.step_confirm_s = step_confirm_s
        self.updates = 0
        self.late_points = 0
        """Points not used because they came late (backlogs)."""
        self.steps = 0
        self._bins: dict[int, float] = {}
        """bin index -> the bin's smallest host - bridge, s."""
        self._offset: float | None = None
        self._late_since: tuple[float, float] | None = None
        """(bridge, host) time of the first of an unbroken run of late points."""
        self._late_bins: dict[int, float] = {}

    @property
    def ready(self) -> bool:
        return self._offset is not None

    @property
    def offset(self) -> float:
        """host - bridge, s (0 before any point)."""
        return self._offset if self._offset is not None else 0.0

    def to_host(self, bridge_t: float) -> float:
        return bridge_t + self.offset

    def update(self, bridge_t: float, host_t: float) -> None:
        """A batch whose newest sample has bridge time `bridge_t` arrived at `host_t`."""
        if not (math.isfinite(bridge_t) and math.isfinite(host_t)):
            return
        self.updates += 1
        r = host_t - bridge_t
        if self._offset is not None and r > self._offset + self.late_s:
            self.late_points += 1
            if self._late_since is None:
                self._late_since, self._late_bins = (bridge_t, host_t), {}
            self._add(self._late_bins, bridge_t, r)
            if min(bridge_t - self._late_since[0], host_t - self._late_since[1]) >= self.step_confirm_s:
                self.steps += 1
                self._bins, self._late_bins, self._late_since = self._late_bins, {}, None
                self._offset = min(self._bins.values())
            return
        self._late_since = None
        self._add(self._bins, bridge_t, r)
        self._offset = min(self._bins.values())

    def _add(self, bins: dict[int, float], bridge_t: float, r: float) -> None:
        index = math.floor(bridge_t / self.bin_s)
        kept = bins.get(index)
        if kept is None or r < kept:
            bins[index] = r
        oldest = max(bins) - math.ceil(self.window_s / self.bin_s)
        for old in [i for i in bins if i <= oldest]:
            del bins[old]


def new_client_id() -> str:
    """A random MQTT client id for one run's session (pseudonymous: names neither person nor bridge)."""
    return f"hiptrack-run-{secrets.token_hex(6)}"


def _retrieve_disconnect(client: aiomqtt.Client) -> None:
    """aiomqtt keeps an unexpected disconnection as the exception of a future that only its message
    iterator reads; when a subscribe or connect failed instead, nobody does, and asyncio would log
    'Future exception was never retrieved'. The error itself was handled by the caller."""
    future = getattr(client, "_disconnected", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return str(payload).encode() if payload is not None else b""


class MqttBridgeSubscription:
    """One MQTT connection serving every `MqttSensorLink` of one bridge (see the module docstring)."""

    def __init__(self, settings: MqttSettings, bridge_id: str, *, clock: Callable[[], float] = time.monotonic,
                 policy: ReconnectPolicy = DEFAULT_POLICY, rng: random.Random | None = None,
                 keepalive_s: int = 10, client_kwargs: dict[str, Any] | None = None) -> None:
        """`clock`: the host clock the samples are stamped on (LiveSource's). `policy`: broker reconnects,
        and (`episode_timeout_s`) how long `start` waits. `keepalive_s`: MQTT keepalive (a silently dead
        broker is noticed within 1.5 times it)."""
        self.settings = settings
        self.bridge_id = validate_id(bridge_id, "bridge id")
        self.prefix = settings.prefix
        self.clock = clock
        self.policy = policy
        self.bridge_clock = BridgeClock()
        self.connected = False
        """Connected to the broker and subscribed."""
        self.ever_connected = False
        self.reconnects = 0
        self.failure: MqttError | None = None
        """An error retrying cannot help (credentials or certificate refused); the connection gave up."""
        self.last_error: str | None = None
        self.status: dict[str, Any] | None = None
        """The bridge's last `status`, parsed (None: none seen yet)."""
        self.descriptions: dict[Segment, dict[str, Any]] = {}
        """The streams the bridge describes (retained `desc`), parsed."""
        self.payloads_corrupt = 0
        """Unparseable `status` payloads (the links count their own topics')."""
        self.messages = 0
        self._rng = rng if rng is not None else random.Random()
        self._keepalive_s = keepalive_s
        self._client_kwargs = dict(client_kwargs or {})
        self._links: dict[Segment, MqttSensorLink] = {}
        self._attached: set[Segment] = set()
        self._task: asyncio.Task[None] | None = None
        self._identifier = ""
        self._change = asyncio.Event()
        self._status_topic = bridge_status(self.prefix, self.bridge_id)

    # -------------------------------------------------------------------------------- links
    def link(self, segment: Segment) -> MqttSensorLink:
        """The link of the bridge's `segment` stream: the started one, else a new one (fresh counters, as
        a BLE driver is made anew for each leg of a session)."""
        segment = Segment(segment)
        if segment not in self._links or segment not in self._attached:
            self._links[segment] = MqttSensorLink(self, segment)
        return self._links[segment]

    @property
    def bridge_online(self) -> bool | None:
        """The bridge's own state from its status (None: no status seen)."""
        return None if self.status is None else self.status.get("state") == "online"

    def sensor_status(self, segment: Segment) -> dict[str, Any] | None:
        """The bridge's status entry of `segment`'s sensor, if any."""
        for entry in (self.status or {}).get("sensors", []):
            if entry.get("segment") is segment:
                return dict(entry)
        return None

    def attach(self, segment: Segment) -> None:
        """A link starts: open the connection if it is not open."""
        if segment in self._attached:
            raise RuntimeError(f"the {segment.value} stream of bridge {self.bridge_id} is already started")
        self._attached.add(segment)
        if self._task is None or self._task.done():
            self.failure = None
            self.last_error = None
            self.ever_connected = False
            self.reconnects = 0
            self._identifier = new_client_id()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mqtt-bridge-{self.bridge_id}")

    async def detach(self, segment: Segment) -> None:
        """A link stops: close the connection after the last one (and discard our session at the broker)."""
        self._attached.discard(segment)
        if self._attached:
            return
        task, self._task = self._task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self.connected = False
        self._refresh_links()
        if self.ever_connected:
            await self._discard_session()

    async def wait_change(self, timeout_s: float) -> None:
        """Until something changes (a message, a connect or disconnect), at most `timeout_s`."""
        event = self._change
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout_s)):
                await event.wait()

    def _changed(self) -> None:
        event, self._change = self._change, asyncio.Event()
        event.set()

    # ---------------------------------------------------------------------------- connection
    def _client(self, *, persistent: bool) -> aiomqtt.Client:
        """A client under our id: `persistent`, the session the broker keeps while we are away (MQTT 3.1.1
        clean_session False: its subscription, and QoS 1 messages queued for it); else a clean session,
        which also ends the persistent one. (Not MQTT 5 with a session expiry: Debian's mosquitto 2.0
        does not restore such sessions after a restart.)"""
        kwargs: dict[str, Any] = {"keepalive": self._keepalive_s, "timeout": self.policy.attempt_timeout_s,
                                  **self._client_kwargs}
        return self.settings.client(identifier=self._identifier, clean_session=not persistent, **kwargs)

    async def _run(self) -> None:
        failures = 0
        while True:
            client = self._client(persistent=True)
            try:
                async with client:
                    granted = await client.subscribe(bridge_filter(self.prefix, self.bridge_id), qos=1)
                    if any((g if isinstance(g, int) else g.value) >= 0x80 for g in granted):
                        self._give_up(MqttConnectionError(
                            f"the broker {self.settings.url} does not let this user read "
                            f"{bridge_filter(self.prefix, self.bridge_id)}.",
                            "Check the broker's access list for this user (--mqtt-user).", retryable=False))
                        return
                    if self.ever_connected:
                        self.reconnects += 1
                        logger.info("bridge %s: reconnected to %s", self.bridge_id, self.settings.url)
                    self.ever_connected = True
                    self.connected = True
                    failures = 0
                    self._refresh_links()
                    self._changed()
                    async for message in client.messages:
                        try:
                            self._dispatch(message.topic.value, message.payload, self.clock())
                        except Exception as error:  # a bug must not end the connection (nor hide)
                            logger.exception("bridge %s: handling a message on %s failed", self.bridge_id,
                                             message.topic.value)
                            for link in self._attached_links():
                                link.note(f"handling a message failed: {error!r}")
            except aiomqtt.MqttError as error:
                _retrieve_disconnect(client)
                verdict = classify_broker_error(error)
                if not verdict.retryable:
                    advice = verdict.advice
                    if verdict.category == "authentication":
                        advice = (f"Check the user name (--mqtt-user) and the password in ${PASSWORD_ENV}, and "
                                  "that the broker's access list lets this user read "
                                  f"{bridge_filter(self.prefix, self.bridge_id)}.")
                    self._give_up(MqttConnectionError(f"MQTT broker {self.settings.url}: {verdict.reason}", advice,
                                                      retryable=False))
                    return
                failures += 1
                self._lost(f"broker {self.settings.url}: {verdict.reason}")
            except MqttError as error:  # the settings cannot be used (a CA file that is not one)
                self._give_up(error)
                return
            await asyncio.sleep(self.policy.backoff_s(max(1, failures), self._rng))

    def _give_up(self, error: MqttError) -> None:
        self.failure = error
        self._lost(error.message)
        for link in self._attached_links():
            link.note(f"gave up: {error}")

    def _lost(self, text: str) -> None:
        was = self.connected
        self.connected = False
        self.last_error = text
        if was:
            logger.info("bridge %s: lost the broker (%s); reconnecting", self.bridge_id, text)
            for link in self._attached_links():
                link.note(f"lost the broker ({text}); reconnecting")
        self._refresh_links()
        self._changed()

    async def _discard_session(self) -> None:
        """Our session at the broker is not needed any more: a clean-session connect under our id ends it."""
        with contextlib.suppress(aiomqtt.MqttError, MqttError, OSError, TimeoutError):
            async with asyncio.timeout(2.0):
                async with self._client(persistent=False):
                    pass

    def _attached_links(self) -> list[MqttSensorLink]:
        return [self._links[s] for s in self._attached if s in self._links]

    def _refresh_links(self) -> None:
        for link in self._links.values():
            link.refresh_stats()

    # ------------------------------------------------------------------------------ messages
    def _dispatch(self, topic: str, raw: object, host_t: float) -> None:
        self.messages += 1
        payload = _payload_bytes(raw)
        if topic == self._status_topic:
            self._on_status(payload)
            return
        parsed = parse_stream_topic(topic, self.prefix)
        if parsed is None or parsed[0] != self.bridge_id:
            return  # not one of the topics we read (a later version's): ignored, not counted
        _, segment, kind = parsed
        link = self._links.get(segment) if segment in self._attached else None
        if kind == "desc":
            self._on_desc(segment, payload, link)
        elif link is not None:
            if not payload:
                link.corrupt(f"empty {kind} message")
            elif kind == "data":
                link.on_batch(payload, host_t)
            else:
                link.on_gap_message(payload)
        self._changed()

    def _on_status(self, payload: bytes) -> None:
        if not payload:
            self.status = None  # the retained status was cleared
        else:
            try:
                self.status = parse_status(payload)
            except PayloadError as error:
                self.payloads_corrupt += 1
                for link in self._attached_links():
                    link.note(f"unreadable bridge status ignored: {error}")
                return
        self._refresh_links()
        self._changed()

    def _on_desc(self, segment: Segment, payload: bytes, link: MqttSensorLink | None) -> None:
        if not payload:
            self.descriptions.pop(segment, None)  # the stream is gone
            if link is not None:
                link.note("the bridge no longer describes this stream")
            return
        try:
            desc = parse_description(payload)
            if desc["segment"] is not segment:
                raise PayloadError(f"stream description of {desc['segment'].value} on the {segment.value} topic")
        except PayloadError as error:
            if link is not None:
                link.corrupt(f"{error}")
            return
        self.descriptions[segment] = desc
        if link is not None:
            link.on_description(desc)


class MqttSensorLink:
    """One sensor stream of a bridge, as a `SensorLink`. Made by `MqttBridgeSubscription.link`."""

    def __init__(self, subscription: MqttBridgeSubscription, segment: Segment) -> None:
        self.subscription = subscription
        self.segment = segment
        self.address = f"mqtt:{subscription.bridge_id}/{segment.value}"
        self.model = "via MQTT"
        """The sensor's model from the bridge's description once started (e.g. 'MetaMotionS')."""
        self.stats = LinkStats()
        self.duplicates = 0
        """Batches (or parts of one) received twice (QoS 1), or after later ones (then their samples are
        already in a gap): dropped."""
        self.has_mag = False
        self._name = f"{segment.value} stream of bridge {subscription.bridge_id}"
        self._rate = 0.0
        self._report = LinkReport(self.stats, logger, self._name)
        self._accepting = False
        self._rate_ok = True
        self._next_index: int | None = None
        self._last_t: float | None = None
        """Host time of the newest sample delivered."""
        self._last_bridge_t: float | None = None
        self._first_bridge_t: float | None = None
        self._seen_gaps: set[tuple[float, float, int, str]] = set()

    # ------------------------------------------------------------------------ SensorLink
    async def start(self, rate_hz: float, on_samples: SampleCallback, on_gap: GapCallback) -> None:
        """Connect to the broker (with retries), wait for the stream's description and the bridge to be
        online, check the rate; samples flow from the next batch on."""
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise SensorStartError(f"{self._name}: {rate_hz} Hz is not a sample rate", sensor=self._name)
        sub = self.subscription
        self._rate = float(rate_hz)
        self._report.restart(on_samples, on_gap)
        self._reset()
        sub.attach(self.segment)
        try:
            desc = await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        self.on_description(desc)
        self._accepting = True
        self.refresh_stats()

    async def stop(self) -> None:
        """Stop taking samples; the last link of a bridge closes the connection. Idempotent. (The bridge
        streams on: it is not ours to stop.)"""
        self._accepting = False
        if self.segment in self.subscription._attached:
            await self.subscription.detach(self.segment)
        self.stats.connected = False

    # ------------------------------------------------------------------------------- start
    def _reset(self) -> None:
        self._accepting = False
        self._rate_ok = True
        self._next_index = None
        self._last_t = None
        self._last_bridge_t = None
        self._first_bridge_t = None
        self._seen_gaps.clear()

    async def _wait_ready(self) -> dict[str, Any]:
        sub = self.subscription
        loop = asyncio.get_running_loop()
        deadline = loop.time() + sub.policy.episode_timeout_s
        while True:
            if sub.failure is not None:
                raise sub.failure
            desc = sub.descriptions.get(self.segment)
            if sub.connected and desc is not None:
                self._check_rate(desc)
                if sub.bridge_online is not False:
                    return desc
            left = deadline - loop.time()
            if left <= 0:
                raise self._not_ready(desc)
            await sub.wait_change(left)

    def _check_rate(self, desc: dict[str, Any]) -> None:
        rate = float(desc["rate_hz"])
        if abs(rate - self._rate) > _RATE_TOLERANCE * self._rate:
            raise SensorStartError(
                f"{self._name} streams at {rate:g} Hz, but this session runs at {self._rate:g} Hz.",
                f"Start the session with --rate {rate:g}, or restart the bridge at {self._rate:g} Hz.",
                sensor=self._name)

    def _not_ready(self, desc: dict[str, Any] | None) -> Exception:
        sub = self.subscription
        waited = f"{sub.policy.episode_timeout_s:g} s"
        if not sub.connected:
            return MqttConnectionError(
                f"the broker {sub.settings.url} could not be reached within {waited} "
                f"({sub.last_error or 'no answer'}).",
                "Check the broker's address and port, that it runs, and that this computer may reach it "
                "(firewall, TLS: mqtts:// and --mqtt-ca).")
        if desc is None:
            known = ", ".join(sorted(s.value for s in sub.descriptions)) or "none"
            return SensorLinkError(
                f"bridge {sub.bridge_id} publishes no {self.segment.value} stream on {sub.settings.url} "
                f"(streams described: {known}).",
                "Check the bridge id (--bridge), the topic prefix (--mqtt-prefix), and that the bridge runs "
                f"with a {self.segment.value} sensor.", sensor=self._name)
        since = (sub.status or {}).get("since")
        return SensorLinkError(
            f"bridge {sub.bridge_id} is offline{f' (since {since})' if since else ''}: no samples to take.",
            "Start the bridge (or check its network connection), then start again.", sensor=self._name)

    # ------------------------------------------------------------------------- messages
    def on_description(self, desc: dict[str, Any]) -> None:
        self.model = str(desc["model"])
        self.has_mag = bool(desc["has_mag"])
        rate = float(desc["rate_hz"])
        ok = self._rate <= 0 or abs(rate - self._rate) <= _RATE_TOLERANCE * self._rate
        if not ok and self._rate_ok:
            self.note(f"the bridge now streams at {rate:g} Hz, not the session's {self._rate:g} Hz: "
                      "its samples are not used")
        self._rate_ok = ok

    def on_batch(self, payload: bytes, host_t: float) -> None:
        if not self._accepting:
            return
        try:
            batch = decode_batch(payload, self.segment)
        except PayloadError as error:
            self.corrupt(str(error))
            return
        if not self._rate_ok:
            return
        clock = self.subscription.bridge_clock
        samples = batch.samples
        first = batch.first_index
        lost = 0
        if self._next_index is not None and self._last_bridge_t is not None:
            # signed distance on the uint32 index circle
            ahead = (first - self._next_index + INDEX_MODULUS // 2) % INDEX_MODULUS - INDEX_MODULUS // 2
            if ahead < 0:
                if samples[0].t > self._last_bridge_t:
                    # a lower index with later times: the bridge started the stream again
                    lost = max(0, round((samples[0].t - self._last_bridge_t) * self._rate) - 1)
                    self.note(f"the bridge restarted the stream; {lost} samples lost meanwhile")
                else:
                    skip = -ahead
                    if skip >= len(samples):
                        self.duplicates += 1
                        return
                    self.duplicates += 1
                    samples, first = samples[skip:], first + skip
            else:
                lost = ahead
        self._deliver(samples, first, lost, clock, host_t)

    def _deliver(self, samples: list[ImuSample], first: int, lost: int, clock: BridgeClock, host_t: float) -> None:
        if self._last_bridge_t is not None and samples[0].t <= self._last_bridge_t:
            self.duplicates += 1  # not after what was delivered (a restarted stream's overlap)
            return
        clock.update(samples[-1].t, host_t)
        out: list[ImuSample] = []
        last = self._last_t
        for s in samples:
            t = clock.to_host(s.t)
            if last is not None and t <= last:
                t = last + _MIN_STEP_S
            out.append(ImuSample(t, self.segment, s.acc, s.gyr, s.mag))
            last = t
        if lost > 0 and self._last_t is not None:
            self._report.gap(SensorGap(self.segment, self._last_t, out[0].t, lost, BROKER_GAP))
        if self._first_bridge_t is None:
            self._first_bridge_t = samples[0].t
        self._next_index = (first + len(samples)) % INDEX_MODULUS
        self._last_bridge_t = samples[-1].t
        self._last_t = out[-1].t
        self._report.deliver(out)

    def on_gap_message(self, payload: bytes) -> None:
        if not self._accepting:
            return
        try:
            gap = parse_gap(payload, self.segment)
        except PayloadError as error:
            self.corrupt(str(error))
            return
        key = (gap.t_start, gap.t_end, gap.samples_lost, gap.reason)
        if key in self._seen_gaps:
            return  # delivered twice (QoS 1)
        if self._first_bridge_t is None or gap.t_end <= self._first_bridge_t:
            return  # before this session's first sample: not ours
        self._seen_gaps.add(key)
        clock = self.subscription.bridge_clock
        self._report.gap(SensorGap(self.segment, clock.to_host(gap.t_start), clock.to_host(gap.t_end),
                                   gap.samples_lost, gap.reason))

    # ---------------------------------------------------------------------------- helpers
    def corrupt(self, reason: str) -> None:
        """A payload on this stream's topics did not parse: counted, noted, ignored."""
        self.stats.packets_corrupt += 1
        self.note(f"bad payload ignored: {reason}")

    def note(self, text: str) -> None:
        """A problem, in words: logged and kept in `stats.errors`."""
        self._report.note(text)

    def refresh_stats(self) -> None:
        """Connected, battery and reconnects from the subscription and the bridge's status."""
        sub = self.subscription
        entry = sub.sensor_status(self.segment)
        sensor_ok = entry is None or entry.get("connected") is not False
        self.stats.connected = bool(self._accepting and sub.connected and sub.bridge_online is not False
                                    and sensor_ok)
        self.stats.reconnects = sub.reconnects
        if entry is not None:
            battery = entry.get("battery_percent")
            self.stats.battery_percent = battery if isinstance(battery, int) and not isinstance(battery, bool) \
                else None
            rate = entry.get("rate_hz")
            if self.stats.samples == 0 and isinstance(rate, int | float) and not isinstance(rate, bool):
                self.stats.rate_hz = float(rate)


# ---------------------------------------------------------------------------------- for `hiptrack run`
def mqtt_link_factory(settings: MqttSettings, bridge_id: str, **kwargs: Any
                      ) -> Callable[[SensorAssignment], SensorLink]:
    """`link_for` of `run_guided` for a bridge: each assignment's segment becomes that stream of the
    bridge, all on one connection. `kwargs` go to `MqttBridgeSubscription` (clock, policy, ...)."""
    holder: list[MqttBridgeSubscription] = []

    def link_for(assignment: SensorAssignment) -> SensorLink:
        if not holder:  # made on first use, inside the session's event loop
            holder.append(MqttBridgeSubscription(settings, bridge_id, **kwargs))
        return holder[0].link(assignment.segment)

    return link_for


def mqtt_assignments(bridge_id: str, side: Side,
                     segments: Sequence[Segment] = (Segment.THIGH, Segment.SHIN)) -> list[SensorAssignment]:
    """The streams of a bridge as sensor assignments of one leg (a bridge's topics name the segment, not
    the side: the side is the session's `--side`)."""
    from tracker.sensor_config import SensorAssignment

    validate_id(bridge_id, "bridge id")
    return [SensorAssignment(f"mqtt:{bridge_id}/{Segment(seg).value}", Segment(seg), side, FAMILY,
                             f"bridge {bridge_id}") for seg in segments]


async def bridge_streams(settings: MqttSettings, bridge_id: str, *, timeout_s: float = 3.0
                         ) -> tuple[dict[Segment, dict[str, Any]], dict[str, Any] | None]:
    """The streams a bridge describes (its retained `desc`s) and its status, read once: for choosing the
    segments of a session before it starts (`hiptrack run --source mqtt` with a pelvis stream)."""
    sub = MqttBridgeSubscription(settings, bridge_id)
    sub._identifier = new_client_id()
    descriptions: dict[Segment, dict[str, Any]] = {}
    status: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(timeout_s):
            async with sub._client(persistent=False) as client:
                await client.subscribe(bridge_filter(sub.prefix, bridge_id), qos=1)
                quiet = 0.3  # retained messages come at once after the subscription
                while True:
                    try:
                        async with asyncio.timeout(quiet):
                            message = await anext(aiter(client.messages))
                    except TimeoutError:
                        break
                    sub._dispatch(message.topic.value, message.payload, sub.clock())
                descriptions, status = dict(sub.descriptions), sub.status
    except TimeoutError:
        descriptions, status = dict(sub.descriptions), sub.status
    except aiomqtt.MqttError as error:
        raise MqttConnectionError(f"the broker {settings.url} could not be reached: {error}",
                                  "Check the broker's address and port, and that it runs.") from None
    return descriptions, status


if TYPE_CHECKING:
    def _is_a_sensor_link(link: MqttSensorLink) -> SensorLink:
        return link
