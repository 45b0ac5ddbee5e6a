"""What the dashboard page is sent (live-state snapshots) and what it may send back (commands).

A snapshot is the whole live state, so a page that joins late or drops frames is never behind: the
newest snapshot is all it needs. Events (a rep counted, a hold complete, ...) ride on the snapshot that
first follows them, so the page can play a sound for each even if it skips drawing frames.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from tracker.analysis import AnalysisResult
from tracker.exercise_model import Exercise, ExerciseKind
from tracker.prompts import phase_prompt, target_band_ir_deg
from tracker.reps import RepPhase
from tracker.session import LiveState, SensorStatus

TRACE_S = 30.0
"""The trace covers this much of the recent past, s."""
TRACE_POINTS = 300
"""... in at most this many points."""
MAX_COMMAND_BYTES = 1024


class CommandError(ValueError):
    """A message from the page that is not a valid command; the reply says what was wrong."""


@dataclass(frozen=True, slots=True)
class Command:
    command: str
    """start | stop | pause | resume | pain"""
    set_no: int | None = None
    value: int | None = None
    """pain: 0-10 as the person gave it; None: they skipped the question."""


def parse_command(text: str | bytes) -> Command:
    """Validate one message from the page."""
    if len(text) > MAX_COMMAND_BYTES:
        raise CommandError(f"message too long ({len(text)} bytes, at most {MAX_COMMAND_BYTES})")
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise CommandError(f"not JSON: {e}") from None
    if not isinstance(msg, dict) or msg.get("type") != "command":
        raise CommandError('expected an object with "type": "command"')
    name = msg.get("command")
    if name in ("start", "stop", "pause", "resume"):
        return Command(str(name))
    if name == "pain":
        set_no, value = msg.get("set"), msg.get("value")
        if not isinstance(set_no, int) or isinstance(set_no, bool) or set_no < 1:
            raise CommandError('"pain" needs "set": the set number, from 1')
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10):
            raise CommandError('"pain" needs "value": a whole number from 0 to 10, or null to skip')
        return Command("pain", set_no, value)
    raise CommandError(f"unknown command {name!r} (known: start, stop, pause, resume, pain)")


class Trace:
    """The recent angle, thinned to at most TRACE_POINTS over TRACE_S."""

    def __init__(self) -> None:
        self._points: deque[tuple[float, float]] = deque()
        # each point rounded once, as it comes (a snapshot may be made up to 60 times a second: rounding
        # the whole trace every time was a quarter of the live path's cost)
        self._t_json: deque[float] = deque()
        self._deg_json: deque[float] = deque()

    def add(self, t: float, deg: float | None) -> None:
        if deg is None or not math.isfinite(deg):
            return
        pts = self._points
        if pts and t - pts[-1][0] < TRACE_S / TRACE_POINTS:
            return
        pts.append((t, deg))
        self._t_json.append(round(t, 2))
        self._deg_json.append(round(deg, 1))
        while pts and t - pts[0][0] > TRACE_S:
            pts.popleft()
            self._t_json.popleft()
            self._deg_json.popleft()

    def as_json(self) -> dict[str, list[float]]:
        return {"t": list(self._t_json), "deg": list(self._deg_json)}


def _num(x: float | None, nd: int = 1) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def exercise_info(exercise: Exercise) -> dict[str, Any]:
    p = exercise.prescription
    lo, hi = target_band_ir_deg(exercise)
    return {"id": exercise.id, "name": exercise.name, "kind": exercise.kind.value,
            "measure": exercise.measure.value, "target_deg": exercise.target_deg,
            "band_ir_deg": [round(lo, 1), round(hi, 1)], "hold_s": list(p.hold_s),
            "reps_per_set": p.reps, "sets": p.sets}


def state_message(state: LiveState, exercise: Exercise, seq: int, trace: Trace, events: list[dict[str, str]],
                  *, best_deg: float | None = None, summary: dict[str, Any] | None = None,
                  counted_before: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """One snapshot of the live state for the page; rep counts are the current set's (counted_before:
    reps and clean reps of the earlier sets)."""
    reps_before, clean_before = counted_before
    clean = state.clean_reps - clean_before
    reps = len(state.reps) - reps_before
    holding = state.rep_phase is RepPhase.HOLDING
    stretch = exercise.kind is ExerciseKind.STRETCH
    return {
        "type": "state", "seq": seq, "t": round(state.t, 2),
        "exercise": exercise_info(exercise),
        "side": state.side, "phase": state.phase, "prompt": phase_prompt(exercise, state.phase),
        "angle_deg": _num(state.hip_ir_deg), "knee_deg": _num(state.knee_flexion_deg),
        "best_deg": _num(best_deg), "max_deg": _num(state.max_ir_deg),
        "reps": {"clean": clean, "with_compensation": reps - clean, "partial": state.partial_reps,
                 "target": state.target_reps, "session_total": len(state.reps)},
        "set": {"number": max(state.set_no, 1), "total": state.sets_total},
        "hold": {"active": holding, "elapsed_s": round(state.hold_elapsed_s, 2),
                 "target_s": state.target_hold_s[0]},
        "stretch": {"time_at_target_s": round(state.time_at_target_s or 0.0, 1)} if stretch else None,
        "rest_remaining_s": _num(state.rest_remaining_s, 0),
        "alerts": [{"kind": k, "message": m} for k, m in state.alerts.items()],
        "events": events,
        "trace": trace.as_json(),
        "sensors": {"samples": state.samples, "lost": state.samples_lost, "dropped": state.dropped_samples,
                    "links": [_link_json(link) for link in state.sensor_links]},
        "awaiting_start": None if state.awaiting_start is None else {"prompt": state.awaiting_start},
        "leg": {"number": state.leg[0], "total": state.leg[1], "side": state.side},
        "calibration_score": _num(state.calibration_score, 2),
        "finished": state.finished,
        "summary": summary,
        "paused": state.paused, "can_pause": state.can_pause,
        "phase_progress": _phase_progress(state),
    }


def _link_json(link: SensorStatus) -> dict[str, Any]:
    st = link.stats
    return {"segment": link.segment.value, "model": link.model, "connected": st.connected,
            "rate_hz": _num(st.rate_hz) if st.rate_hz > 0 else None, "samples": st.samples,
            "lost": st.samples_lost,
            "battery_percent": st.battery_percent, "reconnects": st.reconnects, "bad_packets": st.packets_corrupt}


def _phase_progress(state: LiveState) -> float | None:
    """0..1 through the current timed phase (calibration), None outside one."""
    if state.phase_started_at is None or not state.phase_duration_s:
        return None
    return round(min(1.0, max(0.0, (state.t - state.phase_started_at) / state.phase_duration_s)), 3)


def summary_message(result: AnalysisResult, details: dict[str, Any] | None,
                    chart_url: str | None = None, report_url: str | None = None) -> dict[str, Any]:
    """The end-of-session summary the page shows: each rep, clean or with which compensation."""
    rows = {r["number"]: r for r in (details or {}).get("reps", [])}
    stretch = (details or {}).get("stretch")
    return {"reps": [{"number": i + 1, "peak_ir_deg": round(r.peak_ir_deg, 1), "hold_s": round(r.hold_s, 1),
                      "clean": bool(rows.get(i + 1, {}).get("clean", True)),
                      "compensations": rows.get(i + 1, {}).get("compensations", [])}
                     for i, r in enumerate(result.reps)],
            "max_ir_deg": _num(result.max_ir_deg),
            "side": result.side,
            "chart_url": chart_url, "report_url": report_url,
            "time_at_target_s": None if not stretch else stretch["time_at_target_s"]}
