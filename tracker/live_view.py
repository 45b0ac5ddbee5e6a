"""The compact terminal view of a live session (rich), and a plain-line fallback without a terminal."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from imu_core.types import MarkerLabel
from tracker.reps import RepPhase
from tracker.session import LiveState

PROMPTS = {
    "": "Waiting for the sensors...",
    MarkerLabel.CALIBRATION_STATIC: "Sit still: thigh on the chair, lower leg hanging straight down.",
    MarkerLabel.CALIBRATION_SWING: "Swing the lower leg forward and back a few times; keep the thigh still.",
    MarkerLabel.EXERCISE_START: "Turn the foot outward, hold at the end, come back to the middle.",
    MarkerLabel.EXERCISE_END: "Set done. Relax.",
}

BAR_MIN_DEG, BAR_MAX_DEG, BAR_WIDTH = -10.0, 50.0, 40


def angle_bar(angle: float | None, target: tuple[float, float]) -> Text:
    """A horizontal gauge from -10 to 50 deg with the target band shaded."""
    text = Text()
    pos = None
    if angle is not None:
        frac = (min(max(angle, BAR_MIN_DEG), BAR_MAX_DEG) - BAR_MIN_DEG) / (BAR_MAX_DEG - BAR_MIN_DEG)
        pos = round(frac * (BAR_WIDTH - 1))
    for i in range(BAR_WIDTH):
        deg = BAR_MIN_DEG + (BAR_MAX_DEG - BAR_MIN_DEG) * i / (BAR_WIDTH - 1)
        in_target = target[0] <= deg <= target[1]
        if pos is not None and i <= pos:
            text.append("█", style="bold green" if in_target else "cyan")
        else:
            text.append("░" if not in_target else "▒", style="grey50" if not in_target else "green")
    return text


def render(state: LiveState, target_deg: tuple[float, float]) -> Panel:
    ir = "--" if state.hip_ir_deg is None else f"{state.hip_ir_deg:5.1f}°"
    head = Text.assemble(("Hip IR ", "bold"), (ir, "bold white on blue"), "  ", angle_bar(state.hip_ir_deg, target_deg))
    grid = Table.grid(padding=(0, 2))
    grid.add_row(
        Text(f"Reps {len(state.reps)}/{state.target_reps}", style="bold"),
        Text(f"Hold {state.hold_elapsed_s:4.1f} s" if state.rep_phase is RepPhase.HOLDING else "Hold  --",
             style="bold yellow" if state.rep_phase is RepPhase.HOLDING else ""),
        Text("Max " + ("--" if state.max_ir_deg is None else f"{state.max_ir_deg:.1f}°")),
        Text("Knee " + ("--" if state.knee_flexion_deg is None else f"{state.knee_flexion_deg:.0f}°")),
        Text(f"t {state.t:6.1f} s"),
    )
    last = state.messages[-1] if state.messages else ""
    status = f"samples {state.samples}" + (f", dropped {state.dropped_samples}" if state.dropped_samples else "")
    body = Group(Text(PROMPTS.get(state.phase, state.phase), style="italic"), head, grid,
                 Text(last, style="green"), Text(status, style="grey50"))
    return Panel(body, title=f"hiptrack · {state.exercise_name} · {state.side} leg", border_style="blue")


class TerminalView:
    """Live panel on a terminal; on anything else, one line per event (phase changes, reps)."""

    def __init__(self, console: Console, target_deg: tuple[float, float], refresh_hz: float = 8.0) -> None:
        self.console = console
        self.target_deg = target_deg
        self.min_interval_s = 1.0 / refresh_hz
        self._live: Live | None = None
        self._last_draw = 0.0
        self._last_phase = ""

    def __enter__(self) -> TerminalView:
        if self.console.is_terminal:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(et, ev, tb)

    def on_change(self, state: LiveState, news: list[str]) -> None:
        if self._live is not None:
            now = time.monotonic()
            if news or state.finished or now - self._last_draw >= self.min_interval_s:
                self._live.update(render(state, self.target_deg), refresh=True)
                self._last_draw = now
            return
        if state.phase != self._last_phase:
            self._last_phase = state.phase
            self.console.print(f"[{state.t:6.1f} s] {PROMPTS.get(state.phase, state.phase)}")
        for line in news:
            self.console.print(f"[{state.t:6.1f} s] {line}")
