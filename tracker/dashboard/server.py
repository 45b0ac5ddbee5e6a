"""The local web dashboard: the page, and live-state snapshots pushed over a WebSocket.

Served by the app itself (aiohttp) on 127.0.0.1 and a free port by default; any other bind address
needs a token, given or generated, which the page passes on in its URL. Each connected page gets the
newest snapshot as soon as it changes, at most `frame_hz` times a second: frames are dropped, never
queued, so a slow page never falls behind the stream, and the session never waits for a page. Events
(a rep counted, a hold complete, ...) are kept in order and each page gets every one it has not seen.
Closing a page changes nothing for the session; a bad message gets an error reply and is ignored.

The snapshots and events come from the session's states through a `LiveFeed` (tracker/dashboard/feed.py),
or, for a server with no exercise of its own (`hiptrack monitor`), from whoever calls `publish`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from tracker.dashboard.feed import LiveFeed
from tracker.dashboard.history import History
from tracker.dashboard.messages import Command, CommandError, parse_command
from tracker.errors import TrackerError
from tracker.exercise_model import Exercise
from tracker.session import LiveState

STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
PACKAGE = "tracker.dashboard"
"""The package whose static/ folder holds the dashboard's page."""


class DashboardError(TrackerError):
    """The dashboard cannot be served as asked."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True, eq=False)
class _Client:
    ws: web.WebSocketResponse
    sent_seq: int = -1
    sent_event: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when there is a newer snapshot than the one sent."""


