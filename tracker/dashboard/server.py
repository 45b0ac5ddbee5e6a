"""The local web dashboard: the page, and live-state snapshots pushed over a WebSocket.

Served by the app itself (aiohttp) on 127.0.0.1 and a free port by default; any other bind address
needs a token, given or generated, which the page passes on in its URL. Each connected page gets the
newest snapshot as soon as it changes, at most `frame_hz` times a second: frames are dropped, never
queued, so a slow page never falls behind the stream, and the session never waits for a page. Events
(a rep counted, a hold complete, ...) are kept in order and each page gets every one it has not seen.
Closing a page changes nothing for the session; a bad message gets an error reply and is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from tracker.dashboard.history import History
from tracker.dashboard.messages import Command, CommandError, Trace, parse_command, state_message
from tracker.errors import TrackerError
from tracker.exercise_model import Exercise
from tracker.session import LiveState

STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


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


@dataclass
class _Derived:
    """What the dashboard works out from successive states: events to play."""

    reps: int = 0
    alerts: set[str] = field(default_factory=set)
    phase: str = ""
    hold_done_for: int = 0
    calibrated: bool = False
    set_no: int = 0
    set_start: tuple[int, int] = (0, 0)
    """(reps, clean reps) counted before the current set began."""


class DashboardServer:
    """Async context manager: serves while the session runs; `update` is called with each new state."""

    def __init__(self, exercise: Exercise, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 frame_hz: float = 60.0, on_command: Callable[[Command], str | None] | None = None,
                 history: History | None = None) -> None:
        if not is_loopback(host) and not token:
            token = secrets.token_urlsafe(16)
        self.exercise = exercise
        self.host, self.port, self.token = host, port, token
        self.frame_interval_s = 1.0 / frame_hz
        self.on_command = on_command
        self.history = history
        """The stored sessions, reports and progress pages (/history, /report/ID.html, /progress.html)."""
        self.trace = Trace()
        self.commands_rejected = 0
        self._seq = 0
        self._snapshot: dict[str, Any] | None = None
        self._events: list[dict[str, str]] = []
        self._derived = _Derived()
        self._summary: dict[str, Any] | None = None
        self._summary_ends_with_leg = False
        self._clients: set[_Client] = set()
        self._runner: web.AppRunner | None = None
        self._charts: dict[int, Path] = {}
        """Each finished session's chart, served at /chart/ID.png."""
        self.best_deg: float | None = None
        """The person's best earlier peak in this exercise on this leg, drawn on the dial."""

    # --- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> DashboardServer:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/chart/{session}.png", self._chart)
        app.router.add_get("/history", self._history)
        app.router.add_get("/report/{session}.html", self._report)
        app.router.add_get("/progress.html", self._progress)
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
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def snapshots(self) -> int:
        """Snapshots made so far (each page gets the newest of them at its own pace)."""
        return self._seq

    @property
    def clients(self) -> int:
        return len(self._clients)

    # --- the session's side ---------------------------------------------------------------
    def new_leg(self, best_deg: float | None = None) -> None:
        """The next leg's session begins (--both-sides), on the same page: a fresh trace and counts; the
        last leg's summary stays up until the new leg's calibration begins."""
        self.trace = Trace()
        self._derived = _Derived()
        self._summary_ends_with_leg = True
        self.best_deg = best_deg

    def add_chart(self, session_id: int, path: Path) -> str:
        """Serve a finished session's chart; returns its URL on the page."""
        self._charts[session_id] = path
        return f"/chart/{session_id}.png"

    def update(self, state: LiveState, news: list[str] | None = None, *,
               summary: dict[str, Any] | None = None) -> None:
        """Take the newest live state (from the session's consumer; never blocks)."""
        self.trace.add(state.t, state.hip_ir_deg)
        self._derive_events(state)
        if self._summary_ends_with_leg and state.phase:
            self._summary, self._summary_ends_with_leg = None, False
        if summary is not None:
            self._summary = summary
        self._seq += 1
        self._snapshot = state_message(state, self.exercise, self._seq, self.trace, [], best_deg=self.best_deg,
                                       summary=self._summary, counted_before=self._derived.set_start)
        for client in self._clients:
            client.wake.set()

    def _derive_events(self, state: LiveState) -> None:
        d = self._derived
        add = self._events.append
        if state.set_no != d.set_no:
            d.set_no = state.set_no
            d.set_start = (len(state.reps), state.clean_reps)
        if state.calibration_score is not None and not d.calibrated:
            d.calibrated = True
            add({"kind": "calibrated", "text": f"Calibrated, quality {state.calibration_score:.0%}"})
        if state.phase != d.phase:
            d.phase = state.phase
            if state.phase == "exercise.end":
                add({"kind": "set_done", "text": f"Set {max(state.set_no, 1)} done"})
            else:
                add({"kind": "phase", "text": state.phase})
        for rep in state.reps[d.reps:]:
            d.reps += 1
            add({"kind": "rep", "text": f"Rep {d.reps}: {rep.peak_ir_deg:.0f} degrees"})
        for kind, message in state.alerts.items():
            if kind not in d.alerts:
                add({"kind": "compensation", "text": message})
        d.alerts = set(state.alerts)
        target = state.target_hold_s[0]
        rep_no = len(state.reps) + 1
        if target > 0 and state.hold_elapsed_s >= target and d.hold_done_for != rep_no:
            d.hold_done_for = rep_no
            add({"kind": "hold_complete", "text": "Hold complete"})

    # --- HTTP --------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        return not self.token or secrets.compare_digest(request.query.get("token", ""), self.token)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            raise web.HTTPForbidden(text="This dashboard needs its token: open the URL hiptrack printed.")
        return self._file("index.html")

    async def _chart(self, request: web.Request) -> web.StreamResponse:
        path = self._charts.get(int(request.match_info["session"])) \
            if request.match_info["session"].isdigit() else None
        if not self._authorised(request) or path is None or not path.is_file():
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
        if not self._authorised(request):
            raise web.HTTPForbidden(text="This dashboard needs its token: open the URL hiptrack printed.")
        if self.history is None:
            raise web.HTTPNotFound(text="This dashboard has no store.")
        return self.history

    async def _static(self, request: web.Request) -> web.StreamResponse:
        return self._file(request.match_info["name"])

    def _file(self, name: str) -> web.Response:
        suffix = name[name.rfind("."):] if "." in name else ""
        if "/" in name or suffix not in STATIC_TYPES:
            raise web.HTTPNotFound()
        resource = resources.files("tracker.dashboard").joinpath("static", name)
        if not resource.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=resource.read_bytes(), content_type=STATIC_TYPES[suffix],
                            headers={"Cache-Control": "no-store"})

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            raise web.HTTPForbidden(text="wrong or missing token")
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=4096)
        await ws.prepare(request)
        client = _Client(ws, sent_event=len(self._events))  # a page joining late does not replay the past
        if self._snapshot is not None:
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
                snap = self._snapshot
                if snap is None or snap["seq"] == client.sent_seq:
                    continue
                events = self._events[client.sent_event:]
                client.sent_event = len(self._events)
                client.sent_seq = snap["seq"]
                await client.ws.send_str(json.dumps({**snap, "events": events}))
                await asyncio.sleep(self.frame_interval_s)
