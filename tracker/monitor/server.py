"""`hiptrack monitor`: one page listing every active person on a broker, each linking to that person's
full live view.

The server is the dashboard's own (tracker/dashboard/server.py), reused: the same lifecycle (127.0.0.1
and a free port by default, a token required for any other address), the same static files, the same
WebSocket fan-out (newest snapshot per page at its own pace, frames dropped rather than queued, events in
order). What differs:

- `/` is the monitor's page (tracker/monitor/static/monitor.html), fed on `/ws` with the list of people;
- `/?s=ID` is the dashboard's page for the session ID, fed on `/ws?s=ID` by that person's own page
  (a `DashboardServer` with no exercise, not served itself: its `websocket` answers on this server's
  route) with the snapshots rebuilt from the broker (`publish`), marked `watch_only` so the page shows
  no Start, Pause, Stop or pain question;
- commands from a page are refused all the same: the monitor only watches.

The broker is read by one subscriber (`{p}/session/+/info|state|event|summary`), which reconnects with
backoff while the page stays up and says the broker is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from types import TracebackType

import aiomqtt
from aiohttp import web

from firmware_bridge.mqtt.bridge import close_client, connect_with_retry
from firmware_bridge.mqtt.settings import MqttSettings
from firmware_bridge.mqtt.topics import SESSION_KINDS, validate_prefix
from tracker.dashboard.messages import Command
from tracker.dashboard.server import DashboardServer, static_file
from tracker.monitor.people import KEEP_HOURS, Person, Roster

logger = logging.getLogger(__name__)

MONITOR_PACKAGE = "tracker.monitor"
MONITOR_FILES = ("monitor.html", "monitor.js", "monitor.css")
LIST_HZ = 10.0
"""The list is rebuilt at most this often (each person's state comes at most 10 times a second)."""
PAGE_HZ = 30.0
"""A drill-down page gets at most this many snapshots a second."""


def watch_only(cmd: Command) -> str:
    return f"the monitor only watches: {cmd.command} is done on the person's own page"


class MonitorServer(DashboardServer):
    """Async context manager: serves the monitor while it reads the broker.

    `on_state(person, received_at)` is called for each state message as it is taken (for measuring)."""

    def __init__(self, settings: MqttSettings, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 keep_hours: float = KEEP_HOURS, on_state: Callable[[Person, float], None] | None = None) -> None:
        super().__init__(None, host=host, port=port, token=token, frame_hz=LIST_HZ, on_command=watch_only)
        self.settings = settings
        self.prefix = validate_prefix(settings.prefix)
        self.roster = Roster(self.prefix, keep_hours)
        self.on_state = on_state
        self.broker_connected = False
        self.messages = 0
        self._pages: dict[str, DashboardServer] = {}
        """Each watched person's drill-down (made when a page first opens on them)."""
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
            await page.close()  # closes the pages open on it (it serves nothing itself)
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
        if page is not None and page.clients and kind in ("state", "event", "summary"):
            event = person.recent[-1] if kind == "event" else None
            page.publish(person.page_snapshot(),
                         [] if event is None else [{"kind": event["kind"], "text": event["text"]}])
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
                self.publish({"type": "monitor", "broker": self.settings.url, "broker_connected": self.broker_connected,
                              "bad_messages": self.roster.bad_messages, "people": self.roster.rows(now)})
            await asyncio.sleep(1.0 / LIST_HZ)

    # --- HTTP: the monitor's routes, the dashboard's handlers where it serves the dashboard ----------
    def routes(self) -> list[web.RouteDef]:
        return [web.get("/", self._front), web.get("/static/{name}", self._files), web.get("/ws", self._ws)]

    async def _front(self, request: web.Request) -> web.StreamResponse:
        if "s" in request.query:
            return await self.index(request)  # the person's page: the dashboard's own
        if not self.authorised(request):
            raise web.HTTPForbidden(text="This monitor needs its token: open the URL hiptrack printed.")
        return static_file(MONITOR_PACKAGE, "monitor.html")

    async def _files(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        return static_file(MONITOR_PACKAGE, name) if name in MONITOR_FILES else await self.static(request)

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        sid = request.query.get("s")
        if sid is None:
            return await self.websocket(request)  # the list
        if not self.authorised(request):
            raise web.HTTPForbidden(text="wrong or missing token")
        person = self.roster.people.get(sid)
        if person is None:
            raise web.HTTPNotFound(text="No such session on the broker (yet).")
        page = self._pages.get(sid)
        if page is None:
            page = self._pages[sid] = DashboardServer(None, token=self.token, frame_hz=PAGE_HZ, on_command=watch_only)
        page.publish(person.page_snapshot())  # the newest at once
        return await page.websocket(request)