class DashboardServer:
    """Async context manager: serves while the session runs; `update` is called with each new state.

    With an `exercise` the server derives its snapshots itself (`update`, through its `feed`); without
    one it has no session of its own and shows what it is given (`publish`), as `hiptrack monitor` does."""

    def __init__(self, exercise: Exercise | None, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, frame_hz: float = 60.0,
                 on_command: Callable[[Command], str | None] | None = None, history: History | None = None) -> None:
        if not is_loopback(host) and not token:
            token = secrets.token_urlsafe(16)
        self.exercise = exercise
        self.feed = LiveFeed(exercise) if exercise is not None else None
        """What turns the session's states into snapshots and events (None without an exercise)."""
        self.host, self.port, self.token = host, port, token
        self.frame_interval_s = 1.0 / frame_hz
        self.on_command = on_command
        self.history = history
        """The stored sessions, reports and progress pages (/history, /report/ID.html, /progress.html)."""
        self.commands_rejected = 0
        self._seq = 0
        self._snapshot: dict[str, Any] | None = None
        self._snapshot_due = False
        """The newest snapshot is the feed's, not made yet (`newest_snapshot` makes it)."""
        self._events: list[dict[str, str]] = []
        self._clients: set[_Client] = set()
        self._runner: web.AppRunner | None = None
        self._charts: dict[int, Path] = {}
        """Each finished session's chart, served at /chart/ID.png."""

    # --- lifecycle --------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        """What is served. A server built on this one (the monitor) gives its own list, using the
        handlers here (`index`, `static`, `websocket`) where it serves what the dashboard serves."""
        return [web.get("/", self.index), web.get("/static/{name}", self.static), web.get("/ws", self.websocket),
                web.get("/chart/{session}.png", self._chart), web.get("/history", self._history),
                web.get("/report/{session}.html", self._report), web.get("/progress.html", self._progress)]

    async def __aenter__(self) -> DashboardServer:
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            raise DashboardError(f"cannot serve the dashboard on {self.host}:{self.port} ({e.strerror}).",
                                 "Choose another port with --port, or 0 for any free one.") from e
        for address in self._runner.addresses:  # the port chosen for port 0
            self.port = int(address[1])
            break
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pages open on this server and stop serving (also for a server whose `websocket` is
        served on another's route, which was never entered itself)."""
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def snapshots(self) -> int:
        """Snapshots sent out so far (each page gets the newest of them at its own pace)."""
        return self._seq

    @property
    def clients(self) -> int:
        return len(self._clients)

    # --- the session's side ---------------------------------------------------------------
    @property
    def best_deg(self) -> float | None:
        """The person's best earlier peak in this exercise on this leg, drawn on the dial."""
        return self.feed.best_deg if self.feed is not None else None

    @best_deg.setter
    def best_deg(self, value: float | None) -> None:
        self._own_feed().best_deg = value

    def new_leg(self, best_deg: float | None = None) -> None:
        """The next leg's session begins (--both-sides), on the same page: a fresh trace and counts; the
        last leg's summary stays up until the new leg's calibration begins."""
        self._own_feed().new_leg(best_deg)

    def add_chart(self, session_id: int, path: Path) -> str:
        """Serve a finished session's chart; returns its URL on the page."""
        self._charts[session_id] = path
        return f"/chart/{session_id}.png"

    def update(self, state: LiveState, news: list[str] | None = None, *,
               summary: dict[str, Any] | None = None) -> None:
        """Take the newest live state (from the session's consumer; never blocks)."""
        events = self._own_feed().update(state, news, summary=summary)
        if events:
            self._events.extend(events)
        # the snapshot is made when a page is sent it (`newest_snapshot`): at most frame_hz a second
        self._seq += 1
        self._snapshot, self._snapshot_due = None, True
        for client in self._clients:
            client.wake.set()

    def publish(self, snapshot: dict[str, Any] | None, events: Iterable[dict[str, str]] = ()) -> None:
        """Send every page the events (`{kind, text}`, in order), and `snapshot` as the newest (None: no
        new snapshot; the events ride on the next). This server numbers the snapshots (`seq`) itself, so
        one given again is sent again."""
        self._events.extend(events)
        if snapshot is None:
            return
        self._seq += 1
        self._snapshot, self._snapshot_due = {**snapshot, "seq": self._seq}, False
        for client in self._clients:
            client.wake.set()

    def newest_snapshot(self) -> dict[str, Any] | None:
        """The newest snapshot (made now if it is the feed's and not made yet), numbered; None before any."""
        if self._snapshot_due and self.feed is not None:
            snapshot = self.feed.snapshot
            if snapshot is not None:
                self._snapshot = {**snapshot, "seq": self._seq}
            self._snapshot_due = False
        return self._snapshot

    def _own_feed(self) -> LiveFeed:
        if self.feed is None:
            raise TypeError("this dashboard has no exercise of its own: give it snapshots with publish()")
        return self.feed

    # --- HTTP --------------------------------------------------------------------------------
    def authorised(self, request: web.Request) -> bool:
        """Whether the request carries this server's token (or none is needed)."""
        return not self.token or secrets.compare_digest(request.query.get("token", ""), self.token)

    async def index(self, request: web.Request) -> web.StreamResponse:
        """The dashboard's page (its token required)."""
        if not self.authorised(request):
            raise web.HTTPForbidden(text="This dashboard needs its token: open the URL hiptrack printed.")
        return static_file(PACKAGE, "index.html")

    async def _chart(self, request: web.Request) -> web.StreamResponse:
        path = self._charts.get(int(request.match_info["session"])) \
            if request.match_info["session"].isdigit() else None
        if not self.authorised(request) or path is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes(), content_type="image/png")

    async def _history(self, request: web.Request) -> web.StreamResponse:
        history = self._history_or_404(request)
        return await self._page(history.sessions_page, self.token)

    async def _report(self, request: web.Request) -> web.StreamResponse:
        history = self._history_or_404(request)
        sid = request.match_info["session"]
        if not sid.isdigit():
            raise web.HTTPNotFound(text="No such session.")
        return await self._page(history.report_page, int(sid))

    async def _progress(self, request: web.Request) -> web.StreamResponse:
        return await self._page(self._history_or_404(request).progress_page)

    @staticmethod
    async def _page(build: Callable[..., str | None], *args: Any) -> web.StreamResponse:
        """A page built from the store, off the event loop; the store's trouble said in words."""
        try:
            page = await asyncio.to_thread(build, *args)
        except TrackerError as e:
            raise web.HTTPServiceUnavailable(text=f"{e}") from e
        if page is None:
            raise web.HTTPNotFound(text="No such session.")
        return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})

    def _history_or_404(self, request: web.Request) -> History:
        if not self.authorised(request):
            raise web.HTTPForbidden(text="This dashboard needs its token: open the URL hiptrack printed.")
        if self.history is None:
            raise web.HTTPNotFound(text="This dashboard has no store.")
        return self.history

    async def static(self, request: web.Request) -> web.StreamResponse:
        """The page's files, /static/NAME (no token: they hold no data)."""
        return static_file(PACKAGE, request.match_info["name"])

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """/ws: this server's snapshots and events to one page, its commands from it (token required)."""
        if not self.authorised(request):
            raise web.HTTPForbidden(text="wrong or missing token")
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=4096)
        await ws.prepare(request)
        client = _Client(ws, sent_event=len(self._events))  # a page joining late does not replay the past
        if self._seq > 0:  # there is a snapshot: the page gets the newest at once
            client.wake.set()
        self._clients.add(client)
        sender = asyncio.get_running_loop().create_task(self._send_loop(client), name="dashboard-send")
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._receive(client, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await self._reject(client, "binary messages are not accepted")
        finally:
            sender.cancel()
            self._clients.discard(client)
        return ws

    async def _receive(self, client: _Client, text: str) -> None:
        try:
            command = parse_command(text)
        except CommandError as e:
            await self._reject(client, str(e))
            return
        refusal = self.on_command(command) if self.on_command is not None else None
        if refusal:
            await self._reject(client, refusal)
            return
        await client.ws.send_str(json.dumps({"type": "ack", "command": command.command}))

    async def _reject(self, client: _Client, why: str) -> None:
        self.commands_rejected += 1
        with contextlib.suppress(ConnectionResetError):
            await client.ws.send_str(json.dumps({"type": "error", "message": why}))

    async def _send_loop(self, client: _Client) -> None:
        with contextlib.suppress(ConnectionResetError, asyncio.CancelledError):
            while not client.ws.closed:
                await client.wake.wait()
                client.wake.clear()
                snap = self.newest_snapshot()
                if snap is None or snap["seq"] == client.sent_seq:
                    continue
                events = self._events[client.sent_event:]
                client.sent_event = len(self._events)
                client.sent_seq = snap["seq"]
                await client.ws.send_str(json.dumps({**snap, "events": events}))
                await asyncio.sleep(self.frame_interval_s)


def static_file(package: str, name: str) -> web.Response:
    """`name` from `package`'s static/ folder (HTML, JS or CSS only, never cached); 404 if it is not there."""
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or "\\" in name or suffix not in STATIC_TYPES:
        raise web.HTTPNotFound()
    resource = resources.files(package).joinpath("static", name)
    if not resource.is_file():
        raise web.HTTPNotFound()
    return web.Response(body=resource.read_bytes(), content_type=STATIC_TYPES[suffix],
                        headers={"Cache-Control": "no-store"})
