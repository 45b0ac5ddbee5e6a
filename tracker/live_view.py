"""The compact terminal view of a live session (rich), and a plain-line fallback without a terminal."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tracker.exercise_model import Exercise
from tracker.prompts import phase_prompt, target_band_ir_deg
from tracker.reps import RepPhase
from tracker.session import LiveState

BAR_WIDTH = 40


def angle_bar(angle: float | None, target: tuple[float, float]) -> Text:
    """A horizontal gauge of hip IR with the target band shaded (-10..50 deg, wider if the target is)."""
    lo_deg, hi_deg = min(-10.0, target[0] - 10.0), max(50.0, target[1] + 10.0)
    text = Text()
    pos = None
    if angle is not None:
        frac = (min(max(angle, lo_deg), hi_deg) - lo_deg) / (hi_deg - lo_deg)
        pos = round(frac * (BAR_WIDTH - 1))
    for i in range(BAR_WIDTH):
        deg = lo_deg + (hi_deg - lo_deg) * i / (BAR_WIDTH - 1)
        in_target = target[0] <= deg <= target[1]
        if pos is not None and i <= pos:
            text.append("█", style="bold green" if in_target else "cyan")
        else:
            text.append("░" if not in_target else "▒", style="grey50" if not in_target else "green")
    return text


def sensors_line(state: LiveState) -> str:
    """Each sensor's link (connected, measured rate, lost samples, battery), or the totals of a replay."""
    if not state.sensor_links:
        line = f"samples {state.samples}"
        if state.dropped_samples:
            line += f", dropped {state.dropped_samples}"
        return line + (f", lost {state.samples_lost}" if state.samples_lost else "")
    parts = []
    for link in state.sensor_links:
        st = link.stats
        part = f"{link.segment.value} " + (f"{st.rate_hz:.0f} Hz" if st.connected else "reconnecting")
        if st.samples_lost:
            part += f", lost {st.samples_lost}"
        if st.packets_corrupt:
            part += f", {st.packets_corrupt} bad packets"
        if st.battery_percent is not None:
            part += f", battery {st.battery_percent} %"
        parts.append(part)
    return " · ".join(parts) + (f" · dropped {state.dropped_samples}" if state.dropped_samples else "")


def current_prompt(state: LiveState, exercise: Exercise) -> str:
    """What the person is asked to do now."""
    if state.awaiting_start is not None:
        return f"{state.awaiting_start} Then press Enter here (or Start on the page)."
    if state.paused:
        return "Paused: resume on the page."
    if state.rest_remaining_s is not None:
        return f"Rest: next set in {state.rest_remaining_s:.0f} s."
    prompt = phase_prompt(exercise, state.phase)
    if state.phase_started_at is not None and state.phase_duration_s:
        done = min(1.0, max(0.0, (state.t - state.phase_started_at) / state.phase_duration_s))
        prompt += f" ({done:.0%})"
    return prompt


def render(state: LiveState, exercise: Exercise, best_deg: float | None = None) -> Panel:
    target_deg = target_band_ir_deg(exercise)
    ir = "--" if state.hip_ir_deg is None else f"{state.hip_ir_deg:5.1f}°"
    head = Text.assemble(("Hip IR ", "bold"), (ir, "bold white on blue"), "  ", angle_bar(state.hip_ir_deg, target_deg))
    grid = Table.grid(padding=(0, 2))
    with_comp = len(state.reps) - state.clean_reps
    if state.time_at_target_s is not None:
        count = Text(f"At target {state.time_at_target_s:5.1f} s", style="bold")
    else:
        count = Text(f"Reps {state.clean_reps} clean" + (f" + {with_comp} with compensation" if with_comp else "")
                     + f" / {state.target_reps}", style="bold")
    grid.add_row(
        Text(f"Set {max(state.set_no, 1)}/{state.sets_total}"),
        count,
        Text(f"Hold {state.hold_elapsed_s:4.1f} s" if state.rep_phase is RepPhase.HOLDING else "Hold  --",
             style="bold yellow" if state.rep_phase is RepPhase.HOLDING else ""),
        Text("Max " + ("--" if state.max_ir_deg is None else f"{state.max_ir_deg:.1f}°")
             + ("" if best_deg is None else f" (best {best_deg:.1f}°)")),
        Text("Knee " + ("--" if state.knee_flexion_deg is None else f"{state.knee_flexion_deg:.0f}°")),
        Text(f"t {state.t:6.1f} s"),
    )
    last = state.messages[-1] if state.messages else ""
    alerts = Text("  ".join(state.alerts.values()), style="bold red")
    body = Group(Text(current_prompt(state, exercise), style="italic"), head, grid, alerts,
                 Text(last, style="green"), Text(sensors_line(state), style="grey50"))
    leg = f" ({state.leg[0]} of {state.leg[1]})" if state.leg[1] > 1 else ""
    return Panel(body, title=f"hiptrack · {state.exercise_name} · {state.side} leg{leg}", border_style="blue")


class TerminalView:
    """Live panel on a terminal; on anything else, one line per event (phase changes, reps)."""

    def __init__(self, console: Console, exercise: Exercise, refresh_hz: float = 8.0,
                 best_deg: float | None = None) -> None:
        self.console = console
        self.exercise = exercise
        self.best_deg = best_deg
        self.min_interval_s = 1.0 / refresh_hz
        self._live: Live | None = None
        self._last_draw = 0.0
        self._last_phase = ""
        self._last_prompt: str | None = None

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
                self._live.update(render(state, self.exercise, self.best_deg), refresh=True)
                self._last_draw = now
            return
        if state.awaiting_start != self._last_prompt:
            self._last_prompt = state.awaiting_start
            if state.awaiting_start is not None:
                self.console.print(f"{state.side.capitalize()} leg: {current_prompt(state, self.exercise)}")
        if state.phase != self._last_phase:
            self._last_phase = state.phase
            self.console.print(f"[{state.t:6.1f} s] {phase_prompt(self.exercise, state.phase)}")
        for line in news:
            self.console.print(f"[{state.t:6.1f} s] {line}")
