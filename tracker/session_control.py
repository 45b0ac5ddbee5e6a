"""What the person may ask of a live session, from the page or the terminal: Start once in position,
stop, pause and resume, and the pain after each set."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import TextIO

from rich.console import Console

from tracker.dashboard.messages import Command
from tracker.session import LiveState

PAIN_WAIT_S = 180.0
"""How long the guide waits for a pain answer from the page before going on without one, s."""

class TerminalLines:
    """Lines typed in the terminal, read by one daemon thread and handed to the event loop, so a question
    the page answered instead leaves no reader behind to swallow the next answer. Ends (None) where
    there is nothing to read: stdin closed, or not readable (as under a test runner)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[str | None] | None = None
        self._ended = False

    def _read(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
        stream = self._stream or sys.stdin
        try:
            for line in stream:
                loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        with contextlib.suppress(RuntimeError):  # the loop may be gone already
            loop.call_soon_threadsafe(queue.put_nowait, None)

    async def line(self) -> str | None:
        """The next line typed; None once there will be none."""
        if self._ended:
            return None
        if self._queue is None:
            self._queue = asyncio.Queue()
            threading.Thread(target=self._read, args=(asyncio.get_running_loop(), self._queue),
                             name="terminal-lines", daemon=True).start()
        got = await self._queue.get()
        self._ended = got is None
        return got


async def ask_pain_in_terminal(console: Console, lines: TerminalLines, set_no: int) -> int | None:
    while True:
        console.print(f"Set {set_no} done. Pain right now, 0 (none) to 10 (worst)? (Enter to skip)")
        answer = await lines.line()
        if not answer or not answer.strip():
            return None
        answer = answer.strip()
        if answer.isdigit() and 0 <= int(answer) <= 10:
            return int(answer)
        console.print("Please type a whole number from 0 to 10, or just Enter.")


class PageControl:
    """What the page may ask of a live session: start (once in position), stop, pause and resume, and
    the pain after a set."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.start = asyncio.Event()
        self.state: LiveState | None = None
        self.late_pains: list[tuple[int, int]] = []
        """Answers that came when the guide was not waiting for them, stored after the session."""
        self._waiting: dict[int, asyncio.Future[int | None]] = {}

    def new_leg(self) -> None:
        self.start = asyncio.Event()
        self.state = None
        self.late_pains.clear()
        self._waiting.clear()

    def on_command(self, cmd: Command) -> str | None:
        if cmd.command == "stop":
            self.stop.set()
        elif cmd.command == "start":
            if self.state is None or self.state.awaiting_start is None:
                return ("the session has started already" if self.state is not None and self.state.phase
                        else "the sensors are still connecting")
            self.start.set()
        elif cmd.command in ("pause", "resume"):
            if self.state is None:
                return "nothing to pause yet: the session is still connecting"
            self.state.paused = cmd.command == "pause"
        elif cmd.command == "pain" and cmd.set_no is not None:
            asked = self._waiting.get(cmd.set_no)
            if asked is not None and not asked.done():
                asked.set_result(cmd.value)
            elif cmd.value is not None:
                self.late_pains.append((cmd.set_no, cmd.value))
        return None

    async def start_on_enter(self, lines: TerminalLines) -> None:
        """Enter in the terminal starts the leg, as the page's Start does."""
        while not self.start.is_set():
            if await lines.line() is None:
                return
            if self.state is not None and self.state.awaiting_start is not None:
                self.start.set()

    async def pain_from_page(self, set_no: int) -> int | None:
        self._waiting[set_no] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self._waiting[set_no], timeout=PAIN_WAIT_S)
        except TimeoutError:
            return None
