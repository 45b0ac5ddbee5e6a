"""`hiptrack monitor`: one page listing every active person on a broker, each linking to that person's
full live view.

The server is the dashboard's own (tracker/dashboard/server.py), reused: the same lifecycle (127.0.0.1
and a free port by default, a token required for any other address), the same static files, the same
WebSocket fan-out (newest snapshot per page at its own pace, frames dropped rather than queued, events in
order). What differs:

- `/` is the monitor's page (tracker/monitor/static/monitor.html), fed on `/ws` with the list of people;
- `/?s=ID` is the dashboard's page for the session ID, fed on `/ws?s=ID` by that person's own
  `PersonPage` (a dashboard server that is not served itself) with snapshots rebuilt from the broker;
- commands from a page are refused: the monitor only watches.

The broker is read by one subscriber (`{p}/session/+/info|state|event|summary`), which reconnects with
backoff while the page stays up and says the broker is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from importlib import resources
from types import TracebackType
from typing import Any

import aiomqtt
from aiohttp import web

from firmware_bridge.mqtt.bridge import close_client, connect_with_retry
from firmware_bridge.mqtt.settings import MqttSettings
from firmware_bridge.mqtt.topics import SESSION_KINDS, validate_prefix
from tracker.dashboard.messages import Command
from tracker.dashboard.server import STATIC_TYPES, DashboardServer
from tracker.exercises import CATALOG
from tracker.monitor.people import KEEP_HOURS, Person, Roster

logger = logging.getLogger(__name__)

MONITOR_FILES = ("monitor.html", "monitor.js", "monitor.css")
LIST_HZ = 10.0
"""The list is rebuilt at most this often (each person's state comes at most 10 times a second)."""
PAGE_HZ = 30.0
_UNUSED_EXERCISE = CATALOG["seated-ir"]
"""DashboardServer wants an exercise for its `update`, which the monitor never calls: the snapshots it
shows are the ones each session published."""


def watch_only(cmd: Command) -> str:
    return f"the monitor only watches: {cmd.command} is done on the person's own page"


class PersonPage(DashboardServer):
    """One person's drill-down: the dashboard's page and WebSocket, fed snapshots from the broker."""

    def __init__(self, token: str | None) -> None:
        super().__init__(_UNUSED_EXERCISE, token=token, frame_hz=PAGE_HZ, on_command=watch_only)

    def show(self, snapshot: dict[str, Any] | None, events: list[dict[str, Any]] | None = None) -> None:
        """A new snapshot (and events since the last) for the pages open on this person."""
        if events:
            self._events.extend({"kind": e["kind"], "text": e["text"]} for e in events)
        if snapshot is None:
            return
        self._seq += 1
        self._snapshot = {**snapshot, "type": "state", "seq": self._seq}
        for client in self._clients:
            client.wake.set()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        return await self._websocket(request)


class MonitorServer(DashboardServer):
    """Async context manager: serves the monitor while it reads the broker.

    `on_state(person, received_at)` is called for each state message as it is taken (for measuring)."""

    def __init__(self, settings: MqttSettings, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 keep_hours: float = KEEP_HOURS, on_state: Callable[[Person, float], None] | None = None) -> None:
        super().__init__(_UNUSED_EXERCISE, host=host, port=port, token=token, frame_hz=LIST_HZ,
                         on_command=watch_only)
        self.settings = settings
        self.prefix = validate_prefix(settings.prefix)
        self.roster = Roster(self.prefix, keep_hours)
        self.on_state = on_state
        self.broker_connected = False
        self.messages = 0
        self._pages: dict[str, PersonPage] = {}
        self._dirty = True
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> MonitorServer:
        self.settings.ssl_context()  # unusable TLS files fail here, before anything is served
        await super().__aenter__()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="monitor-mqtt"),
                       loop.create_task(self._tick(), name="monitor-list")]
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for page in self._pages.values():
            await page.__aexit__(et, ev, tb)  # closes the pages open on it (it serves nothing itself)
        await super().__aexit__(et, ev, tb)

    def person_url(self, sid: str) -> str:
        return self.url.replace("/?token=", f"/?s={sid}&token=") if self.token else f"{self.url}?s={sid}"

    # --- the broker ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve until cancelled; raises MqttConnectionError if the broker refuses us (login, certificate)."""
        await asyncio.gather(*self._tasks)

    async def _listen(self) -> None:
        """Read the broker; on a lost connection, connect again (the bridge's policy: jittered backoff
        0.5 s up to 30 s, for ever), the page saying meanwhile that the broker is unreachable."""
        while True:
            client = await connect_with_retry(self.settings, self.settings.client, what="monitor")
            try:
                for kind in SESSION_KINDS:
                    await client.subscribe(f"{self.prefix}/session/+/{kind}", qos=1)
                self.broker_connected, self._dirty = True, True
                logger.info("monitor: reading %s", self.settings.url)
                async for msg in client.messages:
                    payload = msg.payload
                    if isinstance(payload, bytes | str):
                        self.take(str(msg.topic), payload)
                    else:
                        self.roster.bad_messages += 1
                raise aiomqtt.MqttError("the message stream ended")
            except aiomqtt.MqttError as e:
                logger.warning("monitor: lost the broker %s (%s); reconnecting", self.settings.url, e)
            finally:
                self.broker_connected, self._dirty = False, True
                await close_client(client)

    def take(self, topic: str, payload: bytes | str) -> None:
        """One message from the broker."""
        now = time.monotonic()
        self.messages += 1
        try:
            taken = self.roster.receive(topic, payload, now)
        except Exception:  # a message nobody foresaw must not end the monitor
            logger.exception("monitor: a message on %s could not be taken", topic)
            self.roster.bad_messages += 1
            return
        if taken is None:
            return
        person, kind = taken
        self._dirty = True
        page = self._pages.get(person.sid)
        if page is None:
            page = self._pages[person.sid] = PersonPage(self.token)
        if kind == "event":
            page.show(person.page_snapshot() if page.clients else None, [person.recent[-1]])
        elif page.clients and kind in ("state", "summary"):
            page.show(person.page_snapshot())
        if kind == "state" and self.on_state is not None:
            self.on_state(person, now)

    # --- the list page --------------------------------------------------------------------------
    async def _tick(self) -> None:
        """Rebuild the list when something changed, at most LIST_HZ a second (and each second, for the
        quiet timers)."""
        last_full = 0.0
        while True:
            now = time.monotonic()
            if self._dirty or now - last_full >= 1.0:
                self._dirty, last_full = False, now
                self._seq += 1
                self._snapshot = {"type": "monitor", "seq": self._seq, "broker": self.settings.url,
                                  "broker_connected": self.broker_connected,
                                  "bad_messages": self.roster.bad_messages, "people": self.roster.rows(now)}
                for client in self._clients:
                    client.wake.set()
            await asyncio.sleep(1.0 / LIST_HZ)

    # --- HTTP: the monitor's routes over the dashboard's ---------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        if "s" in request.query:
            return await super()._index(request)  # the person's page: the dashboard's own
        if not self._authorised(request):
            raise web.HTTPForbidden(text="This monitor needs its token: open the URL hiptrack printed.")
        return monitor_file("monitor.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        return monitor_file(name) if name in MONITOR_FILES else await super()._static(request)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        sid = request.query.get("s")
        if sid is None:
            return await super()._websocket(request)
        if not self._authorised(request):
            raise web.HTTPForbidden(text="wrong or missing token")
        page, person = self._pages.get(sid), self.roster.people.get(sid)
        if page is None or person is None:
            raise web.HTTPNotFound(text="No such session on the broker (yet).")
        page.show(person.page_snapshot())  # the newest at once
        return await page.serve(request)


def monitor_file(name: str) -> web.Response:
    resource = resources.files("tracker.monitor").joinpath("static", name)
    if name not in MONITOR_FILES or not resource.is_file():
        raise web.HTTPNotFound()
    return web.Response(body=resource.read_bytes(), content_type=STATIC_TYPES[name[name.rfind("."):]],
                        headers={"Cache-Control": "no-store"})
