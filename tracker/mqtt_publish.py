"""`--mqtt URL` on a live session (`demo` or `run`): its live state published for other consumers (a
second screen, `hiptrack monitor`, a research logger), on the live-session topics of docs/mqtt.md.

The session never waits for the broker: `update` is called from the session's consumer and only hands
things over. The state is newest-wins (one slot, published at most `state_hz` times a second, QoS 0: a
lost snapshot is replaced by the next). Events go through a bounded queue, published in order with
QoS 1; an event leaves the queue only once the broker has acknowledged it, so one in flight when the
connection drops is sent again (at least once). While the broker is unreachable the publisher
reconnects as the bridge does (`firmware_bridge.mqtt.bridge.connect_with_retry`: jittered
exponential backoff, 0.5 s up to 30 s); a broker that refuses the login is not retried. If more than
`max_events` events wait (minutes of broker outage), the *oldest* are dropped, counted in
`events_dropped` and logged: as with the bridge's buffer, the newest matter most to whoever watches
live, and the store keeps the full record.

What is published is the dashboard's own snapshot, from a `LiveFeed` of its own (tracker/dashboard/feed.py,
the code that feeds the person's page, so the events and the per-set rep counts are derived exactly as
the page shows them), without `trace` and `events`, and without the URLs of the local
chart and report (they mean nothing off this machine). Topic names carry only the pseudonymous id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiomqtt
from rich.console import Console

from firmware_bridge.errors import MqttConnectionError
from firmware_bridge.mqtt import topics
from firmware_bridge.mqtt.bridge import broker_lost, close_client, connect_with_retry
from firmware_bridge.mqtt.settings import MqttSettings
from tracker.dashboard.feed import LiveFeed
from tracker.exercise_model import Exercise
from tracker.session import LiveState

logger = logging.getLogger(__name__)

STATE_HZ = 10.0
MAX_EVENTS = 1000
KEEPALIVE_S = 15
"""The broker notices a vanished session (and publishes its last will) within 1.5 times this."""
PUBLISH_TIMEOUT_S = 10.0
LOCAL_URLS = ("chart_url", "report_url")
"""Summary fields that point into this machine's dashboard; published as null."""


def public_summary(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """A summary as published: the local chart and report links left out."""
    if summary is None:
        return None
    return {**summary, **dict.fromkeys(LOCAL_URLS)}


def public_state(snapshot: dict[str, Any], seq: int) -> dict[str, Any]:
    """The dashboard snapshot as published on `state`: no trace, no events, no local links; `seq` counts
    the state messages of this session (so a consumer sees how many it missed)."""
    out = {k: v for k, v in snapshot.items() if k not in ("trace", "events")}
    out["seq"] = seq
    out["summary"] = public_summary(snapshot.get("summary"))
    return out


class LiveStatePublisher:
    """Async context manager: publishes a session's live state while it runs.

    `session_pid` is the session's pseudonymous id (the only name that appears in a topic); `exercise`
    and `side` describe it in `info`. Call `update` with every new live state (from the session's
    callback; it never blocks), `update(state, summary=...)` when a leg ends, and `new_leg(side)` before
    the next leg of a both-sides session. Leaving the context publishes `info` as finished (or offline if
    the session failed) after what was pending; the broker publishes offline if the process dies."""

    def __init__(self, settings: MqttSettings, session_pid: str, exercise: Exercise, side: str, *,
                 sets: int | None = None, reps_per_set: int | None = None, best_deg: float | None = None,
                 state_hz: float = STATE_HZ, max_events: int = MAX_EVENTS, drain_timeout_s: float = 5.0,
                 on_publish: Callable[[int, float], None] | None = None) -> None:
        if not session_pid or any(c in session_pid for c in "/+#"):
            raise ValueError(f"a session id in a topic cannot be empty or contain / + #: {session_pid!r}")
        self.settings = settings
        self.session_pid = session_pid
        self.exercise = exercise
        self.side = side
        self.sets = sets if sets is not None else exercise.prescription.sets
        self.reps_per_set = reps_per_set if reps_per_set is not None else exercise.prescription.reps
        self.state_interval_s = 1.0 / state_hz
        self.max_events = max_events
        self.drain_timeout_s = drain_timeout_s
        self.on_publish = on_publish
        """Called with (seq, exact session time of the newest sample in it) for each state handed to the
        broker (for measuring latency: the published `t` is rounded to 10 ms)."""
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        prefix = settings.prefix
        self.topic_info = topics.session_info(prefix, session_pid)
        self.topic_state = topics.session_state(prefix, session_pid)
        self.topic_event = topics.session_event(prefix, session_pid)
        self.topic_summary = topics.session_summary(prefix, session_pid)
        self._feed = LiveFeed(exercise)
        self._feed.best_deg = best_deg
        self._events: deque[dict[str, Any]] = deque()
        self._state_dirty = False
        self._summary: dict[str, Any] | None = None
        self._info_dirty = True
        self._info_state = "live"
        self._closing = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # counters, for the session's log and the tests
        self.connected = False
        self.connections = 0
        self.states_published = 0
        self.states_skipped = 0
        """Snapshots replaced by a newer one before they were published (newest-wins, by design)."""
        self.events_published = 0
        self.events_dropped = 0
        """Events dropped from the full queue (oldest first) while the broker was unreachable."""
        self._next_state_at = 0.0
        self._last_t: float | None = None
        self.failure: MqttConnectionError | None = None
        """Why the broker refused this session (then nothing is published), else None."""

    # --- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> LiveStatePublisher:
        self.settings.ssl_context()  # unusable TLS files fail here, before the session begins
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt-live-state")
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._closing = True
        self._info_state = "finished" if et is None else "offline"
        self._info_dirty = True
        self._wake.set()
        if self._task is None:
            return
        try:
            # what is pending goes out first; a broker that is away gets a few seconds, not the session's end
            await asyncio.wait_for(asyncio.shield(self._task), self.drain_timeout_s)
        except TimeoutError:
            logger.warning("MQTT: broker unreachable at the end; %d event(s) and the final info not published",
                           len(self._events))
        except Exception:  # publishing failed: the session, which is over and stored, is not failed for it
            logger.exception("MQTT: publishing this session's live state failed")
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- the session's side (synchronous, never waits) ------------------------------------
    def new_leg(self, side: str, best_deg: float | None = None) -> None:
        """The next leg of the session begins (--both-sides): info says which side."""
        self.side = side
        self._feed.new_leg(best_deg)
        self._last_t = None
        self._info_dirty = True
        self._wake.set()

    def update(self, state: LiveState, news: list[str] | None = None, *,
               summary: dict[str, Any] | None = None) -> None:
        """Take the newest live state (the same call as the dashboard's `update`)."""
        new = self._feed.update(state, news, summary=summary)
        self._last_t = state.t
        for event in new:
            if len(self._events) >= self.max_events:
                self._events.popleft()
                self.events_dropped += 1
                if self.events_dropped == 1 or self.events_dropped % 100 == 0:
                    logger.warning("MQTT: broker unreachable, %d live event(s) dropped (oldest first)",
                                   self.events_dropped)
            self._events.append({"kind": event["kind"], "text": event["text"], "t": round(state.t, 2)})
        if self._state_dirty:
            self.states_skipped += 1
        self._state_dirty = True
        if summary is not None:
            self._summary = public_summary(summary)
        self._wake.set()

    # --- the publishing task ---------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        return {"state": self._info_state, "exercise": self.exercise.id, "exercise_name": self.exercise.name,
                "side": self.side, "started": self.started, "sets": self.sets, "reps_per_set": self.reps_per_set}

    def _pending(self) -> bool:
        return bool(self._events) or self._state_dirty or self._summary is not None or self._info_dirty

    def _make_client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(self.topic_info, json.dumps({"state": "offline"}), qos=1, retain=True)
        return self.settings.client(identifier=f"hiptrack-session-{self.session_pid}", will=will,
                                    keepalive=KEEPALIVE_S, timeout=PUBLISH_TIMEOUT_S)

    async def _run(self) -> None:
        """Connect (the bridge's policy: jittered backoff 0.5 s up to 30 s, for ever), publish, and on a
        lost connection connect again. A broker that refuses us (login, certificate) is not retried: the
        session goes on unpublished, and says so once."""
        while True:
            try:
                client = await connect_with_retry(self.settings, self._make_client,
                                                  what=f"live session {self.session_pid}")
            except MqttConnectionError as e:
                self.failure = e
                logger.error("MQTT: %s; this session's live state is not published. %s", e.message, e.advice)
                return
            try:
                self.connected = True
                self.connections += 1
                self._info_dirty = True
                if self.connections == 1:  # an earlier session's summary under this id is not this one's
                    await client.publish(self.topic_summary, b"", qos=1, retain=True)
                async with asyncio.TaskGroup() as tg:
                    watch = tg.create_task(_watch(client), name="mqtt-live-state-watch")
                    await self._pump(client)
                    watch.cancel()
                return
            except BaseException as error:  # a lost connection is retried, anything else re-raised
                lost = broker_lost(error)
                if lost is None:
                    raise
                logger.warning("MQTT: lost the broker %s (%s); reconnecting", self.settings.url, lost)
            finally:
                self.connected = False
                await close_client(client)

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Publish what is pending, in order: info, events, state, summary; the final info last."""
        while True:
            if self._info_dirty and not self._closing:
                self._info_dirty = False
                await client.publish(self.topic_info, json.dumps(self._info()), qos=1, retain=True)
                continue
            if self._events:
                await client.publish(self.topic_event, json.dumps(self._events[0]), qos=1)
                self._events.popleft()
                self.events_published += 1
                continue
            if self._state_dirty:
                wait = self._next_state_at - time.monotonic()
                if wait > 0 and not self._closing:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)  # an event may come first
                    continue
                snapshot, snapshot_t = self._feed.snapshot, self._last_t
                self._state_dirty = False
                if snapshot is not None:
                    self.states_published += 1
                    self._next_state_at = time.monotonic() + self.state_interval_s
                    await client.publish(self.topic_state, json.dumps(public_state(snapshot, self.states_published)),
                                         qos=0)
                    if self.on_publish is not None and snapshot_t is not None:
                        try:
                            self.on_publish(self.states_published, snapshot_t)
                        except Exception:
                            logger.exception("MQTT: the on_publish callback failed")
                continue
            if self._summary is not None:
                await client.publish(self.topic_summary, json.dumps(self._summary), qos=1, retain=True)
                self._summary = None
                continue
            if self._closing:
                self._info_dirty = False
                await client.publish(self.topic_info, json.dumps(self._info()), qos=1, retain=True)
                return
            self._wake.clear()
            if not self._pending():
                await self._wake.wait()


async def _watch(client: aiomqtt.Client) -> None:
    """Raise MqttError as soon as the connection drops (nothing is subscribed: no message comes)."""
    async for _ in client.messages:
        pass
    raise aiomqtt.MqttError("the message stream ended")


@contextlib.asynccontextmanager
async def live_state_publisher(args: argparse.Namespace, console: Console, exercise: Exercise, side: str, *,
                               sets: int | None = None, reps_per_set: int | None = None
                               ) -> AsyncIterator[LiveStatePublisher | None]:
    """`--mqtt URL` (and the shared --mqtt-* options) of `demo` and `run`: the session's publisher for the
    whole command (every leg), or None without `--mqtt`. The id is `--mqtt-id`, else the pseudonymous id
    kept beside the store."""
    from tracker.bridge_command import mqtt_id, settings_from_args

    settings = settings_from_args(args)
    if settings is None:
        yield None
        return
    pid = mqtt_id(args, settings)
    async with LiveStatePublisher(settings, pid, exercise, side, sets=sets, reps_per_set=reps_per_set) as publisher:
        console.print(f"Live state on {settings.url}: {settings.prefix}/session/{pid}/... "
                      f"('hiptrack monitor --mqtt {settings.url}' shows it)")
        yield publisher
